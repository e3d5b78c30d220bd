//! PostgreSQL goes away for 10 seconds under load, and comes back. The test
//! runs its own throwaway cluster (initdb into a temporary directory, on a
//! free port): it never touches the machine's shared server.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{path, query_param};
use wiremock::Mock;
use wxlogin::config::DatabaseUrl;

use crate::common::*;
use crate::fixtures::KEY_1;

/// The newest installed PostgreSQL's programs.
fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// PostgreSQL refuses to run as root: as root, its programs run as the
/// `postgres` user.
fn as_postgres(program: PathBuf) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create() -> Option<Self> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("wxlogin-pg-")
            .tempdir()
            .unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = as_postgres(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { bin, dir, port };
        cluster.start();
        Some(cluster)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.pg_ctl(&["-w", "-o", &options, "-l", &log, "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn me_status(app: &TestApp, token: &str) -> reqwest::StatusCode {
    app.client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn login(app: &TestApp, code: &str) -> reqwest::Response {
    app.post_login(&json!({"code": code})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_keeps_cached_tokens_and_heals_by_itself() {
    if postgres_url().is_none() {
        return;
    }
    let cluster = Arc::new(Cluster::create().expect("PostgreSQL's programs are installed"));
    let placeholder = TestDb::Sqlite(tempfile::tempdir().unwrap());
    let app = spawn_app_on(placeholder, DatabaseUrl::Postgres(cluster.url()), |s| {
        s.db.connect_timeout = Duration::from_secs(2);
    })
    .await;
    // The cached token's user logs in once; the load is another user, whose
    // logins drop only their own cached copies.
    Mock::given(path("/sns/jscode2session"))
        .and(query_param("js_code", "cached"))
        .respond_with(code2session_ok("oCACHED", KEY_1, None))
        .mount(&app.wechat)
        .await;
    Mock::given(path("/sns/jscode2session"))
        .respond_with(code2session_ok("oLOAD", KEY_1, None))
        .mount(&app.wechat)
        .await;

    let cached = login(&app, "cached").await;
    assert_eq!(cached.status(), 200);
    let cached = cached.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me_status(&app, &cached).await, 200);

    // A login load on 4 connections the whole time.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|w| {
            let (client, url) = (app.client.clone(), app.url("/api/login"));
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    let answer = client
                        .post(&url)
                        .json(&json!({"code": format!("load{w}-{n}")}))
                        .send()
                        .await
                        .unwrap();
                    if answer.status() == 200 {
                        let body: Value = answer.json().await.unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(body["token"].as_str().unwrap().to_owned());
                    } else {
                        assert_eq!(answer.status(), 503);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stopped = Instant::now();
    let down = cluster.clone();
    tokio::task::spawn_blocking(move || down.stop())
        .await
        .unwrap();
    // The cached token keeps working; a new login is refused in bounded time.
    assert_eq!(
        me_status(&app, &cached).await,
        200,
        "a cached token during the outage"
    );
    while stopped.elapsed() < Duration::from_secs(10) {
        let started = Instant::now();
        let refused = login(&app, "during-outage").await;
        assert_eq!(refused.status(), 503);
        assert!(refused.headers().contains_key("retry-after"));
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a refusal took {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let up = cluster.clone();
    tokio::task::spawn_blocking(move || up.start())
        .await
        .unwrap();
    let back = Instant::now();
    loop {
        let answer = login(&app, "after-outage").await;
        if answer.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "still {} after {:?}",
            answer.status(),
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());
    for token in &acknowledged {
        assert_eq!(
            me_status(&app, token).await,
            200,
            "an acknowledged login was lost"
        );
    }
}
