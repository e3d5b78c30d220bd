//! The admin site's views of users: the overview's totals, the user table
//! and a user's page. Counts never scan a large table in full: past a cap
//! they say "more than", and the total is an estimate past it.

use super::personal_data::open_phone;
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::db::accounts::{self, Account};
use crate::db::identities::{self, Identity};
use crate::db::phone_ledger;
use crate::db::sessions::{self, Session};
use crate::db::user_list::{self, UserRow};
use crate::db::{self, DbConnection, DbError};
use crate::domain::data_keys::DataKeys;
use crate::domain::display_time;
use crate::domain::user_query::{CreatedDays, Page, SortColumn, UserFilter, UserQuery};
use crate::state::AppState;

/// Up to this many matching rows are counted exactly.
const COUNT_CAP: i64 = 10_000;
/// A nickname search counts exactly up to here: it reads rows one by one.
const SEARCH_COUNT_CAP: i64 = 200;
/// The overview's totals are exact up to here.
const TOTAL_CAP: i64 = 100_000;
/// Sessions listed on a user's page.
const SESSIONS_SHOWN: i64 = 100;

/// A count as the admin site can afford it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exact(i64),
    /// An estimate (of the whole table).
    About(i64),
    /// At least this many; not counted further.
    MoreThan(i64),
}

impl Count {
    fn capped(exact: Option<i64>, cap: i64) -> Self {
        exact.map_or(Self::MoreThan(cap), Self::Exact)
    }
}

/// The overview's totals.
#[derive(Debug, Clone)]
pub struct Overview {
    pub users: Count,
    pub new_today: Count,
    pub new_this_week: Count,
    pub active_sessions: Count,
    /// Billed phone-number exchanges, one line per served app.
    pub phone_exchanges: Vec<PhoneExchanges>,
}

/// One app's billed phone-number exchanges, by China calendar day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneExchanges {
    pub appid: String,
    pub app_name: String,
    pub today: i64,
    pub last_7_days: i64,
    pub last_30_days: i64,
}

/// The phone ledger's sums per app over the last 30 China days (today
/// included): every served app, and any other app the ledger still holds.
fn phone_exchanges(
    apps: &[(String, String)],
    conn: &mut DbConnection,
    now: chrono::NaiveDateTime,
) -> Result<Vec<PhoneExchanges>, DbError> {
    let today = clock::china_date(now);
    let first = today - chrono::Days::new(29);
    let week_start = today - chrono::Days::new(6);
    let mut lines: Vec<PhoneExchanges> = apps
        .iter()
        .map(|(appid, name)| PhoneExchanges {
            appid: appid.clone(),
            app_name: name.clone(),
            today: 0,
            last_7_days: 0,
            last_30_days: 0,
        })
        .collect();
    for row in phone_ledger::between(conn, first, today)? {
        let i = match lines.iter().position(|l| l.appid == row.appid) {
            Some(i) => i,
            None => {
                lines.push(PhoneExchanges {
                    app_name: String::new(),
                    appid: row.appid.clone(),
                    today: 0,
                    last_7_days: 0,
                    last_30_days: 0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[i];
        line.last_30_days += row.count;
        if row.day >= week_start {
            line.last_7_days += row.count;
        }
        if row.day == today {
            line.today += row.count;
        }
    }
    Ok(lines)
}

/// All users: exact while the table is small, else an estimate.
fn total_users(conn: &mut DbConnection) -> Result<Count, DbError> {
    let estimate = user_list::estimate_total(conn)?;
    if estimate <= COUNT_CAP {
        if let Some(n) = user_list::count_up_to(conn, &UserFilter::default(), COUNT_CAP)? {
            return Ok(Count::Exact(n));
        }
    }
    Ok(Count::About(estimate))
}

pub async fn overview(state: &AppState) -> ServiceResult<Overview> {
    let apps: Vec<(String, String)> = state
        .apps
        .iter()
        .map(|app| (app.appid.clone(), app.name.clone()))
        .collect();
    // "Today" is the admin site's day, so that the count matches the
    // table filtered on today's date.
    let zone = state.admin_policy.timezone;
    Ok(db::run(&state.pool, move |conn| {
        let now = clock::now();
        let today = display_time::day_of(now, zone);
        let since = |days: u64| UserFilter {
            created: CreatedDays {
                from: today.checked_sub_days(chrono::Days::new(days)),
                to: None,
                zone,
            },
            ..UserFilter::default()
        };
        Ok(Overview {
            users: total_users(conn)?,
            new_today: Count::capped(
                user_list::count_up_to(conn, &since(0), TOTAL_CAP)?,
                TOTAL_CAP,
            ),
            new_this_week: Count::capped(
                user_list::count_up_to(conn, &since(6), TOTAL_CAP)?,
                TOTAL_CAP,
            ),
            active_sessions: Count::capped(
                sessions::count_active_up_to(conn, now, TOTAL_CAP)?,
                TOTAL_CAP,
            ),
            phone_exchanges: phone_exchanges(&apps, conn, now)?,
        })
    })
    .await?)
}

/// The filter's choices: the provinces, and the cities of the chosen one.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub provinces: Vec<String>,
    pub cities: Vec<String>,
}

/// One page of the user table.
#[derive(Debug)]
pub struct UserList {
    pub rows: Vec<UserRow>,
    /// Whether there are rows beyond the page, in the direction it was read.
    pub more: bool,
    pub count: Count,
    pub places: Places,
}

fn places(conn: &mut DbConnection, province: Option<&str>) -> Result<Places, DbError> {
    Ok(Places {
        provinces: user_list::distinct_values(conn, SortColumn::Province, None)?,
        cities: user_list::distinct_values(conn, SortColumn::City, province)?,
    })
}

/// Only the filter's choices, for a page whose parameters were refused.
pub async fn places_only(state: &AppState, province: Option<String>) -> ServiceResult<Places> {
    Ok(db::run(&state.pool, move |conn| places(conn, province.as_deref())).await?)
}

/// A page of users that `query` selects, and how many there are.
pub async fn list(
    state: &AppState,
    query: UserQuery,
    page: Page,
    per_page: i64,
) -> ServiceResult<UserList> {
    let mut query = query;
    query.filter.phone_hashes = phone_hashes(&state.data_keys, query.filter.q.as_deref());
    let mut list = db::run(&state.pool, move |conn| {
        let places = places(conn, query.filter.province.as_deref())?;
        let mut query = query;
        user_list::plan_search(conn, &mut query.filter)?;
        let (rows, more) = user_list::list(conn, &query, &page, per_page)?;
        let count = if query.filter == UserFilter::default() {
            total_users(conn)?
        } else {
            let cap = if query.filter.q.is_some() && !query.filter.ids_only {
                SEARCH_COUNT_CAP
            } else {
                COUNT_CAP
            };
            Count::capped(user_list::count_up_to(conn, &query.filter, cap)?, cap)
        };
        Ok(UserList {
            rows,
            more,
            count,
            places,
        })
    })
    .await?;
    for row in &mut list.rows {
        open_phone(&state.data_keys, &mut row.phone_number);
    }
    Ok(list)
}

/// The lookup hashes of a search text that is a phone number (digits, with
/// or without `+86`), under every data key: phone numbers are sealed, so an
/// admin finds one by its whole number only.
pub fn phone_hashes(keys: &DataKeys, q: Option<&str>) -> Vec<String> {
    q.and_then(crate::domain::profile::searched_phone)
        .map(|phone| keys.phone_hashes(&phone))
        .unwrap_or_default()
}

/// An account's page: every stored field but the session_keys, its
/// identities, and the newest sessions in every app.
#[derive(Debug)]
pub struct UserDetail {
    pub account: Account,
    pub identities: Vec<Identity>,
    /// Each with the appid of its identity.
    pub sessions: Vec<(Session, String)>,
    pub session_count: i64,
    /// When the account was closed; its personal data is erased.
    pub deleted_at: Option<chrono::NaiveDateTime>,
}

pub async fn detail(state: &AppState, id: i64) -> ServiceResult<UserDetail> {
    let found = db::run(&state.pool, move |conn| {
        let account = accounts::find(conn, id)?;
        let identities = identities::list_for_account(conn, id)?;
        let sessions = sessions::list_for_account(conn, id, SESSIONS_SHOWN)?;
        let session_count = sessions::count_for_account(conn, id)?;
        Ok(UserDetail {
            deleted_at: accounts::deleted_at(conn, id)?,
            account,
            identities,
            sessions,
            session_count,
        })
    })
    .await;
    let mut found = found.map_err(|e| match e {
        DbError::NotFound => ServiceError::NotFound,
        e => e.into(),
    })?;
    open_phone(&state.data_keys, &mut found.account.phone_number);
    Ok(found)
}

/// The display name of a configured app, if it has one.
pub fn app_name(state: &AppState, appid: &str) -> Option<String> {
    state
        .apps
        .get(appid)
        .map(|app| app.name.clone())
        .filter(|name| !name.is_empty())
}

/// The configured apps, as (appid, name), for the table's app filter.
pub fn app_choices(state: &AppState) -> Vec<(String, String)> {
    state
        .apps
        .iter()
        .map(|app| (app.appid.clone(), app.name.clone()))
        .collect()
}
