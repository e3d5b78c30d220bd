//! The user's profile: user data sent after the login, the profile
//! fill-in of `PATCH /api/me`, and the phone number.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::error::{ApiError, ErrorBody};
use super::user_data::UserDataBody;
use super::views::{UserBody, UserView};
use crate::domain::login::check_code;
use crate::service::profile;
use crate::state::AppState;

/// Fills in the profile from signed and encrypted user data.
///
/// The data is checked against the session_key of the user's last login;
/// `encryptedData` and `iv` are required. When that key fails to open it,
/// WeChat is asked whether the key is still the user's: if not, 409
/// `session_key_stale` (log in again, get fresh data, send it again); if
/// it is, 400 `invalid_user_data`.
#[utoipa::path(
    post,
    path = "/api/me/userinfo",
    tag = "profile",
    security(("bearer" = [])),
    request_body = UserDataBody,
    responses(
        (status = 200, description = "The user, updated", body = UserBody),
        (status = 400, description = "`invalid_request`; data that is malformed or not for this user and app (`decrypt_failed`, `watermark_mismatch`); or `invalid_user_data`: data that fails its check under a session key WeChat confirms is current", body = ErrorBody),
        (status = 409, description = "`session_key_stale`: the session key of the last login has been replaced (or WeChat could not confirm it), so the data cannot be checked; call `wx.login()`, log in again, get the user data anew and send it again", body = ErrorBody),
    ),
)]
pub async fn userinfo(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<UserDataBody>,
) -> Result<HttpResponse, ApiError> {
    let fields = body.into_inner().into();
    let user = profile::apply_user_data(&state, &auth.user, &fields).await?;
    Ok(UserBody::ok(&user, &state.data_keys))
}

/// The fields of the profile fill-in: send those that change, at least one.
/// Strings are trimmed, and must hold no control characters.
#[derive(Deserialize, ToSchema)]
#[schema(min_properties = 1)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes the body, for the document: `domain::profile` reads it.
struct ProfilePatch {
    /// From `<input type="nickname">`: at least one visible character.
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    nickname: Option<String>,
    /// An `https://` URL (or upload an image with `POST /api/me/avatar`).
    #[schema(nullable = false, max_length = 512, pattern = "^https://")]
    avatar_url: Option<String>,
    /// 0 unknown, 1 male, 2 female.
    #[schema(nullable = false, minimum = 0, maximum = 2)]
    gender: Option<i16>,
    #[schema(nullable = false, max_length = 64)]
    country: Option<String>,
    #[schema(nullable = false, max_length = 64)]
    province: Option<String>,
    #[schema(nullable = false, max_length = 64)]
    city: Option<String>,
    #[schema(nullable = false, max_length = 64)]
    language: Option<String>,
}

/// Fills in the profile (`<input type="nickname">`, the avatar chooser and
/// friends).
#[utoipa::path(
    patch,
    path = "/api/me",
    tag = "profile",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, description = "The user, updated", body = UserBody)),
)]
pub async fn patch_me(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let user = profile::patch(&state, &auth.user, &body).await?;
    Ok(UserBody::ok(&user, &state.data_keys))
}

/// The same as `PATCH /api/me`, for `wx.request`, which has no PATCH.
#[utoipa::path(
    post,
    path = "/api/me",
    tag = "profile",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, description = "The user, updated", body = UserBody)),
)]
pub async fn post_me(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    patch_me(state, auth, body).await
}

#[derive(Deserialize, ToSchema)]
pub struct PhoneRequest {
    /// The code from `<button open-type="getPhoneNumber">`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    code: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct PhoneResponse<'a> {
    phone_number: String,
    phone_country_code: String,
    user: UserView<'a>,
}

/// Asks WeChat for the user's phone number, and stores it on the account.
#[utoipa::path(
    post,
    path = "/api/me/phone",
    tag = "profile",
    security(("bearer" = [])),
    request_body = PhoneRequest,
    responses(
        (status = 200, description = "The number, and the user", body = PhoneResponse),
        (status = 400, description = "`invalid_request`, or `invalid_phone_code`: the code is invalid, expired or used; ask again", body = ErrorBody),
        (status = 403, description = "`user_blocked`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 502, description = "`wechat_unavailable`", body = ErrorBody),
    ),
)]
pub async fn phone(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<PhoneRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = check_code(
        body.code.as_deref(),
        "the code from <button open-type=\"getPhoneNumber\">",
    )
    .map_err(ApiError::InvalidRequest)?;
    let (phone, user) = profile::bind_phone(&state, &auth.user, code).await?;
    Ok(HttpResponse::Ok().json(PhoneResponse {
        phone_number: phone.pure_phone_number,
        phone_country_code: phone.country_code,
        user: UserView::new(&user, &state.data_keys),
    }))
}
