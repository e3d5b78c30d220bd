//! Admin accounts and the audit log.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{admins, audit_log};
use super::{DbConnection, DbError};
use crate::on_backend;

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = admins)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub role: String,
    pub locale: Option<String>,
    /// Sealed with the data key; `None` without a second factor.
    pub totp_secret: Option<Vec<u8>>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    /// The last TOTP time step accepted: no code of it or before is taken again.
    pub totp_last_step: Option<i64>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Creates an admin. Fails with [`DbError::Conflict`] if the name is taken.
pub fn create(
    conn: &mut DbConnection,
    username: &str,
    password_hash: &str,
    role: &str,
    now: NaiveDateTime,
) -> Result<Admin, DbError> {
    on_backend!(conn, |c| diesel::insert_into(admins::table)
        .values((
            admins::username.eq(username),
            admins::password_hash.eq(password_hash),
            admins::role.eq(role),
            admins::created_at.eq(now),
        ))
        .returning(Admin::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

pub fn find_by_username(conn: &mut DbConnection, username: &str) -> Result<Option<Admin>, DbError> {
    Ok(on_backend!(conn, |c| admins::table
        .filter(admins::username.eq(username))
        .select(Admin::as_select())
        .get_result(c)
        .optional())?)
}

pub fn exists(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    Ok(on_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        admins::table.find(id)
    ))
    .get_result(c))?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Admin>, DbError> {
    Ok(on_backend!(conn, |c| admins::table
        .order(admins::username)
        .select(Admin::as_select())
        .load(c))?)
}

pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(on_backend!(conn, |c| admins::table.count().get_result(c))?)
}

pub fn count_with_role(conn: &mut DbConnection, role: &str) -> Result<i64, DbError> {
    Ok(on_backend!(conn, |c| admins::table
        .filter(admins::role.eq(role))
        .count()
        .get_result(c))?)
}

/// Returns whether the admin existed.
pub fn set_role(conn: &mut DbConnection, username: &str, role: &str) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        admins::table.filter(admins::username.eq(username))
    )
    .set(admins::role.eq(role))
    .execute(c))?;
    Ok(n > 0)
}

/// Returns whether the admin existed.
pub fn set_password(
    conn: &mut DbConnection,
    username: &str,
    password_hash: &str,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        admins::table.filter(admins::username.eq(username))
    )
    .set(admins::password_hash.eq(password_hash))
    .execute(c))?;
    Ok(n > 0)
}

/// Returns whether the admin existed.
pub fn delete(conn: &mut DbConnection, username: &str) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::delete(
        admins::table.filter(admins::username.eq(username))
    )
    .execute(c))?;
    Ok(n > 0)
}

/// Sets the admin site's language of an admin (`None`: the browser's).
/// Returns whether the admin existed.
pub fn set_locale(conn: &mut DbConnection, id: i64, locale: Option<&str>) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(admins::table.find(id))
        .set(admins::locale.eq(locale))
        .execute(c))?;
    Ok(n > 0)
}

pub fn record_sign_in(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(admins::table.find(id))
        .set(admins::last_login_at.eq(now))
        .execute(c))?;
    Ok(())
}

/// What the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    SignInThrottled,
    SignInAlert,
    SignOut,
    RevokeSession,
    RevokeAllSessions,
    Export,
    ServiceCreated,
    ServiceRevoked,
    /// Two accounts merged, by a login's unionid or by an admin.
    AccountMerged,
    /// An identity moved out of its account into one of its own.
    AccountUnlinked,
    /// A pending nickname or avatar approved, by an admin.
    ContentApproved,
    /// A pending nickname or avatar rejected, by an admin or by WeChat.
    ContentRejected,
    /// An admin's role refused an action.
    AccessDenied,
    /// An admin session ended by an admin (not by signing out).
    AdminSessionEnded,
    /// An admin's role changed.
    RoleChanged,
    /// An account closed and its personal data erased, by its user or an operator.
    AccountDeleted,
    /// The second factor was right: the sign-in is complete.
    SecondFactorPassed,
    /// A wrong, replayed or malformed second factor.
    SecondFactorFailed,
    SecondFactorEnabled,
    SecondFactorDisabled,
}

impl AuditAction {
    /// Every action, so that each can be given a label where it is shown.
    pub const ALL: [AuditAction; 18] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignInThrottled,
        Self::SignInAlert,
        Self::SignOut,
        Self::RevokeSession,
        Self::RevokeAllSessions,
        Self::Export,
        Self::ServiceCreated,
        Self::ServiceRevoked,
        Self::AccountMerged,
        Self::AccountUnlinked,
        Self::ContentApproved,
        Self::ContentRejected,
        Self::AccessDenied,
        Self::AdminSessionEnded,
        Self::RoleChanged,
        Self::AccountDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignInThrottled => "sign_in_throttled",
            Self::SignInAlert => "sign_in_alert",
            Self::SignOut => "sign_out",
            Self::RevokeSession => "revoke_session",
            Self::RevokeAllSessions => "revoke_all_sessions",
            Self::Export => "export",
            Self::ServiceCreated => "service_created",
            Self::ServiceRevoked => "service_revoked",
            Self::AccountMerged => "account_merged",
            Self::AccountUnlinked => "account_unlinked",
            Self::ContentApproved => "content_approved",
            Self::ContentRejected => "content_rejected",
            Self::AccessDenied => "access_denied",
            Self::AdminSessionEnded => "admin_session_ended",
            Self::RoleChanged => "role_changed",
            Self::AccountDeleted => "account_deleted",
            Self::SecondFactorPassed => "second_factor_passed",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::SecondFactorEnabled => "second_factor_enabled",
            Self::SecondFactorDisabled => "second_factor_disabled",
        }
    }
}

#[derive(Debug)]
pub struct NewAuditEntry<'a> {
    pub admin_id: Option<i64>,
    /// The admin's name, or the name tried at a failed sign-in.
    pub username: &'a str,
    pub action: AuditAction,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
    pub now: NaiveDateTime,
}

pub fn audit(conn: &mut DbConnection, entry: &NewAuditEntry<'_>) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(audit_log::table)
        .values((
            audit_log::created_at.eq(entry.now),
            audit_log::admin_id.eq(entry.admin_id),
            audit_log::username.eq(entry.username),
            audit_log::action.eq(entry.action.as_str()),
            audit_log::ip.eq(entry.ip),
            audit_log::detail.eq(entry.detail),
        ))
        .execute(c))?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub admin_id: Option<i64>,
    pub username: String,
    pub action: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// Newest first, `limit` entries older than `before_id`.
pub fn audit_page(
    conn: &mut DbConnection,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, DbError> {
    Ok(on_backend!(conn, |c| {
        let mut q = audit_log::table
            .select(AuditEntry::as_select())
            .into_boxed();
        if let Some(before) = before_id {
            q = q.filter(audit_log::id.lt(before));
        }
        q.order(audit_log::id.desc()).limit(limit).load(c)
    })?)
}

/// Deletes up to `batch` audit entries made before `before`, oldest first.
/// Returns how many were deleted.
pub fn prune_audit(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| {
        let oldest: Vec<i64> = audit_log::table
            .filter(audit_log::created_at.lt(before))
            .order(audit_log::id)
            .select(audit_log::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(audit_log::table.filter(audit_log::id.eq_any(oldest))).execute(c)
    })?)
}

/// An admin's second factor as sign-in needs it.
#[derive(Clone, Queryable)]
pub struct SecondFactor {
    pub secret: Option<Vec<u8>>,
    pub enabled_at: Option<NaiveDateTime>,
    pub last_step: Option<i64>,
}

impl fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondFactor")
            .field("enabled_at", &self.enabled_at)
            .finish_non_exhaustive()
    }
}

pub fn second_factor(conn: &mut DbConnection, id: i64) -> Result<SecondFactor, DbError> {
    on_backend!(conn, |c| admins::table
        .find(id)
        .select((
            admins::totp_secret,
            admins::totp_enabled_at,
            admins::totp_last_step,
        ))
        .get_result(c))
    .map_err(DbError::from)
}

/// Stores a new secret, not yet turned on (the admin must first type a code
/// from it). Does nothing to an admin whose second factor is on.
pub fn set_pending_totp(conn: &mut DbConnection, id: i64, sealed: &[u8]) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        admins::table
            .find(id)
            .filter(admins::totp_enabled_at.is_null())
    )
    .set((
        admins::totp_secret.eq(sealed),
        admins::totp_last_step.eq(None::<i64>),
    ))
    .execute(c))?;
    Ok(n > 0)
}

/// Accepts a TOTP time step: only when it is later than the last one
/// accepted, in one statement, so that two requests with one code cannot
/// both pass. With `enable`, also turns the second factor on.
pub fn accept_totp_step(
    conn: &mut DbConnection,
    id: i64,
    step: i64,
    enable_at: Option<NaiveDateTime>,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| {
        let target = admins::table.find(id).filter(
            admins::totp_last_step
                .is_null()
                .or(admins::totp_last_step.lt(step)),
        );
        match enable_at {
            Some(at) => diesel::update(target)
                .set((
                    admins::totp_last_step.eq(step),
                    admins::totp_enabled_at.eq(at),
                ))
                .execute(c),
            None => diesel::update(target.filter(admins::totp_enabled_at.is_not_null()))
                .set(admins::totp_last_step.eq(step))
                .execute(c),
        }
    })?;
    Ok(n > 0)
}

/// Turns the second factor off and forgets its secret and recovery codes.
pub fn clear_totp(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(admins::table.find(id))
        .set((
            admins::totp_secret.eq(None::<Vec<u8>>),
            admins::totp_enabled_at.eq(None::<NaiveDateTime>),
            admins::totp_last_step.eq(None::<i64>),
        ))
        .execute(c))?;
    replace_recovery_codes(conn, id, &[], None)
}

/// Replaces an admin's recovery codes with these hashes.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    id: i64,
    hashes: &[String],
    now: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    use super::schema::admin_recovery_codes as codes;
    on_backend!(conn, |c| {
        diesel::delete(codes::table.filter(codes::admin_id.eq(id))).execute(c)?;
        if let Some(now) = now {
            let rows: Vec<_> = hashes
                .iter()
                .map(|h| {
                    (
                        codes::admin_id.eq(id),
                        codes::code_hash.eq(h),
                        codes::created_at.eq(now),
                    )
                })
                .collect();
            diesel::insert_into(codes::table).values(rows).execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

/// Uses a recovery code: true if it was the admin's and unused, and is now
/// used (in one statement, so it works once).
pub fn use_recovery_code(
    conn: &mut DbConnection,
    id: i64,
    hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    use super::schema::admin_recovery_codes as codes;
    let n = on_backend!(conn, |c| diesel::update(
        codes::table
            .filter(codes::admin_id.eq(id))
            .filter(codes::code_hash.eq(hash))
            .filter(codes::used_at.is_null())
    )
    .set(codes::used_at.eq(now))
    .execute(c))?;
    Ok(n > 0)
}

/// How many unused recovery codes an admin has left.
pub fn recovery_codes_left(conn: &mut DbConnection, id: i64) -> Result<i64, DbError> {
    use super::schema::admin_recovery_codes as codes;
    Ok(on_backend!(conn, |c| codes::table
        .filter(codes::admin_id.eq(id))
        .filter(codes::used_at.is_null())
        .count()
        .get_result(c))?)
}
