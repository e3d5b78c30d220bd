//! The session_key's freshness: user data sent after the login
//! (`/api/me/userinfo`) that the stored key cannot open is put to WeChat's
//! `checksession`. A replaced key answers 409 `session_key_stale`, a current
//! one 400 `invalid_user_data`; either way nothing is written.

use std::time::Duration;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::db::schema::identities;
use wxlogin::on_backend;
use wxlogin::wechat::Simulator;

use crate::backend_tests;
use crate::binary::start_dev_server_on;
use crate::common::*;
use crate::fixtures::*;
use wxlogin::domain::data_keys::Purpose;

backend_tests!(
    a_replaced_key_answers_stale_and_a_fresh_login_heals_it,
    a_current_key_means_the_data_is_wrong,
    checksession_failures_answer_stale_and_write_nothing,
    failures_no_key_explains_never_ask_wechat,
    a_login_records_when_its_key_was_issued,
    the_simulator_tells_replaced_keys_from_current_ones,
);

const ACCESS_TOKEN: &str = "ACCESS-TOKEN-for-checksession";

/// `hex(hmac_sha256(session_key, ""))`, as WeChat's checksession wants it.
fn signature_of(session_key: &str) -> String {
    let mac = Hmac::<sha2::Sha256>::new_from_slice(session_key.as_bytes()).unwrap();
    hex::encode(mac.finalize().into_bytes())
}

/// WeChat's checksession of `openid` with `session_key` answers `answer`,
/// `expected` times.
async fn mount_checksession(
    app: &TestApp,
    openid: &str,
    session_key: &str,
    answer: ResponseTemplate,
    expected: u64,
) {
    Mock::given(method("GET"))
        .and(path("/wxa/checksession"))
        .and(query_param("access_token", ACCESS_TOKEN))
        .and(query_param("openid", openid))
        .and(query_param("signature", signature_of(session_key).as_str()))
        .and(query_param("sig_method", "hmac_sha256"))
        .respond_with(answer)
        .expect(expected)
        .mount(&app.wechat)
        .await;
}

fn errcode(n: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": n, "errmsg": "fake"}))
}

/// Logs `openid` in with a code2session that gives `session_key`, and
/// makes the access token available. (Setting the code2session answer
/// clears every other answer of the fake WeChat.)
async fn log_in(app: &TestApp, openid: &str, session_key: &str) -> String {
    app.wechat_answers(code2session_ok(openid, session_key, None))
        .await;
    mount_access_token(app, ACCESS_TOKEN).await;
    // A code of its own: a code used again within the retry window
    // would get the first login's answer back, with nothing exchanged.
    app.login_ok(&format!("code-{session_key}")).await.0
}

async fn stored_key(app: &TestApp) -> String {
    app.with_db(|c| {
        on_backend!(c, |c| identities::table
            .select(identities::session_key)
            .first::<String>(c))
        .map(|stored| opened(Purpose::SessionKey, &stored))
        .unwrap()
    })
    .await
}

async fn a_replaced_key_answers_stale_and_a_fresh_login_heals_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = log_in(&app, "oSTALE", KEY_1).await;
    // The mini-program called wx.login() again: WeChat now holds KEY_2, and
    // the user data it hands out is made with it. wxlogin still has KEY_1.
    let fresh = user_data(KEY_2, &real_user("oSTALE", "oU-STALE"));
    mount_checksession(&app, "oSTALE", KEY_1, errcode(87009), 2).await;

    let response = app.post_userinfo(&token, &fresh).await;
    let error = assert_error(response, 409, "session_key_stale").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("wx.login()"), "{message}");
    assert!(message.contains("/api/login"), "{message}");
    assert!(error["error"].get("wechat_errcode").is_none(), "{error}");
    // Encrypted data alone, the same.
    let mut encrypted_only = fresh.clone();
    let map = encrypted_only.as_object_mut().unwrap();
    map.remove("rawData");
    map.remove("signature");
    assert_error(
        app.post_userinfo(&token, &encrypted_only).await,
        409,
        "session_key_stale",
    )
    .await;
    // Nothing was written, and no answer or key leaked.
    assert_eq!(app.me(&token).await["nickname"], "");
    assert_eq!(app.me(&token).await["unionid"], Value::Null);
    assert_eq!(stored_key(&app).await, KEY_1);

    app.wechat.verify().await;

    // The heal: a new login stores the current key, and the data (made
    // anew) is accepted, from the same session.
    log_in(&app, "oSTALE", KEY_2).await;
    let user = user_of(app.post_userinfo(&token, &fresh).await).await;
    assert_eq!(user["nickname"], "小明");
    assert_eq!(user["unionid"], "oU-STALE");
    assert_eq!(stored_key(&app).await, KEY_2);
}

async fn a_current_key_means_the_data_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = log_in(&app, "oWRONG", KEY_1).await;
    mount_checksession(&app, "oWRONG", KEY_1, errcode(0), 2).await;

    // Signed with another key (or tampered with).
    let mut forged = user_data(KEY_1, &real_user("oWRONG", "oU"));
    forged["signature"] = sign("{}", KEY_1).into();
    let error = assert_error(
        app.post_userinfo(&token, &forged).await,
        400,
        "invalid_user_data",
    )
    .await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("signature"), "{message}");
    assert!(message.contains("current"), "{message}");
    // Encrypted with a key WeChat never gave this user.
    let (data, iv) = encrypt(KEY_2, &real_user("oWRONG", "oU").to_string());
    assert_error(
        app.post_userinfo(&token, &json!({"encryptedData": data, "iv": iv}))
            .await,
        400,
        "invalid_user_data",
    )
    .await;
    assert_eq!(app.me(&token).await["nickname"], "");
    assert_eq!(stored_key(&app).await, KEY_1);
    app.wechat.verify().await;
}

async fn checksession_failures_answer_stale_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = log_in(&app, "oUNSURE", KEY_1).await;
    let data = user_data(KEY_2, &real_user("oUNSURE", "oU"));

    // WeChat busy: 409, with its errcode, so the client logs in again
    // rather than trusting a key nobody could vouch for.
    mount_checksession(&app, "oUNSURE", KEY_1, errcode(-1), 1).await;
    let error = assert_error(
        app.post_userinfo(&token, &data).await,
        409,
        "session_key_stale",
    )
    .await;
    assert_eq!(error["error"]["wechat_errcode"], -1);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("could not confirm"));
    // The node keeps the access token it fetched: WeChat is not asked for
    // it again in this test.
    app.wechat.verify().await;
    app.wechat.reset().await;

    // No answer within the timeout, an HTTP error, an answer that is not JSON.
    for answer in [
        errcode(0).set_delay(Duration::from_secs(3)),
        ResponseTemplate::new(500),
        ResponseTemplate::new(200).set_body_string("<html>"),
    ] {
        mount_checksession(&app, "oUNSURE", KEY_1, answer, 1).await;
        let error = assert_error(
            app.post_userinfo(&token, &data).await,
            409,
            "session_key_stale",
        )
        .await;
        assert!(error["error"].get("wechat_errcode").is_none(), "{error}");
        app.wechat.verify().await;
        app.wechat.reset().await;
    }

    // A refused access token is replaced once, by a forced refresh, and
    // the check made again with the new one.
    Mock::given(method("GET"))
        .and(path("/wxa/checksession"))
        .and(query_param("access_token", ACCESS_TOKEN))
        .respond_with(errcode(40001))
        .expect(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .and(body_partial_json(json!({"force_refresh": true})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "NEW-TOKEN", "expires_in": 7200})),
        )
        .expect(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/wxa/checksession"))
        .and(query_param("access_token", "NEW-TOKEN"))
        .and(query_param("signature", signature_of(KEY_1).as_str()))
        .respond_with(errcode(87009))
        .expect(1)
        .mount(&app.wechat)
        .await;
    assert_error(
        app.post_userinfo(&token, &data).await,
        409,
        "session_key_stale",
    )
    .await;
    app.wechat.verify().await;

    assert_eq!(app.me(&token).await["nickname"], "");
    assert_eq!(stored_key(&app).await, KEY_1);
}

async fn failures_no_key_explains_never_ask_wechat(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = log_in(&app, "oNOASK", KEY_1).await;
    Mock::given(method("GET"))
        .and(path("/wxa/checksession"))
        .respond_with(errcode(0))
        .expect(0)
        .mount(&app.wechat)
        .await;
    let mut other_app = real_user("oNOASK", "oU");
    other_app["watermark"]["appid"] = "wx0000000000000000".into();
    let (data, iv) = encrypt(KEY_1, &other_app.to_string());
    let cases = [
        (
            json!({"encryptedData": data, "iv": iv}),
            "watermark_mismatch",
        ),
        (
            json!({"encryptedData": "***", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}),
            "decrypt_failed",
        ),
        (
            json!({"encryptedData": data, "iv": "AAAAAAAAAAA="}),
            "decrypt_failed",
        ),
    ];
    for (body, code) in cases {
        assert_error(app.post_userinfo(&token, &body).await, 400, code).await;
    }
    // The right data under the right key needs no question either.
    let user = user_of(
        app.post_userinfo(&token, &user_data(KEY_1, &real_user("oNOASK", "oU-OK")))
            .await,
    )
    .await;
    assert_eq!(user["unionid"], "oU-OK");
}

async fn a_login_records_when_its_key_was_issued(backend: Backend) {
    let app = spawn_app(backend).await;
    let issued = || {
        app.with_db(|c| {
            on_backend!(c, |c| identities::table
                .select((identities::session_key_issued_at, identities::last_login_at))
                .first::<(chrono::NaiveDateTime, chrono::NaiveDateTime)>(c))
            .unwrap()
        })
    };
    app.wechat_answers(code2session_ok("oISSUED", KEY_1, None))
        .await;
    app.login_ok("code-1").await;
    let (first, login) = issued().await;
    assert_eq!(first, login);
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.wechat_answers(code2session_ok("oISSUED", KEY_2, None))
        .await;
    app.login_ok("code-2").await;
    let (second, login) = issued().await;
    assert!(second > first, "{second} after {first}");
    assert_eq!(second, login);

    // The admin site shows when the key was issued, never the key.
    let id = app.me(&app.login_ok("code-3").await.0).await["id"]
        .as_i64()
        .unwrap();
    let (third, _) = issued().await;
    let html = app.admin().await.page(&format!("/admin/users/{id}")).await;
    assert!(html.contains("Session key issued"), "{html}");
    // In the admin site's zone, with its offset.
    let shown =
        wxlogin::domain::display_time::format(third, wxlogin::domain::display_time::DEFAULT_ZONE);
    assert!(html.contains(&shown), "{shown} in {html}");
    assert!(!html.contains(KEY_2) && !html.contains(KEY_1), "{html}");
}

/// The dev-mode simulator, through the real binary: each code gives its own
/// key (derived from the code, so a test can make the data), and a code the
/// simulator exchanged without wxlogin storing its key (a login refused for
/// its bad user data) leaves the stored key replaced.
async fn the_simulator_tells_replaced_keys_from_current_ones(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let database = database_url(&url);
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server_on(dir.path(), Some(&database), &[]);
    let client = reqwest::Client::new();
    let simulator = Simulator::new(wxlogin::config::DEV_APPID);
    let openid = simulator.openid_of("demo-7");
    let mut info = real_user(&openid, "ignored");
    info.as_object_mut().unwrap().remove("unionId");
    info["watermark"]["appid"] = wxlogin::config::DEV_APPID.into();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let response = post("/api/login", None, json!({"code": "demo-7-a"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Data under the key of the code just used is accepted.
    let key_a = simulator.session_key_of("demo-7-a");
    let response = post("/api/me/userinfo", Some(&token), user_data(&key_a, &info))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // A login whose user data is bad: the simulator has given out the key
    // of demo-7-b, wxlogin has stored nothing.
    let mut bad = user_data(&simulator.session_key_of("demo-7-b"), &info);
    bad["signature"] = "0".repeat(40).into();
    bad["code"] = "demo-7-b".into();
    let response = post("/api/login", None, bad).await.unwrap();
    assert_error(response, 400, "invalid_signature").await;
    // Data under that newer key: the stored key is replaced.
    let key_b = simulator.session_key_of("demo-7-b");
    let response = post("/api/me/userinfo", Some(&token), user_data(&key_b, &info))
        .await
        .unwrap();
    assert_error(response, 409, "session_key_stale").await;
    // A fresh login heals it.
    let response = post("/api/login", None, json!({"code": "demo-7-c"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let key_c = simulator.session_key_of("demo-7-c");
    let response = post("/api/me/userinfo", Some(&token), user_data(&key_c, &info))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Forged data under the current key: WeChat holds the key, so the data
    // is wrong.
    let mut forged = user_data(&key_c, &info);
    forged["signature"] = "0".repeat(40).into();
    let response = post("/api/me/userinfo", Some(&token), forged)
        .await
        .unwrap();
    assert_error(response, 400, "invalid_user_data").await;
}
