//! The `phone_exchanges` table: how many phone numbers WeChat gave each app
//! on each China calendar day. WeChat bills every successful exchange, so
//! this is the ledger operators check their bill against. One row per app
//! a day, counted up in place.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::phone_exchanges;
use super::{DbConnection, DbError};
use crate::on_backend;

/// Counts one successful exchange of `appid` on `day`.
pub fn count_exchange(conn: &mut DbConnection, appid: &str, day: NaiveDate) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(phone_exchanges::table)
        .values((
            phone_exchanges::appid.eq(appid),
            phone_exchanges::day.eq(day),
            phone_exchanges::count.eq(1_i64),
        ))
        .on_conflict((phone_exchanges::appid, phone_exchanges::day))
        .do_update()
        .set(phone_exchanges::count.eq(phone_exchanges::count + excluded(phone_exchanges::count)))
        .execute(c))?;
    Ok(())
}

/// One app's count on one day.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DailyCount {
    pub appid: String,
    pub day: NaiveDate,
    pub count: i64,
}

/// The counts from `first` to `last` (both included), by app then day: at
/// most one row per app a day.
pub fn between(
    conn: &mut DbConnection,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<DailyCount>, DbError> {
    Ok(on_backend!(conn, |c| phone_exchanges::table
        .filter(phone_exchanges::day.between(first, last))
        .order((phone_exchanges::appid, phone_exchanges::day))
        .select((
            phone_exchanges::appid,
            phone_exchanges::day,
            phone_exchanges::count
        ))
        .load(c))?)
}
