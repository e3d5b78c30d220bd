//! The webhook outbox (`webhook_events`): events written in the
//! transaction of their change, taken by one node at a time for delivery,
//! and marked delivered or failed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::webhook_events as events;
use super::{write_transaction, DbConnection, DbError};
use crate::domain::event::Event;
use crate::on_backend;

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent<'a> {
    event_id: &'a str,
    kind: &'a str,
    payload: &'a str,
    created_at: NaiveDateTime,
    next_attempt_at: NaiveDateTime,
}

/// Records events, in the caller's transaction.
pub fn record(conn: &mut DbConnection, recorded: &[Event]) -> Result<(), DbError> {
    if recorded.is_empty() {
        return Ok(());
    }
    let rows: Vec<NewEvent<'_>> = recorded
        .iter()
        .map(|e| NewEvent {
            event_id: &e.id,
            kind: e.kind.as_str(),
            payload: &e.body,
            created_at: e.at,
            next_attempt_at: e.at,
        })
        .collect();
    on_backend!(conn, |c| diesel::insert_into(events::table)
        .values(&rows)
        .execute(c))?;
    Ok(())
}

/// An event taken for delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct DueEvent {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
}

/// Takes up to `limit` events that are due, oldest first, and moves their
/// next attempt to `lease_until`, so that no other node takes them while
/// this one tries.
pub fn take_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DueEvent>, DbError> {
    write_transaction(conn, |conn| {
        let ids: Vec<i64> = on_backend!(conn, |c| events::table
            .filter(events::delivered_at.is_null())
            .filter(events::failed_at.is_null())
            .filter(events::next_attempt_at.le(now))
            .order((events::next_attempt_at, events::id))
            .select(events::id)
            .limit(limit)
            .load(c))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Checked again: another node may have taken some meanwhile.
        let mut taken: Vec<DueEvent> = on_backend!(conn, |c| diesel::update(
            events::table
                .filter(events::id.eq_any(&ids))
                .filter(events::next_attempt_at.le(now))
        )
        .set(events::next_attempt_at.eq(lease_until))
        .returning(DueEvent::as_returning())
        .get_results(c))?;
        taken.sort_by_key(|e| e.id);
        Ok(taken)
    })
}

/// The receiver took the event.
pub fn delivered(
    conn: &mut DbConnection,
    id: i64,
    status: i32,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(events::table.find(id))
        .set((
            events::delivered_at.eq(now),
            events::attempts.eq(events::attempts + 1),
            events::last_status.eq(status),
            events::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(())
}

/// A delivery failed: tried again at `retry_at`, or never again when `None`.
pub fn attempt_failed(
    conn: &mut DbConnection,
    id: i64,
    status: Option<i32>,
    error: &str,
    retry_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::update(events::table.find(id))
        .set((
            events::attempts.eq(events::attempts + 1),
            events::last_status.eq(status),
            events::last_error.eq(error),
            events::next_attempt_at.eq(retry_at.unwrap_or(now)),
            events::failed_at.eq(retry_at.is_none().then_some(now)),
        ))
        .execute(c))?;
    Ok(())
}

/// An event as the admin page shows it: never its payload.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
}

/// The newest events, and the newest that failed for good.
pub fn recent(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<(Vec<EventRow>, Vec<EventRow>), DbError> {
    let newest = on_backend!(conn, |c| events::table
        .order(events::id.desc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(c))?;
    let failed = on_backend!(conn, |c| events::table
        .filter(events::failed_at.is_not_null())
        .order(events::id.desc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(c))?;
    Ok((newest, failed))
}

/// Events not yet delivered nor given up, counted up to `cap`.
pub fn count_pending_up_to(conn: &mut DbConnection, cap: i64) -> Result<Option<i64>, DbError> {
    let ids: Vec<i64> = on_backend!(conn, |c| events::table
        .filter(events::delivered_at.is_null())
        .filter(events::failed_at.is_null())
        .select(events::id)
        .limit(cap + 1)
        .load(c))?;
    let n = ids.len() as i64;
    Ok((n <= cap).then_some(n))
}

/// Deletes up to `batch` delivered or failed events made before `before`.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    Ok(on_backend!(conn, |c| {
        let old: Vec<i64> = events::table
            .filter(events::created_at.lt(before))
            .filter(
                events::delivered_at
                    .is_not_null()
                    .or(events::failed_at.is_not_null()),
            )
            .order(events::id)
            .select(events::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(events::table.filter(events::id.eq_any(old))).execute(c)
    })?)
}
