//! The node's clock against the database's.
//!
//! Session expiry, the admin idle limit and the sign-in throttle windows are
//! all computed from the node's own clock. A node 8 days ahead would refuse
//! every other node's tokens and issue tokens that live 15 days; a node 20
//! minutes behind would give a new window of password guesses. So on
//! PostgreSQL, where several nodes share one database, each node compares
//! its clock with the database server's at start-up and every minute, and
//! reports itself not ready while they differ by more than [`MAX_SKEW`].
//! (SQLite is one host: there is nothing to compare.)

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Timestamp;

use super::{DbConnection, DbError, DbPool};
use crate::background::Periodic;

/// The largest difference tolerated between the node's and the database's clock.
pub const MAX_SKEW: chrono::Duration = chrono::Duration::seconds(30);
/// How often the clocks are compared.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

#[derive(QueryableByName)]
struct DbTime {
    #[diesel(sql_type = Timestamp)]
    now: chrono::NaiveDateTime,
}

/// How far the database's clock is ahead of this node's (negative: behind),
/// from one query, taking the middle of its round trip as the moment it read
/// its clock. `None` on SQLite.
pub fn skew(conn: &mut DbConnection) -> Result<Option<chrono::Duration>, DbError> {
    let DbConnection::Postgres(c) = conn else {
        return Ok(None);
    };
    let before = chrono::Utc::now().naive_utc();
    let started = Instant::now();
    let db: DbTime =
        diesel::sql_query("SELECT (clock_timestamp() AT TIME ZONE 'UTC') AS now").get_result(c)?;
    let half_trip = chrono::Duration::from_std(started.elapsed() / 2).unwrap_or_default();
    Ok(Some(db.now - (before + half_trip)))
}

/// Compares the clocks once and records the result in the pool's health.
pub fn check(pool: &DbPool) -> Result<(), DbError> {
    let measured = skew(&mut *pool.get()?)?;
    if let Some(skew) = measured {
        pool.health().clock_checked(skew, skew.abs() > MAX_SKEW);
    }
    Ok(())
}

/// The thread that compares the clocks every [`CHECK_EVERY`].
pub fn start(pool: DbPool) -> std::io::Result<Periodic> {
    Periodic::start(
        "clock-check",
        CHECK_EVERY,
        move || {
            if let Err(e) = check(&pool) {
                tracing::debug!(error = %e, "the clock check could not reach the database");
            }
        },
        || {},
    )
}
