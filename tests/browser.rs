//! The admin site, driven end to end in a real headless Chromium through
//! chromedriver (WebDriver): sign in, search, open a user, export CSV. The
//! browser is Chinese (`--lang=zh-CN` and `intl.accept_languages`), as the
//! operators' are, so the site speaks Chinese; elements are found by their
//! structure, never by their English words. Its screenshots are then read
//! back with OCR, which must find the Chinese labels in the pixels.
//!
//! Needs Debian's `chromium`, `chromium-driver`, `tesseract-ocr` and
//! `tesseract-ocr-chi-sim` packages. Without them the test says it is
//! skipped and passes, unless `WXLOGIN_REQUIRE_BROWSER=1` (as in CI), when
//! it fails. Screenshots go to
//! `<CARGO_TARGET_TMPDIR>/screenshots/`, and chromedriver's log to
//! `<CARGO_TARGET_TMPDIR>/browser/chromedriver.log`.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use wxlogin::config::{DatabaseUrl, WechatSettings};
use wxlogin::db::DbPool;
use wxlogin::domain::totp::TotpSecret;
use wxlogin::on_backend;

mod common;
use common::{run_app_on_own_thread, settings_with, with_db, ADMIN, ADMIN_PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const REQUIRE_ENV: &str = "WXLOGIN_REQUIRE_BROWSER";

/// The whole browser session, from chromedriver's start to the CSV check.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Waiting for a page, an element or the download.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether the browser is here; without it, skips loudly or (in CI) fails.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
        "{REQUIRE_ENV}=1 but {} is not installed (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    println!("SKIPPED: browser test, chromium/chromedriver not installed");
    false
}

/// chromedriver in a process group of its own, with Chromium under it.
/// Dropping it kills the whole group, whatever state the test is in.
struct Chromedriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Chromedriver {
    /// Chromium's own temporary files go to `tmp`, which the test removes.
    fn start(log: PathBuf, tmp: &Path) -> Self {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .env("TMPDIR", tmp)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .arg("--log-level=INFO")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port, log };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STEP_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {address}; see {}",
                driver.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: signals only the process group that `start` created.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The browser's languages, as a Chinese operator's browser sends them.
const BROWSER_LANGUAGES: &str = "zh-CN,zh";

/// Headless Chromium that downloads into `downloads` without asking.
fn capabilities(profile: &Path, downloads: &Path) -> fantoccini::wd::Capabilities {
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-quic".to_owned(),
        "--disable-extensions".to_owned(),
        "--window-size=1280,1100".to_owned(),
        "--lang=zh-CN".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": {"implicit": 0, "pageLoad": 15_000, "script": 10_000},
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": args,
            "prefs": {
                "download": {
                    "default_directory": downloads.display().to_string(),
                    "prompt_for_download": false,
                    "directory_upgrade": true,
                },
                "safebrowsing": {"enabled": false},
                "intl": {"accept_languages": BROWSER_LANGUAGES},
            },
        },
    });
    match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A user made through `/api/login`, then given a profile.
struct Seeded {
    id: i64,
    openid: String,
}

/// `nickname`, `gender`, `province`, `city` for the simulator's `demo-N` users.
const PROFILES: [(&str, i16, &str, &str); 5] = [
    ("张三", 1, "广东", "广州"),
    ("张伟 \"小张\", 深圳", 2, "广东", "深圳"),
    ("李四", 1, "浙江", "杭州"),
    ("alice", 2, "北京", "北京"),
    ("", 0, "", ""),
];

/// Starts the app on a free loopback port with a fresh SQLite file in `dir`,
/// an admin, and a few users with Chinese profiles.
async fn start_app(dir: &Path) -> (String, DbPool, Vec<Seeded>) {
    let mut settings = settings_with(
        DatabaseUrl::Sqlite(dir.join("wxlogin.db").display().to_string()),
        WechatSettings::simulated(),
    );
    settings.db.pool_size = 4;
    settings.data_dir = dir.join("data");
    let app = run_app_on_own_thread(settings).await.expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port);
    let pool = app.pool;

    with_db(&pool, |c| {
        let hash = wxlogin::domain::password::hash(ADMIN_PASSWORD);
        wxlogin::db::admins::create(c, ADMIN, &hash, "owner", wxlogin::clock::now())
            .expect("create admin");
        wxlogin::db::admins::create(c, VIEWER, &hash, "viewer", wxlogin::clock::now())
            .expect("create the viewer");
    })
    .await;

    let http = reqwest::Client::builder()
        .user_agent("wxlogin-browser-test")
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut users = Vec::new();
    for (n, profile) in PROFILES.iter().enumerate() {
        let response = http
            .post(format!("{base}/api/login"))
            .json(&json!({"code": format!("demo-{}", n + 1)}))
            .send()
            .await
            .expect("POST /api/login");
        assert_eq!(response.status(), 200, "login with demo-{}", n + 1);
        let body: serde_json::Value = response.json().await.unwrap();
        let id = body["user"]["id"].as_i64().expect("user.id");
        let openid = body["user"]["openid"].as_str().expect("openid").to_owned();
        let (nick, sex, prov, town) = *profile;
        let updated = with_db(&pool, move |c| {
            use wxlogin::db::schema::accounts::dsl as u;
            on_backend!(c, |c| diesel::update(u::accounts.find(id))
                .set((
                    u::nickname.eq(nick),
                    u::gender.eq(sex),
                    u::country.eq(if prov.is_empty() { "" } else { "中国" }),
                    u::province.eq(prov),
                    u::city.eq(town),
                ))
                .execute(c))
            .expect("set profile")
        })
        .await;
        assert_eq!(updated, 1, "one user's profile set");
        users.push(Seeded { id, openid });
    }
    (base, pool, users)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_site_in_a_real_browser() {
    if !browser_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = dir.path().join("profile");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shots = out.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // Last run's screenshots go, so that only this run's are read.
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    std::fs::create_dir_all(out.join("browser")).unwrap();

    let (base, pool, users) = start_app(dir.path()).await;
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let driver = Chromedriver::start(out.join("browser").join("chromedriver.log"), &tmp);
    let client = bounded(
        "starting Chromium",
        Duration::from_secs(60),
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&profile, &downloads))
            .connect(&driver.url()),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "cannot start Chromium through chromedriver: {e}; see {}",
            driver.log.display()
        )
    });

    let ctx = Ctx {
        client: client.clone(),
        base,
        pool,
        users,
        downloads,
        shots: shots.clone(),
    };
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_TIMEOUT, ctx.run()))
        .catch_unwind()
        .await;
    if !matches!(outcome, Ok(Ok(()))) {
        // Whatever went wrong, show what the browser showed then.
        if let Ok(Ok(png)) =
            tokio::time::timeout(Duration::from_secs(10), client.screenshot()).await
        {
            let path = shots.join("browser-failure.png");
            if std::fs::write(&path, png).is_ok() {
                eprintln!("screenshot at the failure: {}", path.display());
            }
        }
        eprintln!("chromedriver log: {}", driver.log.display());
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    drop(driver);
    match outcome {
        Ok(Ok(())) => println!("browser session passed in {:.1?}", started.elapsed()),
        Ok(Err(_)) => panic!("the browser test took longer than {TEST_TIMEOUT:?}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    read_the_screenshots(&shots).await;
    println!("browser test passed in {:.1?}", started.elapsed());
}

/// What each screenshot must show, read back from its pixels: Chinese
/// labels that only render with a CJK font.
const SCREENSHOT_LABELS: [(&str, &[&str]); 6] = [
    ("browser-01-sign-in", &["管理后台", "请先登录"]),
    ("browser-02-search", &["注册时间", "最后登录", "时区显示"]),
    ("browser-03-user", &["账号ID", "首次登录", "登录次数"]),
    ("browser-05-viewer-refused", &["403无权访问", "查看者"]),
    (
        "browser-06-second-factor-set-up",
        &["我的账号", "两步验证登录"],
    ),
    ("browser-07-second-factor-sign-in", &["两步验证登录"]),
];

const TESSERACT: &str = "/usr/bin/tesseract";

/// Reads the screenshots with OCR (tesseract, Simplified Chinese) and checks
/// that each shows its labels: the DOM can hold the right words while the
/// browser draws empty boxes for want of a font. Without tesseract the
/// check says it is skipped, unless `WXLOGIN_REQUIRE_BROWSER=1`.
async fn read_the_screenshots(shots: &Path) {
    if !Path::new(TESSERACT).exists() {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but {TESSERACT} is not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim)"
        );
        println!("SKIPPED: reading the screenshots, tesseract not installed");
        return;
    }
    for (name, labels) in SCREENSHOT_LABELS {
        let path = shots.join(format!("{name}.png"));
        let read = tokio::task::spawn_blocking({
            let path = path.clone();
            move || {
                Command::new(TESSERACT)
                    .arg(&path)
                    .args(["stdout", "-l", "chi_sim"])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
            }
        })
        .await
        .unwrap()
        .expect("run tesseract");
        assert!(
            read.status.success(),
            "tesseract could not read {} (is tesseract-ocr-chi-sim installed?)",
            path.display()
        );
        // OCR puts spaces between CJK characters and breaks lines freely.
        let text: String = String::from_utf8_lossy(&read.stdout)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for label in labels {
            assert!(
                text.contains(label),
                "{} does not show {label}; OCR read: {text}",
                path.display()
            );
        }
    }
}

/// A second admin, who may only browse.
const VIEWER: &str = "vera";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Ctx {
    client: Client,
    base: String,
    pool: DbPool,
    users: Vec<Seeded>,
    downloads: PathBuf,
    shots: PathBuf,
}

/// One row of the user table, as the browser shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    openid: String,
    unionid: String,
    nickname: String,
    province: String,
    city: String,
}

impl Ctx {
    async fn run(&self) {
        let c = &self.client;

        // 1. Anonymous: the user table sends the browser to the sign-in page.
        c.goto(&format!("{}/admin/users", self.base))
            .await
            .expect("open /admin/users");
        let url = self
            .wait_for_url("the sign-in page", |u| u.path() == "/admin/login")
            .await;
        assert!(
            url.as_str().contains("/admin/login?next="),
            "anonymous visitors are sent to the sign-in page with next=: {url}"
        );
        // No language chosen yet: the browser's, Chinese.
        self.assert_chinese().await;
        assert_eq!(self.text("main h1").await, "登录");
        assert_eq!(
            self.text("form[action='/admin/login'] button[type=submit]")
                .await,
            "登录"
        );
        self.screenshot("browser-01-sign-in").await;

        // 2. Sign in: back to the page it came from, with every user.
        self.sign_in(ADMIN).await;
        self.wait_for_url("the user table after signing in", |u| {
            u.path() == "/admin/users"
        })
        .await;
        self.assert_chinese().await;
        assert_eq!(self.text("header .who").await, format!("{ADMIN} · 所有者"));
        assert!(
            self.text("main h1").await.starts_with("用户"),
            "the users heading is Chinese"
        );
        let all = self.table_rows().await;
        assert_eq!(all.len(), self.users.len(), "every user is listed: {all:?}");
        for u in &self.users {
            assert!(
                all.iter().any(|r| r.openid == u.openid),
                "{} is in the table",
                u.openid
            );
        }
        assert!(all.iter().any(|r| r.nickname == "李四"), "{all:?}");

        // 3. Search for 张: only the two 张 are left.
        let filters = self.find("form.filters").await;
        let q = filters.find(Locator::Css("input[name=q]")).await.unwrap();
        q.send_keys("张").await.unwrap();
        assert_eq!(q.prop("value").await.unwrap().as_deref(), Some("张"));
        let apply = filters
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap();
        assert_eq!(apply.text().await.unwrap(), "筛选");
        apply.click().await.expect("click the filter button");
        let url = self
            .wait_for_url("the filtered table", |u| {
                u.path() == "/admin/users" && u.query_pairs().any(|(k, v)| k == "q" && v == "张")
            })
            .await;
        let found = self.table_rows().await;
        let nicknames: Vec<&str> = found.iter().map(|r| r.nickname.as_str()).collect();
        assert_eq!(found.len(), 2, "only the 张 match ({url}): {nicknames:?}");
        assert!(nicknames.contains(&"张三"), "{nicknames:?}");
        assert!(nicknames.contains(&PROFILES[1].0), "{nicknames:?}");
        let table_text = self.text("table.users tbody").await;
        assert!(table_text.contains("张三"), "张三 is visible");
        assert!(!table_text.contains("李四"), "李四 does not match 张");
        assert!(!table_text.contains(&self.users[2].openid));
        assert_eq!(self.text("h1 .count").await, "共 2 位用户");
        let headers = self.text("table.users thead").await;
        assert!(
            headers.contains("昵称") && headers.contains("注册时间"),
            "{headers}"
        );
        self.screenshot("browser-02-search").await;

        // 4. Open 张三: the user page, with the session that logging in made.
        let zhang = &self.users[0];
        self.find("table.users")
            .await
            .find(Locator::XPath(
                "./tbody/tr[td[normalize-space()='张三']]//a[starts-with(@href, '/admin/users/')]",
            ))
            .await
            .expect("张三's row links to the user")
            .click()
            .await
            .expect("click 张三's account");
        let user_path = format!("/admin/users/{}", zhang.id);
        self.wait_for_url("张三's page", |u| u.path() == user_path)
            .await;
        assert_eq!(self.text("main h1").await, "张三");
        let openid = self
            .client
            .find(Locator::XPath(
                "//table[contains(@class, 'identities')]/tbody/tr[1]/td[3]",
            ))
            .await
            .expect("the identity's openid")
            .text()
            .await
            .unwrap();
        assert_eq!(openid, zhang.openid);
        let sessions = self
            .client
            .find_all(Locator::Css("table.sessions tbody tr"))
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1, "one login, one session");
        assert_eq!(
            self.text("table.sessions .status.active").await,
            "有效",
            "one active session, in Chinese"
        );
        // Times in Asia/Shanghai, saying so.
        let created = self.text("table.sessions tbody td.time").await;
        assert!(created.ends_with("(UTC+08:00)"), "{created}");
        assert!(self
            .text("table.sessions tbody")
            .await
            .contains("wxlogin-browser-test"));
        let source = self.client.source().await.unwrap();
        let body = self.text("body").await;
        let id = zhang.id;
        let key = with_db(&self.pool, move |c| {
            use wxlogin::db::schema::identities::dsl as i;
            on_backend!(c, |c| i::identities
                .filter(i::account_id.eq(id))
                .select(i::session_key)
                .first::<String>(c))
            .expect("session key")
        })
        .await;
        assert!(key.len() >= 16, "a real session key: {key:?}");
        for text in [&source, &body] {
            assert!(!text.contains("session_key"), "the page names session_key");
            assert!(!text.contains(&key), "the page shows the session key");
        }
        assert!(
            body.contains("身份") && body.contains("会话"),
            "Chinese headings"
        );
        self.screenshot("browser-03-user").await;

        // 5. Back to the filtered table, and export it.
        self.client.back().await.expect("back");
        self.wait_for_url("the filtered table again", |u| {
            u.path() == "/admin/users" && u.query_pairs().any(|(k, v)| k == "q" && v == "张")
        })
        .await;
        let shown = self.table_rows().await;
        assert_eq!(shown, found, "the same rows as before");
        let link = self.find("form.filters a.export").await;
        assert_eq!(link.text().await.unwrap(), "导出 CSV");
        assert!(
            link.attr("download").await.unwrap().is_some(),
            "the link downloads"
        );
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        assert!(href.starts_with("/admin/users.csv?"), "{href}");
        assert!(href.contains("q=%E5%BC%A0"), "the export keeps q: {href}");
        link.click().await.expect("click the export link");
        let file = self.wait_for_download().await;
        println!("downloaded: {}", file.display());
        let csv_rows = read_csv(&file);
        let mut expected = shown.clone();
        expected.sort();
        let mut got: Vec<Row> = csv_rows.values().cloned().collect();
        got.sort();
        assert_eq!(got, expected, "the CSV has the filtered table's rows");
        let zhang_row = &csv_rows[&zhang.openid];
        assert_eq!(
            (
                zhang_row.nickname.as_str(),
                zhang_row.province.as_str(),
                zhang_row.city.as_str()
            ),
            ("张三", "广东", "广州")
        );
        // The export leaves the page where it was.
        assert_eq!(
            self.client.current_url().await.unwrap().path(),
            "/admin/users"
        );
        self.screenshot("browser-04-after-export").await;

        // 5. A viewer may browse but not export: a 403 page, in Chinese.
        self.sign_out().await;
        self.sign_in(VIEWER).await;
        self.wait_for_url("the overview", |u| u.path() == "/admin")
            .await;
        c.goto(&format!("{}/admin/users.csv", self.base))
            .await
            .expect("open the export");
        self.assert_chinese().await;
        let refusal = self.text("main").await;
        assert!(refusal.contains("403"), "{refusal}");
        assert!(
            refusal.contains("查看者") && refusal.contains("操作员"),
            "names both roles: {refusal}"
        );
        self.screenshot("browser-05-viewer-refused").await;

        // 6. Two-factor sign-in: the viewer turns it on with the key the
        // page shows, then signs in with the password and a code.
        c.goto(&format!("{}/admin/account", self.base))
            .await
            .unwrap();
        self.find("form[action='/admin/account/2fa/start'] button")
            .await
            .click()
            .await
            .unwrap();
        let key = self.text("code.secret").await;
        self.find("div.qr svg").await;
        let secret = TotpSecret::from_base32(&key).expect("the key the page shows");
        self.screenshot("browser-06-second-factor-set-up").await;
        let form = self.find("form[action='/admin/account/2fa/confirm']").await;
        let field = form.find(Locator::Css("input[name=code]")).await.unwrap();
        field.send_keys(&secret.code(unix_now())).await.unwrap();
        form.find(Locator::Css("button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The click only starts the form's submission: wait for the page
        // that answers it.
        self.find(".recovery-codes").await;
        self.wait_for_url("the recovery codes", |u| {
            u.path() == "/admin/account/2fa/confirm"
        })
        .await;
        let codes = self
            .client
            .find_all(Locator::Css(".recovery-codes li"))
            .await
            .unwrap();
        assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
        self.sign_out().await;
        self.sign_in(VIEWER).await;
        self.wait_for_url("the second step", |u| {
            u.path() == "/admin/login/second-factor"
        })
        .await;
        self.assert_chinese().await;
        assert_eq!(self.text("main h1").await, "两步验证登录");
        let form = self.find("form[action='/admin/login/second-factor']").await;
        let field = form.find(Locator::Css("input[name=code]")).await.unwrap();
        // The step that turned it on is spent: the next one's code.
        field
            .send_keys(&secret.code(unix_now() + 30))
            .await
            .unwrap();
        self.screenshot("browser-07-second-factor-sign-in").await;
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.wait_for_url("the overview after the second factor", |u| {
            u.path() == "/admin"
        })
        .await;
        assert!(self.text("header .who").await.starts_with(VIEWER));
    }

    async fn sign_out(&self) {
        self.find("form.signout button")
            .await
            .click()
            .await
            .expect("sign out");
        self.wait_for_url("the sign-in page", |u| u.path() == "/admin/login")
            .await;
    }

    async fn sign_in(&self, name: &str) {
        let form = self.find("form[action='/admin/login']").await;
        let field = form
            .find(Locator::Css("input[name=username]"))
            .await
            .unwrap();
        field.send_keys(name).await.unwrap();
        let field = form
            .find(Locator::Css("input[name=password]"))
            .await
            .unwrap();
        field.send_keys(ADMIN_PASSWORD).await.unwrap();
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The page is in Chinese: `<html lang="zh-CN">`.
    async fn assert_chinese(&self) {
        let lang = self
            .find("html")
            .await
            .attr("lang")
            .await
            .unwrap()
            .unwrap_or_default();
        assert_eq!(lang, "zh-CN", "the page's language");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until the address satisfies `ok` (the browser may still be on
    /// the page before), and returns it.
    async fn wait_for_url(&self, what: &str, ok: impl Fn(&url::Url) -> bool) -> url::Url {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let url = self.client.current_url().await.expect("current URL");
            let ready = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .map(|s| s == "complete")
                .unwrap_or(false);
            if ok(&url) && ready {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP_TIMEOUT:?} for {what}; still at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The rows of the user table, its columns found by their `data-col`
    /// (their labels are in the page's language).
    async fn table_rows(&self) -> Vec<Row> {
        let table = self.find("table.users").await;
        let mut headers = Vec::new();
        for th in table.find_all(Locator::Css("thead th")).await.unwrap() {
            headers.push(th.attr("data-col").await.unwrap().unwrap_or_default());
        }
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no {name} column in {headers:?}"))
        };
        let (openid, unionid, nickname, province, city) = (
            column("identities"),
            column("unionid"),
            column("nickname"),
            column("province"),
            column("city"),
        );
        let mut rows = Vec::new();
        for tr in table.find_all(Locator::Css("tbody tr")).await.unwrap() {
            let mut cells = Vec::new();
            for td in tr.find_all(Locator::Css("td")).await.unwrap() {
                cells.push(td.text().await.unwrap());
            }
            if cells.len() == 1 {
                continue; // "No users match", in a cell of its own.
            }
            assert_eq!(cells.len(), headers.len(), "a cell per column: {cells:?}");
            rows.push(Row {
                // Each identity: its openid, then its app.
                openid: cells[openid]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                unionid: cells[unionid].clone(),
                nickname: cells[nickname].clone(),
                province: cells[province].clone(),
                city: cells[city].clone(),
            });
        }
        rows
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        println!("screenshot: {}", path.display());
    }

    /// The finished `users-*.csv` in the download directory.
    async fn wait_for_download(&self) -> PathBuf {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let names: Vec<String> = std::fs::read_dir(&self.downloads)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let partial = names.iter().any(|n| n.ends_with(".crdownload"));
            let done: Vec<&String> = names
                .iter()
                .filter(|n| n.starts_with("users-") && n.ends_with(".csv"))
                .collect();
            if !partial && done.len() == 1 {
                return self.downloads.join(done[0]);
            }
            assert!(done.len() <= 1, "one download, not {names:?}");
            assert!(
                Instant::now() < deadline,
                "no finished users-*.csv in {} after {STEP_TIMEOUT:?}: {names:?}",
                self.downloads.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The downloaded CSV's rows by openid, checking its BOM and header.
fn read_csv(path: &Path) -> BTreeMap<String, Row> {
    let bytes = std::fs::read(path).expect("read the CSV");
    let body = bytes
        .strip_prefix(wxlogin::service::export::BOM)
        .expect("the CSV starts with a UTF-8 BOM");
    assert!(
        std::str::from_utf8(body).is_ok(),
        "the CSV is UTF-8 throughout"
    );
    let mut reader = csv::Reader::from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, wxlogin::service::export::HEADER, "CSV columns");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("a well-formed CSV record");
        let row = Row {
            openid: record[column("openid")].to_owned(),
            unionid: record[column("unionid")].to_owned(),
            nickname: record[column("nickname")].to_owned(),
            province: record[column("province")].to_owned(),
            city: record[column("city")].to_owned(),
        };
        assert!(
            rows.insert(row.openid.clone(), row).is_none(),
            "each user once"
        );
    }
    rows
}

/// `fut`, or a panic after `limit`.
async fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {limit:?}"))
}
