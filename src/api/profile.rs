//! The user's profile: user data sent after the login, the profile
//! fill-in of `PATCH /api/me`, and the phone number.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Authenticated;
use super::error::ApiError;
use super::views::{UserBody, UserView};
use crate::domain::login::check_code;
use crate::domain::user_data::UserDataFields;
use crate::service::profile;
use crate::state::AppState;

/// `POST /api/me/userinfo {encryptedData, iv, rawData?, signature?}`:
/// checked against the session_key stored at the user's last login.
pub async fn userinfo(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<UserDataFields>,
) -> Result<HttpResponse, ApiError> {
    let user = profile::apply_user_data(&state, &auth.user, &body).await?;
    Ok(UserBody::ok(&user))
}

/// `PATCH /api/me`: the profile fill-in (`<input type="nickname">` and friends).
pub async fn patch_me(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let user = profile::patch(&state, &auth.user, &body).await?;
    Ok(UserBody::ok(&user))
}

#[derive(Deserialize)]
pub struct PhoneRequest {
    code: Option<String>,
}

#[derive(Serialize)]
struct PhoneResponse<'a> {
    phone_number: String,
    phone_country_code: String,
    user: UserView<'a>,
}

/// `POST /api/me/phone {code}`: asks WeChat for the user's phone number and
/// stores it.
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
        user: (&user).into(),
    }))
}
