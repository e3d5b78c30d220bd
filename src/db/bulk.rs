//! Bulk writes for `wxlogin seed`: multi-row inserts into a table whose
//! secondary indexes are dropped first and built again at the end.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::{sessions, users};
use super::{DbConnection, DbError};
use crate::on_backend;

/// A user to insert.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct BulkUser<'a> {
    pub appid: &'a str,
    pub openid: &'a str,
    pub unionid: Option<&'a str>,
    pub session_key: &'a str,
    pub nickname: &'a str,
    pub avatar_url: &'a str,
    pub gender: i16,
    pub country: &'a str,
    pub province: &'a str,
    pub city: &'a str,
    pub language: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
}

/// A session to insert.
#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct BulkSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a [u8],
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Tunes the connection for a bulk load.
pub fn prepare(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Sqlite(c) = conn {
        // A big page cache keeps the indexes in memory while they grow.
        c.batch_execute("PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;")?;
    }
    Ok(())
}

/// After a bulk load: fresh statistics for the planner, and the connection
/// tuned back.
pub fn finish(conn: &mut DbConnection) -> Result<(), DbError> {
    match conn {
        DbConnection::Postgres(c) => c.batch_execute("ANALYZE users; ANALYZE sessions;")?,
        DbConnection::Sqlite(c) => {
            c.batch_execute("PRAGMA optimize; PRAGMA cache_size = -2000;")?
        }
    }
    Ok(())
}

/// Inserts users in one statement and returns their ids and openids.
pub fn insert_users(
    conn: &mut DbConnection,
    rows: &[BulkUser<'_>],
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_backend!(conn, |c| diesel::insert_into(users::table)
        .values(rows)
        .returning((users::id, users::openid))
        .get_results(c))?)
}

/// Inserts sessions in one statement.
pub fn insert_sessions(conn: &mut DbConnection, rows: &[BulkSession<'_>]) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(sessions::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

/// Drops the secondary indexes of `users` and returns the statements that
/// make them again.
pub fn drop_user_indexes(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    match conn {
        DbConnection::Sqlite(c) => c.drop_indexes(),
        DbConnection::Postgres(c) => c.drop_indexes(),
    }
}

/// Runs the statements [`drop_user_indexes`] returned.
pub fn create_indexes(conn: &mut DbConnection, statements: &[String]) -> Result<(), DbError> {
    for create in statements {
        on_backend!(conn, |c| c.batch_execute(create))?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// Drops the secondary indexes of `users` and returns the statements that
/// make them again.
trait DropIndexes {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError>;
}

fn drop_all(c: &mut impl SimpleConnection, defs: Vec<IndexDef>) -> Result<Vec<String>, DbError> {
    for d in &defs {
        c.batch_execute(&format!("DROP INDEX \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.def).collect())
}

impl DropIndexes for diesel::SqliteConnection {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT name, sql AS def FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL",
        )
        .load(self)?;
        drop_all(self, defs)
    }
}

impl DropIndexes for diesel::PgConnection {
    fn drop_indexes(&mut self) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename = 'users' \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)",
        )
        .load(self)?;
        // Memory to sort in while the indexes are built again.
        self.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")?;
        drop_all(self, defs)
    }
}
