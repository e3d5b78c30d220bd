//! The real application on a free port, against a real database and a
//! fake WeChat (wiremock) on loopback.

use std::time::Duration;

use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxlogin::config::{
    AdminSettings, AppSettings, DatabaseUrl, DbSettings, Settings, WechatSettings,
};
use wxlogin::db::{DbConnection, DbPool};
use wxlogin::on_backend;
use wxlogin::startup::{Application, StopHandle};

use super::{with_db, AdminClient, Backend, Person, TestDb, ADMIN, ADMIN_PASSWORD, APPID, SECRET};

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
    stop: StopHandle,
}

impl Drop for TestApp {
    /// Starts the app's drain, which ends on the app's own thread: its
    /// workers and background threads stop instead of outliving the test and
    /// its database.
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// A started app, as [`run_app_on_own_thread`] reports it.
pub struct StartedApp {
    pub port: u16,
    pub pool: DbPool,
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Dropping it does not stop the app; calling `stop` does.
    pub stop: StopHandle,
}

/// Builds and runs the app on a thread and runtime of its own. On the
/// test's runtime it would stop being driven when the test ends, while
/// actix's worker threads kept its state, and so its background threads,
/// alive for the rest of the run: hundreds of idle apps polling dropped
/// databases. Its own runtime lets its drain run to the end instead.
pub async fn run_app_on_own_thread(settings: Settings) -> anyhow::Result<StartedApp> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("test-app".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the test app's runtime");
            runtime.block_on(async move {
                let app = match Application::build(settings).await {
                    Ok(app) => app,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let started = StartedApp {
                    port: app.port(),
                    pool: app.pool().clone(),
                    metrics_address: app.metrics_address(),
                    stop: app.stop_handle(),
                };
                if started_tx.send(Ok(started)).is_ok() {
                    if let Err(e) = app.run_until_stopped().await {
                        eprintln!("the test app stopped with an error: {e}");
                    }
                }
            });
        })
        .expect("spawn the test app's thread");
    started_rx.await.expect("the test app's thread ended early")
}

/// WeChat as the fake at `base` answers it.
pub fn fake_wechat(base: &str) -> WechatSettings {
    WechatSettings {
        // Content checks off: the tests of other things do not answer them
        // (tests/api/content.rs turns them on).
        apps: vec![AppSettings {
            content_check: false,
            ..AppSettings::wechat(APPID, SecretString::from(SECRET))
        }],
        api_base: base.to_owned(),
        timeout: Duration::from_secs(2),
        dev_strict_codes: false,
    }
}

/// The settings of a test app: port 0, a small pool, short timeouts, the
/// fake WeChat at `wechat_base`.
pub fn test_settings(url: DatabaseUrl, wechat_base: &str) -> Settings {
    settings_with(url, fake_wechat(wechat_base))
}

pub fn settings_with(url: DatabaseUrl, wechat: WechatSettings) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: DbSettings {
            url,
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
        },
        wechat,
        session_ttl: Duration::from_secs(3600),
        code_retry_window: Duration::from_secs(60),
        image_check_wait: Duration::from_secs(600),
        dev: false,
        workers: 2,
        admin: AdminSettings {
            cookie_key: actix_web::cookie::Key::generate(),
            secure_cookies: false,
            policy: wxlogin::config::AdminPolicy::default(),
        },
        trust_proxy: false,
        metrics_bind: None,
        audit_retention: Some(Duration::from_secs(365 * 86_400)),
        session_retention: Some(Duration::from_secs(30 * 86_400)),
        prune_every: wxlogin::config::PRUNE_EVERY,
        client_body_timeout: Duration::from_secs(10),
        max_connections: 10_000,
        drain: wxlogin::config::DrainSettings {
            grace: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(5),
        },
        // spawn_app_with puts a fresh temporary directory here.
        data_dir: std::path::PathBuf::new(),
        public_url: None,
        webhook: None,
        data_keys: test_data_keys(),
    }
}

/// The data key of every test app, so that a test may open what an app
/// sealed, or start a second app on the same database.
pub fn test_data_keys() -> wxlogin::domain::data_keys::DataKeys {
    wxlogin::domain::data_keys::DataKeys::new(
        wxlogin::domain::data_keys::DataKey::from_bytes(&TEST_DATA_KEY),
        vec![],
    )
}

/// A value a test app sealed (or one stored plain), opened.
pub fn opened(purpose: wxlogin::domain::data_keys::Purpose, stored: &str) -> String {
    use secrecy::ExposeSecret;
    test_data_keys()
        .open(purpose, stored)
        .expect("sealed with the tests' data key")
        .expose_secret()
        .to_owned()
}

/// [`test_data_keys`]'s key.
pub const TEST_DATA_KEY: [u8; 32] = [0x5a; 32];

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, url) = TestDb::create(backend);
    spawn_app_on(db, url, tweak).await
}

/// The app on a database made beforehand, which it migrates as it starts.
pub async fn spawn_app_on(
    db: TestDb,
    url: wxlogin::config::DatabaseUrl,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let wechat = MockServer::start().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(url, &wechat.uri());
    settings.data_dir = data_dir.path().to_owned();
    tweak(&mut settings);
    let app = run_app_on_own_thread(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port);
    let metrics_url = app.metrics_address.map(|a| format!("http://{a}/metrics"));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        wechat,
        pool: app.pool,
        db,
        data_dir,
        metrics_url,
        stop: app.stop,
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
        with_db(&self.pool, f).await
    }

    /// The ids of every session, oldest first.
    pub async fn session_ids(&self) -> Vec<i64> {
        self.with_db(|c| {
            use wxlogin::db::schema::sessions::dsl::*;
            on_backend!(c, |c| sessions.order(id).select(id).load(c)).unwrap()
        })
        .await
    }

    pub async fn count_users(&self) -> i64 {
        self.with_db(|c| {
            use wxlogin::db::schema::accounts::dsl::*;
            on_backend!(c, |c| accounts.count().get_result::<i64>(c)).unwrap()
        })
        .await
    }

    /// The rows of `table` that match the SQL condition `filter`.
    pub async fn count_rows(&self, table: &'static str, filter: &'static str) -> i64 {
        self.with_db(move |c| {
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}");
            on_backend!(c, |c| diesel::sql_query(&sql).get_result::<N>(c))
                .unwrap()
                .n
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

impl TestApp {
    /// Creates the test admin, an owner, directly in the database.
    pub async fn create_admin(&self) {
        self.create_admin_named(ADMIN, "owner").await;
    }

    /// Creates an admin with the test password and `role`.
    pub async fn create_admin_named(&self, name: &str, role: &str) {
        let (name, role) = (name.to_owned(), role.to_owned());
        self.with_db(move |c| {
            let hash = wxlogin::domain::password::hash(ADMIN_PASSWORD);
            wxlogin::db::admins::create(c, &name, &hash, &role, wxlogin::clock::now()).unwrap();
        })
        .await;
    }

    /// A signed-in client of a new admin with `role`.
    pub async fn admin_with_role(&self, name: &str, role: &str) -> AdminClient {
        self.create_admin_named(name, role).await;
        let admin = AdminClient::new(self);
        let response = admin.sign_in_with(name, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in of {name}");
        admin
    }

    /// A signed-in admin client.
    pub async fn admin(&self) -> AdminClient {
        self.create_admin().await;
        let admin = AdminClient::new(self);
        admin.sign_in().await;
        admin
    }

    /// Inserts users directly, as many logins over time would have made
    /// them: an account each, with one identity in the dev app.
    pub async fn seed(&self, people: Vec<Person>) {
        self.with_db(move |c| {
            use wxlogin::db::schema::accounts::dsl as a;
            use wxlogin::db::schema::identities::dsl as i;
            let first: Option<i64> =
                on_backend!(c, |c| a::accounts.select(diesel::dsl::max(a::id)).get_result(c))
                    .unwrap();
            let first = first.unwrap_or(0) + 1;
            let accounts: Vec<_> = people
                .iter()
                .zip(first..)
                .map(|(p, id)| {
                    (
                        a::id.eq(id),
                        a::unionid.eq(p.unionid.clone()),
                        a::nickname.eq(p.nickname.clone()),
                        a::gender.eq(p.gender),
                        a::country.eq("中国"),
                        a::province.eq(p.province.clone()),
                        a::city.eq(p.city.clone()),
                        a::created_at.eq(p.created_at),
                        a::updated_at.eq(p.created_at),
                        a::last_login_at.eq(p.last_login_at),
                        a::login_count.eq(1i64),
                    )
                })
                .collect();
            let identities: Vec<_> = people
                .iter()
                .zip(first..)
                .map(|(p, id)| {
                    (
                        i::id.eq(id),
                        i::account_id.eq(id),
                        i::appid.eq(APPID),
                        i::openid.eq(p.openid.clone()),
                        i::unionid.eq(p.unionid.clone()),
                        i::session_key.eq(format!("SECRET-KEY-{}", p.openid)),
                        i::created_at.eq(p.created_at),
                        i::last_login_at.eq(p.last_login_at),
                        i::login_count.eq(1i64),
                    )
                })
                .collect();
            for chunk in accounts.chunks(500) {
                on_backend!(c, |c| diesel::insert_into(a::accounts)
                    .values(chunk)
                    .execute(c))
                .unwrap();
            }
            for chunk in identities.chunks(500) {
                on_backend!(c, |c| diesel::insert_into(i::identities)
                    .values(chunk)
                    .execute(c))
                .unwrap();
            }
            if let wxlogin::db::DbConnection::Postgres(c) = c {
                use diesel::connection::SimpleConnection;
                c.batch_execute(
                    "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT MAX(id) FROM accounts));
                     SELECT setval(pg_get_serial_sequence('identities', 'id'), (SELECT MAX(id) FROM identities));",
                )
                .unwrap();
            }
        })
        .await;
    }
}
