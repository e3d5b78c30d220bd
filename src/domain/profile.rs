//! The user's profile and the secrets that come with it: values and rules,
//! shared by the WeChat client, the services and the database.

use std::fmt;

use serde_json::{Map, Value};

use super::text;

/// Longest nickname, region field and language kept.
pub const MAX_PROFILE_CHARS: usize = 64;
/// Longest avatar URL kept.
pub const MAX_AVATAR_URL_CHARS: usize = 512;

/// WeChat's session_key for a user. Server-only: it has no `Serialize` and
/// its `Debug` is redacted, so it cannot reach a response or a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(key: String) -> Self {
        Self(key)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SessionKey {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// Profile fields to change; `None` leaves a field as it is. Filled from a
/// `PATCH /api/me`, or from WeChat user data with its anonymous placeholders
/// already dropped (see `wechat::crypto::WechatUserInfo::profile_update`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<i16>,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub language: Option<String>,
}

impl ProfileUpdate {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The names of the fields it sets.
    pub fn field_names(&self) -> Vec<&'static str> {
        [
            ("nickname", self.nickname.is_some()),
            ("avatar_url", self.avatar_url.is_some()),
            ("gender", self.gender.is_some()),
            ("country", self.country.is_some()),
            ("province", self.province.is_some()),
            ("city", self.city.is_some()),
            ("language", self.language.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// `13800138000` → `138****8000`.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() >= 7 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        let keep = chars.len().min(2);
        let tail: String = chars[chars.len() - keep..].iter().collect();
        format!("{}{tail}", "*".repeat(chars.len() - keep))
    }
}

/// The phone number a search text is, as WeChat gives it (`purePhoneNumber`:
/// digits without the country code): `13800138000`, `+86 138 0013 8000`,
/// `138-0013-8000`. `None` for text that is no phone number.
pub fn searched_phone(q: &str) -> Option<String> {
    let q = q.trim();
    let q = q
        .strip_prefix("+86")
        .or_else(|| q.strip_prefix("0086"))
        .unwrap_or(q);
    let digits: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (5..=15)
        .contains(&digits.len())
        .then_some(())
        .filter(|()| digits.bytes().all(|b| b.is_ascii_digit()))
        .map(|()| digits)
}

/// An avatar URL as stored: `https://` with a host. WeChat's older data
/// gives `http://` addresses of its image servers, which serve https too,
/// so those are upgraded; any other scheme (`javascript:`, `data:`…) is
/// dropped.
pub fn https_avatar(url: &str) -> Option<String> {
    let url = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => format!("https://{}", &url[7..]),
        _ => url.to_owned(),
    };
    let parsed = reqwest::Url::parse(&url).ok()?;
    (parsed.scheme() == "https"
        && parsed.host_str().is_some()
        && !url.contains(char::is_whitespace))
    .then_some(url)
}

const PATCH_FIELDS: &str = "nickname, avatar_url, gender, country, province, city and language";

/// Reads and checks the body of `PATCH /api/me`.
pub fn parse_profile_patch(body: &Map<String, Value>) -> Result<ProfileUpdate, String> {
    if body.is_empty() {
        return Err(format!(
            "nothing to change: send at least one of {PATCH_FIELDS}"
        ));
    }
    let invalid = |field: &str, rule: &str| format!("`{field}` {rule}");
    // The length is that of the string sent, before trimming, so that a
    // client can rely on the limit its API description gives.
    let string = |field: &str, value: &Value, max_chars: usize| -> Result<String, String> {
        let s = value
            .as_str()
            .ok_or_else(|| invalid(field, "must be a string"))?;
        if s.chars().count() > max_chars {
            return Err(invalid(
                field,
                &format!("must be at most {max_chars} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid(field, "must not contain control characters"));
        }
        if text::has_bidi_control(s) {
            return Err(invalid(
                field,
                "must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)",
            ));
        }
        Ok(s.trim().to_owned())
    };
    let mut update = ProfileUpdate::default();
    for (field, value) in body {
        match field.as_str() {
            "nickname" => {
                let s = string(field, value, MAX_PROFILE_CHARS)?;
                if s.is_empty() {
                    return Err(invalid(
                        field,
                        &format!("must be 1 to {MAX_PROFILE_CHARS} characters"),
                    ));
                }
                if !text::has_visible_char(&s) {
                    return Err(invalid(
                        field,
                        "must have at least one visible character (not only spaces or zero-width characters)",
                    ));
                }
                update.nickname = Some(s);
            }
            "avatar_url" => {
                let s = string(field, value, MAX_AVATAR_URL_CHARS)?;
                let https = reqwest::Url::parse(&s)
                    .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
                if !https || s.contains(char::is_whitespace) {
                    return Err(invalid(
                        field,
                        "must be an https:// URL (upload an image with POST /api/me/avatar instead)",
                    ));
                }
                update.avatar_url = Some(s);
            }
            "gender" => {
                let g = value
                    .as_i64()
                    .filter(|g| (0..=2).contains(g))
                    .ok_or_else(|| invalid(field, "must be 0 (unknown), 1 (male) or 2 (female)"))?;
                update.gender = Some(g as i16);
            }
            "country" | "province" | "city" | "language" => {
                let s = string(field, value, MAX_PROFILE_CHARS)?;
                let slot = match field.as_str() {
                    "country" => &mut update.country,
                    "province" => &mut update.province,
                    "city" => &mut update.city,
                    _ => &mut update.language,
                };
                *slot = Some(s);
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(format!(
                    "`{shown}` cannot be changed here: send only {PATCH_FIELDS}"
                ));
            }
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("2025550123"), "202****0123");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_phone("1"), "1");
        assert_eq!(mask_phone(""), "");
    }

    use serde_json::json;

    fn patch(v: Value) -> Result<ProfileUpdate, String> {
        parse_profile_patch(v.as_object().unwrap())
    }

    #[test]
    fn patch_checks_every_field() {
        let ok = patch(json!({"nickname": " 小明 ", "gender": 1, "city": "", "avatar_url": "https://x.example/a.png"})).unwrap();
        assert_eq!(ok.nickname.as_deref(), Some("小明"));
        assert_eq!(ok.gender, Some(1));
        assert_eq!(ok.city.as_deref(), Some(""));
        for (body, field) in [
            (json!({}), "nickname"),
            (json!({"nickname": ""}), "nickname"),
            (json!({"nickname": "a".repeat(65)}), "nickname"),
            (json!({"nickname": "a\nb"}), "nickname"),
            (json!({"nickname": 3}), "nickname"),
            (json!({"gender": 3}), "gender"),
            (json!({"gender": "1"}), "gender"),
            (
                json!({"avatar_url": "http://x.example/a.png"}),
                "avatar_url",
            ),
            (
                json!({"avatar_url": format!("https://x.example/{}", "a".repeat(500))}),
                "avatar_url",
            ),
            (json!({"country": "c".repeat(65)}), "country"),
            (json!({"language": null}), "language"),
            (json!({"openid": "o"}), "openid"),
            (json!({"nickname": "abc\u{202E}gpj.exe"}), "nickname"),
            (json!({"nickname": "\u{200B}\u{200D}"}), "nickname"),
            (json!({"nickname": "\u{3164}"}), "nickname"),
            (json!({"city": "\u{2066}x"}), "city"),
        ] {
            let err = patch(body.clone()).unwrap_err();
            assert!(err.contains(field), "{body} -> {err}");
        }
        assert!(patch(json!({"nickname": "码".repeat(64)})).is_ok());
    }
}
