//! Signed-in admin sessions, kept in the database: the cookie holds only a
//! random id. Signing out deletes the row, so a copied cookie dies with it,
//! on every node. A session ends after `--admin-idle-timeout` without a
//! request, or `--admin-session-lifetime` after sign-in.

use chrono::NaiveDateTime;

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::config::AdminPolicy;
use crate::db::admin_sessions::{self, ListedAdminSession, NewAdminSession};
use crate::db::admins::AuditAction;
use crate::db::{self, DbPool};
use crate::domain::admin_role::{AdminRole, Permission};
use crate::domain::admin_session::AdminSessionId;
use crate::domain::random;

/// A user agent is kept to this many characters.
const USER_AGENT_CHARS: usize = 256;
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The admin of a live session.
#[derive(Debug, Clone)]
pub struct SessionAdmin {
    pub session_id: i64,
    pub admin_id: i64,
    pub username: String,
    pub role: AdminRole,
    /// The admin's chosen language; `None`: the browser's.
    pub locale: Option<String>,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// Whether the admin signs in with a second factor.
    pub second_factor: bool,
}

/// What a session cookie's id stands for.
#[derive(Debug)]
pub enum SessionCheck {
    SignedIn(SessionAdmin),
    /// The password was right; the second factor is still to come.
    SecondFactorPending(SessionAdmin),
    /// It was a session, until its idle or absolute limit passed.
    Expired,
    /// Not a session (anymore): signed out, ended, or never one.
    Unknown,
}

/// A new session, for the cookie.
#[derive(Debug)]
pub struct StartedSession {
    pub id: AdminSessionId,
}

/// Where a request comes from, for the session list.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Starts a session for an admin whose password was right.
pub async fn start(
    pool: &DbPool,
    admin_id: i64,
    second_factor_pending: bool,
    origin: Origin,
) -> ServiceResult<StartedSession> {
    let id = AdminSessionId::generate();
    let hash = id.hash();
    let csrf = random::prefixed_text::<32>("");
    let user_agent = origin.user_agent.map(|ua| {
        ua.chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_CHARS)
            .collect::<String>()
    });
    db::run(pool, move |conn| {
        admin_sessions::insert(
            conn,
            &NewAdminSession {
                admin_id,
                token_hash: &hash,
                csrf: &csrf,
                second_factor_pending,
                now: clock::now(),
                ip: origin.ip.as_deref(),
                user_agent: user_agent.as_deref(),
            },
        )
    })
    .await?;
    Ok(StartedSession { id })
}

fn expired(
    policy: &AdminPolicy,
    now: NaiveDateTime,
    created: NaiveDateTime,
    seen: NaiveDateTime,
) -> bool {
    let limit =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    now - seen > limit(policy.idle_timeout) || now - created > limit(policy.session_lifetime)
}

/// The session a cookie's id stands for. Ends it when it is past its limits;
/// notes its use at most once a minute.
pub async fn check(
    pool: &DbPool,
    policy: AdminPolicy,
    cookie_id: &str,
) -> ServiceResult<SessionCheck> {
    let Some(id) = AdminSessionId::parse(cookie_id) else {
        return Ok(SessionCheck::Unknown);
    };
    let hash = id.hash();
    db::run(pool, move |conn| {
        let Some(found) = admin_sessions::find(conn, &hash)? else {
            return Ok(SessionCheck::Unknown);
        };
        let now = clock::now();
        if expired(&policy, now, found.created_at, found.last_seen_at) {
            admin_sessions::delete(conn, found.id)?;
            return Ok(SessionCheck::Expired);
        }
        if now - found.last_seen_at >= TOUCH_EVERY {
            admin_sessions::touch(conn, found.id, now)?;
        }
        let role = found.role.parse().unwrap_or_else(|_| {
            // Only a hand-edited row gets here; it gets the least rights.
            tracing::warn!(admin = %found.username, role = %found.role, "an admin has an unknown role; treated as viewer");
            AdminRole::Viewer
        });
        let admin = SessionAdmin {
            session_id: found.id,
            admin_id: found.admin_id,
            username: found.username,
            role,
            locale: found.locale,
            csrf: found.csrf,
            second_factor: found.second_factor_since.is_some(),
        };
        Ok(if found.second_factor_pending {
            SessionCheck::SecondFactorPending(admin)
        } else {
            SessionCheck::SignedIn(admin)
        })
    })
    .await
    .map_err(Into::into)
}

/// The second factor was right: the session is signed in.
pub async fn complete(pool: &DbPool, session_id: i64) -> ServiceResult<()> {
    Ok(db::run(pool, move |conn| {
        admin_sessions::complete(conn, session_id, clock::now())
    })
    .await?)
}

/// Signs the session out: its row is deleted, and the sign-out audited.
pub async fn sign_out(pool: &DbPool, actor: Actor, session_id: i64) -> ServiceResult<()> {
    db::run(pool, move |conn| {
        admin_sessions::delete(conn, session_id)?;
        audit::record(conn, &actor, AuditAction::SignOut, "")
    })
    .await?;
    Ok(())
}

/// Drops a session half-way through its sign-in (a wrong second factor
/// too often, or a fresh sign-in over it).
pub async fn discard(pool: &DbPool, session_id: i64) -> ServiceResult<()> {
    db::run(pool, move |conn| admin_sessions::delete(conn, session_id)).await?;
    Ok(())
}

/// The actor's own sessions, and with [`Permission::ManageAdmins`] everyone's.
pub struct SessionLists {
    pub own: Vec<ListedAdminSession>,
    /// `None` unless the actor may manage admins.
    pub everyone: Option<Vec<ListedAdminSession>>,
}

pub async fn list(pool: &DbPool, actor: &Actor) -> ServiceResult<SessionLists> {
    let (admin_id, all) = (actor.admin_id, actor.role.can(Permission::ManageAdmins));
    Ok(db::run(pool, move |conn| {
        Ok(SessionLists {
            own: admin_sessions::list(conn, Some(admin_id))?,
            everyone: all.then(|| admin_sessions::list(conn, None)).transpose()?,
        })
    })
    .await?)
}

/// Ends a session: one's own, or, for an owner, anyone's. Audited.
pub async fn end(pool: &DbPool, actor: &Actor, session_id: i64) -> ServiceResult<()> {
    let whose = db::run(pool, move |conn| admin_sessions::admin_of(conn, session_id))
        .await?
        .ok_or(ServiceError::NotFound)?;
    if whose != actor.admin_id {
        let what = "end another admin's session";
        super::admin_access::authorize(pool, actor, Permission::ManageAdmins, what).await?;
    }
    let actor = actor.clone();
    let ended = db::run(pool, move |conn| {
        if admin_sessions::delete(conn, session_id)?.is_none() {
            return Ok(false);
        }
        let detail = serde_json::json!({ "session_id": session_id, "admin_id": whose }).to_string();
        audit::record(conn, &actor, AuditAction::AdminSessionEnded, &detail)?;
        Ok(true)
    })
    .await?;
    ended.then_some(()).ok_or(ServiceError::NotFound)
}
