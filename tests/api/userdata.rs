//! Signed and encrypted WeChat user data: at login, and later with
//! `/api/me/userinfo`.

use diesel::prelude::*;
use serde_json::{json, Value};
use wxlogin::db::schema::{accounts, identities};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;
use wxlogin::domain::data_keys::Purpose;

backend_tests!(
    login_with_encrypted_data_stores_the_profile,
    login_with_only_signed_raw_data_stores_it,
    placeholders_never_overwrite_real_values,
    bad_user_data_refuses_the_login_and_writes_nothing,
    userinfo_checks_its_input,
    hostile_user_data_is_not_stored,
);

/// Signed user data whose avatar is a `javascript:` URL and whose nickname
/// is zero-width or carries a bidirectional override: none of it is stored,
/// and an avatar URL that is not http(s) is never a link in the admin site.
async fn hostile_user_data_is_not_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oHOSTILE", KEY_1, None))
        .await;
    let mut info = real_user("oHOSTILE", "oU-HOSTILE");
    info["avatarUrl"] = "javascript:alert(10)".into();
    info["nickName"] = "\u{200B}\u{200D}".into();
    info["city"] = "\u{202E}nehznehS".into();
    let response = app
        .post_login(&login_body("c", &user_data(KEY_1, &info)))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["avatar_url"], "");
    assert_eq!(body["user"]["nickname"], "");
    assert_eq!(body["user"]["city"], "");
    assert_eq!(body["user"]["province"], "Guangdong", "the rest is kept");

    // WeChat's old http:// avatars are kept as https://.
    let mut info = real_user("oHOSTILE", "oU-HOSTILE");
    info["avatarUrl"] = "http://wx.qlogo.cn/mmopen/old/132".into();
    app.wechat_answers(code2session_ok("oHOSTILE", KEY_2, None))
        .await;
    let response = app
        .post_login(&login_body("c2", &user_data(KEY_2, &info)))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["user"]["avatar_url"],
        "https://wx.qlogo.cn/mmopen/old/132"
    );

    // Whatever reached the database some other way is shown as text.
    let id = body["user"]["id"].as_i64().unwrap();
    app.with_db(move |c| {
        on_backend!(c, |c| diesel::update(accounts::table.find(id))
            .set(accounts::avatar_url.eq("javascript:alert(10)"))
            .execute(c))
        .unwrap()
    })
    .await;
    let admin = app.admin().await;
    let html = admin.page(&format!("/admin/users/{id}")).await;
    assert!(html.contains("javascript:alert(10)"));
    assert!(!html.contains(r#"href="javascript"#), "{html}");
}

async fn stored_key_and_count(app: &TestApp) -> (String, i64) {
    app.with_db(|c| {
        on_backend!(c, |c| identities::table
            .inner_join(accounts::table)
            .select((identities::session_key, accounts::login_count))
            .first::<(String, i64)>(c))
        .map(|(stored, count)| (opened(Purpose::SessionKey, &stored), count))
        .unwrap()
    })
    .await
}

async fn login_with_encrypted_data_stores_the_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    // code2session gives no unionid: it comes from the decrypted data.
    app.wechat_answers(code2session_ok("oENC", KEY_1, None))
        .await;
    let data = user_data(KEY_1, &real_user("oENC", "oUNION-ENC"));
    let response = app.post_login(&login_body("code-1", &data)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let user = &body["user"];
    assert_eq!(user["openid"], "oENC");
    assert_eq!(user["unionid"], "oUNION-ENC");
    assert_eq!(user["nickname"], "小明");
    assert_eq!(user["gender"], 1);
    assert_eq!(user["province"], "Guangdong");
    assert_eq!(user["city"], "Shenzhen");
    assert_eq!(user["country"], "China");
    assert_eq!(user["language"], "zh_CN");
    assert_eq!(
        user["avatar_url"],
        "https://thirdwx.qlogo.cn/mmopen/vi_32/real-avatar/132"
    );
    // Stored, not just echoed.
    let token = body["token"].as_str().unwrap();
    assert_eq!(app.me(token).await, *user);
    assert!(!body.to_string().contains(KEY_1));

    // A unionid from code2session wins over none in later data.
    app.wechat_answers(code2session_ok("oENC", KEY_2, Some("oUNION-ENC")))
        .await;
    let (_, again) = app.login_ok("code-2").await;
    assert_eq!(again["user"]["unionid"], "oUNION-ENC");
    assert_eq!(again["user"]["nickname"], "小明");
}

async fn login_with_only_signed_raw_data_stores_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oRAW", KEY_1, None))
        .await;
    let raw = raw_data_of(&real_user("oRAW", "unused"));
    let response = app
        .post_login(&json!({"code": "c", "rawData": raw, "signature": sign(&raw, KEY_1)}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["nickname"], "小明");
    assert_eq!(body["user"]["city"], "Shenzhen");
    assert_eq!(body["user"]["unionid"], Value::Null);
}

async fn placeholders_never_overwrite_real_values(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oANON", KEY_1, None))
        .await;
    let response = app
        .post_login(&login_body(
            "c1",
            &user_data(KEY_1, &real_user("oANON", "oU")),
        ))
        .await;
    assert_eq!(response.status(), 200);
    let real: Value = response.json().await.unwrap();
    let real = real["user"].clone();

    // A later login with anonymous data (new key) keeps every real value.
    app.wechat_answers(code2session_ok("oANON", KEY_2, None))
        .await;
    let response = app
        .post_login(&login_body(
            "c2",
            &user_data(KEY_2, &anonymous_user("oANON", "oU")),
        ))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let after = &body["user"];
    for field in [
        "nickname",
        "avatar_url",
        "gender",
        "country",
        "province",
        "city",
        "language",
        "unionid",
    ] {
        assert_eq!(after[field], real[field], "{field} was overwritten");
    }
    let token = body["token"].as_str().unwrap().to_owned();

    // So does /api/me/userinfo.
    let user = user_of(
        app.post_userinfo(&token, &user_data(KEY_2, &anonymous_user("oANON", "oU")))
            .await,
    )
    .await;
    assert_eq!(user["nickname"], "小明");
    assert_eq!(user["gender"], 1);
    assert_eq!(user["city"], "Shenzhen");

    // Anonymous data for a brand-new user leaves the defaults.
    app.wechat_answers(code2session_ok("oNEW", KEY_1, None))
        .await;
    let response = app
        .post_login(&login_body(
            "c3",
            &user_data(KEY_1, &anonymous_user("oNEW", "oU2")),
        ))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["nickname"], "");
    assert_eq!(body["user"]["avatar_url"], "");
    assert_eq!(body["user"]["unionid"], "oU2");
}

async fn bad_user_data_refuses_the_login_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // A user exists from a good login, with KEY_1.
    app.wechat_answers(code2session_ok("oBAD", KEY_1, None))
        .await;
    app.login_ok("first").await;
    // Every following code2session gives KEY_2.
    app.wechat_answers(code2session_ok("oBAD", KEY_2, None))
        .await;

    let good = user_data(KEY_2, &real_user("oBAD", "oU"));
    let with = |field: &str, value: Value| {
        let mut body = login_body("c", &good);
        body[field] = value;
        body
    };
    let encrypted = |key: &str, plain: &str| {
        let (data, iv) = encrypt(key, plain);
        json!({"code": "c", "encryptedData": data, "iv": iv})
    };
    let mut wrong_watermark = real_user("oBAD", "oU");
    wrong_watermark["watermark"]["appid"] = "wx0000000000000000".into();
    let mut other_openid = real_user("oBAD", "oU");
    other_openid["openId"] = "oSOMEONE-ELSE".into();
    let mut no_watermark = real_user("oBAD", "oU");
    no_watermark.as_object_mut().unwrap().remove("watermark");

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "signature of other data",
            with("signature", sign("{}", KEY_2).into()),
            "invalid_signature",
        ),
        (
            "signature made with the old key",
            with(
                "signature",
                sign(good["rawData"].as_str().unwrap(), KEY_1).into(),
            ),
            "invalid_signature",
        ),
        (
            "encrypted with the old key",
            login_body("c", &user_data(KEY_1, &real_user("oBAD", "oU"))),
            "invalid_signature",
        ),
        (
            "encrypted with the old key, no rawData",
            encrypted(KEY_1, &real_user("oBAD", "oU").to_string()),
            "decrypt_failed",
        ),
        (
            "encryptedData not base64",
            with("encryptedData", "***not base64***".into()),
            "decrypt_failed",
        ),
        ("iv not base64", with("iv", "@@@".into()), "decrypt_failed"),
        (
            "iv of 8 bytes",
            with("iv", "AAAAAAAAAAA=".into()),
            "decrypt_failed",
        ),
        (
            "truncated ciphertext",
            with(
                "encryptedData",
                good["encryptedData"].as_str().unwrap()[..24].into(),
            ),
            "decrypt_failed",
        ),
        (
            "plaintext not JSON",
            encrypted(KEY_2, "definitely not json"),
            "decrypt_failed",
        ),
        (
            "watermark of another app",
            encrypted(KEY_2, &wrong_watermark.to_string()),
            "watermark_mismatch",
        ),
        (
            "no watermark",
            encrypted(KEY_2, &no_watermark.to_string()),
            "watermark_mismatch",
        ),
        (
            "data of another openid",
            encrypted(KEY_2, &other_openid.to_string()),
            "watermark_mismatch",
        ),
    ];
    for (what, body, code) in cases {
        let response = app.post_login(&body).await;
        let error = assert_error(response, 400, code).await;
        println!("{what}: {}", error["error"]["message"]);
        assert!(!error.to_string().contains(KEY_2), "{what}");
    }
    // Fields out of their pairs are refused before WeChat is asked.
    for body in [
        json!({"code": "c", "rawData": "{}"}),
        json!({"code": "c", "signature": "abc"}),
        json!({"code": "c", "encryptedData": "abc"}),
        json!({"code": "c", "iv": "abc"}),
        json!({"code": "c", "encryptedData": 5, "iv": "abc"}),
    ] {
        assert_error(app.post_login(&body).await, 400, "invalid_request").await;
    }

    // Nothing was written: the first login's key, count and session remain.
    assert_eq!(stored_key_and_count(&app).await, (KEY_1.to_owned(), 1));
    assert_eq!(app.count_sessions().await, 1);
    assert_eq!(app.count_users().await, 1);

    // The same data is accepted with the right key.
    let response = app.post_login(&login_body("c", &good)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(stored_key_and_count(&app).await, (KEY_2.to_owned(), 2));
}

async fn userinfo_checks_its_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oIN", KEY_1, None))
        .await;
    let (token, _) = app.login_ok("c").await;
    let raw = raw_data_of(&real_user("oIN", "u"));
    for body in [
        json!({}),
        json!({"rawData": raw, "signature": sign(&raw, KEY_1)}),
        json!({"encryptedData": "abc"}),
        json!({"iv": "abc"}),
        json!([]),
    ] {
        assert_error(
            app.post_userinfo(&token, &body).await,
            400,
            "invalid_request",
        )
        .await;
    }
    let mut wrong = real_user("oIN", "u");
    wrong["watermark"]["appid"] = "wxother".into();
    let (data, iv) = encrypt(KEY_1, &wrong.to_string());
    assert_error(
        app.post_userinfo(&token, &json!({"encryptedData": data, "iv": iv}))
            .await,
        400,
        "watermark_mismatch",
    )
    .await;
    // Without a token: 401, whatever the body.
    let response = app
        .client
        .post(app.url("/api/me/userinfo"))
        .json(&user_data(KEY_1, &real_user("oIN", "u")))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    assert_eq!(app.me(&token).await["nickname"], "");
}
