use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    health_and_readiness,
    unknown_paths_and_methods_get_json_errors
);

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    if backend == Backend::Postgres {
        // Take the database away: the process is still up, but not ready,
        // and requests that need the database get 503 `unavailable`.
        app.wechat_answers(code2session_ok("oGONE", "k", None))
            .await;
        let (token, _) = app.login_ok("c").await;
        app.db.destroy();
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_error(ready, 503, "unavailable").await;
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let me = app.get_me(&token).await;
        assert_eq!(me.headers()["retry-after"], "5");
        let body = assert_error(me, 503, "unavailable").await.to_string();
        assert!(!body.contains("wxlogin_test_"), "internals leaked: {body}");
        let login = app.post_login(&serde_json::json!({"code": "c2"})).await;
        assert_error(login, 503, "unavailable").await;
    }
}

async fn unknown_paths_and_methods_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
    let response = app.client.get(app.url("/api/login")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.client.delete(app.url("/api/me")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
}
