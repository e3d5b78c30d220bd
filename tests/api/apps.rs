//! Several mini-programs in one deployment: each login names its app, and
//! every WeChat call uses that app's credentials.

use secrecy::SecretString;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::config::{AppSettings, Settings};

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(
    each_app_logs_in_with_its_own_credentials,
    a_default_app_takes_logins_that_name_none,
    user_data_is_checked_against_its_own_app,
    phone_numbers_use_the_access_token_of_the_app,
);

pub(crate) const APPID_B: &str = "wx2222222222222222";
pub(crate) const SECRET_B: &str = "second-app-secret-never-shown";

pub(crate) fn second_app(s: &mut Settings, default: bool) {
    let mut app = AppSettings::wechat(APPID_B, SecretString::from(SECRET_B));
    app.name = Some("员工端".into());
    app.default = default;
    // As the first app's: content checks are tests/api/content.rs's.
    app.content_check = false;
    s.wechat.apps.push(app);
}

/// `jscode2session` answers `openid` to the app with these credentials only.
async fn answer_for_app(app: &TestApp, appid: &str, secret: &str, openid: &str, key: &str) {
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .and(query_param("appid", appid))
        .and(query_param("secret", secret))
        .respond_with(code2session_ok(openid, key, Some("oUNION-APPS")))
        .mount(&app.wechat)
        .await;
}

async fn login_in(app: &TestApp, appid: Option<&str>, code: &str) -> reqwest::Response {
    let mut body = json!({"code": code});
    if let Some(appid) = appid {
        body["appid"] = appid.into();
    }
    app.post_login(&body).await
}

async fn each_app_logs_in_with_its_own_credentials(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer_for_app(&app, APPID, SECRET, "oFIRST", KEY_1).await;
    answer_for_app(&app, APPID_B, SECRET_B, "oSECOND", KEY_2).await;

    // Two apps and no default: the appid is required.
    let body = assert_error(login_in(&app, None, "c0").await, 400, "unknown_app").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(APPID) && message.contains(APPID_B),
        "{message}"
    );
    let body = assert_error(login_in(&app, Some("  "), "c0").await, 400, "unknown_app").await;
    assert!(!body.to_string().contains(SECRET) && !body.to_string().contains(SECRET_B));
    let body = assert_error(
        login_in(&app, Some("wx9999999999999999"), "c0").await,
        400,
        "unknown_app",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("wx9999999999999999"), "{message}");
    assert!(!message.contains(SECRET) && !message.contains(SECRET_B));
    let response = app.post_login(&json!({"code": "c0", "appid": 7})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.count_sessions().await, 0);

    let first: Value = login_in(&app, Some(APPID), "c1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["user"]["appid"], APPID, "{first}");
    assert_eq!(first["user"]["openid"], "oFIRST");
    let second: Value = login_in(&app, Some(APPID_B), "c2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["user"]["appid"], APPID_B, "{second}");
    assert_eq!(second["user"]["openid"], "oSECOND");
    assert_ne!(first["token"], second["token"]);
    // One unionid in both apps: one account, with an identity in each.
    assert_eq!(second["user"]["id"], first["user"]["id"]);
    assert_eq!(app.count_users().await, 1);
    assert_eq!(app.count_sessions().await, 2);
    let me = app.me(second["token"].as_str().unwrap()).await;
    assert_eq!(me["appid"], APPID_B);
}

async fn a_default_app_takes_logins_that_name_none(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, true)).await;
    answer_for_app(&app, APPID, SECRET, "oFIRST", KEY_1).await;
    answer_for_app(&app, APPID_B, SECRET_B, "oSECOND", KEY_2).await;
    let body: Value = login_in(&app, None, "c1").await.json().await.unwrap();
    assert_eq!(body["user"]["appid"], APPID_B, "{body}");
    let body: Value = login_in(&app, Some(APPID), "c2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["user"]["appid"], APPID, "{body}");
}

async fn user_data_is_checked_against_its_own_app(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer_for_app(&app, APPID_B, SECRET_B, "oSECOND", KEY_2).await;
    // Data whose watermark names the first app is refused in the second.
    let data = user_data(KEY_2, &real_user("oSECOND", "oUNION-APPS"));
    let mut body = login_body("c1", &data);
    body["appid"] = APPID_B.into();
    assert_error(app.post_login(&body).await, 400, "watermark_mismatch").await;
    assert_eq!(app.count_users().await, 0);

    let mut info = real_user("oSECOND", "oUNION-APPS");
    info["watermark"]["appid"] = APPID_B.into();
    let mut body = login_body("c2", &user_data(KEY_2, &info));
    body["appid"] = APPID_B.into();
    let response = app.post_login(&body).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["nickname"], "小明", "{body}");
    let token = body["token"].as_str().unwrap();

    // And so is data sent later with the stored key.
    let response = app.post_userinfo(token, &user_data(KEY_2, &info)).await;
    assert_eq!(response.status(), 200);
    let data = user_data(KEY_2, &real_user("oSECOND", "oUNION-APPS"));
    assert_error(
        app.post_userinfo(token, &data).await,
        400,
        "watermark_mismatch",
    )
    .await;
}

async fn phone_numbers_use_the_access_token_of_the_app(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer_for_app(&app, APPID_B, SECRET_B, "oSECOND", KEY_2).await;
    let body: Value = login_in(&app, Some(APPID_B), "c1")
        .await
        .json()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap();
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .and(body_json(json!({
            "grant_type": "client_credential",
            "appid": APPID_B,
            "secret": SECRET_B,
            "force_refresh": false,
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "TOKEN-OF-B", "expires_in": 7200})),
        )
        .expect(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "TOKEN-OF-B"))
        .and(body_json(
            json!({"code": "phone-code", "openid": "oSECOND"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {"purePhoneNumber": "13800138000", "countryCode": "86"},
        })))
        .expect(1)
        .mount(&app.wechat)
        .await;
    let response = app.post_phone(token, &json!({"code": "phone-code"})).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["phone_number"], "13800138000", "{body}");
    app.wechat.verify().await;
}

/// What `wxlogin serve` says about an apps file it refuses, and its exit
/// status, which must be a failure.
fn refusal(apps_toml: &str, extra_env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("apps.toml");
    std::fs::write(&file, apps_toml).unwrap();
    let mut cmd = crate::binary::wxlogin();
    cmd.current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--apps"])
        .arg(&file)
        .env("WXLOGIN_SECRET_KEY", "k".repeat(64))
        .env("SHOP_SECRET", "shop-secret-never-shown");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        !dir.path().join("wxlogin.db").exists(),
        "nothing is created"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("never-shown"), "a secret is shown: {err}");
    err
}

#[test]
fn a_bad_apps_file_is_refused_at_start_up_naming_the_file_and_the_entry() {
    let good = "[[apps]]\nappid = \"wx1111111111111111\"\nsecret_env = \"SHOP_SECRET\"\n";
    let cases = [
        (
            format!("{good}[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"b-never-shown\"\n"),
            "app wx1111111111111111 is listed twice",
        ),
        (
            format!("{good}[[apps]]\nappid = \"wx2222222222222222\"\n"),
            "[[apps]] entry 2 (wx2222222222222222): no secret",
        ),
        (
            "[[apps]]\nappid = \"wx2222222222222222\"\nsecret_file = \"missing-secret\"\n".into(),
            "[[apps]] entry 1 (wx2222222222222222): cannot read secret_file",
        ),
        (
            "[[apps]]\nappid = \"wxNOTANAPPID\"\nsecret = \"c-never-shown\"\n".into(),
            "[[apps]] entry 1 (wxNOTANAPPID): `wxNOTANAPPID` is not an AppID",
        ),
        (
            format!("{good}default = true\n[[apps]]\nappid = \"wx2222222222222222\"\nsecret = \"d-never-shown\"\ndefault = true\n"),
            "only one app can be the default",
        ),
        ("[[apps]\nappid = 1\n".into(), "not a valid apps file at line 1"),
    ];
    for (toml, expected) in cases {
        let err = refusal(&toml, &[]);
        assert!(err.contains("apps.toml"), "the file is not named: {err}");
        assert!(err.contains(expected), "{err} lacks {expected}");
    }
    let err = refusal(
        good,
        &[
            ("WECHAT_APPID", "wx1234567890abcdef"),
            ("WECHAT_SECRET", "e-never-shown"),
        ],
    );
    assert!(err.contains("not both"), "{err}");
}

#[tokio::test]
async fn dev_mode_simulates_two_apps_with_one_unionid() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, log, _stdout) = crate::binary::start_dev_server(dir.path(), &[]);
    let log = log.join("\n");
    assert!(log.contains(wxlogin::config::DEV_APPID_2), "{log}");
    let client = reqwest::Client::new();
    let login = |body: Value| client.post(format!("{base}/api/login")).json(&body).send();
    let first: Value = login(json!({"code": "linker-1"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second: Value = login(json!({"code": "linker-1", "appid": wxlogin::config::DEV_APPID_2}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["user"]["appid"], wxlogin::config::DEV_APPID);
    assert_eq!(second["user"]["appid"], wxlogin::config::DEV_APPID_2);
    assert_eq!(first["user"]["unionid"], second["user"]["unionid"]);
    assert_ne!(first["user"]["openid"], second["user"]["openid"]);
    let unknown = login(json!({"code": "linker-1", "appid": "wx9999999999999999"}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_app");
}
