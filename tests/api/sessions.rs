use diesel::prelude::*;
use wxlogin::db::schema::sessions;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    logout_kills_the_token,
    expired_token_is_refused,
    bad_tokens_are_refused,
);

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
