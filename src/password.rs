//! Admin passwords: argon2id PHC strings. Hashing is slow on purpose, so
//! callers on an async worker run these on the blocking pool.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// An argon2id PHC string with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for the dev-mode admin: 20 letters and digits.
pub fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::TryRngCore;
    Alphanumeric.sample_string(&mut rand::rngs::OsRng.unwrap_err(), 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("wrong horse battery", &phc));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn strength_is_counted_in_characters() {
        assert_eq!(check_strength("123456789"), Err(PasswordError::TooShort));
        assert_eq!(check_strength("一二三四五六七八九十"), Ok(()));
        assert_eq!(random_password().len(), 20);
    }
}
