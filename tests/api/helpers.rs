//! Starts the real application on a free port, against a real database
//! (a fresh SQLite file, or a fresh PostgreSQL database) and a fake WeChat
//! HTTP server on loopback.

use std::time::Duration;

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxlogin::config::{AdminSettings, DatabaseUrl, DbSettings, Settings, WechatSettings};
use wxlogin::db::{DbConnection, DbPool};
use wxlogin::on_backend;
use wxlogin::startup::Application;

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
    /// `http://ADDRESS/metrics`, when `metrics_bind` was set.
    pub metrics_url: Option<String>,
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
        admin: AdminSettings {
            cookie_key: actix_web::cookie::Key::generate(),
            secure_cookies: false,
            idle_timeout: wxlogin::config::ADMIN_IDLE_TIMEOUT,
        },
        trust_proxy: false,
        metrics_bind: None,
        audit_retention: Some(Duration::from_secs(365 * 86_400)),
        session_retention: Some(Duration::from_secs(30 * 86_400)),
        prune_every: wxlogin::config::PRUNE_EVERY,
        client_body_timeout: Duration::from_secs(10),
        max_connections: 10_000,
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
    let metrics_url = app.metrics_address().map(|a| format!("http://{a}/metrics"));
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
        metrics_url,
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

pub const ADMIN: &str = "operator";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A browser-like client for the admin site: keeps cookies, does not follow redirects.
pub struct AdminClient {
    pub client: reqwest::Client,
    pub base: String,
}

/// The value of the first `name="…" value="…"` hidden field named `name`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(unescape(&html[start..start + end]))
}

/// Undoes HTML escaping (named and numeric entities).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl AdminClient {
    pub fn new(app: &TestApp) -> Self {
        Self::from_ip(app, "127.0.0.1")
    }

    /// A client whose connections come from `ip`, one of the loopback
    /// addresses 127.0.0.0/8, as if from another machine.
    pub fn from_ip(app: &TestApp, ip: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap(),
            base: app.address.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The sign-in form's CSRF token (this also starts the cookie session).
    pub async fn login_csrf(&self) -> String {
        let html = self.get("/admin/login").await.text().await.unwrap();
        hidden_field(&html, "csrf").expect("csrf field on the sign-in page")
    }

    pub async fn sign_in_with(&self, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.login_csrf().await;
        self.post_form(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
                ("next", "/admin"),
            ],
        )
        .await
    }

    /// Signs in as the test admin, asserting success.
    pub async fn sign_in(&self) {
        let response = self.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in should redirect");
    }

    /// The CSRF token of the signed-in session, read from a page's sign-out form.
    pub async fn csrf(&self) -> String {
        let html = self.get("/admin").await.text().await.unwrap();
        hidden_field(&html, "csrf").expect("csrf field in the page")
    }

    /// GET that must answer 200; returns the body.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }
}

impl TestApp {
    /// Creates the test admin directly in the database.
    pub async fn create_admin(&self) {
        self.with_db(|c| {
            let hash = wxlogin::domain::password::hash(ADMIN_PASSWORD);
            wxlogin::db::admins::create(c, ADMIN, &hash, wxlogin::clock::now()).unwrap();
        })
        .await;
    }

    /// A signed-in admin client.
    pub async fn admin(&self) -> AdminClient {
        self.create_admin().await;
        let admin = AdminClient::new(self);
        admin.sign_in().await;
        admin
    }

    /// Inserts users directly, as many logins over time would have made them.
    pub async fn seed(&self, people: Vec<Person>) {
        self.with_db(move |c| {
            use wxlogin::db::schema::users::dsl as u;
            let rows: Vec<_> = people
                .iter()
                .map(|p| {
                    (
                        u::appid.eq(APPID),
                        u::openid.eq(p.openid.clone()),
                        u::unionid.eq(p.unionid.clone()),
                        u::session_key.eq(format!("SECRET-KEY-{}", p.openid)),
                        u::nickname.eq(p.nickname.clone()),
                        u::gender.eq(p.gender),
                        u::country.eq("中国"),
                        u::province.eq(p.province.clone()),
                        u::city.eq(p.city.clone()),
                        u::created_at.eq(p.created_at),
                        u::updated_at.eq(p.created_at),
                        u::last_login_at.eq(p.last_login_at),
                        u::login_count.eq(1i64),
                    )
                })
                .collect();
            for chunk in rows.chunks(500) {
                on_backend!(c, |c| diesel::insert_into(u::users)
                    .values(chunk)
                    .execute(c))
                .unwrap();
            }
        })
        .await;
    }
}

/// A user to seed.
#[derive(Debug, Clone)]
pub struct Person {
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: String,
    pub gender: i16,
    pub province: String,
    pub city: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_login_at: chrono::NaiveDateTime,
}

impl Person {
    pub fn new(openid: &str) -> Self {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        Self {
            openid: openid.to_owned(),
            unionid: None,
            nickname: String::new(),
            gender: 0,
            province: String::new(),
            city: String::new(),
            created_at: t,
            last_login_at: t,
        }
    }
}

/// A deterministic crowd of `n` users with repeated values, so that sorts
/// have ties that only the id can break.
pub fn crowd(n: usize) -> Vec<Person> {
    let places = [
        ("广东", "广州"),
        ("广东", "深圳"),
        ("浙江", "杭州"),
        ("北京", "北京"),
        ("", ""),
    ];
    let names = ["张三", "李四", "alice", "Bob", "王五", ""];
    let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (0..n)
        .map(|i| {
            let (province, city) = places[i % places.len()];
            Person {
                openid: format!("oCROWD{:05}{}", (i * 7919) % 100_000, i),
                unionid: (i % 3 != 0).then(|| format!("uCROWD{i:05}")),
                nickname: names[i % names.len()].to_owned(),
                gender: (i % 3) as i16,
                province: province.to_owned(),
                city: city.to_owned(),
                created_at: base + chrono::Duration::days((i % 10) as i64),
                last_login_at: base + chrono::Duration::hours((i % 17) as i64),
            }
        })
        .collect()
}

/// The user ids of a table page, in order.
pub fn row_ids(html: &str) -> Vec<i64> {
    let tbody = html.split("<tbody>").nth(1).unwrap_or("");
    tbody
        .split(r#"href="/admin/users/"#)
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The `href` of a link with the given `rel`.
pub fn rel_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!(r#"rel="{rel}" href=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(unescape(&html[start..start + end]))
}
