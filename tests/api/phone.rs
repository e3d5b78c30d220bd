//! `POST /api/me/phone`, and the access token behind it.

use std::time::Duration;

use diesel::prelude::*;
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
    the_ledger_counts_billed_exchanges_per_app_and_day,
    the_simulators_stale_access_token_is_refreshed_within_the_limits,
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

/// Every successful exchange is billed by WeChat: the ledger counts it per
/// app and China day, the metrics count it, and the user says when the
/// number was verified. A failed exchange is not billed, nor counted.
async fn the_ledger_counts_billed_exchanges_per_app_and_day(backend: Backend) {
    // An app of its own, per backend: the metrics recorder is the process's.
    let appid = match backend {
        Backend::Sqlite => "wxledger00000000s1",
        Backend::Postgres => "wxledger00000000p1",
    };
    let app = spawn_app_with(backend, |s| {
        s.wechat.apps = vec![wxlogin::config::AppSettings::wechat(
            appid,
            secrecy::SecretString::from(SECRET),
        )];
        s.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let billed = || async {
        let text = reqwest::get(app.metrics_url.as_ref().unwrap())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| {
                l.starts_with("wxlogin_phone_exchanges_total{")
                    && l.contains(&format!("app=\"{appid}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let first = logged_in(&app, "oLEDGER1").await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_answer("T", 7200))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(body_json(json!({"code": "bad", "openid": "oLEDGER1"})))
        .respond_with(wechat_error(40029))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(phone_answer("13800138000", json!("86")))
        .mount(&app.wechat)
        .await;

    let china_today = || (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
    let day_before = china_today();
    let me = app.me(&first).await;
    assert_eq!(me["phone_verified_at"], Value::Null, "{me}");
    assert_error(
        app.post_phone(&first, &json!({"code": "bad"})).await,
        400,
        "invalid_phone_code",
    )
    .await;
    for code in ["p1", "p2"] {
        let response = app.post_phone(&first, &json!({"code": code})).await;
        assert_eq!(response.status(), 200);
    }
    let me = app.me(&first).await;
    let verified = me["phone_verified_at"].as_str().expect("verified now");
    assert!(verified.ends_with('Z'), "{verified}");

    let ledger = || {
        app.with_db(|c| {
            use wxlogin::db::schema::phone_exchanges as p;
            wxlogin::on_backend!(c, |c| p::table
                .select((p::appid, p::day, p::count))
                .load::<(String, chrono::NaiveDate, i64)>(c))
            .unwrap()
        })
    };
    let rows = ledger().await;
    let day_after = china_today();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (ledger_appid, day, count) = rows[0].clone();
    assert_eq!(
        (ledger_appid.as_str(), count),
        (appid, 2),
        "failures are not billed"
    );
    // The China calendar day (UTC+8) of the exchanges.
    assert!(day_before <= day && day <= day_after, "{day}");
    assert_eq!(billed().await, 2.0);

    // The overview shows the app's line: today, 7 and 30 days, the cost.
    let html = app.admin().await.page("/admin").await;
    let line = html
        .split("<tr>")
        .find(|row| row.contains(appid))
        .unwrap_or_else(|| panic!("no ledger line for {appid}: {html}"));
    assert_eq!(line.matches("<td>2</td>").count(), 3, "{line}");
    assert!(line.contains("¥0.06"), "{line}");
    assert!(
        !html.contains("13800138000"),
        "no phone number on the overview"
    );
}

/// `serve --dev`: the simulator's access token goes through wxlogin's real
/// refresh protocol, shared through the database. The phone code
/// `stale-token` makes the token wxlogin holds stale: WeChat's 40001, one
/// forced refresh, and the number. A second one within 30 seconds finds the
/// fleet's forced refresh used up: 502 with WeChat's 40001.
async fn the_simulators_stale_access_token_is_refreshed_within_the_limits(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let database = database_url(&url);
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) =
        crate::binary::start_dev_server_on(dir.path(), Some(&database), &[]);
    let client = reqwest::Client::new();
    let token = crate::binary::dev_login(&base, "tokens-1").await;
    let phone = |code: &'static str| {
        client
            .post(format!("{base}/api/me/phone"))
            .bearer_auth(&token)
            .json(&json!({"code": code}))
            .send()
    };
    assert_eq!(phone("first").await.unwrap().status(), 200);
    let healed = phone("stale-token").await.unwrap();
    assert_eq!(healed.status(), 200, "{}", healed.text().await.unwrap());
    let refused = phone("stale-token").await.unwrap();
    let body = assert_error(refused, 502, "wechat_unavailable").await;
    assert_eq!(body["error"]["wechat_errcode"], 40001);
    // The forced refresh is the fleet's: counted in the shared row.
    let settings = test_settings(url, "http://127.0.0.1:9");
    let pool = wxlogin::startup::open_database(&settings.db, wxlogin::db::PoolUse::Server)
        .await
        .expect("open database");
    let forced: i64 = with_db(&pool, |c| {
        use diesel::prelude::*;
        use wxlogin::db::schema::wechat_access_tokens as t;
        wxlogin::on_backend!(c, |c| t::table
            .filter(t::appid.eq(wxlogin::config::DEV_APPID))
            .select(t::forced_count)
            .first::<i32>(c))
        .unwrap()
        .into()
    })
    .await;
    assert_eq!(forced, 1);
}
