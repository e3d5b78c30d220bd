//! What operators read: the request log (text or JSON lines, with a request
//! id) and the request-duration histogram on `/metrics`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use crate::backend_tests;
use crate::binary::{wxlogin, Server};
use crate::common::*;

backend_tests!(
    requests_are_counted_by_route_template_never_by_path,
    token_cache_misses_are_counted_by_reason
);

/// The scraped sample of `name` whose labels include every one of `labels`.
async fn sample(app: &TestApp, name: &str, labels: &[&str]) -> Option<f64> {
    let url = app.metrics_url.as_ref().expect("metrics are on");
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn requests_are_counted_by_route_template_never_by_path(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    const COUNT: &str = "wxlogin_http_request_duration_seconds_count";
    let me = ["method=\"GET\"", "route=\"/api/me\"", "status=\"401\""];
    // The recorder is the process's: other tests count too.
    let before = sample(&app, COUNT, &me).await.unwrap_or(0.0);
    for _ in 0..3 {
        let r = app
            .client
            .get(app.url("/api/me"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let after = sample(&app, COUNT, &me)
        .await
        .expect("GET /api/me is counted");
    assert!(after >= before + 3.0, "{before} then {after}");

    app.client
        .get(app.url("/admin/users/987654321?q=13812345678"))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url("/no/such/page/5551234"))
        .send()
        .await
        .unwrap();
    let text = reqwest::get(app.metrics_url.as_ref().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("route=\"/admin/users/{id}\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(
        text.contains("wxlogin_http_request_duration_seconds_bucket{"),
        "a histogram, with buckets"
    );
    for leak in ["987654321", "13812345678", "5551234", "not-a-token"] {
        assert!(!text.contains(leak), "{leak} is in /metrics");
    }
}

async fn token_cache_misses_are_counted_by_reason(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    const LOOKUPS: &str = "wxlogin_token_cache_lookups_total";
    let absent = ["result=\"miss\"", "reason=\"absent\""];
    let hit = ["result=\"hit\""];
    // The recorder is the process's: other tests count too.
    let absent_before = sample(&app, LOOKUPS, &absent).await.unwrap_or(0.0);
    let hits_before = sample(&app, LOOKUPS, &hit).await.unwrap_or(0.0);
    app.wechat_answers(code2session_ok("oCACHE", "k", None))
        .await;
    let token = app.login_ok("c").await.0;
    // The login leaves no copy of its identity: the first check reads the
    // database, the second is answered from the cache.
    app.me(&token).await;
    app.me(&token).await;
    let absent_after = sample(&app, LOOKUPS, &absent)
        .await
        .expect("a miss is counted");
    let hits_after = sample(&app, LOOKUPS, &hit).await.expect("a hit is counted");
    assert!(
        absent_after > absent_before,
        "{absent_before} then {absent_after}"
    );
    assert!(hits_after > hits_before, "{hits_before} then {hits_after}");
}

/// Starts the real binary in dev mode with JSON logs; returns it, its base
/// URL, and a thread that collects the rest of its log lines.
fn start_with_json_logs(
    dir: &std::path::Path,
) -> (Server, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = wxlogin()
        .current_dir(dir)
        .args(["serve", "--dev", "--bind", "127.0.0.1:0"])
        .env("WXLOGIN_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let server = Server(child);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if let Some(address) = event["address"].as_str() {
            let base = format!("http://{address}");
            let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
            return (server, base, rest);
        }
        seen.push(line);
    }
    panic!("the server did not start: {seen:#?}");
}

#[tokio::test]
async fn every_request_is_logged_once_as_a_json_line_with_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base, rest) = start_with_json_logs(dir.path());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A plain request id is kept and echoed; a hostile one is replaced.
    let kept = client
        .get(format!("{base}/healthz"))
        .header("X-Request-Id", "edge-7f3a:42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.headers()["x-request-id"], "edge-7f3a:42");
    let replaced = client
        .get(format!("{base}/api/me"))
        .header("X-Request-Id", "a b\"c")
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 401);
    let made = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    let searched = client
        .get(format!("{base}/admin/users/123456?q=13812345678"))
        .send()
        .await
        .unwrap();
    let searched_id = searched.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let _ = server.0.kill();
    let _ = server.0.wait();
    let lines = rest.join().unwrap();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let logged = |id: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["target"] == "wxlogin::http" && e["request_id"] == id)
            .collect()
    };
    let healthz = logged("edge-7f3a:42");
    assert_eq!(healthz.len(), 1, "logged once: {lines:#?}");
    let line = healthz[0];
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
    assert_eq!(line["level"], "INFO");
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    let me = logged(&made);
    assert_eq!(me.len(), 1, "{lines:#?}");
    assert_eq!(
        (&me[0]["route"], &me[0]["status"]),
        (&"/api/me".into(), &401.into())
    );
    let admin = logged(&searched_id);
    assert_eq!(admin.len(), 1, "{lines:#?}");
    assert_eq!(admin[0]["route"], "/admin/users/{id}");
    let log = lines.join("\n");
    for leak in ["13812345678", "123456?", "not-a-token", "a b"] {
        assert!(!log.contains(leak), "{leak} is in the log:\n{log}");
    }
}
