//! The application's one clock.

use chrono::SubsecRound;

/// The current time in UTC, as stored in the database: microseconds, so that
/// values read back equal the values written on both backends.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// The current time in whole seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
