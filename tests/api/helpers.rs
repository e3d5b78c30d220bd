//! Starts the real application on a free port, against a real database
//! (a fresh SQLite file, or a fresh PostgreSQL database) and a fake WeChat
//! HTTP server on loopback.

use std::time::Duration;

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxlogin::app::Application;
use wxlogin::config::{DatabaseUrl, DbSettings, Settings, WechatSettings};
use wxlogin::db::{DbConnection, DbPool};
use wxlogin::on_backend;

pub const APPID: &str = "wx1234567890abcdef";
pub const SECRET: &str = "s3cr3t-app-secret-never-shown";

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
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::postgres_url().is_some() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        }
    )*};
}

pub fn postgres_url() -> Option<String> {
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

    /// Makes the database unreachable, as if its server went away.
    pub fn destroy(&self) {
        match self {
            Self::Sqlite(_) => panic!("only a PostgreSQL database can be taken away"),
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

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub wechat: MockServer,
    pub pool: DbPool,
    pub db: TestDb,
    /// The app's `--data-dir`, deleted when the test ends.
    pub data_dir: tempfile::TempDir,
}

pub fn test_settings(url: DatabaseUrl, wechat_base: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: DbSettings {
            url,
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
        },
        wechat: WechatSettings::Api {
            appid: APPID.into(),
            secret: SecretString::from(SECRET),
            api_base: wechat_base.to_owned(),
            timeout: Duration::from_secs(2),
        },
        session_ttl: Duration::from_secs(3600),
        dev: false,
        workers: 2,
        // spawn_app_with puts a fresh temporary directory here.
        data_dir: std::path::PathBuf::new(),
        public_url: None,
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let wechat = MockServer::start().await;
    let (db, url) = TestDb::create(backend);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(url, &wechat.uri());
    settings.data_dir = data_dir.path().to_owned();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        wechat,
        pool,
        db,
        data_dir,
    }
}

/// An answer of WeChat's `jscode2session`.
pub fn code2session_ok(openid: &str, session_key: &str, unionid: Option<&str>) -> ResponseTemplate {
    let mut body = serde_json::json!({"openid": openid, "session_key": session_key});
    if let Some(u) = unionid {
        body["unionid"] = u.into();
    }
    ResponseTemplate::new(200).set_body_json(body)
}

pub fn code2session_err(errcode: i64) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"errcode": errcode, "errmsg": "fake error"}))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Makes every `jscode2session` answer `template`.
    pub async fn wechat_answers(&self, template: ResponseTemplate) {
        self.wechat.reset().await;
        Mock::given(method("GET"))
            .and(path("/sns/jscode2session"))
            .respond_with(template)
            .mount(&self.wechat)
            .await;
    }

    pub async fn post_login(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/login"))
            .json(body)
            .send()
            .await
            .expect("POST /api/login")
    }

    /// Logs in with a code and returns the token, asserting success.
    pub async fn login_ok(&self, code: &str) -> (String, Value) {
        let response = self.post_login(&serde_json::json!({"code": code})).await;
        assert_eq!(response.status(), 200, "login should succeed");
        let body: Value = response.json().await.unwrap();
        (body["token"].as_str().expect("token").to_owned(), body)
    }

    pub async fn get_me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/me")
    }

    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/logout"))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST /api/logout")
    }

    /// Runs a blocking closure on a pooled connection of the app's own database.
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
    ) -> T {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&mut pool.get().expect("db connection")))
            .await
            .unwrap()
    }

    pub async fn count_users(&self) -> i64 {
        self.with_db(|c| {
            use wxlogin::db::schema::users::dsl::*;
            on_backend!(c, |c| users.count().get_result::<i64>(c)).unwrap()
        })
        .await
    }

    pub async fn count_sessions(&self) -> i64 {
        self.with_db(|c| {
            use wxlogin::db::schema::sessions::dsl::*;
            on_backend!(c, |c| sessions.count().get_result::<i64>(c)).unwrap()
        })
        .await
    }
}

/// Asserts the `{"error": {"code", "message"}}` shape and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(!message.is_empty());
    body
}
