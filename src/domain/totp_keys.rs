//! The keys of the admins' second factor, derived from the server key: one
//! seals each TOTP secret (bound to its admin), one keys the recovery
//! codes' hashes.

use secrecy::{ExposeSecret, SecretString};

use super::sealed::SealKey;
use super::totp::{RecoveryKey, TotpSecret};

#[derive(Debug, Clone)]
pub struct SecondFactorKeys {
    seal: SealKey,
    pub recovery: RecoveryKey,
}

impl SecondFactorKeys {
    pub fn derive(server_key: &[u8]) -> Self {
        Self {
            seal: SealKey::derive(server_key, "admin totp secret"),
            recovery: RecoveryKey::derive(server_key),
        }
    }

    pub fn seal(&self, admin_id: i64, secret: &TotpSecret) -> Vec<u8> {
        self.seal
            .seal(&SecretString::from(secret.base32()), &admin_id.to_string())
    }

    /// `None` when it was sealed with another server key, for another
    /// admin, or altered.
    pub fn open(&self, admin_id: i64, sealed: &[u8]) -> Option<TotpSecret> {
        let text = self.seal.open(sealed, &admin_id.to_string())?;
        TotpSecret::from_base32(text.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_for_its_admin_and_key() {
        let keys = SecondFactorKeys::derive(&[3; 64]);
        let secret = TotpSecret::generate();
        let sealed = keys.seal(7, &secret);
        assert_eq!(keys.open(7, &sealed).unwrap().as_bytes(), secret.as_bytes());
        assert!(keys.open(8, &sealed).is_none());
        assert!(SecondFactorKeys::derive(&[4; 64])
            .open(7, &sealed)
            .is_none());
    }
}
