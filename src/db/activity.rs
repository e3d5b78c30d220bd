//! What the admin overview draws, kept small so that the page never reads
//! the big tables:
//!
//! - [`ActivityCounter`]: new accounts and logins, counted in memory per UTC
//!   hour and added to `activity_hours` every few seconds, like the
//!   services' call counts. A node that dies loses at most those seconds of
//!   counts, which a chart can bear; a login never waits for them.
//! - `profile_totals`: accounts by gender and province, recounted by a
//!   `GROUP BY` every few minutes, by whichever node finds them stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::{accounts, activity_hours, profile_totals};
use super::{DbConnection, DbError, DbPool};
use crate::background::Periodic;
use crate::on_backend;

/// How often the counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How old the gender and province totals may get.
pub const TOTALS_MAX_AGE: chrono::Duration = chrono::Duration::minutes(10);
/// How often a node asks whether the totals are stale.
const TOTALS_CHECK_EVERY: Duration = Duration::from_secs(60);
/// Provinces kept in the totals, the largest first.
pub const TOP_PROVINCES: i64 = 12;

/// The start of `t`'s UTC hour.
pub fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("the start of an hour exists")
}

/// One hour's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub new_accounts: i64,
    pub logins: i64,
}

/// Counts since the last write, per hour.
#[derive(Default)]
pub struct ActivityCounter {
    pending: Mutex<HashMap<NaiveDateTime, Counts>>,
}

impl ActivityCounter {
    /// A login at `now`; `created`: it made a new account.
    pub fn count_login(&self, now: NaiveDateTime, created: bool) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let counts = pending.entry(hour_of(now)).or_default();
        counts.logins += 1;
        counts.new_accounts += i64::from(created);
    }

    /// Adds the counts to `activity_hours`; on failure they wait for the
    /// next round.
    pub fn flush(&self, pool: &DbPool) -> Result<(), DbError> {
        let counted: Vec<(NaiveDateTime, Counts)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.drain().collect()
        };
        if counted.is_empty() {
            return Ok(());
        }
        let written = pool
            .get()
            .map_err(DbError::from)
            .and_then(|mut conn| add(&mut conn, &counted));
        if written.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (hour, c) in counted {
                let entry = pending.entry(hour).or_default();
                entry.logins += c.logins;
                entry.new_accounts += c.new_accounts;
            }
        }
        written
    }
}

/// Adds counts to their hours.
pub fn add(conn: &mut DbConnection, counted: &[(NaiveDateTime, Counts)]) -> Result<(), DbError> {
    let rows: Vec<_> = counted
        .iter()
        .map(|(hour, c)| {
            (
                activity_hours::hour.eq(*hour),
                activity_hours::new_accounts.eq(c.new_accounts),
                activity_hours::logins.eq(c.logins),
            )
        })
        .collect();
    on_backend!(conn, |c| diesel::insert_into(activity_hours::table)
        .values(&rows)
        .on_conflict(activity_hours::hour)
        .do_update()
        .set((
            activity_hours::new_accounts
                .eq(activity_hours::new_accounts + excluded(activity_hours::new_accounts)),
            activity_hours::logins.eq(activity_hours::logins + excluded(activity_hours::logins)),
        ))
        .execute(c))?;
    Ok(())
}

/// Counts every hour again from what the tables hold: accounts by their
/// creation, logins by the sessions still kept. For rows written without
/// the counter (`wxlogin seed`); the migration that made the table did the
/// same.
pub fn recount_from_tables(conn: &mut DbConnection) -> Result<(), DbError> {
    fn statements(hour: &str) -> [String; 2] {
        [
            format!(
                "INSERT INTO activity_hours (hour, new_accounts, logins) \
                 SELECT {hour}, COUNT(*), 0 FROM accounts WHERE true GROUP BY {hour} \
                 ON CONFLICT (hour) DO UPDATE SET new_accounts = excluded.new_accounts"
            ),
            format!(
                "INSERT INTO activity_hours (hour, new_accounts, logins) \
                 SELECT {hour}, 0, COUNT(*) FROM sessions WHERE true GROUP BY {hour} \
                 ON CONFLICT (hour) DO UPDATE SET logins = excluded.logins"
            ),
        ]
    }
    let hour = match conn {
        DbConnection::Postgres(_) => "date_trunc('hour', created_at)",
        DbConnection::Sqlite(_) => "strftime('%Y-%m-%d %H:00:00', created_at)",
    };
    for statement in statements(hour) {
        on_backend!(conn, |c| diesel::sql_query(&statement).execute(c))?;
    }
    Ok(())
}

/// The hours from `since` on, oldest first.
pub fn hours_since(
    conn: &mut DbConnection,
    since: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, Counts)>, DbError> {
    let rows: Vec<(NaiveDateTime, i64, i64)> = on_backend!(conn, |c| activity_hours::table
        .filter(activity_hours::hour.ge(since))
        .order(activity_hours::hour)
        .select((
            activity_hours::hour,
            activity_hours::new_accounts,
            activity_hours::logins,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(hour, new_accounts, logins)| {
            (
                hour,
                Counts {
                    new_accounts,
                    logins,
                },
            )
        })
        .collect())
}

/// Accounts by gender (`gender`, "0" to "2") and the largest provinces
/// (`province`), as last counted.
#[derive(Debug, Clone, Default)]
pub struct ProfileTotals {
    pub genders: Vec<(String, i64)>,
    pub provinces: Vec<(String, i64)>,
    pub computed_at: Option<NaiveDateTime>,
}

pub fn profile_totals(conn: &mut DbConnection) -> Result<ProfileTotals, DbError> {
    let rows: Vec<(String, String, i64, NaiveDateTime)> =
        on_backend!(conn, |c| profile_totals::table
            .order((profile_totals::kind, profile_totals::accounts.desc()))
            .select((
                profile_totals::kind,
                profile_totals::value,
                profile_totals::accounts,
                profile_totals::computed_at,
            ))
            .load(c))?;
    let mut totals = ProfileTotals::default();
    for (kind, value, n, at) in rows {
        totals.computed_at = totals.computed_at.max(Some(at));
        match kind.as_str() {
            "gender" => totals.genders.push((value, n)),
            _ => totals.provinces.push((value, n)),
        }
    }
    totals.genders.sort();
    Ok(totals)
}

/// Counts the live accounts by gender and province again, when the last
/// count is older than [`TOTALS_MAX_AGE`]. Returns whether it did.
pub fn refresh_profile_totals(
    conn: &mut DbConnection,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let last: Option<NaiveDateTime> = on_backend!(conn, |c| profile_totals::table
        .select(diesel::dsl::max(profile_totals::computed_at))
        .get_result(c))?;
    if last.is_some_and(|t| now - t < TOTALS_MAX_AGE) {
        return Ok(false);
    }
    // The counts are read outside any transaction: they take seconds at a
    // million accounts, and on SQLite a write transaction would hold every
    // login back meanwhile. Only the short replacement below writes.
    type Counted = (Vec<(i16, i64)>, Vec<(String, i64)>);
    let (genders, provinces): Counted = on_backend!(conn, |c| {
        let live = accounts::deleted_at.is_null();
        let genders = accounts::table
            .filter(live)
            .group_by(accounts::gender)
            .select((accounts::gender, diesel::dsl::count_star()))
            .load(c)?;
        let provinces = accounts::table
            .filter(live)
            .group_by(accounts::province)
            .select((accounts::province, diesel::dsl::count_star()))
            .order(diesel::dsl::count_star().desc())
            .limit(TOP_PROVINCES)
            .load(c)?;
        Ok::<_, diesel::result::Error>((genders, provinces))
    })?;
    let rows: Vec<_> = genders
        .into_iter()
        .map(|(g, n)| ("gender", g.to_string(), n))
        .chain(provinces.into_iter().map(|(p, n)| ("province", p, n)))
        .map(|(kind, value, n)| {
            (
                profile_totals::kind.eq(kind),
                profile_totals::value.eq(value),
                profile_totals::accounts.eq(n),
                profile_totals::computed_at.eq(now),
            )
        })
        .collect();
    super::write_transaction(conn, |conn| {
        on_backend!(conn, |c| {
            diesel::delete(profile_totals::table).execute(c)?;
            diesel::insert_into(profile_totals::table)
                .values(&rows)
                .execute(c)
        })
        .map_err(DbError::from)
    })?;
    Ok(true)
}

/// The thread that writes the counts every [`FLUSH_EVERY`], and recounts
/// the profile totals when they are stale.
pub fn start(counter: Arc<ActivityCounter>, pool: DbPool) -> std::io::Result<Periodic> {
    let (last_counter, last_pool) = (counter.clone(), pool.clone());
    // Whether the totals are stale is asked once a minute, not every round:
    // an idle node then costs the database nothing between checks.
    let mut next_check = std::time::Instant::now();
    Periodic::start(
        "activity",
        FLUSH_EVERY,
        move || {
            if let Err(e) = counter.flush(&pool) {
                tracing::warn!(error = %e, "cannot write the login counts yet; the next round tries again");
            }
            if std::time::Instant::now() < next_check {
                return;
            }
            next_check = std::time::Instant::now() + TOTALS_CHECK_EVERY;
            let refreshed = pool
                .get()
                .map_err(DbError::from)
                .and_then(|mut conn| refresh_profile_totals(&mut conn, crate::clock::now()));
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "cannot count accounts by gender and province yet");
            }
        },
        move || {
            let _ = last_counter.flush(&last_pool);
        },
    )
}
