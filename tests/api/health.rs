use crate::backend_tests;
use crate::common::*;

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
    let response = app.client.put(app.url("/api/me")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
}

/// With the database gone, 50 concurrent logins are each answered 503
/// within one `--db-timeout`, and once it is known to be down, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_fail_within_one_db_timeout_while_the_database_is_down() {
    if postgres_url().is_none() {
        return;
    }
    let timeout = std::time::Duration::from_secs(2);
    let app = spawn_app_with(Backend::Postgres, |s| s.db.connect_timeout = timeout).await;
    app.wechat_answers(code2session_ok("oDOWN", "k", None))
        .await;
    app.login_ok("first").await;
    app.db.destroy();
    for wave in 0..2 {
        let logins = (0..50).map(|i| {
            let app = &app;
            async move {
                let started = std::time::Instant::now();
                let response = app
                    .post_login(&serde_json::json!({"code": format!("c{wave}-{i}")}))
                    .await;
                let took = started.elapsed();
                assert_error(response, 503, "unavailable").await;
                took
            }
        });
        let slowest = futures::future::join_all(logins)
            .await
            .into_iter()
            .max()
            .unwrap();
        let bound = if wave == 0 {
            timeout + std::time::Duration::from_millis(500)
        } else {
            // Known to be down: a short probe, not a whole timeout.
            std::time::Duration::from_secs(1)
        };
        assert!(
            slowest <= bound,
            "wave {wave}: the slowest took {slowest:?}"
        );
    }
}
