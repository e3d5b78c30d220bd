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

/// The calendar day in China (UTC+8, no daylight saving) at `at`: the day
/// by which WeChat counts its quotas and bills.
pub fn china_date(at: chrono::NaiveDateTime) -> chrono::NaiveDate {
    (at + chrono::TimeDelta::hours(8)).date()
}
