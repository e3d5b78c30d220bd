//! Session tokens: a short prefix plus 256 bits from the operating system's
//! random generator, URL-safe. Only the SHA-256 of a token is ever stored.

use std::fmt;

use sha2::{Digest, Sha256};

use super::random;

/// Marks wxlogin tokens, so that a leaked one is easy to recognise.
pub const TOKEN_PREFIX: &str = "wxl_";
const TOKEN_BYTES: usize = 32;

/// A session token in clear. Only exists between its creation and the login
/// answer, or while a request carrying it is checked. Its `Debug` is redacted.
pub struct SessionToken(String);

impl SessionToken {
    /// A new token from the OS random generator.
    pub fn generate() -> Self {
        Self(random::prefixed_text::<TOKEN_BYTES>(TOKEN_PREFIX))
    }

    /// Accepts only strings of the shape `generate` makes; anything else can
    /// be refused without a database look-up.
    pub fn parse(s: &str) -> Option<Self> {
        random::is_prefixed_text::<TOKEN_BYTES>(s, TOKEN_PREFIX).then(|| Self(s.to_owned()))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The token text, for the one answer that hands it to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// The SHA-256 of a token: what the `sessions` table stores.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_parse_back() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        let parsed = SessionToken::parse(a.expose()).expect("own token parses");
        assert_eq!(parsed.hash(), a.hash());
        assert_eq!(format!("{a:?}"), "SessionToken(<redacted>)");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = SessionToken::generate();
        let good = good.expose();
        assert!(SessionToken::parse(&good[TOKEN_PREFIX.len()..]).is_none());
        assert!(SessionToken::parse(&good[..good.len() - 1]).is_none());
        assert!(SessionToken::parse(&format!("{good}A")).is_none());
        assert!(SessionToken::parse(&format!("{TOKEN_PREFIX}{}", "+".repeat(43))).is_none());
        assert!(SessionToken::parse("").is_none());
    }
}
