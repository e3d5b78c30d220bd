//! Content security for profiles: nicknames through WeChat's
//! `msg_sec_check`, avatars through `media_check_async` and the message
//! push that brings their verdict, the operators' review queue, and every
//! push that must be refused.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::config::{push_settings, PushSettings};
use wxlogin::wechat::push::{seal, signature, PushKeys};

use crate::avatar::{file_form, png};
use crate::backend_tests;
use crate::common::*;
use crate::fixtures::user_of;

backend_tests!(
    nicknames_pass_are_refused_or_wait_for_an_operator,
    avatars_wait_for_wechats_push,
    bad_pushes_are_refused_and_change_nothing,
    a_push_that_never_comes_is_asked_for_again_then_reviewed,
    plaintext_pushes_in_xml_are_read_too,
    the_simulator_checks_text_and_pushes_image_verdicts,
    decisions_are_sent_as_webhooks_without_their_values,
);

const PUSH_TOKEN: &str = "pushToken123";
const PUSH_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn push_keys(aes: bool) -> Option<PushSettings> {
    push_settings(Some(PUSH_TOKEN), aes.then_some(PUSH_AES_KEY)).unwrap()
}

/// An app with content checks on, its message push set up (in safe mode
/// when `aes`), and a public URL, which image checks need.
async fn checked_app(backend: Backend, aes: bool, wait: Duration) -> TestApp {
    spawn_app_with(backend, |s| {
        s.wechat.apps[0].content_check = true;
        s.wechat.apps[0].push = push_keys(aes);
        s.public_url = Some("https://login.example.com".into());
        s.image_check_wait = wait;
    })
    .await
}

/// Logs `openid` in, with the access token available; returns the token.
async fn logged_in(app: &TestApp, openid: &str) -> String {
    app.wechat_answers(code2session_ok(openid, "a2V5a2V5a2V5a2V5a2V5aw==", None))
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "T", "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
    app.login_ok(&format!("code-{openid}")).await.0
}

async fn text_verdict(app: &TestApp, openid: &str, content: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .and(body_json(
            json!({"content": content, "version": 2, "scene": 1, "openid": openid}),
        ))
        .respond_with(answer)
        .expect(1)
        .mount(&app.wechat)
        .await;
}

fn verdict(suggest: &str, label: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "errcode": 0, "errmsg": "ok", "trace_id": "t",
        "result": {"suggest": suggest, "label": label}
    }))
}

/// The admin's view of the user table's only row: its nickname cell.
async fn admin_nickname(admin: &AdminClient) -> String {
    let csv = admin.get("/admin/users.csv").await.text().await.unwrap();
    let row = csv.trim_end().split("\r\n").nth(1).unwrap().to_owned();
    row.split(',').nth(5).unwrap().to_owned()
}

/// The check ids in the review queue, from its forms.
async fn queued(admin: &AdminClient) -> Vec<i64> {
    let html = admin.page("/admin/review").await;
    html.split("action=\"/admin/review/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/approve").map(|(id, _)| id))
        .filter_map(|id| id.parse().ok())
        .collect()
}

async fn decide(admin: &AdminClient, id: i64, how: &str) -> reqwest::Response {
    let csrf = admin.csrf().await;
    admin
        .post_form(&format!("/admin/review/{id}/{how}"), &[("csrf", &csrf)])
        .await
}

async fn nicknames_pass_are_refused_or_wait_for_an_operator(backend: Backend) {
    let app = checked_app(backend, true, Duration::from_secs(600)).await;
    let token = logged_in(&app, "oNICK").await;
    let admin = app.admin().await;

    text_verdict(&app, "oNICK", "小明", verdict("pass", 100)).await;
    let user = user_of(app.patch_me(&token, &json!({"nickname": "小明"})).await).await;
    assert_eq!(user["nickname"], "小明");
    assert_eq!(user["pending_review"], json!([]));
    assert_eq!(admin_nickname(&admin).await, "小明");

    // Risky: refused with WeChat's label; nothing changes, not even the
    // other fields sent with it.
    text_verdict(&app, "oNICK", "坏名字", verdict("risky", 20002)).await;
    let body = assert_error(
        app.patch_me(&token, &json!({"nickname": "坏名字", "city": "Hangzhou"}))
            .await,
        400,
        "content_rejected",
    )
    .await;
    assert_eq!(body["error"]["label"], 20002);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pornography"));
    let me = app.me(&token).await;
    assert_eq!(
        (me["nickname"].as_str(), me["city"].as_str()),
        (Some("小明"), Some(""))
    );

    // Review: held. Its user sees it; the admin table and CSV keep 小明.
    text_verdict(&app, "oNICK", "待定的名字", verdict("review", 21000)).await;
    let user = user_of(
        app.patch_me(
            &token,
            &json!({"nickname": "待定的名字", "city": "Hangzhou"}),
        )
        .await,
    )
    .await;
    assert_eq!(user["nickname"], "待定的名字");
    assert_eq!(user["city"], "Hangzhou", "the other fields change at once");
    assert_eq!(user["pending_review"], json!(["nickname"]));
    assert_eq!(app.me(&token).await["nickname"], "待定的名字");
    assert_eq!(admin_nickname(&admin).await, "小明");
    let html = admin.page("/admin/users").await;
    assert!(!html.contains("待定的名字"), "{html}");

    // An operator approves it: the account's now; audited.
    let ids = queued(&admin).await;
    assert_eq!(ids.len(), 1);
    let review_page = admin.page("/admin/review").await;
    assert!(review_page.contains("待定的名字") && review_page.contains("21000 (other)"));
    assert_eq!(decide(&admin, ids[0], "approve").await.status(), 303);
    assert_eq!(admin_nickname(&admin).await, "待定的名字");
    assert_eq!(app.me(&token).await["pending_review"], json!([]));
    assert!(queued(&admin).await.is_empty());
    // Decided once: a second decision is refused.
    assert_eq!(decide(&admin, ids[0], "reject").await.status(), 409);

    // No verdict in time: held for review, never passed; then rejected.
    text_verdict(
        &app,
        "oNICK",
        "慢名字",
        verdict("pass", 100).set_delay(Duration::from_secs(3)),
    )
    .await;
    let user = user_of(app.patch_me(&token, &json!({"nickname": "慢名字"})).await).await;
    assert_eq!(user["pending_review"], json!(["nickname"]));
    let ids = queued(&admin).await;
    assert_eq!(decide(&admin, ids[0], "reject").await.status(), 303);
    assert_eq!(app.me(&token).await["nickname"], "待定的名字");
    let audit = admin.page("/admin/audit").await;
    assert!(audit.contains("content_approved") && audit.contains("content_rejected"));

    app.wechat.verify().await;
}

/// A push as WeChat sends it in safe mode: JSON with `Encrypt`, and the
/// query's signatures.
fn safe_push(appid: &str, message: &Value, timestamp: i64) -> (Vec<(String, String)>, Value) {
    let keys = PushKeys::new(PUSH_TOKEN, Some(PUSH_AES_KEY)).unwrap();
    let encrypt = seal(&keys, appid, &message.to_string(), [7; 16]).unwrap();
    let (timestamp, nonce) = (timestamp.to_string(), format!("n{}", rand_suffix()));
    let query = vec![
        (
            "signature".into(),
            signature(PUSH_TOKEN, &[&timestamp, &nonce]),
        ),
        ("timestamp".into(), timestamp.clone()),
        ("nonce".into(), nonce.clone()),
        ("encrypt_type".into(), "aes".into()),
        (
            "msg_signature".into(),
            signature(PUSH_TOKEN, &[&timestamp, &nonce, &encrypt]),
        ),
    ];
    (query, json!({"ToUserName": "gh_test", "Encrypt": encrypt}))
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn media_verdict(trace_id: &str, suggest: &str, label: i64) -> Value {
    json!({
        "ToUserName": "gh_test", "FromUserName": "oAVATAR", "CreateTime": 1_700_000_000,
        "MsgType": "event", "Event": "wxa_media_check", "appid": APPID,
        "trace_id": trace_id, "version": 2, "errcode": 0, "errmsg": "ok",
        "result": {"suggest": suggest, "label": label}
    })
}

async fn push(
    app: &TestApp,
    appid: &str,
    query: &[(String, String)],
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/wechat/push/{appid}")))
        .query(query)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn image_trace(app: &TestApp, trace_id: &str) {
    Mock::given(method("POST"))
        .and(path("/wxa/media_check_async"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.wechat)
        .await;
}

async fn avatars_wait_for_wechats_push(backend: Backend) {
    let app = checked_app(backend, true, Duration::from_secs(600)).await;
    let token = logged_in(&app, "oAVATAR").await;
    let admin = app.admin().await;

    // A verdict that comes before the server has stored its trace id is
    // refused and not remembered, so WeChat's retry of it is applied.
    let (query, body) = safe_push(
        APPID,
        &media_verdict("trace-pass", "pass", 100),
        wxlogin::clock::unix_now(),
    );
    assert_error(push(&app, APPID, &query, &body).await, 400, "invalid_push").await;

    // Submitted with its public URL; pending until the verdict comes.
    image_trace(&app, "trace-pass").await;
    let user = user_of(
        app.upload(&token, file_form(png(200), "a.png", "image/png"))
            .await,
    )
    .await;
    let url = user["avatar_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("https://login.example.com/media/avatars/"),
        "{url}"
    );
    assert_eq!(user["pending_review"], json!(["avatar_url"]));
    let submitted: Value = serde_json::from_slice(
        &app.wechat
            .received_requests()
            .await
            .unwrap()
            .last()
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        submitted,
        json!({"media_url": url, "media_type": 2, "version": 2, "scene": 1, "openid": "oAVATAR"})
    );
    let page = admin.page("/admin/users").await;
    assert!(!page.contains(&url), "others do not see it yet");

    let response = push(&app, APPID, &query, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "success");
    let me = app.me(&token).await;
    assert_eq!(me["avatar_url"], url.as_str());
    assert_eq!(me["pending_review"], json!([]));
    // The same push again (a replay): refused, nothing changes.
    assert_error(push(&app, APPID, &query, &body).await, 409, "conflict").await;

    // Risky: the new avatar is dropped, its file removed; the old one stays.
    image_trace(&app, "trace-risky").await;
    let risky = user_of(
        app.upload(&token, file_form(png(300), "b.png", "image/png"))
            .await,
    )
    .await;
    let risky_url = risky["avatar_url"].as_str().unwrap().to_owned();
    assert_eq!(app.stored_files().len(), 2);
    let (query, body) = safe_push(
        APPID,
        &media_verdict("trace-risky", "risky", 20002),
        wxlogin::clock::unix_now(),
    );
    assert_eq!(push(&app, APPID, &query, &body).await.status(), 200);
    let me = app.me(&token).await;
    assert_eq!(me["avatar_url"], url.as_str());
    assert_ne!(me["avatar_url"], risky_url.as_str());
    assert_eq!(app.stored_files().len(), 1, "the risky file is gone");

    // Review: to the operators, who approve it.
    image_trace(&app, "trace-review").await;
    let third = user_of(
        app.upload(&token, file_form(png(400), "c.png", "image/png"))
            .await,
    )
    .await;
    let (query, body) = safe_push(
        APPID,
        &media_verdict("trace-review", "review", 21000),
        wxlogin::clock::unix_now(),
    );
    assert_eq!(push(&app, APPID, &query, &body).await.status(), 200);
    assert_eq!(
        app.me(&token).await["pending_review"],
        json!(["avatar_url"])
    );
    let ids = queued(&admin).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(decide(&admin, ids[0], "approve").await.status(), 303);
    assert_eq!(app.me(&token).await["avatar_url"], third["avatar_url"]);
    app.wechat.verify().await;
}

async fn bad_pushes_are_refused_and_change_nothing(backend: Backend) {
    let app = checked_app(backend, true, Duration::from_secs(600)).await;
    let token = logged_in(&app, "oBADPUSH").await;
    let admin = app.admin().await;
    image_trace(&app, "trace-bad").await;
    app.upload(&token, file_form(png(200), "a.png", "image/png"))
        .await;
    let now = wxlogin::clock::unix_now();
    let good = media_verdict("trace-bad", "pass", 100);

    // A forged signature, a forged message signature.
    let (mut query, body) = safe_push(APPID, &good, now);
    query[0].1 = "0".repeat(40);
    assert_error(push(&app, APPID, &query, &body).await, 403, "push_refused").await;
    let (mut query, body) = safe_push(APPID, &good, now);
    query[4].1 = "0".repeat(40);
    assert_error(push(&app, APPID, &query, &body).await, 403, "push_refused").await;
    // Sealed for another appid; sent to an app this server does not serve.
    let (query, body) = safe_push("wx9999999999999999", &good, now);
    assert_error(push(&app, APPID, &query, &body).await, 403, "push_refused").await;
    let (query, body) = safe_push(APPID, &good, now);
    assert_error(
        push(&app, "wx9999999999999999", &query, &body).await,
        404,
        "not_found",
    )
    .await;
    // A plaintext body where safe mode is set up.
    let (query, _) = safe_push(APPID, &good, now);
    assert_error(push(&app, APPID, &query, &good).await, 403, "push_refused").await;
    // Stale (ten minutes old), an unknown trace id.
    let (query, body) = safe_push(APPID, &good, now - 600);
    let stale = assert_error(push(&app, APPID, &query, &body).await, 400, "invalid_push").await;
    assert!(stale["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timestamp"));
    let (query, body) = safe_push(APPID, &media_verdict("no-such-trace", "pass", 100), now);
    assert_error(push(&app, APPID, &query, &body).await, 400, "invalid_push").await;
    // Not XML or JSON; oversized.
    let (query, _) = safe_push(APPID, &good, now);
    let response = app
        .client
        .post(app.url(&format!("/wechat/push/{APPID}")))
        .query(&query)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_push").await;
    let response = app
        .client
        .post(app.url(&format!("/wechat/push/{APPID}")))
        .query(&query)
        .body(vec![b'{'; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Nothing changed: the avatar still waits for its verdict.
    assert_eq!(
        app.me(&token).await["pending_review"],
        json!(["avatar_url"])
    );
    assert!(queued(&admin).await.is_empty());

    // The console's URL check: the echostr back, or a refusal.
    let ts = now.to_string();
    let url_check = |sig: String, echostr: &str| {
        app.client
            .get(app.url(&format!("/wechat/push/{APPID}")))
            .query(&[
                ("signature", sig.as_str()),
                ("timestamp", &ts),
                ("nonce", "n1"),
                ("echostr", echostr),
            ])
            .send()
    };
    let ok = url_check(signature(PUSH_TOKEN, &[&ts, "n1"]), "hello-123")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello-123");
    assert_error(
        url_check("0".repeat(40), "hello").await.unwrap(),
        403,
        "push_refused",
    )
    .await;
    assert_error(
        url_check(signature(PUSH_TOKEN, &[&ts, "n1"]), "<script>")
            .await
            .unwrap(),
        400,
        "invalid_push",
    )
    .await;
}

async fn a_push_that_never_comes_is_asked_for_again_then_reviewed(backend: Backend) {
    let app = checked_app(backend, true, Duration::from_millis(400)).await;
    let token = logged_in(&app, "oNOPUSH").await;
    let admin = app.admin().await;
    Mock::given(method("POST"))
        .and(path("/wxa/media_check_async"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 0, "errmsg": "ok", "trace_id": "again"})),
        )
        .expect(3)
        .mount(&app.wechat)
        .await;
    app.upload(&token, file_form(png(200), "a.png", "image/png"))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while queued(&admin).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never sent to review");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = admin.page("/admin/review").await;
    assert!(html.contains("verdict did not come"), "{html}");
    app.wechat.verify().await;
}

async fn plaintext_pushes_in_xml_are_read_too(backend: Backend) {
    let app = checked_app(backend, false, Duration::from_secs(600)).await;
    let token = logged_in(&app, "oXML").await;
    image_trace(&app, "trace-xml").await;
    app.upload(&token, file_form(png(200), "a.png", "image/png"))
        .await;
    let ts = wxlogin::clock::unix_now().to_string();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oXML]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[wxa_media_check]]></Event><appid><![CDATA[{APPID}]]></appid>\
         <trace_id><![CDATA[trace-xml]]></trace_id><version>2</version><errcode>0</errcode>\
         <errmsg><![CDATA[ok]]></errmsg><result><suggest><![CDATA[pass]]></suggest><label>100</label></result></xml>"
    );
    let response = app
        .client
        .post(app.url(&format!("/wechat/push/{APPID}")))
        .query(&[
            ("signature", signature(PUSH_TOKEN, &[&ts, "n2"])),
            ("timestamp", ts.clone()),
            ("nonce", "n2".into()),
        ])
        .header("Content-Type", "text/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&token).await["pending_review"], json!([]));
}

/// `serve --dev --content-check on` through the real binary: the
/// simulator's trigger words for text, and image verdicts that come as
/// real signed, encrypted pushes from the simulator to the server's own
/// push endpoint, after it fetched the image by its public URL.
async fn the_simulator_checks_text_and_pushes_image_verdicts(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let database = database_url(&url);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://{bind}");
    let (_server, base, _, _) = crate::binary::start_dev_server_on(
        dir.path(),
        Some(&database),
        &[
            "--bind",
            &bind,
            "--public-url",
            &public,
            "--content-check",
            "on",
        ],
    );
    let client = reqwest::Client::new();
    let token = crate::binary::dev_login(&base, "demo-1").await;
    let patch = |nickname: &str| {
        client
            .patch(format!("{base}/api/me"))
            .bearer_auth(&token)
            .json(&json!({"nickname": nickname}))
            .send()
    };
    assert_error(patch("有违禁内容").await.unwrap(), 400, "content_rejected").await;
    let held: Value = patch("等待待审").await.unwrap().json().await.unwrap();
    assert_eq!(held["user"]["pending_review"], json!(["nickname"]));
    let passed: Value = patch("小明").await.unwrap().json().await.unwrap();
    assert_eq!(passed["user"]["pending_review"], json!([]));
    assert_eq!(passed["user"]["nickname"], "小明");

    let upload = |image: Vec<u8>| {
        client
            .post(format!("{base}/api/me/avatar"))
            .bearer_auth(&token)
            .multipart(file_form(image, "a.png", "image/png"))
            .send()
    };
    let me = || async {
        let body: Value = client
            .get(format!("{base}/api/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["user"].clone()
    };
    let settled = |wanted: &'static str| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let user = me().await;
            if user["pending_review"] == json!([]) {
                return user;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no verdict for the {wanted} image: {user}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let clean: Value = upload(png(300)).await.unwrap().json().await.unwrap();
    let clean_url = clean["user"]["avatar_url"].as_str().unwrap().to_owned();
    assert_eq!(clean["user"]["pending_review"], json!(["avatar_url"]));
    assert_eq!(settled("clean").await["avatar_url"], clean_url.as_str());

    let mut risky = png(300);
    risky.extend_from_slice(b"risky");
    let sent: Value = upload(risky).await.unwrap().json().await.unwrap();
    assert_ne!(sent["user"]["avatar_url"], clean_url.as_str());
    assert_eq!(
        settled("risky").await["avatar_url"],
        clean_url.as_str(),
        "the risky one is dropped"
    );
}

/// With a webhook, each decision records `content.reviewed` (and
/// `profile.updated` when the value is taken) in the outbox, without the
/// value; a held nickname records no `profile.updated` for it.
async fn decisions_are_sent_as_webhooks_without_their_values(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.wechat.apps[0].content_check = true;
        s.wechat.apps[0].push = push_keys(true);
        s.public_url = Some("https://login.example.com".into());
        // A receiver that never answers: the events wait in the outbox.
        let mut hook = wxlogin::config::WebhookSettings::new(
            "http://127.0.0.1:9/hooks",
            "webhook-secret-0123456789",
        )
        .unwrap();
        hook.first_retry = Duration::from_secs(3600);
        s.webhook = Some(hook);
    })
    .await;
    let token = logged_in(&app, "oHOOK").await;
    let admin = app.admin().await;
    let events = |kind: &'static str| app.count_rows("webhook_events", kind);

    text_verdict(&app, "oHOOK", "秘密名字", verdict("review", 21000)).await;
    user_of(app.patch_me(&token, &json!({"nickname": "秘密名字"})).await).await;
    assert_eq!(
        events("kind = 'profile.updated'").await,
        0,
        "held: not updated"
    );
    let ids = queued(&admin).await;
    assert_eq!(decide(&admin, ids[0], "approve").await.status(), 303);
    assert_eq!(events("kind = 'content.reviewed'").await, 1);
    assert_eq!(events("kind = 'profile.updated'").await, 1);

    image_trace(&app, "trace-hook").await;
    app.upload(&token, file_form(png(200), "a.png", "image/png"))
        .await;
    let (query, body) = safe_push(
        APPID,
        &media_verdict("trace-hook", "risky", 20002),
        wxlogin::clock::unix_now(),
    );
    assert_eq!(push(&app, APPID, &query, &body).await.status(), 200);
    assert_eq!(events("kind = 'content.reviewed'").await, 2);
    assert_eq!(
        events("kind = 'profile.updated'").await,
        1,
        "rejected: not updated"
    );
    let payloads: Vec<String> = app
        .with_db(|c| {
            use diesel::prelude::*;
            use wxlogin::db::schema::webhook_events as w;
            wxlogin::on_backend!(c, |c| w::table
                .filter(w::kind.eq("content.reviewed"))
                .order(w::id)
                .select(w::payload)
                .load(c))
            .unwrap()
        })
        .await;
    let first: Value = serde_json::from_str(&payloads[0]).unwrap();
    assert_eq!(
        first["data"],
        json!({"account_id": 1, "field": "nickname", "decision": "approved", "by": "admin", "label": 21000})
    );
    let second: Value = serde_json::from_str(&payloads[1]).unwrap();
    assert_eq!(second["data"]["decision"], "rejected");
    assert_eq!(second["data"]["by"], "wechat");
    assert_eq!(second["data"]["label"], 20002);
    for payload in &payloads {
        assert!(
            !payload.contains("秘密名字") && !payload.contains("/media/avatars/"),
            "{payload}"
        );
    }
}

/// Without `--public-url`, WeChat cannot fetch an avatar to check it: the
/// start-up log says that avatars go unchecked, and an upload is the
/// user's at once (nicknames are still checked).
#[tokio::test]
async fn without_a_public_url_avatars_go_unchecked_and_the_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, log, _) =
        crate::binary::start_dev_server(dir.path(), &["--content-check", "on"]);
    let log = log.join("\n");
    assert!(log.contains("avatars are not content-checked"), "{log}");
    assert!(log.contains("--public-url"), "{log}");
    let client = reqwest::Client::new();
    let token = crate::binary::dev_login(&base, "unchecked-1").await;
    let response = client
        .post(format!("{base}/api/me/avatar"))
        .bearer_auth(&token)
        .multipart(file_form(png(200), "a.png", "image/png"))
        .send()
        .await
        .unwrap();
    let user = user_of(response).await;
    assert_eq!(user["pending_review"], json!([]));
    assert!(user["avatar_url"]
        .as_str()
        .unwrap()
        .contains("/media/avatars/"));
}
