//! Login codes kept for their retry window: a retried `POST /api/login`
//! with a code that already logged in gets that login's token back. Only a
//! keyed hash of the code is kept, never the code, and the token only
//! sealed with a key derived from the server key, bound to that hash.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::sealed::SealKey;
use super::token::SessionToken;

/// The HKDF purposes of the two keys.
const HASH_PURPOSE: &str = "login code hash";
const SEAL_PURPOSE: &str = "login code retry token";

/// The retry window, as the server runs it.
#[derive(Debug, Clone)]
pub struct CodeRetry {
    /// How long a done login's token is given back to a retry.
    pub window: std::time::Duration,
    /// How long a request holds a code while it logs in, before another
    /// may take over: WeChat's timeout, and time to write the login.
    pub hold: std::time::Duration,
    pub keys: CodeKeys,
}

/// The keyed hash of an app's login code: the row's key.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHash(pub [u8; 32]);

impl std::fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHash(..)")
    }
}

/// The keys of the retry window. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct CodeKeys {
    hash_key: [u8; 32],
    seal: SealKey,
}

impl std::fmt::Debug for CodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKeys(..)")
    }
}

impl CodeKeys {
    /// Derived from the server key (`--secret-key`), which every node of a
    /// fleet shares, so that any node recognises a retry.
    pub fn derive(server_key: &[u8]) -> Self {
        let mut hash_key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(b"wxlogin login codes v1"), server_key)
            .expand(HASH_PURPOSE.as_bytes(), &mut hash_key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Self {
            hash_key,
            seal: SealKey::derive(server_key, SEAL_PURPOSE),
        }
    }

    /// HMAC-SHA256 of the app and the code: without the server key, a dump
    /// of the table says nothing of the codes.
    pub fn hash(&self, appid: &str, code: &str) -> CodeHash {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.hash_key).expect("HMAC takes a key of any size");
        mac.update(appid.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        CodeHash(mac.finalize().into_bytes().into())
    }

    /// The token sealed for the code it was made with.
    pub fn seal(&self, token: &SessionToken, code: &CodeHash) -> Vec<u8> {
        self.seal.seal(
            &SecretString::from(token.expose().to_owned()),
            &hex::encode(code.0),
        )
    }

    /// The token sealed for `code`, if it opens with this key and is a token.
    pub fn open(&self, sealed: &[u8], code: &CodeHash) -> Option<SessionToken> {
        let secret = self.seal.open(sealed, &hex::encode(code.0))?;
        SessionToken::parse(secret.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_hash_depends_on_the_key_the_app_and_the_code() {
        let keys = CodeKeys::derive(&[7; 64]);
        let other = CodeKeys::derive(&[8; 64]);
        let h = keys.hash("wx1", "code");
        assert_eq!(h, keys.hash("wx1", "code"));
        assert!(h != keys.hash("wx2", "code"));
        assert!(h != keys.hash("wx1", "cod"));
        assert!(h != other.hash("wx1", "code"));
        // The separator keeps ("wx1", "0code") apart from ("wx10", "code").
        assert!(keys.hash("wx1", "0code") != keys.hash("wx10", "code"));
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_code_and_key() {
        let keys = CodeKeys::derive(&[7; 64]);
        let token = SessionToken::generate();
        let code = keys.hash("wx1", "code");
        let sealed = keys.seal(&token, &code);
        let opened = keys.open(&sealed, &code).unwrap();
        assert_eq!(opened.expose(), token.expose());
        assert!(keys.open(&sealed, &keys.hash("wx1", "other")).is_none());
        assert!(CodeKeys::derive(&[8; 64]).open(&sealed, &code).is_none());
    }
}
