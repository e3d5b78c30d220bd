//! Every row of the README's error table, and bad input in every shape.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    malformed_requests_are_invalid_request,
    wechat_errcodes_map_to_statuses,
    wechat_failures_are_bad_gateway,
    hanging_wechat_times_out,
    unreachable_wechat_is_bad_gateway,
    undecodable_bodies_get_json_errors,
);

/// Sends raw bytes and returns the status, the content type and the body.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

async fn undecodable_bodies_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = |extra: &str, body: &[u8]| {
        let mut r = format!(
            "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    for request in [
        login("Content-Encoding: gzip\r\nContent-Length: 5\r\n", b"hello"),
        login("Content-Encoding: br\r\nContent-Length: 5\r\n", b"hello"),
        login("Transfer-Encoding: chunked\r\n", b"zz\r\n"),
    ] {
        let (status, content_type, body) = raw(&app, &request).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(body.contains(r#""code":"invalid_request""#), "{body}");
    }
    // Framing that the HTTP layer refuses before the application sees the
    // request gets a bare 400 (documented in the README).
    let (status, _, body) = raw(
        &app,
        &login("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b""),
    )
    .await;
    assert_eq!((status, body.as_str()), (400, ""));
}

async fn malformed_requests_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    // WeChat must not even be asked.
    Mock::given(method("GET"))
        .respond_with(code2session_ok("o", "k", None))
        .expect(0)
        .mount(&app.wechat)
        .await;

    const JSON: &str = "application/json";
    let long_code = format!(r#"{{"code": "{}"}}"#, "x".repeat(129));
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), JSON),
        ("".into(), JSON),
        ("[]".into(), JSON),
        ("{}".into(), JSON),
        (r#"{"code": null}"#.into(), JSON),
        (r#"{"code": ""}"#.into(), JSON),
        (r#"{"code": "   "}"#.into(), JSON),
        (r#"{"code": 12345}"#.into(), JSON),
        (r#"{"code": "a\u0000b"}"#.into(), JSON),
        (long_code, JSON),
        (r#"{"code": "abc"}"#.into(), "text/plain"),
        ("code=abc".into(), "application/x-www-form-urlencoded"),
    ];
    for (body, content_type) in cases {
        let response = app
            .client
            .post(app.url("/api/login"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 400, "invalid_request").await;
        assert!(error["error"].get("wechat_errcode").is_none());
        println!("{body:.40} -> {}", error["error"]["message"]);
    }
    // No content type at all.
    let response = app
        .client
        .post(app.url("/api/login"))
        .body(r#"{"code":"a"}"#)
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_request").await;

    // Far too large a body.
    let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(1 << 20));
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("content-type", JSON)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "payload_too_large").await;

    // 128 characters is still fine (WeChat answers for it here).
    app.wechat_answers(code2session_ok("oLONG", "k", None))
        .await;
    app.login_ok(&"码".repeat(128)).await;
    assert_eq!(app.count_users().await, 1);
}

async fn wechat_errcodes_map_to_statuses(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (40029, 401, "invalid_code"),
        (40163, 400, "code_used"),
        (45011, 429, "rate_limited"),
        (40226, 403, "user_blocked"),
        (-1, 502, "wechat_unavailable"),
        (40013, 502, "wechat_unavailable"),
        (40125, 502, "wechat_unavailable"),
    ];
    for (errcode, status, code) in cases {
        app.wechat_answers(code2session_err(errcode)).await;
        let response = app.post_login(&json!({"code": "c"})).await;
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "60");
        }
        let body = assert_error(response, status, code).await;
        assert_eq!(body["error"]["wechat_errcode"], errcode, "{body}");
    }
    // An answer that carries `"errcode": 0` is a success.
    app.wechat_answers(ResponseTemplate::new(200).set_body_json(
        json!({"errcode": 0, "errmsg": "ok", "openid": "oZERO", "session_key": "k"}),
    ))
    .await;
    app.login_ok("c").await;
    assert_eq!(app.count_users().await, 1, "failed logins write nothing");
    assert_eq!(app.count_sessions().await, 1);
}

async fn wechat_failures_are_bad_gateway(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ResponseTemplate::new(500).set_body_string("internal error"),
        ResponseTemplate::new(503),
        ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"openid": "o"})),
        ResponseTemplate::new(200).set_body_json(json!({"session_key": "k"})),
        ResponseTemplate::new(200).set_body_json(json!({"openid": "", "session_key": "k"})),
        ResponseTemplate::new(200).set_body_json(json!(["not", "an", "object"])),
    ];
    for template in cases {
        app.wechat_answers(template).await;
        let response = app.post_login(&json!({"code": "c"})).await;
        let body = assert_error(response, 502, "wechat_unavailable").await;
        assert!(body["error"].get("wechat_errcode").is_none());
        assert!(!body.to_string().contains(SECRET));
    }
    assert_eq!(app.count_users().await, 0);
    assert_eq!(app.count_sessions().await, 0);
}

async fn hanging_wechat_times_out(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.wechat.timeout = Duration::from_millis(500);
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(code2session_ok("oSLOW", "k", None).set_delay(Duration::from_secs(30)))
        .mount(&app.wechat)
        .await;
    let started = std::time::Instant::now();
    let response = app.post_login(&json!({"code": "c"})).await;
    assert_error(response, 502, "wechat_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the WeChat timeout was not applied"
    );
    assert_eq!(app.count_users().await, 0);
}

async fn unreachable_wechat_is_bad_gateway(backend: Backend) {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(backend, |s| {
        s.wechat.api_base = format!("http://127.0.0.1:{port}");
    })
    .await;
    let response = app.post_login(&json!({"code": "c"})).await;
    let body = assert_error(response, 502, "wechat_unavailable").await;
    assert!(!body.to_string().contains(SECRET));
}
