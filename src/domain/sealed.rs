//! Secrets kept in the database, sealed with a key derived from the server
//! key (`--secret-key`): AES-256-GCM, bound to what they belong to, so that a
//! row copied onto another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The first byte of a sealed value: how it was sealed.
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;

/// A 32-byte key for `purpose`, derived from the server key with
/// HKDF-SHA256: each purpose gets its own, and none is the server key.
pub fn derive_key(server_key: &[u8], purpose: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"wxlogin sealed v1"), server_key)
        .expand(purpose.as_bytes(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    key
}

/// A key that seals one kind of secret. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct SealKey(Aes256Gcm);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// The key for `purpose`, derived from the server key with HKDF-SHA256:
    /// each purpose gets its own key, and none is the cookie key itself.
    pub fn derive(server_key: &[u8], purpose: &str) -> Self {
        Self(Aes256Gcm::new(&derive_key(server_key, purpose).into()))
    }

    /// Seals `secret`, bound to `owner`.
    pub fn seal(&self, secret: &SecretString, owner: &str) -> Vec<u8> {
        let nonce = super::random::bytes::<NONCE_BYTES>();
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("AES-GCM seals any message of this size");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SealKey::seal`] sealed for `owner`. `None` if it was
    /// sealed with another key (the server key changed), for another owner,
    /// or was altered.
    pub fn open(&self, sealed: &[u8], owner: &str) -> Option<SecretString> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_its_key_and_owner() {
        let key = SealKey::derive(&[7; 64], "access_token");
        let secret = SecretString::from("ACCESS-TOKEN-123".to_owned());
        let sealed = key.seal(&secret, "wx1");
        assert!(
            !sealed.windows(6).any(|w| w == b"ACCESS"),
            "sealed, not encoded"
        );
        assert_eq!(
            key.open(&sealed, "wx1").unwrap().expose_secret(),
            "ACCESS-TOKEN-123"
        );
        assert!(key.open(&sealed, "wx2").is_none(), "another owner");
        let other = SealKey::derive(&[8; 64], "access_token");
        assert!(other.open(&sealed, "wx1").is_none(), "another server key");
        let purpose = SealKey::derive(&[7; 64], "other");
        assert!(purpose.open(&sealed, "wx1").is_none(), "another purpose");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(&altered, "wx1").is_none(), "altered");
        assert!(key.open(&[], "wx1").is_none());
        assert!(key.open(&sealed[..5], "wx1").is_none());
    }
}
