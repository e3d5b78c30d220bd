//! Risk-aware sign-up: WeChat's `getuserriskrank` at an identity's first
//! login, when the app asks for it; the rank kept on the identity and the
//! account, shown, filtered and sorted in the admin table; an optional
//! threshold that refuses sign-ups with 403 `risky_user`, writing nothing.

use std::process::Stdio;

use diesel::prelude::*;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::config::RiskPolicy;
use wxlogin::db::schema::{accounts, identities};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::binary::wxlogin;
use crate::common::*;

backend_tests!(
    sign_ups_are_ranked_once_and_the_admin_filters_and_sorts_by_rank,
    a_threshold_refuses_risky_sign_ups_and_writes_nothing,
    a_rank_wechat_cannot_give_lets_the_sign_up_through_unranked,
    without_the_check_wechat_is_never_asked,
);

async fn risky_app(backend: Backend, refuse_at: Option<u8>) -> TestApp {
    spawn_app_with(backend, |s| {
        s.wechat.apps[0].risk = RiskPolicy::new(true, refuse_at).unwrap();
    })
    .await
}

/// WeChat's answers: code2session for `openid`, the access token, and the
/// risk rank `answer` for that openid, expected `times` times.
async fn wechat_ranks(app: &TestApp, openid: &str, answer: ResponseTemplate, times: u64) {
    app.wechat_answers(code2session_ok(openid, "a2V5a2V5a2V5a2V5a2V5aw==", None))
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "RISK-TOKEN", "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/getuserriskrank"))
        .and(body_json(json!({
            "appid": APPID,
            "openid": openid,
            "scene": 0,
            "client_ip": "127.0.0.1",
        })))
        .respond_with(answer)
        .expect(times)
        .mount(&app.wechat)
        .await;
}

fn rank(n: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok", "risk_rank": n}))
}

async fn ranks(app: &TestApp) -> Vec<(Option<i16>, Option<i16>)> {
    app.with_db(|c| {
        on_backend!(c, |c| identities::table
            .inner_join(accounts::table)
            .order(identities::id)
            .select((identities::risk_rank, accounts::risk_rank))
            .load(c))
        .unwrap()
    })
    .await
}

async fn sign_ups_are_ranked_once_and_the_admin_filters_and_sorts_by_rank(backend: Backend) {
    let app = risky_app(backend, None).await;
    wechat_ranks(&app, "oRISKY", rank(3), 1).await;
    let (_, first) = app.login_ok("c1").await;
    // A returning identity is not ranked again.
    app.login_ok("c2").await;
    app.wechat.verify().await;
    assert_eq!(ranks(&app).await, vec![(Some(3), Some(3))]);
    // The rank is for operators, never in the user's own answers.
    assert!(first["user"].get("risk_rank").is_none(), "{first}");
    let risky_id = first["user"]["id"].as_i64().unwrap();

    wechat_ranks(&app, "oCALM", rank(0), 1).await;
    let (_, calm) = app.login_ok("c3").await;
    let calm_id = calm["user"]["id"].as_i64().unwrap();
    app.wechat.verify().await;

    let admin = app.admin().await;
    let ids = |html: &str| crate::common::row_ids(html);
    let html = admin.page("/admin/users?risk_min=3").await;
    assert_eq!(ids(&html), vec![risky_id], "{html}");
    let html = admin.page("/admin/users?risk_min=4").await;
    assert!(ids(&html).is_empty(), "{html}");
    let html = admin.page("/admin/users?risk_min=0").await;
    assert_eq!(ids(&html).len(), 2);
    let html = admin.page("/admin/users?sort=risk_rank&order=desc").await;
    assert_eq!(ids(&html), vec![risky_id, calm_id]);
    let html = admin.page("/admin/users?sort=risk_rank&order=asc").await;
    assert_eq!(ids(&html), vec![calm_id, risky_id]);
    for bad in ["risk_min=5", "risk_min=-1", "risk_min=high"] {
        let response = admin.get(&format!("/admin/users?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("risk_min must be a risk rank from 0 to 4"),
            "{bad}: {html}"
        );
    }
    // The account page shows it, and the CSV has it per identity.
    let html = admin.page(&format!("/admin/users/{risky_id}")).await;
    assert!(html.contains("<dt>risk_rank</dt><dd>3 "), "{html}");
    let csv = admin
        .get("/admin/users.csv?risk_min=3")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].ends_with(",risk_rank"));
    assert!(lines[1].ends_with(",3"), "{csv}");
}

async fn a_threshold_refuses_risky_sign_ups_and_writes_nothing(backend: Backend) {
    let app = risky_app(backend, Some(3)).await;
    for (n, openid) in [(3, "oAT3"), (4, "oAT4")] {
        wechat_ranks(&app, openid, rank(n), 1).await;
        let response = app.post_login(&json!({"code": format!("c{n}")})).await;
        let body = assert_error(response, 403, "risky_user").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("high-risk"), "{message}");
        assert!(
            !message.contains(&n.to_string()),
            "no rank in the answer: {message}"
        );
        app.wechat.verify().await;
    }
    assert_eq!(app.count_users().await, 0);
    assert_eq!(app.count_rows("identities", "1 = 1").await, 0);
    assert_eq!(app.count_sessions().await, 0);

    // Below the threshold: signed up, ranked.
    wechat_ranks(&app, "oBELOW", rank(2), 1).await;
    let (token, _) = app.login_ok("c-below").await;
    assert_eq!(ranks(&app).await, vec![(Some(2), Some(2))]);
    // Once in, the identity is not asked again, whatever WeChat would say.
    app.wechat.verify().await;
    wechat_ranks(&app, "oBELOW", rank(4), 0).await;
    app.login_ok("c-below-again").await;
    app.me(&token).await;
}

async fn a_rank_wechat_cannot_give_lets_the_sign_up_through_unranked(backend: Backend) {
    let app = risky_app(backend, Some(1)).await;
    let answers = [
        ResponseTemplate::new(200).set_body_json(json!({"errcode": -1, "errmsg": "busy"})),
        ResponseTemplate::new(500),
        rank(7),
        ResponseTemplate::new(200).set_body_json(json!({"errcode": 0})),
    ];
    for (i, answer) in answers.into_iter().enumerate() {
        let openid = format!("oUNRANKED{i}");
        wechat_ranks(&app, &openid, answer, 1).await;
        let (_, body) = app.login_ok(&format!("c{i}")).await;
        assert_eq!(body["user"]["openid"], openid.as_str());
        app.wechat.verify().await;
    }
    assert_eq!(ranks(&app).await, vec![(None, None); 4]);
}

async fn without_the_check_wechat_is_never_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    wechat_ranks(&app, "oPLAIN", rank(4), 0).await;
    app.login_ok("c").await;
    assert_eq!(ranks(&app).await, vec![(None, None)]);
}

/// The dev simulator ranks `riskR-…` users R, so the threshold can be tried
/// without a WeChat account; bad settings are refused before anything starts.
#[tokio::test]
async fn the_simulator_ranks_users_by_name_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) =
        crate::binary::start_dev_server(dir.path(), &["--risk-check", "--risk-refuse-at", "3"]);
    let client = reqwest::Client::new();
    let login = |code: &'static str| {
        client
            .post(format!("{base}/api/login"))
            .json(&json!({"code": code}))
            .send()
    };
    let refused = login("risk4-1").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "risky_user");
    assert_eq!(login("risk2-1").await.unwrap().status(), 200);
    assert_eq!(login("demo-1").await.unwrap().status(), 200);

    for args in [
        vec!["--risk-check", "--risk-refuse-at", "5"],
        vec!["--risk-check", "--risk-refuse-at", "0"],
        vec!["--risk-refuse-at", "3"],
        vec!["--risk-check", "--risk-refuse-at", "high"],
    ] {
        let out = wxlogin()
            .current_dir(dir.path())
            .args(["serve", "--dev", "--database-url", "sqlite://refused.db"])
            .args(&args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("--risk-refuse-at"), "{args:?}: {err}");
        assert!(!dir.path().join("refused.db").exists(), "{args:?}");
    }
    // With --apps, the policy is per app, in the file.
    std::fs::write(
        dir.path().join("apps.toml"),
        "[[apps]]\nappid = \"wx1111111111111111\"\nsecret = \"s\"\n",
    )
    .unwrap();
    let out = wxlogin()
        .current_dir(dir.path())
        .args(["serve", "--apps", "apps.toml", "--risk-check"])
        .args(["--database-url", "sqlite://refused.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("risk_check and risk_refuse_at per app"),
        "{err}"
    );
    assert!(!dir.path().join("refused.db").exists());
}
