//! The admin's view of `accounts`: the SQL of search, filters, sorting and
//! keyset paging, shared by the HTML table, the CSV export and
//! `wxlogin export`. The query values are `domain::user_query`'s.
//!
//! Every sort is `(column, id)` in one direction, backed by an index ending
//! in `id`, and a page starts strictly after (or before) the `(value, id)`
//! key of the row next to it. No query uses OFFSET, and no page view counts
//! a whole large table.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, SmallInt, Text, Timestamp};

use super::identities::{self, ListedIdentity};
use super::schema::accounts;
use super::{DbConnection, DbError, Dialect};
use crate::domain::user_query::{
    KeyValue, Page, SortColumn, SortKey, SortOrder, UserFilter, UserQuery,
};
use crate::on_backend;

/// The columns the admin table and the CSV show. Never a session_key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
struct AccountColumns {
    id: i64,
    unionid: Option<String>,
    nickname: String,
    gender: i16,
    country: String,
    province: String,
    city: String,
    language: String,
    created_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
    phone_number: Option<String>,
    phone_country_code: Option<String>,
    risk_rank: Option<i16>,
    deleted_at: Option<NaiveDateTime>,
}

/// An account as the admin table and the CSV show it, with its identities.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    /// Its identities, by app.
    pub identities: Vec<ListedIdentity>,
    pub unionid: Option<String>,
    pub nickname: String,
    pub gender: i16,
    pub country: String,
    pub province: String,
    pub city: String,
    pub language: String,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
    pub phone_number: Option<String>,
    pub phone_country_code: Option<String>,
    /// The highest WeChat risk rank of its identities, when one was asked.
    pub risk_rank: Option<i16>,
    /// When the account was closed: a row without personal data.
    pub deleted_at: Option<NaiveDateTime>,
}

impl UserRow {
    /// This row's key in the sort by `column`.
    pub fn sort_key(&self, column: SortColumn) -> SortKey {
        let row = self;
        let value = match column {
            SortColumn::Unionid => KeyValue::Text(row.unionid.clone().unwrap_or_default()),
            SortColumn::Nickname => KeyValue::Text(row.nickname.clone()),
            SortColumn::Gender => KeyValue::Int(row.gender),
            SortColumn::Province => KeyValue::Text(row.province.clone()),
            SortColumn::City => KeyValue::Text(row.city.clone()),
            SortColumn::RiskRank => KeyValue::Int(row.risk_rank.unwrap_or(UNRANKED)),
            SortColumn::CreatedAt => KeyValue::Time(row.created_at),
            SortColumn::LastLoginAt => KeyValue::Time(row.last_login_at),
        };
        SortKey { value, id: row.id }
    }
}

/// Where an unranked account sorts: below rank 0. The index
/// `accounts_risk_rank_id` is on the same expression.
const UNRANKED: i16 = -1;

/// The SQL a sort and its keyset compare on. Each has an index `(expr, id)`.
fn sort_sql(column: SortColumn) -> &'static str {
    match column {
        SortColumn::Unionid => "COALESCE(accounts.unionid, '')",
        SortColumn::Nickname => "accounts.nickname",
        SortColumn::Gender => "accounts.gender",
        SortColumn::Province => "accounts.province",
        SortColumn::City => "accounts.city",
        SortColumn::RiskRank => "COALESCE(accounts.risk_rank, -1)",
        SortColumn::CreatedAt => "accounts.created_at",
        SortColumn::LastLoginAt => "accounts.last_login_at",
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The end of the range of strings that start with `prefix`, in byte order.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// `accounts` with the filter applied, as a boxed query for the backend of
/// the connection `$c`. A search or an app filter reaches the identities
/// through an index: `(openid, appid)` for a search, `(account_id, appid)`
/// for an app.
macro_rules! filtered_users {
    ($c:expr, $filter:expr) => {{
        let f: &UserFilter = $filter;
        let mut q = accounts::table.into_boxed();
        if f.ids_only {
            // The matches were looked up first: a list of ids keeps every
            // planner on the primary key.
            q = q.filter(accounts::id.eq_any(f.id_matches.clone()));
        } else if let Some(text) = f.q.as_deref() {
            let end = prefix_end(text);
            let by_openid = sql::<Bool>(
                "accounts.id IN (SELECT account_id FROM identities WHERE openid >= ",
            )
            .bind::<Text, _>(text.to_owned())
            .sql(" AND openid < ")
            .bind::<Text, _>(end.clone())
            .sql(")");
            let ids = by_openid.or(accounts::unionid
                .ge(text.to_owned())
                .and(accounts::unionid.lt(end))
                .assume_not_null());
            let pattern = format!("%{}%", like_escape(text));
            q = q.filter(
                ids.or(sql::<Bool>($c.nickname_contains())
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\'")),
            );
        }
        if let Some(appid) = f.appid.clone() {
            q = q.filter(
                sql::<Bool>(
                    "EXISTS (SELECT 1 FROM identities WHERE identities.account_id = accounts.id AND identities.appid = ",
                )
                .bind::<Text, _>(appid)
                .sql(")"),
            );
        }
        if let Some(g) = f.gender {
            q = q.filter(accounts::gender.eq(g));
        }
        if let Some(p) = f.province.clone() {
            q = q.filter(accounts::province.eq(p));
        }
        if let Some(city) = f.city.clone() {
            q = q.filter(accounts::city.eq(city));
        }
        if let Some(rank) = f.risk_min {
            // The sort's expression, so that its index serves the filter too.
            q = q.filter(
                sql::<Bool>("COALESCE(accounts.risk_rank, -1) >= ").bind::<SmallInt, _>(rank),
            );
        }
        match f.has_unionid {
            Some(true) => q = q.filter(accounts::unionid.is_not_null()),
            Some(false) => q = q.filter(accounts::unionid.is_null()),
            None => {}
        }
        if let Some(since) = f.created.since() {
            q = q.filter(accounts::created_at.ge(since));
        }
        if let Some(until) = f.created.until() {
            q = q.filter(accounts::created_at.lt(until));
        }
        q
    }};
}

/// Adds `(sort expression, id) > (value, id)` (or `<`) to `$q`, for keyset
/// paging. The row-value comparison lets both backends seek the index.
macro_rules! filter_after_key {
    ($q:expr, $column:expr, $op:expr, $key:expr) => {{
        let key: &SortKey = $key;
        let head = sql::<Bool>(&format!("({}, accounts.id) {} (", sort_sql($column), $op));
        match &key.value {
            KeyValue::Text(v) => $q.filter(
                head.bind::<Text, _>(v.clone())
                    .sql(", ")
                    .bind::<BigInt, _>(key.id)
                    .sql(")"),
            ),
            KeyValue::Int(v) => $q.filter(
                head.bind::<SmallInt, _>(*v)
                    .sql(", ")
                    .bind::<BigInt, _>(key.id)
                    .sql(")"),
            ),
            KeyValue::Time(v) => $q.filter(
                head.bind::<Timestamp, _>(*v)
                    .sql(", ")
                    .bind::<BigInt, _>(key.id)
                    .sql(")"),
            ),
        }
    }};
}

/// One page of users: at most `limit` rows, plus whether more rows lie
/// beyond the page in the direction it was read.
pub fn list(
    conn: &mut DbConnection,
    query: &UserQuery,
    page: &Page,
    limit: i64,
) -> Result<(Vec<UserRow>, bool), DbError> {
    // Reading "before" a key runs the sort backwards and flips the result.
    let (order, key, op) = match page {
        Page::First => (query.order, None, ""),
        Page::After(k) => (
            query.order,
            Some(k),
            if query.order == SortOrder::Asc {
                ">"
            } else {
                "<"
            },
        ),
        Page::Before(k) => (
            query.order.reverse(),
            Some(k),
            if query.order == SortOrder::Asc {
                "<"
            } else {
                ">"
            },
        ),
    };
    let direction = if order == SortOrder::Asc {
        "ASC"
    } else {
        "DESC"
    };
    let order_by = format!(
        "{} {direction}, accounts.id {direction}",
        sort_sql(query.sort)
    );
    let mut rows: Vec<AccountColumns> = on_backend!(conn, |c| {
        let mut q = filtered_users!(c, &query.filter);
        if let Some(key) = key {
            q = filter_after_key!(q, query.sort, op, key);
        }
        q.select(AccountColumns::as_select())
            .order(sql::<Bool>(&order_by))
            .limit(limit + 1)
            .load(c)
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if matches!(page, Page::Before(_)) {
        rows.reverse();
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut identities_of: std::collections::HashMap<i64, Vec<ListedIdentity>> =
        std::collections::HashMap::new();
    for identity in identities::of_accounts(conn, &ids)? {
        identities_of
            .entry(identity.account_id)
            .or_default()
            .push(identity);
    }
    let rows = rows
        .into_iter()
        .map(|r| UserRow {
            identities: identities_of.remove(&r.id).unwrap_or_default(),
            id: r.id,
            unionid: r.unionid,
            nickname: r.nickname,
            gender: r.gender,
            country: r.country,
            province: r.province,
            city: r.city,
            language: r.language,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
            login_count: r.login_count,
            phone_number: r.phone_number,
            phone_country_code: r.phone_country_code,
            risk_rank: r.risk_rank,
            deleted_at: r.deleted_at,
        })
        .collect();
    Ok((rows, more))
}

/// Shortest search text that may be an openid or unionid (WeChat's have 28
/// characters).
pub const ID_SEARCH_MIN_CHARS: usize = 10;

/// Decides how the search text is matched. A phone number is looked up by
/// its keyed hashes (`filter.phone_hashes`). Text shaped like an id (at least
/// [`ID_SEARCH_MIN_CHARS`] letters, digits, `-` or `_`) that is an openid or
/// unionid prefix searches only those two indexes, so that pasting an id
/// reads a handful of index entries instead of every nickname. Other text,
/// or id-shaped text that matches no id, also searches nicknames.
pub fn plan_search(conn: &mut DbConnection, filter: &mut UserFilter) -> Result<(), DbError> {
    filter.ids_only = false;
    filter.id_matches.clear();
    let Some(text) = filter.q.as_deref() else {
        return Ok(());
    };
    let mut ids: Vec<i64> = if filter.phone_hashes.is_empty() {
        Vec::new()
    } else {
        on_backend!(conn, |c| accounts::table
            .filter(accounts::phone_hash.eq_any(&filter.phone_hashes))
            .select(accounts::id)
            .limit(MAX_ID_MATCHES + 1)
            .load(c))?
    };
    let id_shaped = text.chars().count() >= ID_SEARCH_MIN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id_shaped {
        let end = prefix_end(text);
        let by_openid: Vec<i64> = on_backend!(conn, |c| super::schema::identities::table
            .filter(super::schema::identities::openid.ge(text))
            .filter(super::schema::identities::openid.lt(&end))
            .select(super::schema::identities::account_id)
            .limit(MAX_ID_MATCHES + 1)
            .load(c))?;
        let by_unionid: Vec<i64> = on_backend!(conn, |c| accounts::table
            .filter(accounts::unionid.ge(text))
            .filter(accounts::unionid.lt(&end))
            .select(accounts::id)
            .limit(MAX_ID_MATCHES + 1)
            .load(c))?;
        ids.extend(by_openid);
        ids.extend(by_unionid);
    }
    ids.sort_unstable();
    ids.dedup();
    // So many matches are no pasted id: search as any other text.
    if ids.is_empty() || ids.len() as i64 > MAX_ID_MATCHES {
        return Ok(());
    }
    filter.ids_only = true;
    filter.id_matches = ids;
    Ok(())
}

/// Most accounts an id-shaped search finds by their ids alone.
const MAX_ID_MATCHES: i64 = 1_000;

/// How many accounts match: exact up to `cap`, and `None` past it.
pub fn count_up_to(
    conn: &mut DbConnection,
    filter: &UserFilter,
    cap: i64,
) -> Result<Option<i64>, DbError> {
    let ids: Vec<i64> = on_backend!(conn, |c| filtered_users!(c, filter)
        .select(accounts::id)
        .limit(cap + 1)
        .load(c))?;
    let n = ids.len() as i64;
    Ok((n <= cap).then_some(n))
}

/// A cheap estimate of the number of accounts: the planner's statistics on
/// PostgreSQL, the largest id on SQLite (ids are never reused there).
pub fn estimate_total(conn: &mut DbConnection) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let estimate = match conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT GREATEST(reltuples, 0)::BIGINT AS n FROM pg_class WHERE oid = 'accounts'::regclass",
        )
        .get_result::<Estimate>(c)?,
        DbConnection::Sqlite(c) => {
            diesel::sql_query("SELECT COALESCE(MAX(id), 0) AS n FROM accounts").get_result::<Estimate>(c)?
        }
    };
    Ok(estimate.n)
}

/// The distinct non-empty values of `province`, or of `city` (within a
/// province when one is given), read by skipping through an index: one
/// index seek per value, however many users there are.
pub fn distinct_values(
    conn: &mut DbConnection,
    column: SortColumn,
    province: Option<&str>,
) -> Result<Vec<String>, DbError> {
    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        v: Option<String>,
    }
    let col = match column {
        SortColumn::Province => "province",
        SortColumn::City => "city",
        other => unreachable!("no distinct list for {other:?}"),
    };
    let rows: Vec<Value> = on_backend!(conn, |c| {
        // A recursive "loose index scan": each step seeks the next larger value.
        let scope = match province {
            Some(_) if col == "city" => format!("province = {} AND ", c.placeholder(1)),
            _ => String::new(),
        };
        let text = format!(
            "WITH RECURSIVE vals(v) AS (
                SELECT MIN({col}) FROM accounts WHERE {scope}{col} > ''
                UNION ALL
                SELECT (SELECT MIN({col}) FROM accounts WHERE {scope}{col} > vals.v) FROM vals WHERE v IS NOT NULL
             ) SELECT v FROM vals WHERE v IS NOT NULL LIMIT 1000"
        );
        match province {
            Some(p) if col == "city" => diesel::sql_query(text)
                .bind::<Text, _>(p.to_owned())
                .load(c),
            _ => diesel::sql_query(text).load(c),
        }
    })?;
    Ok(rows.into_iter().filter_map(|r| r.v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_escape("张三"), "张三");
    }
}
