//! A real database for each test: a fresh SQLite file, or a fresh
//! PostgreSQL database created and dropped by the test.

use diesel::prelude::*;
use wxlogin::config::DatabaseUrl;
use wxlogin::db::{DbConnection, DbPool};

/// Where the PostgreSQL tests create their databases. When it is not set
/// they are skipped, loudly; CI always sets it, which makes them required.
pub const POSTGRES_ENV: &str = "WXLOGIN_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one test body on each backend: `backend_tests!(name)` makes
/// `name::sqlite` and `name::postgres` from `async fn name(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::common::postgres_url().is_some() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        }
    )*};
}

pub fn postgres_url() -> Option<String> {
    // As the binary's main does, before libpq first sets OpenSSL up: no
    // clean-up at exit, which would race the pools' threads and crash the
    // test binary as it exits.
    openssl_sys::init();
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: PostgreSQL test, because {POSTGRES_ENV} is not set");
            None
        }
    }
}

/// A database that exists for one test only.
pub enum TestDb {
    /// The directory is deleted when the test ends.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another test app's database, which that app's handle deletes.
    Shared,
}

impl TestDb {
    pub fn create(backend: Backend) -> (Self, DatabaseUrl) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("wxlogin.db").display().to_string();
                (Self::Sqlite(dir), DatabaseUrl::Sqlite(path))
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("PostgreSQL URL");
                let name = format!("wxlogin_test_{}", random_suffix());
                let mut conn = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {POSTGRES_ENV}: {e}"));
                diesel::sql_query(format!(r#"CREATE DATABASE "{name}""#))
                    .execute(&mut conn)
                    .expect("create test database");
                let url = with_database(&admin_url, &name);
                (
                    Self::Postgres { admin_url, name },
                    DatabaseUrl::Postgres(url),
                )
            }
        }
    }

    /// The database's URL.
    pub fn url(&self) -> DatabaseUrl {
        match self {
            Self::Sqlite(dir) => {
                DatabaseUrl::Sqlite(dir.path().join("wxlogin.db").display().to_string())
            }
            Self::Postgres { admin_url, name } => {
                DatabaseUrl::Postgres(with_database(admin_url, name))
            }
            Self::Shared => panic!("a shared database's URL is its owner's"),
        }
    }

    /// A handle for a second app on this database, which leaves it alone
    /// when dropped.
    pub fn shared(&self) -> Self {
        Self::Shared
    }

    /// The whole database as SQL text, as `sqlite3 .dump` or `pg_dump`
    /// writes it.
    pub fn dump(&self) -> String {
        let output = match self {
            Self::Sqlite(_) => {
                let DatabaseUrl::Sqlite(path) = self.url() else {
                    unreachable!()
                };
                std::process::Command::new("sqlite3")
                    .args([&path, ".dump"])
                    .output()
            }
            Self::Postgres { .. } => {
                let DatabaseUrl::Postgres(url) = self.url() else {
                    unreachable!()
                };
                std::process::Command::new("pg_dump").arg(&url).output()
            }
            Self::Shared => panic!("dump the owner's database"),
        }
        .expect("run sqlite3 or pg_dump (.ci/run installs them)");
        assert!(
            output.status.success(),
            "dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Makes the database unreachable, as if its server went away.
    pub fn destroy(&self) {
        match self {
            Self::Sqlite(_) | Self::Shared => {
                panic!("only a PostgreSQL database of its own can be taken away")
            }
            Self::Postgres { admin_url, name } => {
                let mut conn = PgConnection::establish(admin_url).expect("reach PostgreSQL");
                diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut conn)
                    .expect("drop test database");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ =
                    diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                        .execute(&mut conn);
            }
        }
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs a blocking closure on a pooled connection, off the async workers.
pub async fn with_db<T: Send + 'static>(
    pool: &DbPool,
    f: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> T {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || f(&mut pool.get().expect("db connection")))
        .await
        .expect("db task")
}

/// The `DATABASE_URL` of a test database, for the binary.
pub fn database_url(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(u) => u.clone(),
        DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
    }
}
