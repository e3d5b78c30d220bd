//! The `services` table: backends that introspect tokens.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::services;
use super::{DbConnection, DbError, WriteTransaction};
use crate::on_backend;

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub client_id: String,
    pub secret_hash: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub calls: i64,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Creates a service. [`DbError::Conflict`] if a live one has that name.
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    client_id: &str,
    secret_hash: &[u8],
    now: NaiveDateTime,
) -> Result<Service, DbError> {
    on_backend!(conn, |c| diesel::insert_into(services::table)
        .values((
            services::name.eq(name),
            services::client_id.eq(client_id),
            services::secret_hash.eq(secret_hash),
            services::created_at.eq(now),
        ))
        .returning(Service::as_returning())
        .get_result(c))
    .map_err(DbError::from)
}

/// Every service, live ones first, then by name and age. Services are few.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Service>, DbError> {
    Ok(on_backend!(conn, |c| services::table
        .order((
            services::revoked_at.is_not_null(),
            services::name,
            services::id.desc(),
        ))
        .select(Service::as_select())
        .load(c))?)
}

/// Revokes the live service of that name; whether there was one.
pub fn revoke(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = on_backend!(conn, |c| diesel::update(
        services::table
            .filter(services::name.eq(name))
            .filter(services::revoked_at.is_null())
    )
    .set(services::revoked_at.eq(now))
    .execute(c))?;
    Ok(n > 0)
}

/// The live service with this client id.
pub fn find_live(conn: &mut DbConnection, client_id: &str) -> Result<Option<Service>, DbError> {
    Ok(on_backend!(conn, |c| services::table
        .filter(services::client_id.eq(client_id))
        .filter(services::revoked_at.is_null())
        .select(Service::as_select())
        .get_result(c)
        .optional())?)
}

/// Adds counted calls, `(service id, calls, last call)`, all or none.
pub fn add_calls(
    conn: &mut DbConnection,
    counted: &[(i64, i64, NaiveDateTime)],
) -> Result<(), DbError> {
    on_backend!(conn, |c| c.write_transaction(|c| {
        for &(id, calls, last) in counted {
            diesel::update(services::table.find(id))
                .set((
                    services::calls.eq(services::calls + calls),
                    services::last_used_at.eq(last),
                ))
                .execute(c)?;
        }
        Ok::<_, DbError>(())
    }))
}
