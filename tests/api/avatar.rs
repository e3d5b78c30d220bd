//! `POST /api/me/avatar` and `GET /media/avatars/NAME`.

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(
    avatar_upload_is_stored_and_served,
    avatar_limits_keep_nothing,
    media_paths_cannot_escape,
    avatar_urls_use_the_public_url,
    forwarded_hosts_count_only_behind_a_trusted_proxy,
);

/// Uploads an avatar with extra request headers and returns its URL.
async fn avatar_url_with(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> String {
    let mut request = app
        .client
        .post(app.url("/api/me/avatar"))
        .bearer_auth(token)
        .multipart(file_form(png(100), "a.png", "image/png"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let user = user_of(request.send().await.unwrap()).await;
    user["avatar_url"].as_str().unwrap().to_owned()
}

async fn forwarded_hosts_count_only_behind_a_trusted_proxy(backend: Backend) {
    let forged: [&[(&str, &str)]; 3] = [
        &[("X-Forwarded-Host", "evil.example")],
        &[("Forwarded", "host=evil.example;proto=https")],
        &[
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
        ],
    ];
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oFORWARD").await;
    for headers in forged {
        let url = avatar_url_with(&app, &token, headers).await;
        assert!(
            url.starts_with(&format!("{}/media/", app.address)),
            "{headers:?}: {url}"
        );
    }

    let proxied = spawn_app_with(backend, |s| s.trust_proxy = true).await;
    let token = logged_in(&proxied, "oFORWARD").await;
    let url = avatar_url_with(
        &proxied,
        &token,
        &[
            ("X-Forwarded-Host", "login.example.com"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert!(
        url.starts_with("https://login.example.com/media/avatars/"),
        "{url}"
    );
}

const MIB: usize = 1024 * 1024;

/// A PNG of `width`×`height` pixels, as its header says, `len` bytes long.
pub fn png_sized(width: u32, height: u32, len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(len.max(bytes.len()), 0x42);
    bytes
}

pub fn png(len: usize) -> Vec<u8> {
    png_sized(64, 64, len)
}

fn jpeg(len: usize) -> Vec<u8> {
    // Start of image, then a baseline frame header: 8 bits, 48 high, 64 wide.
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 48, 0x00, 64];
    bytes.resize(len.max(bytes.len()), 7);
    bytes
}

fn webp(len: usize) -> Vec<u8> {
    // An extended WebP header: width - 1 and height - 1 in 24 bits each.
    let mut bytes = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    bytes.extend([63, 0, 0, 63, 0, 0]);
    bytes.resize(len.max(bytes.len()), 1);
    bytes
}

pub fn file_form(bytes: Vec<u8>, file_name: &str, mime: &str) -> Form {
    Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

impl TestApp {
    pub async fn upload(&self, token: &str, form: Form) -> reqwest::Response {
        self.client
            .post(self.url("/api/me/avatar"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("POST /api/me/avatar")
    }

    /// The names of the files in the avatar directory.
    pub fn stored_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.data_dir.path().join("avatars"))
            .expect("the avatar directory exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

async fn logged_in(app: &TestApp, openid: &str) -> String {
    app.wechat_answers(code2session_ok(openid, "k", None)).await;
    app.login_ok("c").await.0
}

async fn avatar_upload_is_stored_and_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oAVATAR").await;
    assert!(app.stored_files().is_empty());

    // The name and declared type do not matter: the bytes do.
    let cases = [
        (png(5000), "photo.jpg", "image/jpeg", "png", "image/png"),
        (
            jpeg(3000),
            "tmp_abc",
            "application/octet-stream",
            "jpg",
            "image/jpeg",
        ),
        (webp(2 * MIB), "x.webp", "image/webp", "webp", "image/webp"),
    ];
    for (i, (bytes, name, mime, ext, content_type)) in cases.into_iter().enumerate() {
        let user = user_of(
            app.upload(&token, file_form(bytes.clone(), name, mime))
                .await,
        )
        .await;
        let url = user["avatar_url"].as_str().unwrap().to_owned();
        let prefix = format!("{}/media/avatars/", app.address);
        assert!(url.starts_with(&prefix), "{url}");
        let file = &url[prefix.len()..];
        let (stem, got_ext) = file.split_once('.').unwrap();
        assert_eq!(got_ext, ext);
        assert_eq!(stem.len(), 32);
        assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(app.me(&token).await["avatar_url"], url.as_str());
        // The upload replaced the one before, whose file is gone.
        assert_eq!(app.stored_files(), vec![file.to_owned()], "upload {i}");

        let served = app.client.get(&url).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], content_type);
        assert_eq!(served.headers()["x-content-type-options"], "nosniff");
        assert_eq!(served.bytes().await.unwrap().as_ref(), &bytes[..]);
    }
    // Other fields beside `file` are ignored.
    let form = file_form(png(100), "a.png", "image/png").text("note", "hello");
    user_of(app.upload(&token, form).await).await;
}

async fn avatar_limits_keep_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oLIMITS").await;
    let user = user_of(
        app.upload(&token, file_form(png(1000), "ok.png", "image/png"))
            .await,
    )
    .await;
    let avatar = user["avatar_url"].clone();
    let kept = app.stored_files();
    assert_eq!(kept.len(), 1);

    // Over 2 MiB by one byte.
    let response = app
        .upload(&token, file_form(png(2 * MIB + 1), "big.png", "image/png"))
        .await;
    assert_error(response, 413, "payload_too_large").await;
    // Far over: refused from Content-Length alone.
    let response = app
        .client
        .post(app.url("/api/me/avatar"))
        .bearer_auth(&token)
        .multipart(file_form(png(9 * MIB), "huge.png", "image/png"))
        .send()
        .await;
    if let Ok(response) = response {
        // The server may answer before the body is sent, or close the connection.
        assert_error(response, 413, "payload_too_large").await;
    }

    let bad: Vec<(Form, &str)> = vec![
        (
            file_form(
                b"just some text, not an image".to_vec(),
                "notes.png",
                "image/png",
            ),
            "text renamed .png",
        ),
        (
            file_form(
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
                "a.svg",
                "image/svg+xml",
            ),
            "svg",
        ),
        (
            file_form(b"GIF89a......".to_vec(), "a.gif", "image/gif"),
            "gif",
        ),
        (
            file_form(Vec::new(), "empty.png", "image/png"),
            "empty file",
        ),
        (
            Form::new().part("image", Part::bytes(png(100)).file_name("a.png")),
            "wrong field name",
        ),
        (
            file_form(png(100), "a.png", "image/png")
                .part("file", Part::bytes(png(100)).file_name("b.png")),
            "two files",
        ),
        (Form::new().text("file", "not a file"), "text field"),
        (
            file_form(png_sized(20_000, 20_000, 51_000), "bomb.png", "image/png"),
            "a small PNG that claims 20000×20000 pixels",
        ),
        (
            file_form(png_sized(4097, 16, 1000), "wide.png", "image/png"),
            "one pixel wider than allowed",
        ),
        (
            file_form(
                b"\x89PNG\r\n\x1a\nthis is no IHDR chunk at all".to_vec(),
                "fake.png",
                "image/png",
            ),
            "PNG magic bytes with no PNG header",
        ),
        (
            file_form(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0], "cut.jpg", "image/jpeg"),
            "JPEG magic bytes with no frame header",
        ),
    ];
    for (form, what) in bad {
        let error = assert_error(app.upload(&token, form).await, 400, "invalid_request").await;
        println!("{what}: {}", error["error"]["message"]);
    }
    // Not multipart at all.
    let response = app
        .client
        .post(app.url("/api/me/avatar"))
        .bearer_auth(&token)
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_request").await;
    // No token.
    let response = app
        .client
        .post(app.url("/api/me/avatar"))
        .multipart(file_form(png(100), "a.png", "image/png"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;

    assert_eq!(
        app.stored_files(),
        kept,
        "no file was kept, not even a temporary one"
    );
    assert_eq!(app.me(&token).await["avatar_url"], avatar);
    // The largest allowed size is accepted.
    user_of(
        app.upload(
            &token,
            file_form(png_sized(4096, 4096, 200), "max.png", "image/png"),
        )
        .await,
    )
    .await;
}

async fn media_paths_cannot_escape(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = logged_in(&app, "oPATHS").await;
    let user = user_of(
        app.upload(&token, file_form(png(64), "a.png", "image/png"))
            .await,
    )
    .await;
    let url = user["avatar_url"].as_str().unwrap();
    assert_eq!(app.client.get(url).send().await.unwrap().status(), 200);
    // A file that exists beside the avatars, which must never be served.
    std::fs::write(app.data_dir.path().join("secret.txt"), "secret").unwrap();
    std::fs::write(
        app.data_dir
            .path()
            .join("avatars")
            .join(format!("{}.txt", "0".repeat(32))),
        "not an avatar",
    )
    .unwrap();

    let paths = [
        "/media/avatars/..%2Fsecret.txt".to_owned(),
        "/media/avatars/%2e%2e%2fsecret.txt".to_owned(),
        "/media/avatars/..%5Csecret.txt".to_owned(),
        "/media/avatars/secret.txt".to_owned(),
        format!("/media/avatars/{}.txt", "0".repeat(32)),
        format!("/media/avatars/{}.png", "0".repeat(32)),
        format!("/media/avatars/{}.PNG", "0".repeat(32)),
        "/media/avatars/".to_owned(),
        "/media/secret.txt".to_owned(),
    ];
    for path in paths {
        // Sent as written, without client-side normalisation.
        let response = raw_get(&app, &path).await;
        assert!(
            response.starts_with("HTTP/1.1 404"),
            "{path}: {}",
            response.lines().next().unwrap_or("")
        );
        assert!(!response.contains("secret"), "{path}");
    }
    let response = raw_get(&app, "/media/avatars/../../secret.txt").await;
    assert!(!response.contains("\r\n\r\nsecret"), "{response}");
}

/// A GET with the path exactly as given, over a plain TCP connection.
async fn raw_get(app: &TestApp, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

async fn avatar_urls_use_the_public_url(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.public_url = Some("https://login.example.com/wx".into());
    })
    .await;
    let token = logged_in(&app, "oPUBLIC").await;
    let user: Value = user_of(
        app.upload(&token, file_form(jpeg(64), "a.jpg", "image/jpeg"))
            .await,
    )
    .await;
    let url = user["avatar_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://login.example.com/wx/media/avatars/"),
        "{url}"
    );
    // The same file is served here under its name.
    let name = url.rsplit('/').next().unwrap();
    let served = app
        .client
        .get(app.url(&format!("/media/avatars/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
}
