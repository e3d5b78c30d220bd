//! Two-factor sign-in for admins: TOTP (RFC 6238) with one-time recovery
//! codes. An admin turns it on by scanning a secret and typing a code from
//! it; from then on a right password leaves the session half signed in
//! until a code, or a recovery code, is typed.
//!
//! - A code is accepted at most once: the last time step accepted is
//!   stored, and only a later one passes (one conditional `UPDATE`).
//! - Attempts are throttled per admin like passwords: 5 in 15 minutes.
//! - The secret is sealed with a key derived from the server key; recovery
//!   codes are kept as keyed hashes, each usable once.

use std::time::Duration;

use super::admin_sign_in::{SECOND_FACTOR_LIMIT, WINDOW};
use super::audit::{self, Actor};
use super::{SecondFactorProblem, ServiceError, ServiceResult};
use crate::clock;
use crate::db::admins::{self, AuditAction};
use crate::db::sign_in_throttle::{self, ThrottleKey};
use crate::db::{self, DbPool};
use crate::domain::totp::{self, TotpError, TotpSecret};
pub use crate::domain::totp_keys::SecondFactorKeys;

/// The name authenticator apps show above the code.
const ISSUER: &str = "wxlogin admin";

fn open(keys: &SecondFactorKeys, admin_id: i64, sealed: &[u8]) -> ServiceResult<TotpSecret> {
    keys.open(admin_id, sealed).ok_or_else(|| {
        ServiceError::Internal(
            "a stored TOTP secret does not open: was the server key changed? `wxlogin admin reset-2fa NAME` turns it off".into(),
        )
    })
}

/// What an admin scans to turn the second factor on.
#[derive(Debug)]
pub struct Enrolment {
    /// The secret in base32, to type by hand.
    pub secret: String,
    /// The QR code of the `otpauth://` address, as inline SVG; `None` when
    /// the address is too long for one.
    pub qr_svg: Option<String>,
}

/// Where an admin's second factor stands.
#[derive(Debug)]
pub struct Status {
    pub enabled: bool,
    /// Turning it on has begun: a secret waits for its first code.
    pub pending: Option<Enrolment>,
    pub recovery_codes_left: i64,
}

fn enrolment(secret: &TotpSecret, username: &str) -> Enrolment {
    Enrolment {
        secret: secret.base32(),
        qr_svg: secret.qr_svg(ISSUER, username, "QR code for an authenticator app"),
    }
}

pub async fn status(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    actor: &Actor,
) -> ServiceResult<Status> {
    let id = actor.admin_id;
    let (factor, left) = db::run(pool, move |conn| {
        Ok((
            admins::second_factor(conn, id)?,
            admins::recovery_codes_left(conn, id)?,
        ))
    })
    .await?;
    let pending = match (&factor.secret, factor.enabled_at) {
        (Some(sealed), None) => Some(enrolment(&open(keys, id, sealed)?, &actor.username)),
        _ => None,
    };
    Ok(Status {
        enabled: factor.enabled_at.is_some(),
        pending,
        recovery_codes_left: left,
    })
}

/// Makes a new secret for the admin to scan. Refused while the second
/// factor is on.
pub async fn start(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    actor: &Actor,
) -> ServiceResult<Enrolment> {
    let secret = TotpSecret::generate();
    let sealed = keys.seal(actor.admin_id, &secret);
    let id = actor.admin_id;
    let stored = db::run(pool, move |conn| {
        admins::set_pending_totp(conn, id, &sealed)
    })
    .await?;
    if !stored {
        return Err(ServiceError::SecondFactor(SecondFactorProblem::AlreadyOn));
    }
    Ok(enrolment(&secret, &actor.username))
}

fn unix_now() -> u64 {
    crate::clock::unix_now().max(0) as u64
}

fn code_error(e: TotpError) -> ServiceError {
    ServiceError::SecondFactor(match e {
        TotpError::Malformed => SecondFactorProblem::Malformed,
        TotpError::Wrong => SecondFactorProblem::WrongCode,
        TotpError::Replayed => SecondFactorProblem::Replayed,
    })
}

/// Turns the second factor on with a first code from the pending secret,
/// and gives the recovery codes, to show once.
pub async fn confirm(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    actor: &Actor,
    code: &str,
) -> ServiceResult<Vec<String>> {
    let id = actor.admin_id;
    let factor = db::run(pool, move |conn| admins::second_factor(conn, id)).await?;
    let (Some(sealed), None) = (factor.secret, factor.enabled_at) else {
        return Err(ServiceError::SecondFactor(
            SecondFactorProblem::NothingPending,
        ));
    };
    let step = open(keys, id, &sealed)?
        .verify(code, unix_now(), None)
        .map_err(code_error)?;
    let codes = totp::generate_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| keys.recovery.hash(id, c)).collect();
    let actor = actor.clone();
    let enabled = db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = clock::now();
            if !admins::accept_totp_step(conn, id, step as i64, Some(now))? {
                return Ok(false);
            }
            admins::replace_recovery_codes(conn, id, &hashes, Some(now))?;
            audit::record(conn, &actor, AuditAction::SecondFactorEnabled, "")?;
            Ok(true)
        })
    })
    .await?;
    if !enabled {
        return Err(code_error(TotpError::Replayed));
    }
    Ok(codes)
}

/// Turns the second factor off; needs a current code or a recovery code.
pub async fn disable(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    actor: &Actor,
    code: &str,
) -> ServiceResult<()> {
    match check(pool, keys, actor.admin_id, code).await? {
        Checked::Passed(_) => {}
        Checked::Failed(e) => return Err(e),
    }
    let actor = actor.clone();
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            admins::clear_totp(conn, actor.admin_id)?;
            audit::record(conn, &actor, AuditAction::SecondFactorDisabled, "")
        })
    })
    .await?;
    Ok(())
}

enum Checked {
    /// With how: `totp` or `recovery_code`.
    Passed(&'static str),
    Failed(ServiceError),
}

/// Checks a code typed at sign-in: a TOTP code, or else a recovery code.
async fn check(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    id: i64,
    typed: &str,
) -> ServiceResult<Checked> {
    let factor = db::run(pool, move |conn| admins::second_factor(conn, id)).await?;
    let (Some(sealed), Some(_)) = (factor.secret, factor.enabled_at) else {
        return Err(ServiceError::SecondFactor(SecondFactorProblem::NotOn));
    };
    let typed = typed.trim();
    if typed.chars().filter(char::is_ascii_digit).count() == 6 && typed.len() <= 7 {
        let after = factor.last_step.map(|s| s.max(0) as u64);
        return Ok(
            match open(keys, id, &sealed)?.verify(typed, unix_now(), after) {
                Ok(step) => {
                    let accepted = db::run(pool, move |conn| {
                        admins::accept_totp_step(conn, id, step as i64, None)
                    })
                    .await?;
                    if accepted {
                        Checked::Passed("totp")
                    } else {
                        Checked::Failed(code_error(TotpError::Replayed))
                    }
                }
                Err(e) => Checked::Failed(code_error(e)),
            },
        );
    }
    let Some(normal) = totp::normalise_recovery_code(typed) else {
        return Ok(Checked::Failed(ServiceError::SecondFactor(
            SecondFactorProblem::Unrecognised,
        )));
    };
    let hash = keys.recovery.hash(id, &normal);
    let used = db::run(pool, move |conn| {
        admins::use_recovery_code(conn, id, &hash, clock::now())
    })
    .await?;
    Ok(if used {
        Checked::Passed("recovery_code")
    } else {
        Checked::Failed(ServiceError::SecondFactor(
            SecondFactorProblem::WrongRecoveryCode,
        ))
    })
}

/// The second step of a sign-in.
#[derive(Debug)]
pub enum SecondFactorOutcome {
    Passed,
    /// Wrong, replayed or malformed: the message says which.
    Failed(ServiceError),
    /// Too many attempts: try again after this long.
    Throttled {
        retry_after: Duration,
    },
}

/// Checks the second factor of a half signed-in session, throttled per
/// admin, and audits the result.
pub async fn sign_in(
    pool: &DbPool,
    keys: &SecondFactorKeys,
    actor: &Actor,
    typed: &str,
) -> ServiceResult<SecondFactorOutcome> {
    let name = actor.username.clone();
    let count = db::run(pool, move |conn| {
        sign_in_throttle::count_attempt(
            conn,
            ThrottleKey::SecondFactor,
            &name,
            clock::now(),
            WINDOW,
        )
    })
    .await?;
    if count.attempts > SECOND_FACTOR_LIMIT {
        let left = (count.window_start + WINDOW - clock::now())
            .to_std()
            .unwrap_or_default();
        return Ok(SecondFactorOutcome::Throttled {
            retry_after: left.max(Duration::from_secs(1)),
        });
    }
    let checked = check(pool, keys, actor.admin_id, typed).await?;
    let actor = actor.clone();
    let (action, detail, passed) = match &checked {
        Checked::Passed(how) => (
            AuditAction::SecondFactorPassed,
            serde_json::json!({"with": how}),
            true,
        ),
        Checked::Failed(e) => (
            AuditAction::SecondFactorFailed,
            serde_json::json!({"why": e.to_string()}),
            false,
        ),
    };
    db::run(pool, move |conn| {
        if passed {
            sign_in_throttle::clear(conn, ThrottleKey::SecondFactor, &actor.username)?;
        }
        audit::record(conn, &actor, action, &detail.to_string())
    })
    .await?;
    Ok(match checked {
        Checked::Passed(_) => SecondFactorOutcome::Passed,
        Checked::Failed(e) => SecondFactorOutcome::Failed(e),
    })
}
