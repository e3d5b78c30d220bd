//! The admin accounts, as `wxlogin admin …` manages them.

use chrono::NaiveDateTime;

use super::audit::{self, Actor};
use super::{Refusal, ServiceError, ServiceResult};
use crate::clock;
use crate::db::admins::AuditAction;
use crate::db::{self, admins, DbError, DbPool};
use crate::domain::admin_role::{AdminRole, Permission};
use crate::domain::password;

/// An admin as listed: no password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSummary {
    pub id: i64,
    pub username: String,
    pub role: AdminRole,
    pub second_factor: bool,
    pub created_at: NaiveDateTime,
    pub last_sign_in: Option<NaiveDateTime>,
}

/// An admin name: 1 to 64 characters, no spaces or control characters.
pub fn check_username(name: &str) -> ServiceResult<()> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ServiceError::Refused(Refusal::AdminName));
    }
    Ok(())
}

fn check_password(password: &str) -> ServiceResult<()> {
    password::check_strength(password).map_err(|e| ServiceError::Refused(Refusal::Password(e)))
}

/// Creates an admin with `role`; without one, the first admin is an owner
/// (someone must be able to manage the others) and any later one a viewer.
/// Returns the role given. The password is hashed off the async workers.
pub async fn create(
    pool: &DbPool,
    name: &str,
    password: &str,
    role: Option<AdminRole>,
) -> ServiceResult<AdminRole> {
    check_username(name)?;
    check_password(password)?;
    let hash = hash(password).await?;
    let name = name.to_owned();
    let created = db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let role = match role {
                Some(role) => role,
                None if admins::count(conn)? == 0 => AdminRole::Owner,
                None => AdminRole::Viewer,
            };
            admins::create(conn, &name, &hash, role.as_str(), clock::now())?;
            Ok(role)
        })
    })
    .await;
    match created {
        Ok(role) => Ok(role),
        Err(DbError::Conflict) => Err(ServiceError::Refused(Refusal::AdminExists)),
        Err(e) => Err(e.into()),
    }
}

/// Sets a new password. [`ServiceError::NotFound`] when there is no such admin.
pub async fn set_password(pool: &DbPool, name: &str, password: &str) -> ServiceResult<()> {
    check_password(password)?;
    let hash = hash(password).await?;
    let name = name.to_owned();
    let changed = db::run(pool, move |conn| admins::set_password(conn, &name, &hash)).await?;
    changed.then_some(()).ok_or(ServiceError::NotFound)
}

/// Every admin, by name.
pub async fn list(pool: &DbPool) -> ServiceResult<Vec<AdminSummary>> {
    let admins = db::run(pool, admins::list).await?;
    Ok(admins
        .into_iter()
        .map(|a| AdminSummary {
            id: a.id,
            role: a.role.parse().unwrap_or(AdminRole::Viewer),
            second_factor: a.totp_enabled_at.is_some(),
            username: a.username,
            created_at: a.created_at,
            last_sign_in: a.last_login_at,
        })
        .collect())
}

/// Turns off an admin's second factor, from the command line.
pub async fn reset_second_factor(pool: &DbPool, name: &str) -> ServiceResult<()> {
    let name = name.to_owned();
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let admin = admins::find_by_username(conn, &name)?.ok_or(DbError::NotFound)?;
            admins::clear_totp(conn, admin.id)?;
            let detail = serde_json::json!({"admin": name, "by": "command line"}).to_string();
            audit::record_as(
                conn,
                None,
                "(command line)",
                None,
                AuditAction::SecondFactorDisabled,
                &detail,
            )
        })
    })
    .await?;
    Ok(())
}

/// Every admin, for an owner on the admin site.
pub async fn list_for(pool: &DbPool, actor: &Actor) -> ServiceResult<Vec<AdminSummary>> {
    super::admin_access::authorize(pool, actor, Permission::ManageAdmins, "manage admins").await?;
    list(pool).await
}

/// Deletes an admin; their sessions are deleted with them.
pub async fn delete(pool: &DbPool, name: &str) -> ServiceResult<()> {
    let name = name.to_owned();
    let deleted = db::run(pool, move |conn| admins::delete(conn, &name)).await?;
    deleted.then_some(()).ok_or(ServiceError::NotFound)
}

/// Gives an admin another role, from the command line (`actor` is `None`)
/// or by an owner on the admin site (audited). The last owner keeps theirs,
/// so that someone can always manage the admins.
pub async fn set_role(
    pool: &DbPool,
    actor: Option<&Actor>,
    name: &str,
    role: AdminRole,
) -> ServiceResult<()> {
    if let Some(actor) = actor {
        super::admin_access::authorize(pool, actor, Permission::ManageAdmins, "change roles")
            .await?;
    }
    let (name, actor) = (name.to_owned(), actor.cloned());
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let admin = admins::find_by_username(conn, &name)?.ok_or(DbError::NotFound)?;
            let owner = AdminRole::Owner.as_str();
            if admin.role == owner
                && role != AdminRole::Owner
                && admins::count_with_role(conn, owner)? <= 1
            {
                return Ok(Err(ServiceError::Refused(Refusal::LastOwner(name))));
            }
            admins::set_role(conn, &name, role.as_str())?;
            if let Some(actor) = &actor {
                let detail = serde_json::json!({
                    "admin": name, "from": admin.role, "to": role.as_str(),
                })
                .to_string();
                audit::record(conn, actor, AuditAction::RoleChanged, &detail)?;
            }
            Ok(Ok(()))
        })
    })
    .await?
}

/// Sets the language an admin sees the admin site in: a language tag such
/// as `zh-CN` (which ones the site speaks is the site's to check), or
/// `None` to follow the browser's. Applies from their next request.
pub async fn set_locale(pool: &DbPool, admin_id: i64, locale: Option<&str>) -> ServiceResult<()> {
    if let Some(tag) = locale {
        let shaped = (1..=35).contains(&tag.len())
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !shaped {
            return Err(ServiceError::Refused(Refusal::LanguageTag));
        }
    }
    let locale = locale.map(str::to_owned);
    let changed = db::run(pool, move |conn| {
        admins::set_locale(conn, admin_id, locale.as_deref())
    })
    .await?;
    changed.then_some(()).ok_or(ServiceError::NotFound)
}

/// Whether the admin with this id still exists (a deleted admin's signed-in
/// sessions end at their next request).
pub async fn exists(pool: &DbPool, id: i64) -> ServiceResult<bool> {
    Ok(db::run(pool, move |conn| admins::exists(conn, id)).await?)
}

/// Creates the dev-mode admin `name` with a random password when there is
/// no admin yet, and returns that password.
pub async fn create_first(pool: &DbPool, name: &'static str) -> ServiceResult<Option<String>> {
    let password = password::random_password();
    let hash = hash(&password).await?;
    let made = db::run(pool, move |conn| {
        if admins::count(conn)? > 0 {
            return Ok(false);
        }
        match admins::create(conn, name, &hash, AdminRole::Owner.as_str(), clock::now()) {
            Ok(_) => Ok(true),
            // Another process made one first.
            Err(DbError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(made.then_some(password))
}

async fn hash(password: &str) -> ServiceResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ServiceError::Internal(format!("the password hash failed: {e}")))
}
