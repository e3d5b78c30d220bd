//! The `Authorization: Bearer <token>` extractors: the header is parsed
//! here, the session is checked by `service::sessions`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::domain::token::{SessionToken, TokenHash};
use crate::service::sessions::{self, BAD_TOKEN};
use crate::state::AppState;

const NO_TOKEN: &str =
    "this request needs an `Authorization: Bearer <token>` header from /api/login";

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
    pub session: Arc<Session>,
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
            let (session, user) = sessions::authenticate(&state, hash).await?;
            Ok(Self { user, session })
        })
    }
}
