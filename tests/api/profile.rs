//! `PATCH /api/me`: the profile fill-in.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(patch_me_updates_the_profile, patch_me_refuses_bad_fields);

async fn patch_me_updates_the_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oPATCH", "k", None))
        .await;
    let (token, login) = app.login_ok("c").await;

    let user = user_of(
        app.patch_me(
            &token,
            &json!({
                "nickname": "  小红  ",
                "gender": 2,
                "avatar_url": "https://example.com/a.png",
                "country": "China",
                "province": "Sichuan",
                "city": "Chengdu",
                "language": "zh_CN",
            }),
        )
        .await,
    )
    .await;
    assert_eq!(user["nickname"], "小红", "surrounding spaces are trimmed");
    assert_eq!(user["gender"], 2);
    assert_eq!(user["avatar_url"], "https://example.com/a.png");
    assert_eq!(user["province"], "Sichuan");
    assert_eq!(user["city"], "Chengdu");
    assert_eq!(user["language"], "zh_CN");
    assert_eq!(user["id"], login["user"]["id"]);
    assert_eq!(app.me(&token).await, user);

    // Only the fields sent change; a region can be cleared; gender 0 is allowed.
    let user = user_of(
        app.patch_me(&token, &json!({"city": "", "gender": 0}))
            .await,
    )
    .await;
    assert_eq!(user["city"], "");
    assert_eq!(user["gender"], 0);
    assert_eq!(user["nickname"], "小红");
    assert_eq!(user["province"], "Sichuan");

    // Limits are inclusive.
    let user = user_of(
        app.patch_me(
            &token,
            &json!({"nickname": "码".repeat(64), "country": "c".repeat(64),
                    "avatar_url": format!("https://example.com/{}", "a".repeat(512 - 20))}),
        )
        .await,
    )
    .await;
    assert_eq!(user["nickname"].as_str().unwrap().chars().count(), 64);

    // wx.request cannot send PATCH: POST /api/me does the same, checks included.
    let user = user_of(
        app.send_json(
            reqwest::Method::POST,
            "/api/me",
            Some(&token),
            &json!({"nickname": "Posted"}),
        )
        .await,
    )
    .await;
    assert_eq!(user["nickname"], "Posted");
    let response = app
        .send_json(
            reqwest::Method::POST,
            "/api/me",
            Some(&token),
            &json!({"gender": 5}),
        )
        .await;
    assert_error(response, 400, "invalid_request").await;
}

async fn patch_me_refuses_bad_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oPATCH", "k", None))
        .await;
    let (token, _) = app.login_ok("c").await;
    user_of(app.patch_me(&token, &json!({"nickname": "Before"})).await).await;
    let before = app.me(&token).await;

    let cases: Vec<(Value, &str)> = vec![
        (json!({"nickname": ""}), "nickname"),
        (json!({"nickname": "   "}), "nickname"),
        (json!({"nickname": "a".repeat(65)}), "nickname"),
        (json!({"nickname": "a\u{7}b"}), "nickname"),
        (json!({"nickname": "line\nbreak"}), "nickname"),
        (json!({"nickname": 42}), "nickname"),
        (json!({"nickname": null}), "nickname"),
        (json!({"nickname": "abc\u{202E}gpj.exe"}), "nickname"),
        (json!({"nickname": "\u{2067}x\u{2069}"}), "nickname"),
        (json!({"nickname": "\u{200B}\u{200C}\u{200D}"}), "nickname"),
        (json!({"nickname": "\u{3164}\u{3164}"}), "nickname"),
        (json!({"city": "\u{202D}Shenzhen"}), "city"),
        (json!({"gender": 3}), "gender"),
        (json!({"gender": -1}), "gender"),
        (json!({"gender": "1"}), "gender"),
        (json!({"gender": 1.5}), "gender"),
        (
            json!({"avatar_url": "http://example.com/a.png"}),
            "avatar_url",
        ),
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"avatar_url": "not a url"}), "avatar_url"),
        (json!({"avatar_url": "https://"}), "avatar_url"),
        (
            json!({"avatar_url": format!("https://example.com/{}", "a".repeat(512 - 19))}),
            "avatar_url",
        ),
        (json!({"country": "c".repeat(65)}), "country"),
        (json!({"province": "p".repeat(65)}), "province"),
        (json!({"city": "c".repeat(65)}), "city"),
        (json!({"city": "tab\there"}), "city"),
        (json!({"language": "l".repeat(65)}), "language"),
        (json!({"language": ["zh_CN"]}), "language"),
        (json!({"openid": "oSTOLEN"}), "openid"),
        (json!({"phone_number": "13800138000"}), "phone_number"),
        // One bad field spoils the whole request.
        (json!({"nickname": "Fine", "gender": 9}), "gender"),
        (json!({}), "nickname"),
    ];
    for (body, field) in cases {
        let error = assert_error(app.patch_me(&token, &body).await, 400, "invalid_request").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{field}`")) || (field == "nickname" && body == json!({})),
            "{body} -> {message}"
        );
    }
    for raw in ["[]", "\"nickname\"", "{not json", ""] {
        let response = app
            .client
            .patch(app.url("/api/me"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_error(response, 400, "invalid_request").await;
    }
    let response = app
        .client
        .patch(app.url("/api/me"))
        .json(&json!({"nickname": "Anonymous"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;

    assert_eq!(app.me(&token).await, before, "nothing changed");
}
