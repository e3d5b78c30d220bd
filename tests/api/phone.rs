//! `POST /api/me/phone`, and the access token behind it.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    concurrent_phone_requests_fetch_one_token,
    token_errors_refresh_the_token_once,
    phone_errors_store_nothing,
    short_lived_tokens_are_not_cached,
);

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"access_token": token, "expires_in": expires_in}))
}

fn phone_answer(number: &str, country_code: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": format!("+{country_code} {number}").replace('"', ""),
            "purePhoneNumber": number,
            "countryCode": country_code,
            "watermark": {"timestamp": 1_637_744_274, "appid": APPID}
        }
    }))
}

fn wechat_error(errcode: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": errcode, "errmsg": "fake"}))
}

async fn logged_in(app: &TestApp, openid: &str) -> String {
    app.wechat_answers(code2session_ok(openid, "k", None)).await;
    app.login_ok("c").await.0
}

async fn concurrent_phone_requests_fetch_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oPHONE").await;
    const ACCESS_TOKEN: &str = "ACCESS-TOKEN-never-shown-0123456789";
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .and(body_json(json!({
            "grant_type": "client_credential",
            "appid": APPID,
            "secret": SECRET,
            "force_refresh": false,
        })))
        // Slow, so that all the requests wait for this one fetch.
        .respond_with(token_answer(ACCESS_TOKEN, 7200).set_delay(Duration::from_millis(500)))
        .expect(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", ACCESS_TOKEN))
        .and(body_json(json!({"code": "phone-code", "openid": "oPHONE"})))
        .respond_with(phone_answer("13800138000", json!("86")))
        .expect(21)
        .mount(&app.wechat)
        .await;

    let body = json!({"code": "phone-code"});
    let requests = (0..20).map(|_| app.post_phone(&token, &body));
    let responses = futures::future::join_all(requests).await;
    for response in responses {
        let text = response.text().await.unwrap();
        assert!(!text.contains(ACCESS_TOKEN));
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["phone_number"], "13800138000", "{body}");
        assert_eq!(body["phone_country_code"], "86");
        assert_eq!(body["user"]["phone_number"], "13800138000");
    }
    // Later calls use the cached token too.
    let response = app.post_phone(&token, &json!({"code": "phone-code"})).await;
    assert_eq!(response.status(), 200);
    let me = app.me(&token).await;
    assert_eq!(me["phone_number"], "13800138000");
    assert_eq!(me["phone_country_code"], "86");
    app.wechat.verify().await;
}

async fn token_errors_refresh_the_token_once(backend: Backend) {
    for errcode in [40001, 40014, 42001] {
        let app = spawn_app(backend).await;
        let token = logged_in(&app, "oRETRY").await;
        // The first fetch gives a token that WeChat then refuses; the
        // forced refresh a good one.
        Mock::given(method("POST"))
            .and(path("/cgi-bin/stable_token"))
            .and(body_json(json!({
                "grant_type": "client_credential",
                "appid": APPID,
                "secret": SECRET,
                "force_refresh": false,
            })))
            .respond_with(token_answer("STALE-TOKEN", 7200))
            .expect(1)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/cgi-bin/stable_token"))
            .and(body_json(json!({
                "grant_type": "client_credential",
                "appid": APPID,
                "secret": SECRET,
                "force_refresh": true,
            })))
            .respond_with(token_answer("FRESH-TOKEN", 7200))
            .expect(1)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/wxa/business/getuserphonenumber"))
            .and(query_param("access_token", "STALE-TOKEN"))
            .respond_with(wechat_error(errcode))
            .expect(1)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/wxa/business/getuserphonenumber"))
            .and(query_param("access_token", "FRESH-TOKEN"))
            // countryCode as a number, as some answers have it.
            .respond_with(phone_answer("2025550123", json!(1)))
            .expect(2)
            .mount(&app.wechat)
            .await;

        let response = app.post_phone(&token, &json!({"code": "p1"})).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["phone_number"], "2025550123", "{errcode}: {body}");
        assert_eq!(body["phone_country_code"], "1");
        // The fresh token is kept.
        let response = app.post_phone(&token, &json!({"code": "p2"})).await;
        assert_eq!(response.status(), 200);
        app.wechat.verify().await;
    }

    // A token that keeps being refused: one forced refresh and one retry,
    // then 502; within 30 s no second forced refresh.
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oRETRY").await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_answer("BAD-TOKEN-xyz", 7200))
        .expect(2)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(wechat_error(40001))
        .expect(2)
        .mount(&app.wechat)
        .await;
    let response = app.post_phone(&token, &json!({"code": "p"})).await;
    let body = assert_error(response, 502, "wechat_unavailable").await;
    assert_eq!(body["error"]["wechat_errcode"], 40001);
    assert!(!body.to_string().contains("BAD-TOKEN-xyz"));
    app.wechat.verify().await;
    app.wechat.reset().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_answer("BAD-TOKEN-xyz", 7200))
        .expect(0)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(wechat_error(40001))
        .expect(1)
        .mount(&app.wechat)
        .await;
    let response = app.post_phone(&token, &json!({"code": "p"})).await;
    let body = assert_error(response, 502, "wechat_unavailable").await;
    assert_eq!(body["error"]["wechat_errcode"], 40001);
    app.wechat.verify().await;
    assert_eq!(app.me(&token).await["phone_number"], Value::Null);
}

async fn phone_errors_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oPERR").await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_answer("T", 7200))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(body_json(json!({"code": "used", "openid": "oPERR"})))
        .respond_with(wechat_error(40029))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(body_json(json!({"code": "garbled", "openid": "oPERR"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "phone_info": {"purePhoneNumber": "138; DROP TABLE", "countryCode": "86"}})))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(body_json(json!({"code": "down", "openid": "oPERR"})))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.wechat)
        .await;

    let body = assert_error(
        app.post_phone(&token, &json!({"code": "used"})).await,
        400,
        "invalid_phone_code",
    )
    .await;
    assert_eq!(body["error"]["wechat_errcode"], 40029);
    assert_error(
        app.post_phone(&token, &json!({"code": "garbled"})).await,
        502,
        "wechat_unavailable",
    )
    .await;
    assert_error(
        app.post_phone(&token, &json!({"code": "down"})).await,
        502,
        "wechat_unavailable",
    )
    .await;
    for body in [
        json!({}),
        json!({"code": ""}),
        json!({"code": 5}),
        json!({"code": "a\u{0}b"}),
        json!({"code": "x".repeat(129)}),
    ] {
        assert_error(app.post_phone(&token, &body).await, 400, "invalid_request").await;
    }
    let response = app
        .client
        .post(app.url("/api/me/phone"))
        .json(&json!({"code": "used"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let me = app.me(&token).await;
    assert_eq!(me["phone_number"], Value::Null);
    assert_eq!(me["phone_country_code"], Value::Null);
}

async fn short_lived_tokens_are_not_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oSHORT").await;
    // Expires within the 5-minute margin: due for a refresh at once, but
    // not fetched again within 30 s (WeChat would answer the same token).
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_answer("SHORT", 200))
        .expect(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(phone_answer("13800138000", json!("86")))
        .expect(2)
        .mount(&app.wechat)
        .await;
    for _ in 0..2 {
        let response = app.post_phone(&token, &json!({"code": "p"})).await;
        assert_eq!(response.status(), 200);
    }
    app.wechat.verify().await;
}
