//! The `sign_in_throttle` table: counters of admin sign-in attempts per key
//! and window, shared by every node.
//!
//! [`count_attempt`] is one statement that increments a key's counter, or
//! starts a new window, and returns the count: the count and the check are
//! one atomic step, so concurrent guesses cannot overrun a limit.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::sign_in_throttle;
use super::{DbConnection, DbError, Dialect};
use crate::on_backend;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKey {
    /// Attempts from one IP address, for any username.
    Ip,
    /// Attempts for one username from one IP address.
    UserIp,
    /// Failures for one username, from anywhere.
    User,
    /// Second-factor attempts of one admin, after a right password.
    SecondFactor,
}

impl ThrottleKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::UserIp => "user_ip",
            Self::User => "user",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// A counter after it was incremented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
    #[diesel(sql_type = Timestamp)]
    pub window_start: NaiveDateTime,
}

/// Adds one attempt to `key`/`subject` and returns the count in its window.
/// A window starts at its first attempt and lasts `window`; an attempt after
/// that starts a new one.
pub fn count_attempt(
    conn: &mut DbConnection,
    key: ThrottleKey,
    subject: &str,
    now: NaiveDateTime,
    window: chrono::Duration,
) -> Result<Count, DbError> {
    let expired = now - window;
    // In SET, both CASEs see the row as it was before the update.
    let sql = |p: &dyn Fn(usize) -> String| {
        format!(
            "INSERT INTO sign_in_throttle (kind, subject, window_start, attempts) \
             VALUES ({k}, {s}, {now}, 1) \
             ON CONFLICT (kind, subject) DO UPDATE SET \
               attempts = CASE WHEN sign_in_throttle.window_start <= {exp} THEN 1 \
                          ELSE sign_in_throttle.attempts + 1 END, \
               window_start = CASE WHEN sign_in_throttle.window_start <= {exp} THEN {now} \
                              ELSE sign_in_throttle.window_start END \
             RETURNING attempts, window_start",
            k = p(1),
            s = p(2),
            now = p(3),
            exp = p(4),
        )
    };
    let count = on_backend!(conn, |c| {
        let text = sql(&|n| c.placeholder(n));
        diesel::sql_query(text)
            .bind::<Text, _>(key.as_str())
            .bind::<Text, _>(subject)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(expired)
            .get_result::<Count>(c)
    })?;
    Ok(count)
}

/// Takes one attempt back from `key`/`subject` (one that was counted but
/// not made, or that succeeded).
pub fn refund(conn: &mut DbConnection, key: ThrottleKey, subject: &str) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(
        sign_in_throttle::table
            .filter(sign_in_throttle::kind.eq(key.as_str()))
            .filter(sign_in_throttle::subject.eq(subject))
            .filter(sign_in_throttle::attempts.gt(0))
    )
    .set(sign_in_throttle::attempts.eq(sign_in_throttle::attempts - 1))
    .execute(c))?;
    Ok(())
}

/// Forgets `key`/`subject`.
pub fn clear(conn: &mut DbConnection, key: ThrottleKey, subject: &str) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::delete(
        sign_in_throttle::table
            .filter(sign_in_throttle::kind.eq(key.as_str()))
            .filter(sign_in_throttle::subject.eq(subject))
    )
    .execute(c))?;
    Ok(())
}

/// The attempts counted for `key`/`subject` in a window that is still open.
pub fn current(
    conn: &mut DbConnection,
    key: ThrottleKey,
    subject: &str,
    now: NaiveDateTime,
    window: chrono::Duration,
) -> Result<i64, DbError> {
    let found: Option<i64> = on_backend!(conn, |c| sign_in_throttle::table
        .filter(sign_in_throttle::kind.eq(key.as_str()))
        .filter(sign_in_throttle::subject.eq(subject))
        .filter(sign_in_throttle::window_start.gt(now - window))
        .select(sign_in_throttle::attempts)
        .get_result(c)
        .optional())?;
    Ok(found.unwrap_or(0))
}

/// Deletes the counters whose window began before `before`. The table holds
/// one row per key and window, so this is never a large delete.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        sign_in_throttle::table.filter(sign_in_throttle::window_start.lt(before))
    )
    .execute(c))?)
}
