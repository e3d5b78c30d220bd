//! The overview's charts: new accounts and logins per day over the last 90
//! days (30 is the tail of it), accounts by gender and province, and the
//! phone ledger per day. All of it comes from the rollup tables (see
//! `db::activity`), so the page costs the same at a million users as at
//! ten.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};

use super::ServiceResult;
use crate::clock;
use crate::db::activity::{self, ProfileTotals};
use crate::db::{self, phone_ledger};
use crate::state::AppState;

/// Days in the long charts.
pub const LONG_DAYS: u64 = 90;
/// Days in the short charts.
pub const SHORT_DAYS: u64 = 30;

/// One figure per day, oldest first, every day present.
pub type Daily = Vec<(NaiveDate, u64)>;

#[derive(Debug)]
pub struct OverviewCharts {
    /// The last [`LONG_DAYS`] days, in the display time zone.
    pub new_accounts: Daily,
    pub logins: Daily,
    /// Billed phone-number exchanges per China day, the last [`SHORT_DAYS`].
    pub phone_exchanges: Daily,
    pub profiles: ProfileTotals,
}

/// The last `days` days up to `today`, each with the sum of `values` on it.
fn by_day(
    today: NaiveDate,
    days: u64,
    values: impl IntoIterator<Item = (NaiveDate, i64)>,
) -> Daily {
    let first = today - chrono::Days::new(days - 1);
    let mut out: Daily = first
        .iter_days()
        .take(days as usize)
        .map(|d| (d, 0))
        .collect();
    for (day, n) in values {
        if let Some(slot) = day
            .signed_duration_since(first)
            .num_days()
            .try_into()
            .ok()
            .and_then(|i: usize| out.get_mut(i))
        {
            slot.1 += n.max(0) as u64;
        }
    }
    out
}

/// The day of a UTC time in `zone`.
fn local_day<Z: TimeZone>(zone: &Z, t: NaiveDateTime) -> NaiveDate {
    zone.from_utc_datetime(&t).date_naive()
}

pub async fn charts<Z: TimeZone + Send + 'static>(
    state: &AppState,
    zone: Z,
) -> ServiceResult<OverviewCharts> {
    let now = clock::now();
    let today = local_day(&zone, now);
    // One day more than shown, so that the first local day is whole in any zone.
    let since = activity::hour_of(now) - chrono::Duration::days(LONG_DAYS as i64 + 1);
    let china_today = clock::china_date(now);
    let phone_first = china_today - chrono::Days::new(SHORT_DAYS - 1);
    let (hours, profiles, phones) = db::run(&state.pool, move |conn| {
        Ok((
            activity::hours_since(conn, since)?,
            activity::profile_totals(conn)?,
            phone_ledger::between(conn, phone_first, china_today)?,
        ))
    })
    .await?;
    let days = |pick: fn(&activity::Counts) -> i64| {
        by_day(
            today,
            LONG_DAYS,
            hours
                .iter()
                .map(|(hour, c)| (local_day(&zone, *hour), pick(c))),
        )
    };
    Ok(OverviewCharts {
        new_accounts: days(|c| c.new_accounts),
        logins: days(|c| c.logins),
        phone_exchanges: by_day(
            china_today,
            SHORT_DAYS,
            phones.into_iter().map(|p| (p.day, p.count)),
        ),
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_filled_and_summed() {
        let d = |n: u32| NaiveDate::from_ymd_opt(2026, 12, n).unwrap();
        let daily = by_day(
            d(6),
            3,
            [(d(4), 2), (d(6), 1), (d(6), 4), (d(1), 9), (d(7), 9)],
        );
        assert_eq!(daily, vec![(d(4), 2), (d(5), 0), (d(6), 5)]);
    }

    #[test]
    fn hours_fall_on_the_local_day() {
        let t = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(20, 0, 0)
            .unwrap();
        let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(
            local_day(&beijing, t),
            NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()
        );
        assert_eq!(
            local_day(&chrono::Utc, t),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
    }
}
