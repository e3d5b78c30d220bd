//! The admin's view of `users`: search, filters, sorting and keyset paging,
//! shared by the HTML table, the CSV export and `wxlogin export`.
//!
//! Every sort is `(column, id)` in one direction, backed by an index ending
//! in `id`, and a page starts strictly after (or before) the `(value, id)`
//! key of the row next to it. No query uses OFFSET, and no page view counts
//! a whole large table.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, SmallInt, Text, Timestamp};

use super::schema::users;
use super::{DbConnection, DbError, Dialect};
use crate::on_backend;

/// A sortable column of the user table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    Openid,
    Unionid,
    Nickname,
    Gender,
    Province,
    City,
    #[default]
    CreatedAt,
    LastLoginAt,
}

impl SortColumn {
    pub const ALL: [SortColumn; 8] = [
        Self::Openid,
        Self::Unionid,
        Self::Nickname,
        Self::Gender,
        Self::Province,
        Self::City,
        Self::CreatedAt,
        Self::LastLoginAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Openid => "openid",
            Self::Unionid => "unionid",
            Self::Nickname => "nickname",
            Self::Gender => "gender",
            Self::Province => "province",
            Self::City => "city",
            Self::CreatedAt => "created_at",
            Self::LastLoginAt => "last_login_at",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The SQL the sort and the keyset compare on. Each has an index `(expr, id)`.
    fn sql(self) -> &'static str {
        match self {
            Self::Openid => "users.openid",
            Self::Unionid => "COALESCE(users.unionid, '')",
            Self::Nickname => "users.nickname",
            Self::Gender => "users.gender",
            Self::Province => "users.province",
            Self::City => "users.city",
            Self::CreatedAt => "users.created_at",
            Self::LastLoginAt => "users.last_login_at",
        }
    }

    /// The key of `row` in this sort.
    pub fn key_of(self, row: &UserRow) -> SortKey {
        let value = match self {
            Self::Openid => KeyValue::Text(row.openid.clone()),
            Self::Unionid => KeyValue::Text(row.unionid.clone().unwrap_or_default()),
            Self::Nickname => KeyValue::Text(row.nickname.clone()),
            Self::Gender => KeyValue::Int(row.gender),
            Self::Province => KeyValue::Text(row.province.clone()),
            Self::City => KeyValue::Text(row.city.clone()),
            Self::CreatedAt => KeyValue::Time(row.created_at),
            Self::LastLoginAt => KeyValue::Time(row.last_login_at),
        };
        SortKey { value, id: row.id }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    pub fn name(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }

    pub fn reverse(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

/// Which users to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// openid or unionid, exactly or by prefix; or a nickname substring, ignoring case.
    pub q: Option<String>,
    pub gender: Option<i16>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub has_unionid: Option<bool>,
    /// First day included (UTC).
    pub created_from: Option<NaiveDate>,
    /// Last day included (UTC).
    pub created_to: Option<NaiveDate>,
    /// Match `q` against openid and unionid only; set by [`plan_search`].
    pub ids_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub sort: SortColumn,
    pub order: SortOrder,
}

/// A sort value; its type follows the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    Int(i16),
    Time(NaiveDateTime),
    Text(String),
}

/// Where a page starts: the sort value and id of the row beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub value: KeyValue,
    pub id: i64,
}

const CURSOR_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

impl SortKey {
    /// An opaque, URL-safe cursor naming this key in `column`'s sort.
    pub fn encode(&self, column: SortColumn) -> String {
        let value = match &self.value {
            KeyValue::Int(v) => serde_json::Value::from(*v),
            KeyValue::Time(t) => t.format(CURSOR_TIME_FORMAT).to_string().into(),
            KeyValue::Text(s) => s.as_str().into(),
        };
        let json = serde_json::json!([column.name(), value, self.id]);
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Reads a cursor back. `None` if it is malformed or was made for
    /// another sort column: the value must have that column's type.
    pub fn decode(cursor: &str, column: SortColumn) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (name, value, id): (String, serde_json::Value, i64) =
            serde_json::from_slice(&bytes).ok()?;
        if name != column.name() {
            return None;
        }
        let value = match column {
            SortColumn::Gender => KeyValue::Int(i16::try_from(value.as_i64()?).ok()?),
            SortColumn::CreatedAt | SortColumn::LastLoginAt => KeyValue::Time(
                NaiveDateTime::parse_from_str(value.as_str()?, CURSOR_TIME_FORMAT).ok()?,
            ),
            _ => KeyValue::Text(value.as_str()?.to_owned()),
        };
        Some(Self { value, id })
    }
}

/// Which page of a sorted, filtered list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Page {
    #[default]
    First,
    /// Rows after this key, in the sort order.
    After(SortKey),
    /// Rows before this key, in the sort order.
    Before(SortKey),
}

/// The columns the admin table and the CSV show. Never the session_key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub openid: String,
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

/// `users` with the filter applied, as a boxed query for the backend of the
/// connection `$c`.
macro_rules! filtered_users {
    ($c:expr, $filter:expr) => {{
        let f: &UserFilter = $filter;
        let mut q = users::table.into_boxed();
        if let Some(text) = f.q.as_deref() {
            let end = prefix_end(text);
            let ids = users::openid
                .ge(text.to_owned())
                .and(users::openid.lt(end.clone()))
                .or(users::unionid
                    .ge(text.to_owned())
                    .and(users::unionid.lt(end))
                    .assume_not_null());
            if f.ids_only {
                q = q.filter(ids);
            } else {
                let pattern = format!("%{}%", like_escape(text));
                q = q.filter(
                    ids.or(sql::<Bool>($c.nickname_contains())
                        .bind::<Text, _>(pattern)
                        .sql(" ESCAPE '\\'")),
                );
            }
        }
        if let Some(g) = f.gender {
            q = q.filter(users::gender.eq(g));
        }
        if let Some(p) = f.province.clone() {
            q = q.filter(users::province.eq(p));
        }
        if let Some(city) = f.city.clone() {
            q = q.filter(users::city.eq(city));
        }
        match f.has_unionid {
            Some(true) => q = q.filter(users::unionid.is_not_null()),
            Some(false) => q = q.filter(users::unionid.is_null()),
            None => {}
        }
        if let Some(from) = f.created_from {
            q = q.filter(users::created_at.ge(from.and_hms_opt(0, 0, 0).expect("midnight")));
        }
        if let Some(to) = f.created_to.and_then(|d| d.succ_opt()) {
            q = q.filter(users::created_at.lt(to.and_hms_opt(0, 0, 0).expect("midnight")));
        }
        q
    }};
}

/// Adds `(sort expression, id) > (value, id)` (or `<`) to `$q`, for keyset
/// paging. The row-value comparison lets both backends seek the index.
macro_rules! filter_after_key {
    ($q:expr, $column:expr, $op:expr, $key:expr) => {{
        let key: &SortKey = $key;
        let head = sql::<Bool>(&format!("({}, users.id) {} (", $column.sql(), $op));
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
    let order_by = format!("{} {direction}, users.id {direction}", query.sort.sql());
    let mut rows: Vec<UserRow> = on_backend!(conn, |c| {
        let mut q = filtered_users!(c, &query.filter);
        if let Some(key) = key {
            q = filter_after_key!(q, query.sort, op, key);
        }
        q.select(UserRow::as_select())
            .order(sql::<Bool>(&order_by))
            .limit(limit + 1)
            .load(c)
    })?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if matches!(page, Page::Before(_)) {
        rows.reverse();
    }
    Ok((rows, more))
}

/// Shortest search text that may be an openid or unionid (WeChat's have 28
/// characters).
pub const ID_SEARCH_MIN_CHARS: usize = 10;

/// Decides how the search text is matched. Text shaped like an id (at least
/// [`ID_SEARCH_MIN_CHARS`] letters, digits, `-` or `_`) that is an openid or
/// unionid prefix searches only those two indexes, so that pasting an id
/// reads a handful of index entries instead of every nickname. Other text,
/// or id-shaped text that matches no id, also searches nicknames.
pub fn plan_search(conn: &mut DbConnection, filter: &mut UserFilter) -> Result<(), DbError> {
    filter.ids_only = false;
    let Some(text) = filter.q.as_deref() else {
        return Ok(());
    };
    let id_shaped = text.chars().count() >= ID_SEARCH_MIN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_shaped {
        return Ok(());
    }
    let probe = UserFilter {
        q: Some(text.to_owned()),
        ids_only: true,
        ..UserFilter::default()
    };
    filter.ids_only = count_up_to(conn, &probe, 0)? != Some(0);
    Ok(())
}

/// How many users match: exact up to `cap`, and `None` past it.
pub fn count_up_to(
    conn: &mut DbConnection,
    filter: &UserFilter,
    cap: i64,
) -> Result<Option<i64>, DbError> {
    let ids: Vec<i64> = on_backend!(conn, |c| filtered_users!(c, filter)
        .select(users::id)
        .limit(cap + 1)
        .load(c))?;
    let n = ids.len() as i64;
    Ok((n <= cap).then_some(n))
}

/// A cheap estimate of the number of users: the planner's statistics on
/// PostgreSQL, the largest id on SQLite (ids are never reused there).
pub fn estimate_total(conn: &mut DbConnection) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let estimate = match conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT GREATEST(reltuples, 0)::BIGINT AS n FROM pg_class WHERE oid = 'users'::regclass",
        )
        .get_result::<Estimate>(c)?,
        DbConnection::Sqlite(c) => {
            diesel::sql_query("SELECT COALESCE(MAX(id), 0) AS n FROM users").get_result::<Estimate>(c)?
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
                SELECT MIN({col}) FROM users WHERE {scope}{col} > ''
                UNION ALL
                SELECT (SELECT MIN({col}) FROM users WHERE {scope}{col} > vals.v) FROM vals WHERE v IS NOT NULL
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

    #[test]
    fn cursors_round_trip_and_refuse_other_columns() {
        let time = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 6)
            .unwrap();
        let cases = [
            (SortColumn::CreatedAt, KeyValue::Time(time)),
            (SortColumn::Gender, KeyValue::Int(2)),
            (
                SortColumn::Nickname,
                KeyValue::Text("2026-01-02T03:04:05.000006".into()),
            ),
            (SortColumn::Unionid, KeyValue::Text(String::new())),
        ];
        for (column, value) in cases {
            let key = SortKey { value, id: 42 };
            let cursor = key.encode(column);
            assert_eq!(SortKey::decode(&cursor, column), Some(key.clone()));
            let other = if column == SortColumn::Gender {
                SortColumn::City
            } else {
                SortColumn::Gender
            };
            assert_eq!(SortKey::decode(&cursor, other), None);
        }
        assert_eq!(SortKey::decode("not base64!", SortColumn::City), None);
        assert_eq!(
            SortKey::decode(
                &URL_SAFE_NO_PAD.encode(r#"["gender","x",1]"#),
                SortColumn::Gender
            ),
            None
        );
    }

    #[test]
    fn sort_names_round_trip() {
        for c in SortColumn::ALL {
            assert_eq!(SortColumn::parse(c.name()), Some(c));
        }
        assert_eq!(SortColumn::parse("session_key"), None);
        assert_eq!(SortOrder::parse("asc"), Some(SortOrder::Asc));
        assert_eq!(SortOrder::parse("ASC"), None);
    }
}
