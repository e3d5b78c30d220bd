//! Webhooks: account events written with their change, signed, delivered at
//! least once with retries, kept across a restart, and shown to admins.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use wxlogin::config::{Settings, WebhookSettings};

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    events_are_signed_and_each_delivered_once,
    a_failing_or_hanging_receiver_is_retried_until_it_answers,
    an_event_is_given_up_after_its_last_try_and_shown_as_failed,
    events_left_in_the_outbox_are_delivered_after_a_restart,
    without_a_webhook_no_event_is_recorded,
);

const SECRET: &str = "webhook-secret-0123456789";

fn webhook(receiver: &MockServer, s: &mut Settings) {
    let mut w = WebhookSettings::new(&format!("{}/hooks", receiver.uri()), SECRET).unwrap();
    w.timeout = Duration::from_millis(500);
    w.first_retry = Duration::from_millis(100);
    w.max_backoff = Duration::from_millis(200);
    w.max_attempts = 5;
    s.webhook = Some(w);
}

/// The deliveries the receiver got, once there are at least `n`.
async fn deliveries(receiver: &MockServer, n: usize) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got: Vec<Request> = receiver
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/hooks")
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks the signature of a delivery and returns its body.
fn verified(request: &Request) -> Value {
    let header = request.headers["x-wxlogin-signature"].to_str().unwrap();
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header shape: {header}"));
    let t: i64 = t.parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 60,
        "a fresh timestamp"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    assert_eq!(
        v1,
        hex::encode(mac.finalize().into_bytes()),
        "the signature"
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        request.headers["x-wxlogin-event"],
        body["type"].as_str().unwrap()
    );
    assert_eq!(
        request.headers["x-wxlogin-event-id"],
        body["id"].as_str().unwrap()
    );
    assert_eq!(request.headers["content-type"], "application/json");
    body
}

async fn outbox_count(app: &TestApp, filter: &'static str) -> i64 {
    app.count_rows("webhook_events", filter).await
}

async fn events_are_signed_and_each_delivered_once(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(backend, |s| webhook(&receiver, s)).await;
    app.wechat_answers(code2session_ok(
        "oHOOK",
        "c2Vzc2lvbi1rZXktaG9vaw==",
        Some("uHOOK"),
    ))
    .await;
    let (token, user) = app.login_ok("c1").await;
    let id = user["user"]["id"].as_i64().unwrap();
    let patched = app
        .client
        .patch(app.url("/api/me"))
        .bearer_auth(&token)
        .json(&json!({"nickname": "钩子", "city": "深圳"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let logout = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    let got = deliveries(&receiver, 4).await;
    assert_eq!(
        got.len(),
        4,
        "account.created, login, profile.updated, session.revoked"
    );
    let bodies: Vec<Value> = got.iter().map(verified).collect();
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "account.created",
            "login",
            "profile.updated",
            "session.revoked"
        ]
    );
    let mut ids: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "unique event ids");
    assert_eq!(bodies[0]["data"]["account_id"], id);
    assert_eq!(bodies[1]["data"]["openid"], "oHOOK");
    assert_eq!(bodies[1]["data"]["unionid"], "uHOOK");
    assert_eq!(bodies[2]["data"]["fields"], json!(["nickname", "city"]));
    assert_eq!(bodies[3]["data"]["reason"], "logout");
    for (request, body) in got.iter().zip(&bodies) {
        let text = String::from_utf8_lossy(&request.body);
        assert!(!text.contains("c2Vzc2lvbi1rZXk"), "no session_key: {text}");
        assert!(!text.contains(&token), "no token: {text}");
        assert!(!text.contains("钩子"), "field names, not values: {body}");
    }
    // Delivered once each: nothing is pending, and nothing is sent again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(deliveries(&receiver, 5).await.len(), 4);
    assert_eq!(outbox_count(&app, "delivered_at IS NULL").await, 0);

    let admin = app.admin().await;
    let page = admin.page("/admin/webhooks").await;
    assert!(
        page.contains("profile.updated") && page.contains("delivered"),
        "{page}"
    );
    assert!(page.contains("/hooks"), "the target is named");
    assert!(!page.contains(SECRET), "never the secret");
}

async fn a_failing_or_hanging_receiver_is_retried_until_it_answers(backend: Backend) {
    let receiver = MockServer::start().await;
    // Twice 500, then once no answer in time, then 200.
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&receiver)
        .await;
    let app = spawn_app_with(backend, |s| {
        webhook(&receiver, s);
        if let Some(w) = &mut s.webhook {
            w.max_attempts = 10;
        }
    })
    .await;
    app.wechat_answers(code2session_ok("oRETRY", "k", None))
        .await;
    app.login_ok("c1").await;
    // Two events, each tried until it got its 200.
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox_count(&app, "delivered_at IS NOT NULL").await < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox_count(&app, "delivered_at IS NOT NULL").await, 2);
    assert_eq!(outbox_count(&app, "attempts > 1").await, 2, "both retried");
    // Every try carried the same event.
    let got = deliveries(&receiver, 5).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.headers["x-wxlogin-event-id"].to_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "retries resend the same two events");
}

async fn an_event_is_given_up_after_its_last_try_and_shown_as_failed(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(backend, |s| {
        webhook(&receiver, s);
        if let Some(w) = &mut s.webhook {
            w.max_attempts = 2;
        }
    })
    .await;
    app.wechat_answers(code2session_ok("oGIVEUP", "k", None))
        .await;
    app.login_ok("c1").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while outbox_count(&app, "failed_at IS NOT NULL").await < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        outbox_count(&app, "failed_at IS NOT NULL AND attempts = 2").await,
        2
    );
    assert_eq!(
        deliveries(&receiver, 4).await.len(),
        4,
        "two tries of two events"
    );
    let page = app.admin().await.page("/admin/webhooks").await;
    assert!(page.contains("failed"), "{page}");
    assert!(page.contains("the receiver answered 503"), "{page}");
}

async fn events_left_in_the_outbox_are_delivered_after_a_restart(backend: Backend) {
    // What a process that stopped before delivering would leave behind.
    let (db, url) = TestDb::create(backend);
    let left = wxlogin::domain::event::Event::new(
        wxlogin::domain::event::EventKind::Login,
        wxlogin::clock::now(),
        json!({"account_id": 7}),
    );
    {
        let settings = test_settings(url.clone(), "http://127.0.0.1:9");
        let pool = wxlogin::startup::open_database(&settings.db, wxlogin::db::PoolUse::Server)
            .await
            .unwrap();
        let event = left.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            wxlogin::db::outbox::record(&mut conn, &[event]).unwrap();
            wxlogin::db::close(&pool);
        })
        .await
        .unwrap();
    }
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let _app = spawn_app_on(db, url, |s| webhook(&receiver, s)).await;
    let got = deliveries(&receiver, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(verified(&got[0])["id"], left.id.as_str());
}

async fn without_a_webhook_no_event_is_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oQUIET", "k", None))
        .await;
    app.login_ok("c1").await;
    assert_eq!(outbox_count(&app, "1 = 1").await, 0);
    let page = app.admin().await.page("/admin/webhooks").await;
    assert!(page.contains("Webhooks are off"), "{page}");
}

#[test]
fn serve_refuses_a_bad_webhook_and_says_why() {
    for (args, message) in [
        (
            vec![
                "--webhook-url",
                "ftp://example.com/x",
                "--webhook-secret",
                SECRET,
            ],
            "must be an http(s) URL",
        ),
        (
            vec![
                "--webhook-url",
                "https://example.com/x",
                "--webhook-secret",
                "short",
            ],
            "at least 16",
        ),
        (
            vec!["--webhook-url", "https://example.com/x"],
            "--webhook-secret",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = crate::binary::wxlogin()
            .current_dir(dir.path())
            .args(["serve", "--dev", "--bind", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains(SECRET), "never the secret: {err}");
    }
}
