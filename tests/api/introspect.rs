//! `POST /oauth/introspect` (RFC 7662) for backend services, and `wxlogin
//! service …`, the real binary, which manages their credentials.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wxlogin::config::DatabaseUrl;
use wxlogin::service::services;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    introspection_tells_a_service_whose_token_it_is,
    bad_client_credentials_are_refused,
    a_revoked_service_is_refused_within_the_cache_time,
    services_are_managed_from_the_command_line,
);

/// Creates a service straight through the service layer: `(client_id, secret)`.
async fn service(app: &TestApp, name: &str) -> (String, String) {
    let created = services::create(&app.pool, name).await.unwrap();
    (created.client_id, created.secret.expose().to_owned())
}

async fn introspect(
    app: &TestApp,
    credentials: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth/introspect")).form(form);
    if let Some((id, secret)) = credentials {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn introspection_tells_a_service_whose_token_it_is(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = service(&app, "orders").await;
    app.wechat_answers(code2session_ok("oINTRO", "k", Some("oUNION-INTRO")))
        .await;
    let (token, body) = app.login_ok("c1").await;

    let response = introspect(&app, Some((&id, &secret)), &[("token", &token)]).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], body["user"]["id"].to_string());
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["appid"], APPID);
    assert_eq!(answer["openid"], "oINTRO");
    assert_eq!(answer["unionid"], "oUNION-INTRO");
    let (iat, exp) = (
        answer["iat"].as_i64().unwrap(),
        answer["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600, "the test app's session lifetime");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(exp, expires_at.timestamp());
    assert!(!answer.to_string().contains(&secret));
    // A hint is allowed and changes nothing.
    let response = introspect(
        &app,
        Some((&id, &secret)),
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(response.json::<Value>().await.unwrap()["active"], true);

    // Anything but a live token is exactly {"active": false}.
    app.logout(&token).await;
    let forged = format!("wxl_{}", "A".repeat(43));
    for token in [
        token.as_str(),
        forged.as_str(),
        "not a token",
        "",
        &"x".repeat(5000),
    ] {
        let response = introspect(&app, Some((&id, &secret)), &[("token", token)]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"active": false})
        );
    }
    // No token at all is a bad request.
    let response = introspect(&app, Some((&id, &secret)), &[]).await;
    assert_error(response, 400, "invalid_request").await;
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_request").await;
    let response = introspect(
        &app,
        Some((&id, &secret)),
        &[("token", &"x".repeat(20_000))],
    )
    .await;
    assert_error(response, 413, "payload_too_large").await;

    // Every call is counted and shown in the admin site, at once on this node.
    let admin = app.admin().await;
    let page = admin.page("/admin/services").await;
    assert!(page.contains("orders") && page.contains(&id), "{page}");
    assert!(
        page.contains(r#"<td class="num">7</td>"#),
        "7 calls: {page}"
    );
    assert!(!page.contains(&secret));
}

async fn bad_client_credentials_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = service(&app, "orders").await;
    let (_, other_secret) = service(&app, "content").await;
    app.wechat_answers(code2session_ok("oINTRO", "k", None))
        .await;
    let (token, _) = app.login_ok("c1").await;
    let unknown = format!("svc_{}", "Z".repeat(16));
    let cases: [(Option<(&str, &str)>, &str); 5] = [
        (None, "no credentials"),
        (Some((&id, &other_secret)), "another service's secret"),
        (Some((&id, "wxs_short")), "a malformed secret"),
        (Some((&unknown, &secret)), "an unknown client id"),
        (Some(("", &secret)), "an empty client id"),
    ];
    for (credentials, what) in cases {
        let response = introspect(&app, credentials, &[("token", &token)]).await;
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            r#"Basic realm="wxlogin""#,
            "{what}"
        );
        let body = assert_error(response, 401, "invalid_client").await;
        assert!(!body.to_string().contains(&secret), "{what}");
    }
    for header in ["Bearer x", "Basic ***", "Basic", "Basic bm9jb2xvbg=="] {
        let response = app
            .client
            .post(app.url("/oauth/introspect"))
            .header("Authorization", header)
            .form(&[("token", &token)])
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "invalid_client").await;
    }
}

async fn a_revoked_service_is_refused_within_the_cache_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = service(&app, "orders").await;
    let response = introspect(&app, Some((&id, &secret)), &[("token", "x")]).await;
    assert_eq!(response.status(), 200);
    services::revoke(&app.pool, "orders").await.unwrap();
    let revoked = Instant::now();
    loop {
        let response = introspect(&app, Some((&id, &secret)), &[("token", "x")]).await;
        if response.status() == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(7),
            "still accepted 7 s after the revoke"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The name is free again, with new credentials.
    let (new_id, _) = service(&app, "orders").await;
    assert_ne!(new_id, id);
}

fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(url) => url.clone(),
    }
}

/// Runs `wxlogin service ARGS` on the database: (exit code, stdout, stderr).
fn service_cmd(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = crate::binary::wxlogin()
        .arg("service")
        .args(args)
        .args(["--database-url", url])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

async fn services_are_managed_from_the_command_line(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let url = url_text(&url);
    let (code, out, _) = service_cmd(&url, &["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("no services yet"), "{out}");

    let (code, out, err) = service_cmd(&url, &["create", "orders"]);
    assert_eq!(code, Some(0), "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let (client_id, secret) = (field("client_id:"), field("client_secret:"));
    assert!(
        client_id.starts_with("svc_") && secret.starts_with("wxs_"),
        "{out}"
    );

    let (code, _, err) = service_cmd(&url, &["create", "orders"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = service_cmd(&url, &["create", "bad name"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("a service name has"), "{err}");

    let (code, out, _) = service_cmd(&url, &["list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("orders") && out.contains(&client_id) && out.contains("live"),
        "{out}"
    );
    assert!(
        !out.contains(&secret),
        "the secret is shown only once: {out}"
    );

    let (code, _, err) = service_cmd(&url, &["revoke", "orders"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = service_cmd(&url, &["revoke", "orders"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no live service named orders"), "{err}");
    let (code, out, _) = service_cmd(&url, &["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("revoked"), "{out}");
    drop(db);
}
