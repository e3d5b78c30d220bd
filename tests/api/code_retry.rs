//! Retried login codes (`--code-retry-window`): concurrent logins with one
//! code make one WeChat exchange and get one token; a retry within the
//! window gets the same token; after it, or once that session has ended, a
//! used code is 400 `code_used`; a failed exchange frees the code.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::backend_tests;
use crate::common::*;

async fn exchanges(app: &TestApp) -> usize {
    app.wechat
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/sns/jscode2session")
        .count()
}

async fn login(app: &TestApp, code: &str) -> (u16, Value) {
    let r = app.post_login(&json!({"code": code})).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn concurrent_logins_with_one_code_make_one_exchange(backend: Backend) {
    let app = spawn_app(backend).await;
    // Slow, so that every request arrives while the first is under way.
    app.wechat_answers(code2session_ok("oRETRY", "k1", None).set_delay(Duration::from_millis(300)))
        .await;
    let answers = futures::future::join_all((0..10).map(|_| login(&app, "one-code"))).await;
    let first = answers[0].1["token"].as_str().unwrap().to_owned();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["token"], first.as_str());
        assert_eq!(body["user"]["openid"], "oRETRY");
    }
    assert_eq!(exchanges(&app).await, 1);
    assert_eq!(app.count_sessions().await, 1);
    assert_eq!(app.get_me(&first).await.status(), 200);
}

async fn a_retry_within_the_window_gets_the_same_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oRETRY", "k1", None))
        .await;
    let (token, body) = app.login_ok("code-a").await;
    let (status, again) = login(&app, "code-a").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["token"], token.as_str());
    assert_eq!(again["expires_at"], body["expires_at"]);
    assert_eq!(again["user"]["id"], body["user"]["id"]);
    assert_eq!(exchanges(&app).await, 1);
    // Another code is another login.
    let (other, _) = app.login_ok("code-b").await;
    assert_ne!(other, token);
    assert_eq!(exchanges(&app).await, 2);
    // PostgreSQL holds the codes in a table, which every node sees (SQLite,
    // in memory); neither the code nor the token is stored in clear.
    if backend == Backend::Sqlite {
        return;
    }
    let codes: Vec<(Vec<u8>, Vec<u8>)> = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use wxlogin::db::schema::login_codes as t;
            wxlogin::on_backend!(conn, |c| t::table
                .select((t::code_hash, t::sealed_token))
                .load(c))
            .unwrap()
        })
        .await;
    assert_eq!(codes.len(), 2);
    for (hash, sealed) in codes {
        for stored in [&hash, &sealed] {
            let text = String::from_utf8_lossy(stored);
            assert!(!text.contains("code-a") && !text.contains("code-b"));
            assert!(!text.contains(&token) && !text.contains(&other));
        }
    }
}

async fn a_used_code_after_the_window_is_code_used(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.code_retry_window = Duration::from_secs(1)).await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(code2session_ok("oRETRY", "k1", None))
        .up_to_n_times(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(code2session_err(40163))
        .mount(&app.wechat)
        .await;
    app.login_ok("code-c").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let response = app.post_login(&json!({"code": "code-c"})).await;
    let body = assert_error(response, 400, "code_used").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wx.login()"),
        "{body}"
    );
    assert_eq!(exchanges(&app).await, 2);
    assert_eq!(app.count_sessions().await, 1);
}

async fn a_retry_after_the_session_ended_is_code_used(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oRETRY", "k1", None))
        .await;
    let (token, _) = app.login_ok("code-d").await;
    assert_eq!(app.logout(&token).await.status(), 204);
    let response = app.post_login(&json!({"code": "code-d"})).await;
    assert_error(response, 400, "code_used").await;
    assert_eq!(exchanges(&app).await, 1, "WeChat is not asked again");
}

async fn a_failed_exchange_frees_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(code2session_ok("oRETRY", "k1", None))
        .mount(&app.wechat)
        .await;
    let response = app.post_login(&json!({"code": "code-e"})).await;
    assert_error(response, 502, "wechat_unavailable").await;
    let (status, body) = login(&app, "code-e").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(exchanges(&app).await, 2);
}

async fn a_zero_window_asks_wechat_every_time(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.code_retry_window = Duration::ZERO).await;
    app.wechat_answers(code2session_ok("oRETRY", "k1", None))
        .await;
    let (first, _) = app.login_ok("code-f").await;
    let (second, _) = app.login_ok("code-f").await;
    assert_ne!(first, second);
    assert_eq!(exchanges(&app).await, 2);
}

backend_tests!(
    concurrent_logins_with_one_code_make_one_exchange,
    a_retry_within_the_window_gets_the_same_token,
    a_used_code_after_the_window_is_code_used,
    a_retry_after_the_session_ended_is_code_used,
    a_failed_exchange_frees_the_code,
    a_zero_window_asks_wechat_every_time,
);

/// `serve --dev --dev-strict-codes`: the simulator refuses a code it has
/// exchanged, as WeChat does; within the retry window wxlogin never asks it
/// twice, past it (here: no window) the reuse is `code_used`. The simulator
/// also answers 45011 past 100 logins of one user in a minute.
#[tokio::test]
async fn the_strict_simulator_refuses_reused_codes_like_wechat() {
    let client = reqwest::Client::new();
    let login = |base: String, code: String| {
        let client = client.clone();
        async move {
            let r = client
                .post(format!("{base}/api/login"))
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) =
        crate::binary::start_dev_server(dir.path(), &["--dev-strict-codes"]);
    let (status, first) = login(base.clone(), "strict-1-a".into()).await;
    assert_eq!(status, 200);
    let (status, again) = login(base.clone(), "strict-1-a".into()).await;
    assert_eq!(status, 200, "within the window: {again}");
    assert_eq!(again["token"], first["token"]);

    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = crate::binary::start_dev_server(
        dir.path(),
        &["--dev-strict-codes", "--code-retry-window", "0"],
    );
    assert_eq!(login(base.clone(), "strict-1-a".into()).await.0, 200);
    let (status, body) = login(base.clone(), "strict-1-a".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "code_used");
    assert_eq!(body["error"]["wechat_errcode"], 40163);
    for n in 0..99 {
        assert_eq!(
            login(base.clone(), format!("strict-1-{n}")).await.0,
            200,
            "{n}"
        );
    }
    let (status, body) = login(base.clone(), "strict-1-100".into()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");

    // Without --dev there is no simulator to make strict.
    let out = crate::binary::wxlogin()
        .current_dir(dir.path())
        .args([
            "serve",
            "--dev-strict-codes",
            "--database-url",
            "sqlite://refused.db",
        ])
        .env("WECHAT_APPID", "wx1111111111111111")
        .env("WECHAT_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev-strict-codes"));
    assert!(!dir.path().join("refused.db").exists());
}
