//! Bulk writes for `wxlogin seed`: multi-row inserts into tables whose
//! secondary indexes are dropped first and built again at the end. Accounts
//! and identities are given their ids here, so that rows can point at each
//! other without reading anything back.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::{accounts, identities, sessions};
use super::{DbConnection, DbError};
use crate::on_backend;

/// An account to insert, with its id.
#[derive(Insertable)]
#[diesel(table_name = accounts)]
pub struct BulkAccount<'a> {
    pub id: i64,
    pub unionid: Option<&'a str>,
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

/// An identity to insert, with its id.
#[derive(Insertable)]
#[diesel(table_name = identities)]
pub struct BulkIdentity<'a> {
    pub id: i64,
    pub account_id: i64,
    pub appid: &'a str,
    pub openid: &'a str,
    pub unionid: Option<&'a str>,
    pub session_key: &'a str,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub login_count: i64,
    pub session_key_issued_at: NaiveDateTime,
}

/// A session to insert.
#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct BulkSession<'a> {
    pub account_id: i64,
    pub identity_id: i64,
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

/// After a bulk load: the id sequences moved past the ids given, fresh
/// statistics for the planner, and the connection tuned back.
pub fn finish(conn: &mut DbConnection) -> Result<(), DbError> {
    match conn {
        DbConnection::Postgres(c) => c.batch_execute(
            "SELECT setval(pg_get_serial_sequence('accounts', 'id'), COALESCE((SELECT MAX(id) FROM accounts), 0) + 1, false);
             SELECT setval(pg_get_serial_sequence('identities', 'id'), COALESCE((SELECT MAX(id) FROM identities), 0) + 1, false);
             ANALYZE accounts; ANALYZE identities; ANALYZE sessions;",
        )?,
        // AUTOINCREMENT tables keep their largest id by themselves.
        DbConnection::Sqlite(c) => {
            c.batch_execute("PRAGMA optimize; PRAGMA cache_size = -2000;")?
        }
    }
    Ok(())
}

/// The first free account id and identity id.
pub fn next_ids(conn: &mut DbConnection) -> Result<(i64, i64), DbError> {
    use diesel::dsl::max;
    let account: Option<i64> = on_backend!(conn, |c| accounts::table
        .select(max(accounts::id))
        .get_result(c))?;
    let identity: Option<i64> = on_backend!(conn, |c| identities::table
        .select(max(identities::id))
        .get_result(c))?;
    Ok((account.unwrap_or(0) + 1, identity.unwrap_or(0) + 1))
}

/// Inserts accounts in one statement.
pub fn insert_accounts(conn: &mut DbConnection, rows: &[BulkAccount<'_>]) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(accounts::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

/// Inserts identities in one statement.
pub fn insert_identities(
    conn: &mut DbConnection,
    rows: &[BulkIdentity<'_>],
) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(identities::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

/// Inserts sessions in one statement.
pub fn insert_sessions(conn: &mut DbConnection, rows: &[BulkSession<'_>]) -> Result<(), DbError> {
    on_backend!(conn, |c| diesel::insert_into(sessions::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

/// Drops the secondary indexes of `accounts` and `identities`, and returns
/// the statements that make them again.
pub fn drop_account_indexes(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let mut statements = Vec::new();
    for table in ["accounts", "identities"] {
        statements.extend(match conn {
            DbConnection::Sqlite(c) => c.drop_indexes(table)?,
            DbConnection::Postgres(c) => c.drop_indexes(table)?,
        });
    }
    Ok(statements)
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

/// Drops the secondary indexes of a table and returns the statements that
/// make them again.
trait DropIndexes {
    fn drop_indexes(&mut self, table: &str) -> Result<Vec<String>, DbError>;
}

fn drop_all(c: &mut impl SimpleConnection, defs: Vec<IndexDef>) -> Result<Vec<String>, DbError> {
    for d in &defs {
        c.batch_execute(&format!("DROP INDEX \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.def).collect())
}

impl DropIndexes for diesel::SqliteConnection {
    fn drop_indexes(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT name, sql AS def FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .load(self)?;
        drop_all(self, defs)
    }
}

impl DropIndexes for diesel::PgConnection {
    fn drop_indexes(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        let defs: Vec<IndexDef> = diesel::sql_query(
            "SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename = $1 \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .load(self)?;
        // Memory to sort in while the indexes are built again.
        self.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")?;
        drop_all(self, defs)
    }
}
