//! The real `wxlogin` binary: command line, refusals, and the dev-mode flow.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");

/// A command with none of the settings' environment variables inherited.
fn wxlogin() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "WXLOGIN_BIND",
        "DATABASE_URL",
        "WECHAT_APPID",
        "WECHAT_SECRET",
        "WECHAT_API_BASE",
        "WECHAT_TIMEOUT",
        "WXLOGIN_SESSION_TTL",
        "WXLOGIN_DEV",
        "WXLOGIN_WORKERS",
        "WXLOGIN_DB_POOL_SIZE",
        "WXLOGIN_DB_TIMEOUT",
        "WXLOGIN_DATA_DIR",
        "WXLOGIN_PUBLIC_URL",
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
        "--wechat-appid",
        "WECHAT_APPID",
        "--wechat-secret",
        "WECHAT_SECRET",
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
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn help_never_shows_the_secret() {
    let out = wxlogin()
        .args(["serve", "--help"])
        .env("WECHAT_SECRET", "top-secret-value-123")
        .env("DATABASE_URL", "postgres://u:dbpassword@h/db")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(!help.contains("top-secret-value-123"));
    assert!(!help.contains("dbpassword"));
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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wxlogin serve --dev` on a free port and returns it with its address.
fn start_dev_server(dir: &std::path::Path) -> (Server, String, Vec<String>) {
    let mut child = wxlogin()
        .current_dir(dir)
        .args(["serve", "--dev", "--bind", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
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
            return (server, format!("http://{address}"), lines);
        }
    }
    panic!("the server did not start: {lines:#?}");
}

#[tokio::test]
async fn dev_mode_login_me_logout_with_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, log) = start_dev_server(dir.path());
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
}
