//! A user's own sessions, in every app of their account: `GET /api/me/sessions` lists the live ones, and
//! `DELETE /api/me/sessions/{id}` ends one (a "sign out that phone").

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Authenticated;
use super::error::ApiError;
use crate::service::sessions;
use crate::state::AppState;

#[derive(Serialize)]
struct SessionView {
    id: i64,
    /// The app the session was made in.
    appid: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_agent: Option<String>,
    /// Whether this is the session of the request's own token.
    current: bool,
}

#[derive(Serialize)]
struct SessionsBody {
    sessions: Vec<SessionView>,
}

pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let own = sessions::list_own(&state, auth.user.account.id).await?;
    let sessions = own
        .into_iter()
        .map(|(s, appid)| SessionView {
            current: s.id == auth.session.id,
            id: s.id,
            appid,
            created_at: s.created_at.and_utc(),
            last_seen_at: s.last_seen_at.and_utc(),
            expires_at: s.expires_at.and_utc(),
            user_agent: s.user_agent,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionsBody { sessions }))
}

pub async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke_own(&state, auth.user.account.id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
