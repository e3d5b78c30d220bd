//! `/auth/verify`, by itself and behind Debian's real nginx with
//! `auth_request`, in front of a small upstream service.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    verify_answers_who_the_token_is,
    nginx_passes_the_identity_and_never_a_forged_one,
);

async fn verify(app: &TestApp, method: reqwest::Method, auth: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(method, app.url("/auth/verify"));
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn verify_answers_who_the_token_is(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oVERIFY", "k", Some("oUNION-VERIFY")))
        .await;
    let (token, body) = app.login_ok("c1").await;
    let bearer = format!("Bearer {token}");
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::HEAD,
    ] {
        let response = verify(&app, method, Some(&bearer)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "x-wxlogin-account-id"),
            Some(body["user"]["id"].to_string().as_str())
        );
        assert_eq!(header(&response, "x-wxlogin-appid"), Some(APPID));
        assert_eq!(header(&response, "x-wxlogin-openid"), Some("oVERIFY"));
        assert_eq!(
            header(&response, "x-wxlogin-unionid"),
            Some("oUNION-VERIFY")
        );
    }

    // No unionid, no header.
    app.wechat_answers(code2session_ok("oNOUNION", "k", None))
        .await;
    let (plain, _) = app.login_ok("c2").await;
    let response = verify(&app, reqwest::Method::GET, Some(&format!("Bearer {plain}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-wxlogin-unionid"), None);

    app.logout(&token).await;
    let forged = format!("Bearer wxl_{}", "A".repeat(43));
    for auth in [
        None,
        Some(bearer.as_str()),
        Some(forged.as_str()),
        Some("Bearer"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer not-a-token"),
    ] {
        let response = verify(&app, reqwest::Method::GET, auth).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(header(&response, "www-authenticate"), Some("Bearer"));
        assert_eq!(header(&response, "x-wxlogin-openid"), None);
    }
}

/// Debian's nginx, or `None` (a failure in CI, which installs it).
fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI installs nginx");
        eprintln!("SKIPPED: the nginx test needs Debian's nginx");
    }
    found
}

/// nginx in the foreground, as one process, killed when dropped.
struct Nginx {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The README's snippet, with a test's ports and paths around it.
fn nginx_config(dir: &Path, port: u16, wxlogin: &str, upstream: &str) -> String {
    let d = dir.display();
    let snippet = include_str!("../../deploy/nginx-forward-auth.conf")
        .replace("http://wxlogin:8080", wxlogin)
        .replace("http://orders:9000", upstream);
    format!(
        "master_process off;\ndaemon off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen 127.0.0.1:{port};\n{snippet}\n  }}\n}}\n"
    )
}

async fn start_nginx(binary: &Path, wxlogin: &str, upstream: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("nginx.conf");
    std::fs::write(&config, nginx_config(dir.path(), port, wxlogin, upstream)).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let nginx = Nginx {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

async fn nginx_passes_the_identity_and_never_a_forged_one(backend: Backend) {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_app(backend).await;
    let upstream = MockServer::start().await;
    Mock::given(path_regex("^/orders/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("orders"))
        .mount(&upstream)
        .await;
    let nginx = start_nginx(&binary, &app.address, &upstream.uri()).await;
    app.wechat_answers(code2session_ok("oNGINX", "k", Some("oUNION-NGINX")))
        .await;
    let (token, body) = app.login_ok("c1").await;
    let account_id = body["user"]["id"].to_string();
    app.wechat_answers(code2session_ok("oNGINX-PLAIN", "k", None))
        .await;
    let (plain, _) = app.login_ok("c2").await;

    let client = reqwest::Client::new();
    let forged = |request: reqwest::RequestBuilder| {
        request
            .header("X-Wxlogin-Account-Id", "999999")
            .header("X-Wxlogin-Appid", "wx9999999999999999")
            .header("X-Wxlogin-Openid", "oFORGED")
            .header("X-Wxlogin-Unionid", "oFORGED-UNION")
    };
    let response = forged(
        client
            .get(format!("{}/orders/1", nginx.base))
            .bearer_auth(&token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "orders");
    // nginx keeps the method of the request it checks: a POST with a body.
    let response = forged(
        client
            .post(format!("{}/orders/2", nginx.base))
            .bearer_auth(&plain),
    )
    .json(&json!({"item": 1}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);

    let received = upstream.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    let seen = |i: usize, name: &str| -> Vec<String> {
        received[i]
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(seen(0, "x-wxlogin-account-id"), [account_id]);
    assert_eq!(seen(0, "x-wxlogin-appid"), [APPID]);
    assert_eq!(seen(0, "x-wxlogin-openid"), ["oNGINX"]);
    assert_eq!(seen(0, "x-wxlogin-unionid"), ["oUNION-NGINX"]);
    assert_eq!(seen(1, "x-wxlogin-openid"), ["oNGINX-PLAIN"]);
    assert!(
        seen(1, "x-wxlogin-unionid").is_empty(),
        "a forged unionid got through"
    );
    assert_eq!(received[1].body, br#"{"item":1}"#);

    // Revoked, unknown or no token: 401 from nginx, and nothing upstream.
    app.logout(&token).await;
    for auth in [Some(token.as_str()), Some("wxl_forged"), None] {
        let mut request = forged(client.get(format!("{}/orders/3", nginx.base)));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
    }
    assert_eq!(upstream.received_requests().await.unwrap().len(), 2);
}
