//! Admin sign-in: throttling, the password check off the database pool, and
//! the audit trail.
//!
//! The rules, per 15-minute window (a window starts at its first attempt):
//!
//! - **A username from one IP address** gets [`USER_IP_LIMIT`] attempts.
//! - **One IP address** gets [`IP_LIMIT`] attempts, whatever the usernames.
//! - Past either, attempts are refused (429) without a password check, until
//!   the window ends. The first refusal of a window is audited once.
//! - **A username from many addresses** is never blocked, so nobody can keep
//!   an admin out by guessing their password from elsewhere. Once it has
//!   [`USER_ALERT_AFTER`] failures in a window, an alert is raised (an audit
//!   entry, a log line and a metric), and each further attempt for it waits
//!   a little longer before its check, up to [`MAX_DELAY`].
//!
//! So the right password from an address with no failures signs in, at
//! worst after that bounded delay.
//!
//! An attempt is counted before its password is checked, in one statement
//! per key (see `db::sign_in_throttle`), so concurrent guesses cannot make
//! more checks than the limit. The check itself runs on the
//! [`PasswordChecker`]'s threads after the pooled connection has been given
//! back, and is refused at once when those are busy.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::audit;
use super::ServiceResult;
use crate::db::admins::{self, AuditAction};
use crate::db::sign_in_throttle::{self, ThrottleKey};
use crate::db::{self, DbError, DbPool};
use crate::domain::password::PasswordChecker;

/// Attempts for one username from one IP address in a window.
pub const USER_IP_LIMIT: i64 = 5;
/// Attempts from one IP address in a window, for any usernames.
pub const IP_LIMIT: i64 = 20;
/// Failures for one username, from anywhere, that raise the alert.
pub const USER_ALERT_AFTER: i64 = 10;
/// Second-factor attempts of one admin in a window, after a right password.
pub const SECOND_FACTOR_LIMIT: i64 = 5;
/// The longest an attempt waits for a username under attack.
pub const MAX_DELAY: Duration = Duration::from_secs(3);
/// Each failure past [`USER_ALERT_AFTER`] adds this much to the delay.
const DELAY_STEP: Duration = Duration::from_millis(500);
pub const WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// A sign-in as typed.
pub struct SignInAttempt {
    pub username: String,
    pub password: String,
    pub ip: Option<String>,
}

impl std::fmt::Debug for SignInAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInAttempt")
            .field("username", &self.username)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    SignedIn {
        admin_id: i64,
        /// The admin has a second factor, still to be checked.
        second_factor: bool,
    },
    /// Wrong username or password (never says which).
    Wrong,
    /// Too many attempts: try again after this long.
    Throttled { retry_after: Duration },
    /// The password checker has no room: try again in a moment.
    Busy,
}

/// What sign-in needs beside the attempt.
pub struct SignInContext<'a> {
    pub pool: &'a DbPool,
    pub checker: &'a PasswordChecker,
    /// Checked when the username is unknown, so that it costs as much as a
    /// wrong password and timing tells nothing.
    pub dummy_hash: &'a str,
}

/// Where the first step left the attempt.
enum Admitted {
    Throttled {
        until: NaiveDateTime,
    },
    Check {
        admin: Option<admins::Admin>,
        user_failures: i64,
    },
}

fn user_ip_subject(username: &str, ip: Option<&str>) -> String {
    format!("{username}\n{}", ip.unwrap_or("-"))
}

fn ip_subject(ip: Option<&str>) -> String {
    ip.unwrap_or("-").to_owned()
}

/// How long an attempt for a username with `failures` waits before its check.
pub fn delay_for(failures: i64) -> Duration {
    if failures < USER_ALERT_AFTER {
        return Duration::ZERO;
    }
    let steps = (failures - USER_ALERT_AFTER + 1).min(100) as u32;
    (DELAY_STEP * steps).min(MAX_DELAY)
}

/// Counts the attempt against its two limits and reads what the check needs.
fn admit(
    conn: &mut db::DbConnection,
    username: &str,
    ip: Option<&str>,
    now: NaiveDateTime,
) -> Result<Admitted, DbError> {
    let user_ip = user_ip_subject(username, ip);
    let by_ip = ip_subject(ip);
    let refused =
        |conn: &mut db::DbConnection, key: ThrottleKey, count: sign_in_throttle::Count| {
            // Audited once per window and key, not once per refused attempt.
            if count.attempts == limit_of(key) + 1 {
                let detail = serde_json::json!({
                    "key": key.as_str(),
                    "window_start": count.window_start.and_utc().to_rfc3339(),
                    "limit": limit_of(key),
                })
                .to_string();
                audit::record_as(
                    conn,
                    None,
                    username,
                    ip,
                    AuditAction::SignInThrottled,
                    &detail,
                )?;
                tracing::warn!(username, ip, key = key.as_str(), "admin sign-in throttled");
            }
            Ok::<_, DbError>(Admitted::Throttled {
                until: count.window_start + WINDOW,
            })
        };
    let count = sign_in_throttle::count_attempt(conn, ThrottleKey::UserIp, &user_ip, now, WINDOW)?;
    if count.attempts > USER_IP_LIMIT {
        return refused(conn, ThrottleKey::UserIp, count);
    }
    let count = sign_in_throttle::count_attempt(conn, ThrottleKey::Ip, &by_ip, now, WINDOW)?;
    if count.attempts > IP_LIMIT {
        // This attempt is not made, so it does not count for the username.
        sign_in_throttle::refund(conn, ThrottleKey::UserIp, &user_ip)?;
        return refused(conn, ThrottleKey::Ip, count);
    }
    let user_failures = sign_in_throttle::current(conn, ThrottleKey::User, username, now, WINDOW)?;
    let admin = admins::find_by_username(conn, username)?;
    Ok(Admitted::Check {
        admin,
        user_failures,
    })
}

fn limit_of(key: ThrottleKey) -> i64 {
    match key {
        ThrottleKey::UserIp => USER_IP_LIMIT,
        ThrottleKey::Ip => IP_LIMIT,
        ThrottleKey::User => USER_ALERT_AFTER,
        ThrottleKey::SecondFactor => SECOND_FACTOR_LIMIT,
    }
}

/// Records the result of the check.
fn conclude(
    conn: &mut db::DbConnection,
    attempt: &SignInAttempt,
    signed_in: Option<i64>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let ip = attempt.ip.as_deref();
    let name = attempt.username.as_str();
    match signed_in {
        Some(id) => {
            // The right password clears this address's count for the name,
            // and its attempt does not count against the address.
            sign_in_throttle::clear(conn, ThrottleKey::UserIp, &user_ip_subject(name, ip))?;
            sign_in_throttle::refund(conn, ThrottleKey::Ip, &ip_subject(ip))?;
            admins::record_sign_in(conn, id, now)?;
            audit::record_as(conn, Some(id), name, ip, AuditAction::SignIn, "")
        }
        None => {
            audit::record_as(conn, None, name, ip, AuditAction::SignInFailed, "")?;
            let failures =
                sign_in_throttle::count_attempt(conn, ThrottleKey::User, name, now, WINDOW)?;
            if failures.attempts == USER_ALERT_AFTER {
                let detail = serde_json::json!({
                    "failures": failures.attempts,
                    "window_start": failures.window_start.and_utc().to_rfc3339(),
                    "window_minutes": WINDOW.num_minutes(),
                })
                .to_string();
                audit::record_as(conn, None, name, ip, AuditAction::SignInAlert, &detail)?;
                tracing::warn!(
                    username = name,
                    failures = failures.attempts,
                    "ALERT: many failed admin sign-ins for one username; its sign-ins are now delayed"
                );
                metrics::counter!("wxlogin_admin_sign_in_alerts_total").increment(1);
            }
            Ok(())
        }
    }
}

/// Signs an admin in, or says why not. See the module documentation.
pub async fn sign_in(
    cx: &SignInContext<'_>,
    attempt: SignInAttempt,
) -> ServiceResult<SignInOutcome> {
    let Ok(slot) = cx.checker.try_reserve() else {
        metrics::counter!("wxlogin_admin_sign_ins_total", "result" => "busy").increment(1);
        return Ok(SignInOutcome::Busy);
    };
    let (name, ip) = (attempt.username.clone(), attempt.ip.clone());
    let admitted = db::run(cx.pool, move |conn| {
        admit(conn, &name, ip.as_deref(), crate::clock::now())
    })
    .await?;
    let (admin, user_failures) = match admitted {
        Admitted::Throttled { until } => {
            metrics::counter!("wxlogin_admin_sign_ins_total", "result" => "throttled").increment(1);
            let left = (until - crate::clock::now()).to_std().unwrap_or_default();
            return Ok(SignInOutcome::Throttled {
                retry_after: left.max(Duration::from_secs(1)),
            });
        }
        Admitted::Check {
            admin,
            user_failures,
        } => (admin, user_failures),
    };
    let delay = delay_for(user_failures);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // The connection is back in the pool while argon2 runs.
    let hash = admin
        .as_ref()
        .map_or(cx.dummy_hash, |a| a.password_hash.as_str())
        .to_owned();
    let matches = slot.verify(attempt.password.clone(), hash).await;
    let admin = admin.filter(|_| matches);
    let second_factor = admin.as_ref().is_some_and(|a| a.totp_enabled_at.is_some());
    let signed_in = admin.map(|a| a.id);
    db::run(cx.pool, move |conn| {
        conclude(conn, &attempt, signed_in, crate::clock::now())
    })
    .await?;
    let result = if signed_in.is_some() {
        "signed_in"
    } else {
        "wrong"
    };
    metrics::counter!("wxlogin_admin_sign_ins_total", "result" => result).increment(1);
    Ok(match signed_in {
        Some(admin_id) => SignInOutcome::SignedIn {
            admin_id,
            second_factor,
        },
        None => SignInOutcome::Wrong,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_to_a_bound() {
        assert_eq!(delay_for(0), Duration::ZERO);
        assert_eq!(delay_for(USER_ALERT_AFTER - 1), Duration::ZERO);
        assert_eq!(delay_for(USER_ALERT_AFTER), DELAY_STEP);
        assert_eq!(delay_for(USER_ALERT_AFTER + 1), DELAY_STEP * 2);
        assert_eq!(delay_for(1_000_000), MAX_DELAY);
    }
}
