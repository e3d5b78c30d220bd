//! The admin site's session ids: 256 random bits in the cookie, and only
//! their SHA-256 in `admin_sessions`.

use std::fmt;

use sha2::{Digest, Sha256};

use super::random;

const PREFIX: &str = "wxa_";
const ID_BYTES: usize = 32;

/// A session id in clear: made at sign-in, then read from the cookie. Its
/// `Debug` is redacted.
pub struct AdminSessionId(String);

impl AdminSessionId {
    pub fn generate() -> Self {
        Self(random::prefixed_text::<ID_BYTES>(PREFIX))
    }

    /// Only the shape `generate` makes; anything else is refused without a
    /// database look-up.
    pub fn parse(s: &str) -> Option<Self> {
        random::is_prefixed_text::<ID_BYTES>(s, PREFIX).then(|| Self(s.to_owned()))
    }

    /// What the table stores: lowercase hex SHA-256.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The id, for the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminSessionId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back_and_only_their_hash_is_stored() {
        let id = AdminSessionId::generate();
        let parsed = AdminSessionId::parse(id.expose()).unwrap();
        assert_eq!(parsed.hash(), id.hash());
        assert_eq!(id.hash().len(), 64);
        assert!(!id.hash().contains(&id.expose()[PREFIX.len()..]));
        assert!(AdminSessionId::parse("wxa_short").is_none());
        assert!(AdminSessionId::parse(&id.expose()[1..]).is_none());
        assert_eq!(format!("{id:?}"), "AdminSessionId(<redacted>)");
    }
}
