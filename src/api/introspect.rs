//! `POST /oauth/introspect` (RFC 7662), for backend services that hold a
//! token: the service authenticates with HTTP Basic (`wxlogin service
//! create` gives its client id and secret), sends the token as a form
//! field, and learns whether it is live and whose it is.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::service::{services, ServiceError};
use crate::state::AppState;

/// Other fields, such as RFC 7662's `token_type_hint`, are ignored:
/// wxlogin has one kind of token.
#[derive(Deserialize, ToSchema)]
pub struct IntrospectForm {
    /// The token to check.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
}

/// The answer: a live token's owner, or exactly `{"active": false}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Introspection<'a> {
    Active(Active<'a>),
    Inactive(Inactive),
}

/// Expired, revoked, malformed or unknown: nothing more is said.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Inactive {
    #[schema(schema_with = always_false)]
    active: bool,
}

fn boolean_const(value: bool) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

fn always_false() -> utoipa::openapi::Object {
    boolean_const(false)
}

fn always_true() -> utoipa::openapi::Object {
    boolean_const(true)
}

/// A live token.
#[derive(Serialize, ToSchema)]
struct Active<'a> {
    #[schema(schema_with = always_true)]
    active: bool,
    /// The account id, as a string (RFC 7662 and JWT say so).
    sub: String,
    exp: i64,
    iat: i64,
    token_type: &'static str,
    appid: &'a str,
    openid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
}

/// The client id and secret of `Authorization: Basic …`.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 512 {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Token introspection (RFC 7662), for backend services.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "services",
    security(("service" = [])),
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Whether the token is live, and whose it is", body = Introspection),
        (status = 401, description = "`invalid_client`: no or wrong service credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"wxlogin\"`"))),
    ),
)]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<IntrospectForm>,
) -> Result<HttpResponse, ApiError> {
    let (client_id, secret) = basic_credentials(&req).ok_or(ServiceError::BadClient)?;
    let token = form
        .into_inner()
        .token
        .ok_or_else(|| ApiError::InvalidRequest("the form field `token` is required".into()))?;
    let answer = services::introspect(&state, &client_id, &secret, &token).await?;
    Ok(HttpResponse::Ok().json(match &answer {
        Some(active) => Introspection::Active(Active {
            active: true,
            sub: active.account_id.to_string(),
            exp: active.expires_at.and_utc().timestamp(),
            iat: active.issued_at.and_utc().timestamp(),
            token_type: "Bearer",
            appid: &active.appid,
            openid: &active.openid,
            unionid: active.unionid.as_deref(),
        }),
        None => Introspection::Inactive(Inactive { active: false }),
    }))
}
