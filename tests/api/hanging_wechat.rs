//! A WeChat that hangs for one app: 200 logins waiting on it starve neither
//! the other app's logins, nor token checks, nor the admin site, and each
//! of them is answered within the upstream timeout.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::apps::{second_app, APPID_B};
use crate::backend_tests;
use crate::common::*;
use crate::fixtures::KEY_1;

backend_tests!(a_hanging_wechat_starves_nothing_else);

const TIMEOUT: Duration = Duration::from_secs(3);
/// What a request may take while the 200 logins hang.
const PROMPT: Duration = Duration::from_secs(1);

async fn a_hanging_wechat_starves_nothing_else(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        second_app(s, false);
        s.wechat.timeout = TIMEOUT;
    })
    .await;
    app.create_admin().await;
    Mock::given(path("/sns/jscode2session"))
        .and(query_param("appid", APPID))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&app.wechat)
        .await;
    Mock::given(path("/sns/jscode2session"))
        .and(query_param("appid", APPID_B))
        .respond_with(code2session_ok("oSTAFF", KEY_1, None))
        .mount(&app.wechat)
        .await;

    let hanging: Vec<_> = (0..200)
        .map(|n| {
            let (client, url) = (app.client.clone(), app.url("/api/login"));
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = client
                    .post(url)
                    .json(&json!({"code": format!("hang-{n}"), "appid": APPID}))
                    .send()
                    .await
                    .unwrap();
                (answer.status(), started.elapsed())
            })
        })
        .collect();
    // All 200 wait on WeChat.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .wechat
        .received_requests()
        .await
        .unwrap_or_default()
        .len()
        < 200
    {
        assert!(Instant::now() < deadline, "the logins never reached WeChat");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let staff = app
        .post_login(&json!({"code": "staff-1", "appid": APPID_B}))
        .await;
    assert_eq!(staff.status(), 200);
    let token = staff.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        started.elapsed() < PROMPT,
        "the other app's login took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let me = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert!(
        started.elapsed() < PROMPT,
        "/api/me took {:?}",
        started.elapsed()
    );
    let admin = AdminClient::new(&app);
    admin.sign_in().await;
    let started = Instant::now();
    let page = admin.get("/admin/users").await;
    assert_eq!(page.status(), 200);
    assert!(
        started.elapsed() < PROMPT,
        "the admin list took {:?}",
        started.elapsed()
    );

    for login in hanging {
        let (status, took) = login.await.unwrap();
        assert_eq!(
            status, 502,
            "a login whose WeChat hangs: wechat_unavailable"
        );
        assert!(
            took < TIMEOUT + Duration::from_secs(2),
            "answered after {took:?}"
        );
    }
}
