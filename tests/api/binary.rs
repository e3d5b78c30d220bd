//! The real `wxlogin` binary: command line, refusals, and the dev-mode flow.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");

/// A data key for the commands that read personal data: 32 bytes in hex.
pub const CLI_DATA_KEY: &str = "0303030303030303030303030303030303030303030303030303030303030303";

/// A command with none of the settings' environment variables inherited.
pub fn wxlogin() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "WXLOGIN_BIND",
        "DATABASE_URL",
        "WECHAT_APPID",
        "WECHAT_SECRET",
        "WXLOGIN_APPS",
        "WECHAT_API_BASE",
        "WECHAT_TIMEOUT",
        "WXLOGIN_SESSION_TTL",
        "WXLOGIN_CODE_RETRY_WINDOW",
        "WXLOGIN_IMAGE_CHECK_WAIT",
        "WXLOGIN_RISK_CHECK",
        "WXLOGIN_RISK_REFUSE_AT",
        "WXLOGIN_CONTENT_CHECK",
        "WECHAT_PUSH_TOKEN",
        "WECHAT_PUSH_AES_KEY",
        "WXLOGIN_DEV",
        "WXLOGIN_WORKERS",
        "WXLOGIN_DB_POOL_SIZE",
        "WXLOGIN_DB_TIMEOUT",
        "WXLOGIN_DATA_DIR",
        "WXLOGIN_PUBLIC_URL",
        "WXLOGIN_WEBHOOK_URL",
        "WXLOGIN_WEBHOOK_SECRET",
        "WXLOGIN_LOG_FORMAT",
        "WXLOGIN_DRAIN_GRACE",
        "WXLOGIN_SHUTDOWN_TIMEOUT",
        "WXLOGIN_ADMIN_TIMEZONE",
        "WXLOGIN_SECRET_KEY",
        "WXLOGIN_DATA_KEY",
        "WXLOGIN_OLD_DATA_KEYS",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

#[test]
fn help_documents_every_setting() {
    let out = wxlogin().args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--bind",
        "WXLOGIN_BIND",
        "--database-url",
        "DATABASE_URL",
        "--apps",
        "WXLOGIN_APPS",
        "--wechat-appid",
        "WECHAT_APPID",
        "--wechat-secret",
        "WECHAT_SECRET",
        "--code-retry-window",
        "WXLOGIN_CODE_RETRY_WINDOW",
        "--image-check-wait",
        "WXLOGIN_IMAGE_CHECK_WAIT",
        "--content-check",
        "WXLOGIN_CONTENT_CHECK",
        "--risk-check",
        "--risk-refuse-at",
        "--dev-strict-codes",
        "--wechat-api-base",
        "WECHAT_API_BASE",
        "--wechat-timeout",
        "WECHAT_TIMEOUT",
        "--session-ttl",
        "WXLOGIN_SESSION_TTL",
        "--dev",
        "WXLOGIN_DEV",
        "--data-dir",
        "WXLOGIN_DATA_DIR",
        "--public-url",
        "WXLOGIN_PUBLIC_URL",
        "WXLOGIN_WEBHOOK_URL",
        "WXLOGIN_WEBHOOK_SECRET",
        "--log-format",
        "WXLOGIN_LOG_FORMAT",
        "--drain-grace",
        "WXLOGIN_DRAIN_GRACE",
        "--shutdown-timeout",
        "WXLOGIN_SHUTDOWN_TIMEOUT",
        "--admin-timezone",
        "WXLOGIN_ADMIN_TIMEZONE",
        "--data-key",
        "WXLOGIN_DATA_KEY",
        "--old-data-keys",
        "WXLOGIN_OLD_DATA_KEYS",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

/// A data key that is not 32 bytes, or not base64 or hex, stops the server
/// and every command that needs one with a usage error that says why, and
/// never prints the key.
#[test]
fn a_data_key_of_the_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let short = "c2hvcnQta2V5LXNob3J0LWtleQ=="; // "short-key-short-key": 19 bytes
    for (args, key, says) in [
        (vec!["serve", "--dev"], short, "19 bytes long"),
        (
            vec!["serve", "--dev"],
            "not a key at all!",
            "neither base64 nor hex",
        ),
        (vec!["export"], short, "19 bytes long"),
        (vec!["rotate-data-key"], short, "19 bytes long"),
        (vec!["seed", "--users", "1"], short, "19 bytes long"),
    ] {
        let out = wxlogin()
            .current_dir(dir.path())
            .args(&args)
            .args(["--database-url", &url])
            .env("WXLOGIN_DATA_KEY", key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("WXLOGIN_DATA_KEY") && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!err.contains(key), "{args:?} printed the key: {err}");
    }
    // A secret key to derive the data key from is held to serve's rule.
    for args in [
        vec!["export"],
        vec!["rotate-data-key"],
        vec!["seed", "--users", "1"],
    ] {
        let out = wxlogin()
            .current_dir(dir.path())
            .args(&args)
            .args(["--database-url", &url])
            .env(
                "WXLOGIN_SECRET_KEY",
                "sixty-three-bytes".repeat(4).get(..63).unwrap(),
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("63 bytes long") && err.contains("at least 64"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("sixty-three"),
            "{args:?} printed the key: {err}"
        );
    }
    // An old key too, named by its place in the list.
    let out = wxlogin()
        .current_dir(dir.path())
        .args(["rotate-data-key", "--database-url", &url])
        .env("WXLOGIN_DATA_KEY", CLI_DATA_KEY)
        .env("WXLOGIN_OLD_DATA_KEYS", format!("{CLI_DATA_KEY},{short}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("key 2 is 19 bytes long"), "{err}");
    // Without any key, commands that read personal data say what they need.
    let out = wxlogin()
        .current_dir(dir.path())
        .args(["export", "--database-url", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing --data-key"), "{err}");
}

#[test]
fn help_never_shows_the_secret() {
    let out = wxlogin()
        .args(["serve", "--help"])
        .env("WECHAT_SECRET", "top-secret-value-123")
        .env(
            "WXLOGIN_SECRET_KEY",
            "cookie-key-value-that-must-stay-hidden",
        )
        .env("DATABASE_URL", "postgres://u:dbpassword@h/db")
        .env("WECHAT_PUSH_TOKEN", "pushTokenValue9")
        .env(
            "WECHAT_PUSH_AES_KEY",
            "AesKeyValueThatMustStayHidden00000000000000",
        )
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--push-token") && help.contains("--push-aes-key"));
    assert!(!help.contains("pushTokenValue9"));
    assert!(!help.contains("AesKeyValueThatMustStayHidden"));
    assert!(!help.contains("top-secret-value-123"));
    assert!(!help.contains("dbpassword"));
    assert!(!help.contains("cookie-key-value"));
}

#[test]
fn serve_refuses_to_start_without_a_cookie_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "serve",
        "--wechat-appid",
        "wx1234567890abcdef",
        "--wechat-secret",
        "s",
    ];
    let out = wxlogin()
        .current_dir(dir.path())
        .args(base)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("WXLOGIN_SECRET_KEY") && err.contains("64"),
        "{err}"
    );

    let out = wxlogin()
        .current_dir(dir.path())
        .args(base)
        .env("WXLOGIN_SECRET_KEY", "too-short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("9 bytes") && err.contains("at least 64"),
        "{err}"
    );
    assert!(
        !err.contains("too-short"),
        "the key itself is never printed: {err}"
    );
}

/// Runs `wxlogin admin …` on a database, with `stdin` as standard input.
pub(crate) fn admin_cmd(url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = wxlogin()
        .arg("admin")
        .args(args)
        .args(["--database-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn admin_accounts_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let out = admin_cmd(&url, &["list"], "");
    assert!(out.status.success());
    assert!(text(&out).contains("no admins yet"));

    let out = admin_cmd(&url, &["create", "alice", "--password-stdin"], "short\n");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("at least 10 characters"),
        "{}",
        text(&out)
    );

    let out = admin_cmd(&url, &["create", "alice"], "long enough password\n");
    assert!(!out.status.success());
    assert!(text(&out).contains("--password-stdin"));

    let out = admin_cmd(
        &url,
        &["create", "alice", "--password-stdin"],
        "long enough password\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("long enough password"));

    let out = admin_cmd(
        &url,
        &["create", "alice", "--password-stdin"],
        "another password!\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"));

    let out = admin_cmd(&url, &["list"], "");
    assert!(text(&out).contains("alice") && text(&out).contains("never"));

    let out = admin_cmd(
        &url,
        &["passwd", "alice", "--password-stdin"],
        "a new password here\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = admin_cmd(
        &url,
        &["passwd", "bob", "--password-stdin"],
        "a new password here\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no admin named bob"));

    let out = admin_cmd(&url, &["delete", "alice"], "");
    assert!(out.status.success());
    let out = admin_cmd(&url, &["delete", "alice"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("no admin named alice"));
}

#[test]
fn export_writes_the_same_csv_from_the_command_line() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let url = format!("sqlite://{}", db.display());
    assert!(wxlogin()
        .args(["migrate", "--database-url", &url])
        .status()
        .unwrap()
        .success());
    let mut conn = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    for (i, (nick, gender)) in [("张三", 1i16), ("=cmd|' /C calc'!A0", 1), ("李四", 2)]
        .into_iter()
        .enumerate()
    {
        use wxlogin::db::schema::{accounts::dsl as a, identities::dsl as d};
        let id: i64 = diesel::insert_into(a::accounts)
            .values((
                a::nickname.eq(nick),
                a::gender.eq(gender),
                a::created_at.eq(t),
                a::updated_at.eq(t),
                a::last_login_at.eq(t),
                a::login_count.eq(1i64),
            ))
            .returning(a::id)
            .get_result(&mut conn)
            .unwrap();
        diesel::insert_into(d::identities)
            .values((
                d::account_id.eq(id),
                d::appid.eq("wx1"),
                d::openid.eq(format!("oCLI{i}")),
                d::session_key.eq("never-exported"),
                d::created_at.eq(t),
                d::last_login_at.eq(t),
                d::login_count.eq(1i64),
            ))
            .execute(&mut conn)
            .unwrap();
    }

    let out_file = dir.path().join("out.csv");
    let out = wxlogin()
        .env("WXLOGIN_DATA_KEY", CLI_DATA_KEY)
        .args([
            "export",
            "--database-url",
            &url,
            "--gender",
            "1",
            "--sort",
            "created_at",
            "--order",
            "asc",
            "--out",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 2 rows"));
    let bytes = std::fs::read(&out_file).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFid,account_id,appid,openid,"));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(
        text,
        "id,account_id,appid,openid,unionid,nickname,gender,country,province,city,language,created_at,last_login_at,login_count,phone,phone_country_code,risk_rank\r\n\
         1,1,wx1,oCLI0,,张三,1,,,,,2026-03-01T08:00:00Z,2026-03-01T08:00:00Z,1,,,\r\n\
         2,2,wx1,oCLI1,,'=cmd|' /C calc'!A0,1,,,,,2026-03-01T08:00:00Z,2026-03-01T08:00:00Z,1,,,\r\n"
    );

    // To standard output, without the BOM.
    let out = wxlogin()
        .env("WXLOGIN_DATA_KEY", CLI_DATA_KEY)
        .args(["export", "--database-url", &url, "--no-bom", "--q", "李"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("id,account_id,appid,openid"));
    assert_eq!(stdout.lines().count(), 2);
    assert!(stdout.contains("李四"));

    // Bad parameters are explained, and no file is left behind.
    let bad = dir.path().join("bad.csv");
    let out = wxlogin()
        .env("WXLOGIN_DATA_KEY", CLI_DATA_KEY)
        .args(["export", "--database-url", &url, "--gender", "9", "--out"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gender must be"));
    assert!(!bad.exists());
}

#[test]
fn serve_refuses_to_start_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = wxlogin()
        .current_dir(dir.path())
        .args(["serve", "--wechat-appid", "wx1234567890abcdef"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("WECHAT_SECRET"), "{err}");
    assert!(err.contains("--dev"), "{err}");

    let out = wxlogin().current_dir(dir.path()).output().unwrap();
    assert!(
        !out.status.success(),
        "no subcommand means serve, which must refuse too"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("WECHAT_APPID") && err.contains("WECHAT_SECRET"),
        "{err}"
    );
}

#[test]
fn bad_database_url_is_a_clear_error() {
    let out = wxlogin()
        .args(["migrate", "--database-url", "mysql://h/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not supported"), "{err}");
}

#[test]
fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let url = format!("sqlite://{}", db.display());
    for _ in 0..2 {
        let out = wxlogin()
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8(out.stdout)
            .unwrap()
            .contains("up to date"));
    }
    assert!(db.exists());
}

pub struct Server(pub Child);

impl Server {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wxlogin serve --dev` on a free port and returns it with its
/// address, its log so far, and a channel of its standard output lines.
pub fn start_dev_server(
    dir: &std::path::Path,
    extra_args: &[&str],
) -> (
    Server,
    String,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
    start_dev_server_on(dir, None, extra_args)
}

/// [`start_dev_server`] on the database `database` (a `DATABASE_URL`), or
/// on `wxlogin.db` in `dir` when it is `None`.
pub fn start_dev_server_on(
    dir: &std::path::Path,
    database: Option<&str>,
    extra_args: &[&str],
) -> (
    Server,
    String,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let mut command = wxlogin();
    if let Some(database) = database {
        command.env("DATABASE_URL", database);
    }
    let mut child = command
        .current_dir(dir)
        .args(["serve", "--dev"])
        .args(if extra_args.contains(&"--bind") {
            &[][..]
        } else {
            &["--bind", "127.0.0.1:0"][..]
        })
        .args(extra_args)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, stdout_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let server = Server(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stderr).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        lines.push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            // Keep reading, so the server never writes to a closed pipe.
            std::thread::spawn(move || reader.for_each(drop));
            return (server, format!("http://{address}"), lines, stdout_lines);
        }
    }
    panic!("the server did not start: {lines:#?}");
}

/// Logs in to the dev server at `base` with a simulator code; returns the
/// token.
pub async fn dev_login(base: &str, code: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

#[tokio::test]
async fn dev_mode_login_me_logout_with_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base, log, stdout) = start_dev_server(dir.path(), &[]);
    let log = log.join("\n");
    assert!(
        log.contains("DEVELOPMENT MODE"),
        "no dev-mode warning: {log}"
    );
    assert!(
        dir.path().join("wxlogin.db").exists(),
        "the default database is ./wxlogin.db"
    );
    assert!(
        dir.path().join("data").join("avatars").is_dir(),
        "the default data directory is ./data"
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let login = |code: &'static str| {
        client
            .post(format!("{base}/api/login"))
            .json(&json!({"code": code}))
            .send()
    };
    let first: Value = login("demo-1").await.unwrap().json().await.unwrap();
    let again: Value = login("demo-1-again").await.unwrap().json().await.unwrap();
    let other: Value = login("demo-2").await.unwrap().json().await.unwrap();
    assert_eq!(first["user"]["id"], again["user"]["id"]);
    assert_ne!(first["user"]["id"], other["user"]["id"]);

    let token = first["token"].as_str().unwrap();
    let me = client
        .get(format!("{base}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let out = client
        .post(format!("{base}/api/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let me = client
        .get(format!("{base}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);

    let blocked = login("fail-40226").await.unwrap();
    assert_eq!(blocked.status(), 403);
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["error"]["wechat_errcode"], 40226);

    // Dev mode made an `admin` account and printed its password once.
    let printed: Vec<String> = stdout
        .recv_timeout(Duration::from_secs(5))
        .into_iter()
        .chain(stdout.try_iter())
        .collect();
    let printed = printed.join("\n");
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no admin password printed: {printed}"))
        .to_owned();
    assert!(!log.contains(&password), "the password is not in the log");
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = admin
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::common::hidden_field(&html, "csrf").unwrap();
    let signed_in = admin
        .post(format!("{base}/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", &password),
            ("next", "/admin/users"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let users = admin
        .get(format!("{base}/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        users.contains(first["user"]["openid"].as_str().unwrap()),
        "API users show in the admin table"
    );
    drop(server);

    // A second start finds the admin and prints no password.
    let (_server, _, _, stdout) = start_dev_server(dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(500));
    let printed: Vec<String> = stdout.try_iter().collect();
    assert!(
        !printed.iter().any(|l| l.contains("password")),
        "{printed:?}"
    );
}

#[tokio::test]
async fn secrets_never_reach_the_log() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    const SECRET: &str = "APP-SECRET-must-not-leak";
    const COOKIE_KEY: &str = "COOKIE-KEY-must-not-leak-0123456789-0123456789-0123456789-0123456789";
    const SESSION_KEY: &str = "SESSION-KEY-must-not-leak";
    const CODE: &str = "CODE-must-not-leak";

    let wechat = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"openid": "oLOG", "session_key": SESSION_KEY})),
        )
        .up_to_n_times(1)
        .mount(&wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 40029, "errmsg": "invalid code"})),
        )
        .up_to_n_times(1)
        .mount(&wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&wechat)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let mut child = wxlogin()
        .current_dir(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--wechat-appid",
            "wx1234567890abcdef",
        ])
        .env("WECHAT_SECRET", SECRET)
        .env("WXLOGIN_SECRET_KEY", COOKIE_KEY)
        .env("WECHAT_API_BASE", wechat.uri())
        // The most verbose level: not even trace logging may show a secret.
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let base = loop {
        let line = stderr.next().expect("the server exits early").unwrap();
        log.push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    let reader = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());
    let mut server = Server(child);

    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/login"))
        .json(&json!({"code": CODE}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    for i in 0..2 {
        // Other codes: the same one would get its token back, as a retry.
        let failed = client
            .post(format!("{base}/api/login"))
            .json(&json!({"code": format!("{CODE}-{i}")}))
            .send()
            .await
            .unwrap();
        assert!(failed.status().is_client_error() || failed.status().is_server_error());
    }
    client
        .post(format!("{base}/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    let _ = server.0.kill();
    let _ = server.0.wait();
    let stdout = std::io::read_to_string(server.0.stdout.take().unwrap()).unwrap();
    log.extend(reader.join().unwrap());
    let log = format!("{}\n{stdout}", log.join("\n"));
    assert!(
        log.contains("WeChat call failed"),
        "the failures are logged: {log}"
    );
    for secret in [SECRET, COOKIE_KEY, SESSION_KEY, CODE, token.as_str()] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

/// A retry window past WeChat's 5 minutes, or not a number, is refused
/// before anything starts, naming the setting.
#[test]
fn serve_refuses_a_code_retry_window_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    for (value, via_env) in [("301", false), ("-1", false), ("soon", true)] {
        let mut command = wxlogin();
        command.current_dir(dir.path()).args(["serve", "--dev"]);
        if via_env {
            command.env("WXLOGIN_CODE_RETRY_WINDOW", value);
        } else {
            command.arg(format!("--code-retry-window={value}"));
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("--code-retry-window"), "{value}: {err}");
        assert!(
            !dir.path().join("wxlogin.db").exists(),
            "nothing was created"
        );
    }
}

/// A display zone that is not an IANA name is refused before anything
/// starts, with status 2, naming the flag.
#[test]
fn serve_refuses_an_unknown_admin_timezone() {
    let dir = tempfile::tempdir().unwrap();
    for (value, via_env) in [
        ("Mars/Olympus", false),
        ("UTC+8", false),
        ("Asia/Shanghi", true),
    ] {
        let mut command = wxlogin();
        command.current_dir(dir.path()).args(["serve", "--dev"]);
        if via_env {
            command.env("WXLOGIN_ADMIN_TIMEZONE", value);
        } else {
            command.arg(format!("--admin-timezone={value}"));
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("--admin-timezone"), "{value}: {err}");
        assert!(
            err.contains(value) && err.contains("IANA"),
            "{value}: {err}"
        );
        assert!(
            !dir.path().join("wxlogin.db").exists(),
            "nothing was created"
        );
    }
}
