//! CSRF tokens: one per admin session, in every form, compared in constant time.

use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{AdminError, AdminIdentity};
use crate::domain::random;

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A new random CSRF token.
pub fn new_token() -> String {
    random::prefixed_text::<32>("")
}

/// Whether a submitted CSRF token matches the session's, in constant time.
pub fn matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Checks the CSRF token of a signed-in admin's form.
pub fn check(admin: &AdminIdentity, submitted: &str) -> Result<(), AdminError> {
    if matches(&admin.csrf, submitted) {
        Ok(())
    } else {
        Err(AdminError::Csrf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_compare_exactly() {
        let t = new_token();
        assert!(matches(&t, &t));
        assert!(!matches(&t, ""));
        assert!(!matches("", ""));
        assert!(!matches(&t, &new_token()));
    }
}
