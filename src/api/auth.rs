//! The `Authorization: Bearer <token>` check.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::db::{self, sessions, users::User};
use crate::domain::token::{SessionToken, TokenHash};
use crate::state::AppState;

const NO_TOKEN: &str =
    "this request needs an `Authorization: Bearer <token>` header from /api/login";
const BAD_TOKEN: &str = "the session token is unknown, expired or revoked; log in again";

/// The token of the request, well-formed but not yet checked against the database.
pub struct Bearer(pub TokenHash);

impl Bearer {
    fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(NO_TOKEN))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized(BAD_TOKEN))?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or(ApiError::Unauthorized(NO_TOKEN))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized(NO_TOKEN));
        }
        let token = SessionToken::parse(token.trim()).ok_or(ApiError::Unauthorized(BAD_TOKEN))?;
        Ok(Self(token.hash()))
    }
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Bearer::from_request(req))
    }
}

/// A request made with a live session: the user and the session.
pub struct Authenticated {
    pub user: User,
    pub session: sessions::Session,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let bearer = Bearer::from_request(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let Bearer(hash) = bearer?;
            let state = state.expect("AppState is registered");
            if let Some((session, user)) = state.token_cache.get(&hash, crate::clock::now()) {
                return Ok(Self {
                    user: User::clone(&user),
                    session,
                });
            }
            let ticket = state.token_cache.ticket();
            let now = crate::clock::now();
            let found = db::run(&state.pool, move |conn| {
                sessions::find_active(conn, &hash, now)
            })
            .await?;
            let found = found.map(|(mut session, user)| {
                if now - session.last_seen_at >= sessions::LAST_SEEN_GRANULARITY {
                    // Written with others in one statement, within REFRESH_EVERY.
                    state.token_cache.touch_later(session.id);
                    session.last_seen_at = now;
                }
                (session, user)
            });
            let (session, user) = found.ok_or(ApiError::Unauthorized(BAD_TOKEN))?;
            state.token_cache.store(ticket, hash, &session, &user);
            Ok(Self { user, session })
        })
    }
}
