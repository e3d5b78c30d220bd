//! `/auth/verify`: forward authentication for a reverse proxy in front of
//! other services (nginx `auth_request`, Traefik `forwardAuth`, Caddy
//! `forward_auth`). The proxy sends the client's `Authorization` header
//! here; a live token is answered 200 with who it is in `X-Wxlogin-*`
//! headers, which the proxy passes on to the service, and anything else
//! 401 with `WWW-Authenticate: Bearer`. It costs what `GET /api/me` costs:
//! the same cached session check, and no body.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;

use super::auth::Authenticated;
use super::error::ApiError;
use crate::service::ServiceError;

pub const ACCOUNT_ID: HeaderName = HeaderName::from_static("x-wxlogin-account-id");
pub const APPID: HeaderName = HeaderName::from_static("x-wxlogin-appid");
pub const OPENID: HeaderName = HeaderName::from_static("x-wxlogin-openid");
pub const UNIONID: HeaderName = HeaderName::from_static("x-wxlogin-unionid");

/// Forward authentication: whether the `Authorization` header holds a live
/// token, and whose it is.
///
/// Any method is answered: nginx's `auth_request` keeps the method of the
/// request it checks, Traefik and Caddy send GET.
#[utoipa::path(
    method(get, post, put, patch, delete, head, options, trace),
    path = "/auth/verify",
    tag = "services",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A live token: who it is, in headers, with no body", headers(
            ("X-Wxlogin-Account-Id" = String, description = "The account id"),
            ("X-Wxlogin-Appid" = String, description = "The app of the session"),
            ("X-Wxlogin-Openid" = String, description = "The openid in that app"),
            ("X-Wxlogin-Unionid" = String, description = "The account's unionid, when it has one"),
        )),
    ),
)]
pub async fn verify(auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let user = auth.user;
    let value = |s: &str| {
        HeaderValue::from_str(s).map_err(|_| {
            ServiceError::Internal(format!(
                "identity {} holds a value that cannot be a header",
                user.identity.id
            ))
        })
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((ACCOUNT_ID, HeaderValue::from(user.account.id)))
        .insert_header((APPID, value(&user.identity.appid)?))
        .insert_header((OPENID, value(&user.identity.openid)?));
    if let Some(unionid) = &user.account.unionid {
        response.insert_header((UNIONID, value(unionid)?));
    }
    Ok(response.finish())
}
