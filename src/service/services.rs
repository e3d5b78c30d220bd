//! Backend services that trust wxlogin: their credentials, as `wxlogin
//! service …` manages them, and token introspection (RFC 7662) for them.

use std::time::Instant;

use chrono::NaiveDateTime;

use super::audit;
use super::{sessions, Refusal, ServiceError, ServiceResult};
use crate::clock;
use crate::db::admins::AuditAction;
use crate::db::service_cache::KnownService;
use crate::db::{self, services, DbError, DbPool};
use crate::domain::service_credential::{is_valid_name, new_client_id, ServiceSecret};
use crate::domain::token::SessionToken;
use crate::state::AppState;

/// Who the audit log names for `wxlogin service …`.
const COMMAND_LINE: &str = "(command line)";

/// A service just made: its secret is shown this once.
#[derive(Debug)]
pub struct CreatedService {
    pub name: String,
    pub client_id: String,
    pub secret: ServiceSecret,
}

/// A service as listed: no secret, not even its hash.
#[derive(Debug, Clone)]
pub struct ServiceSummary {
    pub id: i64,
    pub name: String,
    pub client_id: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub calls: i64,
}

impl From<services::Service> for ServiceSummary {
    fn from(s: services::Service) -> Self {
        Self {
            id: s.id,
            name: s.name,
            client_id: s.client_id,
            created_at: s.created_at,
            revoked_at: s.revoked_at,
            last_used_at: s.last_used_at,
            calls: s.calls,
        }
    }
}

pub async fn create(pool: &DbPool, name: &str) -> ServiceResult<CreatedService> {
    if !is_valid_name(name) {
        return Err(ServiceError::Refused(Refusal::ServiceName));
    }
    let secret = ServiceSecret::generate();
    let (name, client_id, hash) = (name.to_owned(), new_client_id(), secret.hash());
    let created = db::run(pool, move |conn| {
        let service = services::create(conn, &name, &client_id, &hash, clock::now())?;
        let detail = serde_json::json!({"service": service.name, "client_id": service.client_id});
        audit::record_as(
            conn,
            None,
            COMMAND_LINE,
            None,
            AuditAction::ServiceCreated,
            &detail.to_string(),
        )?;
        Ok(service)
    })
    .await;
    match created {
        Ok(service) => Ok(CreatedService {
            name: service.name,
            client_id: service.client_id,
            secret,
        }),
        Err(DbError::Conflict) => Err(ServiceError::Refused(Refusal::ServiceExists)),
        Err(e) => Err(e.into()),
    }
}

/// Every service, live ones first.
pub async fn list(pool: &DbPool) -> ServiceResult<Vec<ServiceSummary>> {
    let all = db::run(pool, services::list).await?;
    Ok(all.into_iter().map(ServiceSummary::from).collect())
}

/// Every service, with the calls this node has counted and not yet
/// written added in, for the admin site.
pub async fn list_with_pending_calls(state: &AppState) -> ServiceResult<Vec<ServiceSummary>> {
    let mut all = list(&state.pool).await?;
    for service in &mut all {
        service.calls += state.service_cache.pending(service.id);
    }
    Ok(all)
}

/// Revokes the live service of that name: its calls are refused from now
/// on by this process, and within the cache's 5 s by running servers.
pub async fn revoke(pool: &DbPool, name: &str) -> ServiceResult<()> {
    let name = name.to_owned();
    let revoked = db::run(pool, move |conn| {
        if !services::revoke(conn, &name, clock::now())? {
            return Ok(false);
        }
        let detail = serde_json::json!({"service": name});
        audit::record_as(
            conn,
            None,
            COMMAND_LINE,
            None,
            AuditAction::ServiceRevoked,
            &detail.to_string(),
        )?;
        Ok(true)
    })
    .await?;
    if revoked {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// What an introspection tells about a live token.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub account_id: i64,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
}

/// Checks a service's credentials (HTTP Basic), then the token. `None`:
/// the token is not live, or not a token at all; RFC 7662 tells the caller
/// no more than that.
pub async fn introspect(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    token: &str,
) -> ServiceResult<Option<ActiveToken>> {
    let service = authenticate_client(state, client_id, client_secret).await?;
    state.service_cache.count_call(service, clock::now());
    let Some(token) = SessionToken::parse(token.trim()) else {
        return Ok(None);
    };
    match sessions::authenticate(state, token.hash()).await {
        Ok((session, user)) => Ok(Some(ActiveToken {
            account_id: user.account.id,
            issued_at: session.created_at,
            expires_at: session.expires_at,
            appid: user.identity.appid.clone(),
            openid: user.identity.openid.clone(),
            unionid: user.account.unionid.clone(),
        })),
        Err(ServiceError::Unauthenticated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The id of the live service with these credentials.
async fn authenticate_client(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
) -> ServiceResult<i64> {
    let refused = || ServiceError::BadClient;
    let secret = ServiceSecret::parse(client_secret).ok_or_else(refused)?;
    if client_id.is_empty() || client_id.len() > 64 {
        return Err(refused());
    }
    let known = match state.service_cache.get(client_id) {
        Some(known) => known,
        None => {
            let read_at = Instant::now();
            let id = client_id.to_owned();
            let found = db::run(&state.pool, move |conn| services::find_live(conn, &id)).await?;
            // A stored hash of another length matches no secret.
            let known = found.and_then(|s| {
                Some(KnownService {
                    id: s.id,
                    secret_hash: s.secret_hash.try_into().ok()?,
                })
            });
            state.service_cache.store(client_id, known, read_at);
            known
        }
    };
    match known {
        Some(service) if secret.matches(&service.secret_hash) => Ok(service.id),
        _ => Err(refused()),
    }
}
