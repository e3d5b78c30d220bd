//! Encryption at rest of personal data kept in the database (session keys,
//! phone numbers, WeChat access tokens): AES-256-GCM under the data key,
//! with the key's id in each value so that a rotation can find and
//! re-encrypt what an older key sealed while the service runs.
//!
//! A sealed value is text: `wxe1.<key id>.<base64url(nonce ‖ ciphertext)>`.
//! The purpose (which column it belongs to) is bound as associated data, so
//! a phone copied into a session key's place does not open. Text without
//! the `wxe1.` prefix is a value written before encryption at rest, read as
//! it is until the background sealer seals it.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::profile::SessionKey;

const PREFIX: &str = "wxe1.";
const NONCE_BYTES: usize = 12;
/// Bytes of a data key: AES-256.
pub const DATA_KEY_BYTES: usize = 32;

/// What a sealed value is: the associated data it is sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SessionKey,
    Phone,
    AccessToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::SessionKey => b"identities.session_key",
            Purpose::Phone => b"accounts.phone_number",
            Purpose::AccessToken => b"wechat_access_tokens.sealed_token",
        }
    }
}

/// One data key and its id. `Debug` shows the id only.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    cipher: Aes256Gcm,
    /// Keys the phone-number lookup hash.
    lookup: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

impl DataKey {
    pub fn from_bytes(key: &[u8; DATA_KEY_BYTES]) -> Self {
        let digest = Sha256::new_with_prefix(b"wxlogin data key id\0")
            .chain_update(key)
            .finalize();
        let id = hex::encode(&digest[..4]);
        let mut lookup = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(b"wxlogin data key v1"), key)
            .expand(b"phone lookup", &mut lookup)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Self {
            id,
            cipher: Aes256Gcm::new(key.into()),
            lookup,
        }
    }

    /// The key derived from the server key (`--secret-key`), used when no
    /// data key of its own is set.
    pub fn derive(server_key: &[u8]) -> Self {
        Self::from_bytes(&super::sealed::derive_key(server_key, "data key"))
    }

    /// A data key as an operator writes it: 32 bytes in base64 (44
    /// characters, as `openssl rand -base64 32` prints) or hex (64).
    pub fn parse(text: &str) -> Result<Self, DataKeyError> {
        let text = text.trim();
        let bytes =
            if text.len() == 2 * DATA_KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text).map_err(|_| DataKeyError::NotEncoded)?
            } else {
                STANDARD
                    .decode(text)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                    .map_err(|_| DataKeyError::NotEncoded)?
            };
        let key: [u8; DATA_KEY_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DataKeyError::WrongLength(bytes.len()))?;
        Ok(Self::from_bytes(&key))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Why a data key given in the settings is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataKeyError {
    #[error("is {0} bytes long; a data key is {DATA_KEY_BYTES} random bytes (try `openssl rand -base64 32`)")]
    WrongLength(usize),
    #[error("is neither base64 nor hex; a data key is {DATA_KEY_BYTES} random bytes (try `openssl rand -base64 32`)")]
    NotEncoded,
}

/// Why a stored value does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under a key this node does not have (a rotation whose old key
    /// is not configured here).
    #[error("sealed under data key {0}, which is not configured")]
    UnknownKey(String),
    /// Malformed, altered, or sealed for another purpose.
    #[error("a sealed value that does not open")]
    Damaged,
}

/// The data key that seals, and the older ones that still open.
#[derive(Clone, Debug)]
pub struct DataKeys {
    current: DataKey,
    older: Vec<DataKey>,
}

impl DataKeys {
    /// `older` may repeat `current` or each other; repeats are dropped.
    pub fn new(current: DataKey, older: Vec<DataKey>) -> Self {
        let mut kept: Vec<DataKey> = Vec::new();
        for key in older {
            if key.id != current.id && kept.iter().all(|k| k.id != key.id) {
                kept.push(key);
            }
        }
        Self {
            current,
            older: kept,
        }
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// The ids of the keys that open values, the current one first.
    pub fn ids(&self) -> Vec<&str> {
        self.all().map(|k| k.id.as_str()).collect()
    }

    fn all(&self) -> impl Iterator<Item = &DataKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// Seals `plain` for `purpose` under the current key.
    pub fn seal(&self, purpose: Purpose, plain: &str) -> String {
        let nonce = super::random::bytes::<NONCE_BYTES>();
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.label(),
                },
            )
            .expect("AES-GCM seals any message of this size");
        let mut body = Vec::with_capacity(NONCE_BYTES + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(body)
        )
    }

    /// Opens a stored value. Text written before encryption at rest (no
    /// `wxe1.` prefix) is returned as it is.
    pub fn open(&self, purpose: Purpose, stored: &str) -> Result<SecretString, OpenError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(SecretString::from(stored.to_owned()));
        };
        let (id, body) = rest.split_once('.').ok_or(OpenError::Damaged)?;
        let key = self
            .all()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Damaged)?;
        if body.len() < NONCE_BYTES {
            return Err(OpenError::Damaged);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_BYTES);
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| OpenError::Damaged)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| OpenError::Damaged)
    }

    /// Whether `stored` is sealed under the current key: what a rotation
    /// leaves alone.
    pub fn is_current(&self, stored: &str) -> bool {
        key_id_of(stored) == Some(self.current.id.as_str())
    }

    /// `stored` under the current key: opened and sealed again unless it
    /// already is.
    pub fn reseal(&self, purpose: Purpose, stored: &str) -> Result<Option<String>, OpenError> {
        if self.is_current(stored) {
            return Ok(None);
        }
        let plain = self.open(purpose, stored)?;
        Ok(Some(self.seal(purpose, plain.expose_secret())))
    }

    /// The lookup hash of a phone number under the current key: what
    /// `accounts.phone_hash` holds.
    pub fn phone_hash(&self, phone: &str) -> String {
        lookup_hash(&self.current, phone)
    }

    /// The phone's lookup hash under every key, the current one first, so
    /// that a search finds accounts a rotation has not reached yet.
    pub fn phone_hashes(&self, phone: &str) -> Vec<String> {
        self.all().map(|k| lookup_hash(k, phone)).collect()
    }
}

fn lookup_hash(key: &DataKey, phone: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.lookup).expect("HMAC takes a key of any length");
    mac.update(phone.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The id of the key `stored` is sealed under, or `None` for a value
/// written before encryption at rest.
pub fn key_id_of(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)?
        .split_once('.')
        .map(|(id, _)| id)
}

/// Whether `stored` is sealed at all.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// A value as the database keeps it: sealed, or plain when written before
/// encryption at rest. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored(String);

impl Stored {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Stored {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stored(..)")
    }
}

impl DataKeys {
    pub fn seal_session_key(&self, key: &SessionKey) -> Stored {
        Stored(self.seal(Purpose::SessionKey, key.expose()))
    }

    pub fn open_session_key(&self, stored: &Stored) -> Result<SessionKey, OpenError> {
        self.open(Purpose::SessionKey, &stored.0)
            .map(|key| SessionKey::new(key.expose_secret().to_owned()))
    }

    /// A stored phone number, opened for showing.
    pub fn open_phone(&self, stored: &str) -> Result<String, OpenError> {
        self.open(Purpose::Phone, stored)
            .map(|phone| phone.expose_secret().to_owned())
    }
}

/// The `LIKE` pattern of values sealed under `key_id`.
pub fn like_key_id(key_id: &str) -> String {
    format!("{PREFIX}{key_id}.%")
}

/// The `LIKE` pattern of sealed values.
pub const LIKE_SEALED: &str = "wxe1.%";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DataKey {
        DataKey::from_bytes(&[n; 32])
    }

    #[test]
    fn seals_with_the_key_id_and_opens_under_any_configured_key() {
        let old = DataKeys::new(key(1), vec![]);
        let sealed = old.seal(Purpose::Phone, "13800138000");
        assert!(!sealed.contains("13800138000"));
        assert_eq!(key_id_of(&sealed), Some(key(1).id()));
        let rotated = DataKeys::new(key(2), vec![key(1)]);
        assert_eq!(
            rotated
                .open(Purpose::Phone, &sealed)
                .unwrap()
                .expose_secret(),
            "13800138000"
        );
        assert!(!rotated.is_current(&sealed));
        let resealed = rotated.reseal(Purpose::Phone, &sealed).unwrap().unwrap();
        assert!(rotated.is_current(&resealed));
        assert_eq!(rotated.reseal(Purpose::Phone, &resealed).unwrap(), None);
        let new_only = DataKeys::new(key(2), vec![]);
        assert_eq!(
            new_only.open(Purpose::Phone, &sealed).unwrap_err(),
            OpenError::UnknownKey(key(1).id().to_owned())
        );
    }

    #[test]
    fn refuses_another_purpose_and_altered_values() {
        let keys = DataKeys::new(key(1), vec![]);
        let sealed = keys.seal(Purpose::SessionKey, "c2Vzc2lvbg==");
        assert_eq!(
            keys.open(Purpose::Phone, &sealed).unwrap_err(),
            OpenError::Damaged
        );
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.open(Purpose::SessionKey, &altered).is_err());
        assert!(keys.open(Purpose::SessionKey, "wxe1.").is_err());
        assert!(keys.open(Purpose::SessionKey, "wxe1.x.!!").is_err());
        assert_eq!(
            keys.open(Purpose::SessionKey, "plain-legacy")
                .unwrap()
                .expose_secret(),
            "plain-legacy"
        );
    }

    #[test]
    fn parses_base64_and_hex_and_refuses_other_lengths() {
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(DataKey::parse(&b64).unwrap().id(), key(7).id());
        assert_eq!(
            DataKey::parse(&hex::encode([7u8; 32])).unwrap().id(),
            key(7).id()
        );
        assert_eq!(
            DataKey::parse(&STANDARD.encode([7u8; 16])).unwrap_err(),
            DataKeyError::WrongLength(16)
        );
        assert_eq!(
            DataKey::parse("not a key!").unwrap_err(),
            DataKeyError::NotEncoded
        );
    }

    #[test]
    fn phone_hashes_differ_per_key_and_start_with_the_current_one() {
        let keys = DataKeys::new(key(2), vec![key(1), key(2)]);
        let hashes = keys.phone_hashes("13800138000");
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], keys.phone_hash("13800138000"));
        assert_ne!(hashes[0], hashes[1]);
        assert!(!format!("{keys:?}").contains("cipher"));
    }
}
