//! SIGTERM on the real binary: readiness fails at once, the listener closes
//! after the grace, a login in flight still gets its answer and its row,
//! the process exits 0; a second signal exits at once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::binary::wxlogin;
use crate::common::*;

backend_tests!(a_login_in_flight_at_sigterm_gets_its_answer_and_its_row);

const KEY: &str = "drain-test-key-0123456789-0123456789-0123456789-0123456789-0123456789";

/// Starts `wxlogin serve` against `wechat`; returns it, its address, and a
/// thread that collects the rest of its log.
fn start(
    dir: &std::path::Path,
    database: &str,
    wechat: &str,
    args: &[&str],
) -> (Child, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = wxlogin()
        .current_dir(dir)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--wechat-appid",
            "wx1234567890abcdef",
        ])
        .args(args)
        .env("WECHAT_SECRET", "drain-secret")
        .env("WECHAT_API_BASE", wechat)
        .env("WXLOGIN_SECRET_KEY", KEY)
        .env("DATABASE_URL", database)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
            return (child, address, rest);
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start: {seen:#?}");
}

fn signal(child: &Child, signal: libc::c_int) {
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
}

/// Waits for the process to exit, at most `limit`.
async fn exit_status(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "the server did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// WeChat that answers every code after `delay`.
async fn slow_wechat(delay: Duration) -> MockServer {
    let wechat = MockServer::start().await;
    Mock::given(path("/sns/jscode2session"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"openid": "oDRAIN", "session_key": "S0VZ"}))
                .set_delay(delay),
        )
        .mount(&wechat)
        .await;
    wechat
}

async fn a_login_in_flight_at_sigterm_gets_its_answer_and_its_row(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let wechat = slow_wechat(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, log) = start(
        dir.path(),
        &database_url(&url),
        &wechat.uri(),
        &["--drain-grace", "0.5", "--shutdown-timeout", "20"],
    );
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let login = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .post(format!("{base}/api/login"))
                .json(&json!({"code": "in-flight"}))
                .send()
                .await
        }
    });
    // SIGTERM once the login waits on WeChat.
    let deadline = Instant::now() + Duration::from_secs(10);
    while wechat
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the login never reached WeChat");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal(&child, libc::SIGTERM);
    let signalled = Instant::now();

    // Readiness fails at once; liveness holds, during the grace.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            let body: Value = ready.json().await.unwrap();
            assert_eq!(body["error"]["code"], "draining", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        signalled.elapsed() < Duration::from_millis(500),
        "readiness failed late"
    );
    let live = reqwest::Client::new()
        .get(format!("{base}/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    // After the grace, new connections are refused while the login runs.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(signalled.elapsed())).await;
    assert!(!login.is_finished(), "the login is still waiting on WeChat");
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "a new connection is refused after the grace"
    );

    let answer = login
        .await
        .unwrap()
        .expect("the login in flight is answered");
    assert_eq!(answer.status(), 200);
    let token = answer.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!token.is_empty());
    let status = exit_status(&mut child, Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}");
    let log = log.join().unwrap().join("\n");
    assert!(log.contains("draining"), "{log}");

    // Its session was written before the exit.
    let pool = wxlogin::startup::open_database(
        &test_settings(url, "http://127.0.0.1:9").db,
        wxlogin::db::PoolUse::Server,
    )
    .await
    .unwrap();
    let sessions: i64 = with_db(&pool, |conn| {
        wxlogin::on_backend!(conn, |c| wxlogin::db::schema::sessions::table
            .count()
            .get_result(c))
        .unwrap()
    })
    .await;
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn a_second_signal_while_draining_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let wechat = slow_wechat(Duration::from_secs(30)).await;
    let (mut child, _address, log) = start(
        dir.path(),
        "sqlite://wxlogin.db",
        &wechat.uri(),
        &["--drain-grace", "60"],
    );
    signal(&child, libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal drains"
    );
    signal(&child, libc::SIGINT);
    let status = exit_status(&mut child, Duration::from_secs(5)).await;
    assert!(!status.success(), "{status:?}");
    let log = log.join().unwrap().join("\n");
    assert!(log.contains("exiting at once"), "{log}");
}
