//! A login, as the login writer stores it.

use chrono::NaiveDateTime;

use super::data_keys::Stored;
use super::profile::ProfileUpdate;
use super::token::TokenHash;

/// What a successful code2session plus our new token add up to.
#[derive(Debug)]
pub struct LoginRecord {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    /// Sealed under the data key.
    pub session_key: Stored,
    pub token_hash: TokenHash,
    pub expires_at: NaiveDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Verified profile data sent with the code; written in the same transaction.
    pub profile: ProfileUpdate,
    /// WeChat's risk rank of a new identity, when its app asks for it.
    pub risk_rank: Option<i16>,
    pub now: NaiveDateTime,
}

/// Longest `code` accepted; WeChat's are 32 characters.
pub const MAX_CODE_CHARS: usize = 128;

/// Checks a one-time code from WeChat's client side; `source` tells the
/// client where that code comes from. The error says what is wrong.
pub fn check_code<'a>(code: Option<&'a str>, source: &str) -> Result<&'a str, String> {
    let code = code.ok_or_else(|| format!("`code` is required: send {source}"))?;
    if code.trim().is_empty() {
        return Err(format!("`code` is empty: send {source}"));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(format!("`code` is longer than {MAX_CODE_CHARS} characters"));
    }
    if code.chars().any(char::is_control) {
        return Err("`code` contains control characters".into());
    }
    Ok(code)
}

/// When a session made at `now` expires.
pub fn session_expiry(now: NaiveDateTime, ttl: std::time::Duration) -> NaiveDateTime {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(ttl).unwrap_or(NaiveDateTime::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated() {
        let ok = |c: &str| check_code(Some(c), "it").is_ok();
        assert!(check_code(None, "it").is_err());
        assert!(!ok(""));
        assert!(!ok("   "));
        assert!(!ok("a\u{0}b"));
        assert!(!ok(&"x".repeat(129)));
        assert!(ok(&"码".repeat(128)));
        assert_eq!(check_code(Some("081abc"), "it").unwrap(), "081abc");
    }
}
