use diesel::prelude::*;
use wxlogin::db::schema::sessions;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    logout_kills_the_token,
    expired_token_is_refused,
    bad_tokens_are_refused,
    users_list_and_end_their_own_sessions,
);

async fn own_sessions(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let response = app
        .client
        .get(app.url("/api/me/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn end_session(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/me/sessions/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn users_list_and_end_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oMINE", "k", None))
        .await;
    let login_from = |agent: &'static str, code: &'static str| {
        app.client
            .post(app.url("/api/login"))
            .header("User-Agent", agent)
            .json(&serde_json::json!({"code": code}))
            .send()
    };
    let phone: serde_json::Value = login_from("phone", "c1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tablet: serde_json::Value = login_from("tablet", "c2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (phone, tablet) = (
        phone["token"].as_str().unwrap().to_owned(),
        tablet["token"].as_str().unwrap().to_owned(),
    );
    app.wechat_answers(code2session_ok("oSTRANGER", "k", None))
        .await;
    let (stranger, _) = app.login_ok("c3").await;

    let listed = own_sessions(&app, &phone).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["user_agent"], "tablet", "newest first");
    assert_eq!(listed[0]["current"], false);
    assert_eq!(listed[1]["user_agent"], "phone");
    assert_eq!(listed[1]["current"], true);
    assert_eq!(listed[1]["appid"], APPID);
    for field in ["id", "created_at", "last_seen_at", "expires_at"] {
        assert!(listed[0].get(field).is_some(), "{field}");
    }
    assert!(!serde_json::Value::Array(listed.clone())
        .to_string()
        .contains(&phone));
    let tablet_id = listed[0]["id"].to_string();

    // Another user's session is not found, and stays live.
    let strangers = own_sessions(&app, &stranger).await;
    let stranger_id = strangers[0]["id"].to_string();
    assert_error(
        end_session(&app, &phone, &stranger_id).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.get_me(&stranger).await.status(), 200);
    assert_eq!(
        end_session(&app, &phone, "not-a-number").await.status(),
        404
    );

    // Ending the tablet's session: it stops working at once, the phone's does not.
    assert_eq!(end_session(&app, &phone, &tablet_id).await.status(), 204);
    assert_error(app.get_me(&tablet).await, 401, "unauthorized").await;
    assert_eq!(app.get_me(&phone).await.status(), 200);
    assert_error(
        end_session(&app, &phone, &tablet_id).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(own_sessions(&app, &phone).await.len(), 1);
    assert_error(
        app.client
            .get(app.url("/api/me/sessions"))
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
}

async fn logout_kills_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oLOGOUT", "k", None))
        .await;
    let (token, _) = app.login_ok("c1").await;
    let (other, _) = app.login_ok("c2").await;

    assert_eq!(app.get_me(&token).await.status(), 200);
    let response = app.logout(&token).await;
    assert_eq!(response.status(), 204);
    assert!(response.text().await.unwrap().is_empty());

    assert_error(app.get_me(&token).await, 401, "unauthorized").await;
    assert_error(app.logout(&token).await, 401, "unauthorized").await;
    // Only that session ended.
    assert_eq!(app.get_me(&other).await.status(), 200);

    let revoked: i64 = app
        .with_db(|c| {
            on_backend!(c, |c| sessions::table
                .filter(sessions::revoked_at.is_not_null())
                .count()
                .get_result(c))
            .unwrap()
        })
        .await;
    assert_eq!(revoked, 1);
}

async fn expired_token_is_refused(backend: Backend) {
    // Tokens that live one second. The check must happen on every request,
    // even for a token the token cache holds, so this one is used first.
    let app = spawn_app_with(backend, |s| {
        s.session_ttl = std::time::Duration::from_secs(1)
    })
    .await;
    app.wechat_answers(code2session_ok("oEXPIRE", "k", None))
        .await;
    let (token, _) = app.login_ok("c").await;
    assert_eq!(app.get_me(&token).await.status(), 200);

    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let live: i64 = app
        .with_db(|c| {
            on_backend!(c, |c| sessions::table
                .filter(sessions::expires_at.gt(wxlogin::clock::now()))
                .count()
                .get_result(c))
            .unwrap()
        })
        .await;
    assert_eq!(live, 0, "the session has expired");

    assert_error(app.get_me(&token).await, 401, "unauthorized").await;
    assert_error(app.logout(&token).await, 401, "unauthorized").await;
}

async fn bad_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let no_header = app.client.get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(no_header.headers()["www-authenticate"], "Bearer");
    assert_error(no_header, 401, "unauthorized").await;

    let unknown = format!("wxl_{}", "A".repeat(43));
    for header in [
        format!("Bearer {unknown}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not-a-token".to_owned(),
        format!("Basic {unknown}"),
        format!("Bearer {}", "x".repeat(10_000)),
    ] {
        let response = app
            .client
            .get(app.url("/api/me"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "unauthorized").await;
    }
    assert_error(app.logout(&unknown).await, 401, "unauthorized").await;
}
