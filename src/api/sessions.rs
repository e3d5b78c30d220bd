//! A user's own sessions, in every app of their account: `GET /api/me/sessions` lists the live ones, and
//! `DELETE /api/me/sessions/{id}` ends one (a "sign out that phone").

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authenticated;
use super::error::{ApiError, ErrorBody};
use crate::service::sessions;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
struct SessionsBody {
    sessions: Vec<SessionView>,
}

/// The account's live sessions, in every app, newest first.
#[utoipa::path(
    get,
    path = "/api/me/sessions",
    tag = "sessions",
    operation_id = "list_sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "The live sessions", body = SessionsBody)),
)]
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

/// Ends one of the account's sessions ("sign out that phone"), on every
/// node at once.
#[utoipa::path(
    delete,
    path = "/api/me/sessions/{id}",
    tag = "sessions",
    operation_id = "revoke_session",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "A session `id` from `GET /api/me/sessions`")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "`not_found`: no live session of this account has this id", body = ErrorBody),
    ),
)]
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke_own(&state, auth.user.account.id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
