//! The `content_checks` table and the pending columns of `accounts`: a
//! nickname or avatar that WeChat has not passed yet. The account holds the
//! pending value (its user sees it); the table holds the work: an image
//! WeChat is checking (`checking`, with its trace id) or a value waiting for
//! an operator (`review`). A decided value leaves the table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::accounts::{self, Account};
use super::schema::{accounts as accounts_table, content_checks, wechat_pushes_seen};
use super::{DbConnection, DbError};
use crate::on_backend;

/// Which profile field a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Nickname,
    Avatar,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nickname => "nickname",
            Self::Avatar => "avatar_url",
        }
    }

    fn parse(name: &str) -> Result<Self, DbError> {
        match name {
            "nickname" => Ok(Self::Nickname),
            "avatar_url" => Ok(Self::Avatar),
            _ => Err(DbError::Invariant("a content check of an unknown field")),
        }
    }
}

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// WeChat is checking an image; its verdict comes by push.
    Checking,
    /// Waiting for an operator.
    Review,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Review => "review",
        }
    }
}

/// A row of `content_checks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentCheck {
    pub id: i64,
    pub account_id: i64,
    pub identity_id: i64,
    pub field: Field,
    pub value: String,
    pub status: Status,
    pub trace_id: Option<String>,
    /// WeChat's label, once it gave one.
    pub label: Option<i64>,
    /// Why it waits for an operator, in a few words.
    pub reason: String,
    pub attempts: i32,
    pub submitted_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A row as stored; [`ContentCheck`] is it with its field and status
/// parsed.
#[derive(Queryable, Selectable)]
#[diesel(table_name = content_checks)]
struct Row {
    id: i64,
    account_id: i64,
    identity_id: i64,
    field: String,
    value: String,
    status: String,
    trace_id: Option<String>,
    label: Option<i64>,
    reason: String,
    attempts: i32,
    submitted_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

fn from_row(r: Row) -> Result<ContentCheck, DbError> {
    Ok(ContentCheck {
        id: r.id,
        account_id: r.account_id,
        identity_id: r.identity_id,
        field: Field::parse(&r.field)?,
        value: r.value,
        status: if r.status == Status::Checking.name() {
            Status::Checking
        } else {
            Status::Review
        },
        trace_id: r.trace_id,
        label: r.label,
        reason: r.reason,
        attempts: r.attempts,
        submitted_at: r.submitted_at,
        updated_at: r.updated_at,
    })
}

/// A value to hold until it is decided.
#[derive(Debug, Clone)]
pub struct NewCheck<'a> {
    pub account_id: i64,
    pub identity_id: i64,
    pub field: Field,
    pub value: &'a str,
    pub status: Status,
    pub trace_id: Option<&'a str>,
    pub label: Option<i64>,
    pub reason: &'a str,
    pub now: NaiveDateTime,
}

/// Makes `check.value` the account's pending value of its field, replacing
/// any earlier pending one, and returns the account. Run it in a write
/// transaction.
pub fn hold(conn: &mut DbConnection, check: &NewCheck<'_>) -> Result<Account, DbError> {
    let values = (
        content_checks::account_id.eq(check.account_id),
        content_checks::identity_id.eq(check.identity_id),
        content_checks::field.eq(check.field.name()),
        content_checks::value.eq(check.value),
        content_checks::status.eq(check.status.name()),
        content_checks::trace_id.eq(check.trace_id),
        content_checks::label.eq(check.label),
        content_checks::reason.eq(check.reason),
        content_checks::attempts.eq(1),
        content_checks::submitted_at.eq(check.now),
        content_checks::updated_at.eq(check.now),
    );
    on_backend!(conn, |c| diesel::insert_into(content_checks::table)
        .values(values)
        .on_conflict((content_checks::account_id, content_checks::field))
        .do_update()
        .set((
            content_checks::identity_id.eq(excluded(content_checks::identity_id)),
            content_checks::value.eq(excluded(content_checks::value)),
            content_checks::status.eq(excluded(content_checks::status)),
            content_checks::trace_id.eq(excluded(content_checks::trace_id)),
            content_checks::label.eq(excluded(content_checks::label)),
            content_checks::reason.eq(excluded(content_checks::reason)),
            content_checks::attempts.eq(1),
            content_checks::submitted_at.eq(excluded(content_checks::submitted_at)),
            content_checks::updated_at.eq(excluded(content_checks::updated_at)),
        ))
        .execute(c))?;
    set_pending(conn, check.account_id, check.field, Some(check.value))
}

/// Drops the account's pending value of `field`, if any: a new value that
/// passed replaces it. Returns the value dropped.
pub fn drop_pending(
    conn: &mut DbConnection,
    account_id: i64,
    field: Field,
) -> Result<Option<String>, DbError> {
    let gone: Vec<String> = on_backend!(conn, |c| diesel::delete(
        content_checks::table
            .filter(content_checks::account_id.eq(account_id))
            .filter(content_checks::field.eq(field.name()))
    )
    .returning(content_checks::value)
    .get_results(c))?;
    if !gone.is_empty() {
        set_pending(conn, account_id, field, None)?;
    }
    Ok(gone.into_iter().next())
}

fn set_pending(
    conn: &mut DbConnection,
    account_id: i64,
    field: Field,
    value: Option<&str>,
) -> Result<Account, DbError> {
    let target = accounts_table::table.find(account_id);
    let updated = match field {
        Field::Nickname => on_backend!(conn, |c| diesel::update(target)
            .set(accounts_table::nickname_pending.eq(value))
            .returning(Account::as_returning())
            .get_result(c)),
        Field::Avatar => on_backend!(conn, |c| diesel::update(target)
            .set(accounts_table::avatar_pending.eq(value))
            .returning(Account::as_returning())
            .get_result(c)),
    };
    updated.map_err(DbError::from)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<ContentCheck, DbError> {
    let row: Row = on_backend!(conn, |c| content_checks::table
        .find(id)
        .select(Row::as_select())
        .get_result(c))?;
    from_row(row)
}

/// The check of an image under this trace id.
pub fn by_trace(conn: &mut DbConnection, trace_id: &str) -> Result<ContentCheck, DbError> {
    let row: Row = on_backend!(conn, |c| content_checks::table
        .filter(content_checks::trace_id.eq(trace_id))
        .select(Row::as_select())
        .get_result(c))?;
    from_row(row)
}

/// The values waiting for an operator, oldest first, after the id `after`.
pub fn review_queue(
    conn: &mut DbConnection,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<(ContentCheck, Account)>, DbError> {
    let rows: Vec<(Row, Account)> = on_backend!(conn, |c| content_checks::table
        .inner_join(accounts_table::table)
        .filter(content_checks::status.eq(Status::Review.name()))
        .filter(content_checks::id.gt(after.unwrap_or(0)))
        .order(content_checks::id)
        .limit(limit)
        .select((Row::as_select(), Account::as_select()))
        .load(c))?;
    rows.into_iter()
        .map(|(row, account)| Ok((from_row(row)?, account)))
        .collect()
}

/// How many values wait for an operator, up to `cap`.
pub fn review_count_up_to(conn: &mut DbConnection, cap: i64) -> Result<i64, DbError> {
    Ok(on_backend!(conn, |c| content_checks::table
        .filter(content_checks::status.eq(Status::Review.name()))
        .select(content_checks::id)
        .limit(cap)
        .load::<i64>(c))?
    .len() as i64)
}

/// Image checks whose verdict has not come since `before`, oldest first.
pub fn overdue(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<ContentCheck>, DbError> {
    let rows: Vec<Row> = on_backend!(conn, |c| content_checks::table
        .filter(content_checks::status.eq(Status::Checking.name()))
        .filter(content_checks::updated_at.lt(before))
        .order(content_checks::updated_at)
        .limit(limit)
        .select(Row::as_select())
        .load(c))?;
    rows.into_iter().map(from_row).collect()
}

/// A new attempt at an overdue image check, under a new trace id; only if
/// the check is still `checking` at `seen` (another node may have moved it).
pub fn resubmitted(
    conn: &mut DbConnection,
    id: i64,
    seen: NaiveDateTime,
    trace_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        content_checks::table
            .find(id)
            .filter(content_checks::status.eq(Status::Checking.name()))
            .filter(content_checks::updated_at.eq(seen))
    )
    .set((
        content_checks::trace_id.eq(trace_id),
        content_checks::attempts.eq(content_checks::attempts + 1),
        content_checks::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Sends a check to the operators, if it is still in the state it was seen
/// in (`from`): an image whose verdict is `review` or never came, or a text
/// WeChat could not judge.
pub fn to_review(
    conn: &mut DbConnection,
    id: i64,
    from: Status,
    label: Option<i64>,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        content_checks::table
            .find(id)
            .filter(content_checks::status.eq(from.name()))
    )
    .set((
        content_checks::status.eq(Status::Review.name()),
        content_checks::label.eq(label),
        content_checks::reason.eq(reason),
        content_checks::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Decides a pending value: accepted, it becomes the account's; refused, it
/// is dropped. Only a check still in the state `from` is decided (a push
/// replayed after its verdict, or two operators at once, decide nothing).
/// Returns the account after, or `None` when the check was decided already.
/// Run it in a write transaction.
pub fn decide(
    conn: &mut DbConnection,
    check: &ContentCheck,
    from: Status,
    accept: bool,
    now: NaiveDateTime,
) -> Result<Option<Account>, DbError> {
    let n = on_backend!(conn, |c| diesel::delete(
        content_checks::table
            .find(check.id)
            .filter(content_checks::status.eq(from.name()))
            .filter(content_checks::value.eq(&check.value))
    )
    .execute(c))?;
    if n == 0 {
        return Ok(None);
    }
    set_pending(conn, check.account_id, check.field, None)?;
    if !accept {
        return accounts::find(conn, check.account_id).map(Some);
    }
    let target = accounts_table::table.find(check.account_id);
    let account = match check.field {
        Field::Nickname => on_backend!(conn, |c| diesel::update(target)
            .set((
                accounts_table::nickname.eq(&check.value),
                accounts_table::updated_at.eq(now),
            ))
            .returning(Account::as_returning())
            .get_result(c)),
        Field::Avatar => on_backend!(conn, |c| diesel::update(target)
            .set((
                accounts_table::avatar_url.eq(&check.value),
                accounts_table::updated_at.eq(now),
            ))
            .returning(Account::as_returning())
            .get_result(c)),
    }?;
    Ok(Some(account))
}

/// Records a push by the digest of its signed query, forgetting those seen
/// before `forget_before`; a push seen already is [`DbError::Conflict`].
pub fn first_sight_of_push(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
    forget_before: NaiveDateTime,
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::delete(
        wechat_pushes_seen::table.filter(wechat_pushes_seen::seen_at.lt(forget_before))
    )
    .execute(c))?;
    let inserted = on_backend!(conn, |c| diesel::insert_into(wechat_pushes_seen::table)
        .values((
            wechat_pushes_seen::digest.eq(digest),
            wechat_pushes_seen::seen_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 0 {
        return Err(DbError::Conflict);
    }
    Ok(())
}
