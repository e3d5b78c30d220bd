//! The credentials of a backend service that introspects tokens: a public
//! client id and a secret of 256 random bits, shown once. Only the SHA-256
//! of the secret is stored; a secret that random needs no slow hash.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::random;

const CLIENT_ID_PREFIX: &str = "svc_";
const SECRET_PREFIX: &str = "wxs_";
const SECRET_BYTES: usize = 32;

/// A new client id: `svc_` and 16 URL-safe characters.
pub fn new_client_id() -> String {
    random::prefixed_text::<12>(CLIENT_ID_PREFIX)
}

/// A service's secret in clear: between its creation and the one line that
/// prints it, or while a request carrying it is checked. `Debug` is redacted.
pub struct ServiceSecret(String);

impl ServiceSecret {
    pub fn generate() -> Self {
        Self(random::prefixed_text::<SECRET_BYTES>(SECRET_PREFIX))
    }

    /// Anything that is not the shape `generate` makes is refused without a
    /// look-up.
    pub fn parse(s: &str) -> Option<Self> {
        random::is_prefixed_text::<SECRET_BYTES>(s, SECRET_PREFIX).then(|| Self(s.to_owned()))
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether this is the secret of `stored_hash`, in constant time.
    pub fn matches(&self, stored_hash: &[u8; 32]) -> bool {
        bool::from(self.hash().as_slice().ct_eq(stored_hash))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServiceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceSecret(<redacted>)")
    }
}

/// A service name: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_only_match_their_hash() {
        let secret = ServiceSecret::generate();
        let parsed = ServiceSecret::parse(secret.expose()).unwrap();
        assert!(parsed.matches(&secret.hash()));
        assert!(!ServiceSecret::generate().matches(&secret.hash()));
        assert!(ServiceSecret::parse("wxs_short").is_none());
        assert!(ServiceSecret::parse(&secret.expose().replace("wxs_", "wxl_")).is_none());
        assert_eq!(format!("{secret:?}"), "ServiceSecret(<redacted>)");
        assert!(new_client_id().starts_with("svc_"));
        assert_eq!(new_client_id().len(), 20);
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("orders-api.v2"));
        for bad in ["", "has space", "名字", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
