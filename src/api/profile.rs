//! The user's profile: WeChat's signed and encrypted user data, the profile
//! fill-in of `PATCH /api/me`, and the phone number.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Authenticated;
use super::error::ApiError;
use super::{UserBody, UserView};
use crate::db::users;
use crate::domain::profile::{ProfileUpdate, SessionKey};
use crate::domain::text;
use crate::state::AppState;
use crate::wechat::crypto::{WechatUserInfo, MAX_AVATAR_URL_CHARS, MAX_PROFILE_CHARS};

/// The user data fields, named as WeChat names them. Empty strings count as
/// absent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDataFields {
    raw_data: Option<String>,
    signature: Option<String>,
    encrypted_data: Option<String>,
    iv: Option<String>,
}

/// What verified user data adds to the user.
#[derive(Debug, Default)]
pub struct CheckedUserData {
    /// With WeChat's anonymous placeholders already dropped.
    pub profile: ProfileUpdate,
    pub unionid: Option<String>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl UserDataFields {
    /// Checks that the fields come in their pairs; `encrypted_required`
    /// makes `encryptedData` and `iv` mandatory.
    pub fn check_shape(&self, encrypted_required: bool) -> Result<(), ApiError> {
        let pair = |a: &str, va: &Option<String>, b: &str, vb: &Option<String>| match (
            present(va),
            present(vb),
        ) {
            (Some(_), None) => Err(ApiError::InvalidRequest(format!(
                "`{a}` needs `{b}` with it"
            ))),
            (None, Some(_)) => Err(ApiError::InvalidRequest(format!(
                "`{b}` needs `{a}` with it"
            ))),
            _ => Ok(()),
        };
        pair("rawData", &self.raw_data, "signature", &self.signature)?;
        pair("encryptedData", &self.encrypted_data, "iv", &self.iv)?;
        if encrypted_required && present(&self.encrypted_data).is_none() {
            return Err(ApiError::InvalidRequest(
                "`encryptedData` and `iv` are required: send them as wx.getUserProfile() or wx.getUserInfo() gives them".into(),
            ));
        }
        Ok(())
    }

    /// Verifies the signature, decrypts, checks the watermark and the openid,
    /// and returns what is worth storing. With no user data, returns nothing
    /// to store.
    pub fn check(
        &self,
        session_key: &SessionKey,
        appid: &str,
        openid: &str,
        stored_key: bool,
    ) -> Result<CheckedUserData, ApiError> {
        let fail = |error| ApiError::UserData { error, stored_key };
        let mut info = None;
        if let (Some(raw), Some(signature)) = (present(&self.raw_data), present(&self.signature)) {
            crate::wechat::crypto::verify_signature(raw, signature, session_key).map_err(fail)?;
            info = Some(WechatUserInfo::from_raw_data(raw).map_err(fail)?);
        }
        if let (Some(data), Some(iv)) = (present(&self.encrypted_data), present(&self.iv)) {
            // The decrypted data is the fuller one (it has the unionid).
            info =
                Some(WechatUserInfo::decrypt(session_key, data, iv, appid, openid).map_err(fail)?);
        }
        Ok(
            info.map_or_else(CheckedUserData::default, |info| CheckedUserData {
                profile: info.profile_update(),
                unionid: info.union_id().map(str::to_owned),
            }),
        )
    }
}

/// `POST /api/me/userinfo {encryptedData, iv, rawData?, signature?}`:
/// checked against the session_key stored at the user's last login.
pub async fn userinfo(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<UserDataFields>,
) -> Result<HttpResponse, ApiError> {
    body.check_shape(true)?;
    let user = auth.user;
    let checked = body.check(&user.session_key, &state.appid, &user.openid, true)?;
    let id = user.id;
    let user = super::change_user(&state, id, move |conn| {
        users::update_profile(
            conn,
            id,
            &checked.profile,
            checked.unionid.as_deref(),
            crate::clock::now(),
        )
    })
    .await?;
    Ok(UserBody::ok(user))
}

const PATCH_FIELDS: &str = "nickname, avatar_url, gender, country, province, city and language";

/// Reads and checks the body of `PATCH /api/me`.
pub fn parse_profile_patch(body: &Map<String, Value>) -> Result<ProfileUpdate, ApiError> {
    if body.is_empty() {
        return Err(ApiError::InvalidRequest(format!(
            "nothing to change: send at least one of {PATCH_FIELDS}"
        )));
    }
    let invalid = |field: &str, rule: &str| ApiError::InvalidRequest(format!("`{field}` {rule}"));
    let string = |field: &str, value: &Value| -> Result<String, ApiError> {
        let s = value
            .as_str()
            .ok_or_else(|| invalid(field, "must be a string"))?;
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
                let s = string(field, value)?;
                let n = s.chars().count();
                if n == 0 || n > MAX_PROFILE_CHARS {
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
                let s = string(field, value)?;
                if s.chars().count() > MAX_AVATAR_URL_CHARS {
                    return Err(invalid(
                        field,
                        &format!("must be at most {MAX_AVATAR_URL_CHARS} characters"),
                    ));
                }
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
                let s = string(field, value)?;
                if s.chars().count() > MAX_PROFILE_CHARS {
                    return Err(invalid(
                        field,
                        &format!("must be at most {MAX_PROFILE_CHARS} characters"),
                    ));
                }
                let slot = match field.as_str() {
                    "country" => &mut update.country,
                    "province" => &mut update.province,
                    "city" => &mut update.city,
                    _ => &mut update.language,
                };
                *slot = Some(s);
            }
            other => {
                return Err(ApiError::InvalidRequest(format!(
                    "`{}` cannot be changed here: send only {PATCH_FIELDS}",
                    super::truncate(other, 64)
                )))
            }
        }
    }
    Ok(update)
}

/// `PATCH /api/me`: the profile fill-in (`<input type="nickname">` and friends).
pub async fn patch_me(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let update = parse_profile_patch(&body)?;
    let id = auth.user.id;
    let user = super::change_user(&state, id, move |conn| {
        users::update_profile(conn, id, &update, None, crate::clock::now())
    })
    .await?;
    Ok(UserBody::ok(user))
}

#[derive(Deserialize)]
pub struct PhoneRequest {
    code: Option<String>,
}

#[derive(Serialize)]
struct PhoneResponse {
    phone_number: String,
    phone_country_code: String,
    user: UserView,
}

/// `POST /api/me/phone {code}`: asks WeChat for the user's phone number and
/// stores it.
pub async fn phone(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<PhoneRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = super::validate_code(
        body.code.as_deref(),
        "the code from <button open-type=\"getPhoneNumber\">",
    )?;
    let phone = state
        .wechat
        .phone_number(code, &auth.user.openid)
        .await
        .map_err(ApiError::Phone)?;
    let id = auth.user.id;
    let stored = phone.clone();
    let user = super::change_user(&state, id, move |conn| {
        users::set_phone(
            conn,
            id,
            &stored.pure_phone_number,
            &stored.country_code,
            crate::clock::now(),
        )
    })
    .await?;
    tracing::info!(user_id = id, "phone number bound");
    Ok(HttpResponse::Ok().json(PhoneResponse {
        phone_number: phone.pure_phone_number,
        phone_country_code: phone.country_code,
        user: user.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Result<ProfileUpdate, String> {
        parse_profile_patch(v.as_object().unwrap()).map_err(|e| e.to_string())
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
