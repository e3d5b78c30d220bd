use diesel::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path, query_param};
use wiremock::Mock;
use wxlogin::db::schema::{accounts, identities, sessions};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;
use wxlogin::domain::data_keys::Purpose;

backend_tests!(
    good_login_returns_a_token_and_the_user,
    repeat_login_updates_the_same_user,
    concurrent_first_logins_make_one_user,
    session_key_never_appears_in_a_response,
);

async fn good_login_returns_a_token_and_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .and(query_param("appid", APPID))
        .and(query_param("secret", SECRET))
        .and(query_param("js_code", "code-1"))
        .and(query_param("grant_type", "authorization_code"))
        .respond_with(code2session_ok(
            "oOPENID1",
            "key1key1key1key1key1kw==",
            Some("oUNION1"),
        ))
        .expect(1)
        .mount(&app.wechat)
        .await;

    let before = chrono::Utc::now();
    let (token, body) = app.login_ok("code-1").await;

    assert!(token.starts_with("wxl_"), "{token}");
    // 256 random bits in URL-safe base64 are 43 characters.
    let random = &token["wxl_".len()..];
    assert_eq!(random.len(), 43);
    assert!(random
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    let expires_at: chrono::DateTime<chrono::Utc> = body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .expect("RFC 3339");
    let ttl = (expires_at - before).num_seconds();
    assert!(
        (3595..=3605).contains(&ttl),
        "expires in {ttl}s, expected the 3600s TTL"
    );

    let user = &body["user"];
    assert_eq!(user["openid"], "oOPENID1");
    assert_eq!(user["unionid"], "oUNION1");
    assert_eq!(user["gender"], 0);
    assert_eq!(user["phone_number"], Value::Null);
    assert_eq!(user["appid"], APPID);
    for field in [
        "id",
        "appid",
        "openid",
        "unionid",
        "nickname",
        "avatar_url",
        "pending_review",
        "gender",
        "country",
        "province",
        "city",
        "language",
        "phone_number",
        "phone_country_code",
        "phone_verified_at",
        "created_at",
        "last_login_at",
    ] {
        assert!(user.get(field).is_some(), "user lacks {field}: {user}");
    }
    assert_eq!(
        user.as_object().unwrap().len(),
        17,
        "unexpected user fields: {user}"
    );

    // The token works, and the database holds only its SHA-256.
    let me = app.get_me(&token).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"], *user);

    let hashes: Vec<Vec<u8>> = app
        .with_db(|c| {
            on_backend!(c, |c| sessions::table.select(sessions::token_hash).load(c)).unwrap()
        })
        .await;
    assert_eq!(hashes, vec![Sha256::digest(token.as_bytes()).to_vec()]);
    let stored_key: String = app
        .with_db(|c| {
            on_backend!(c, |c| identities::table
                .select(identities::session_key)
                .first(c))
            .unwrap()
        })
        .await;
    assert!(stored_key.starts_with("wxe1."), "sealed: {stored_key}");
    assert_eq!(
        opened(Purpose::SessionKey, &stored_key),
        "key1key1key1key1key1kw=="
    );
}

async fn repeat_login_updates_the_same_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oSAME", "first-key", Some("oUNION")))
        .await;
    let (first_token, first) = app.login_ok("code-a").await;

    // The second answer has a new key and no unionid: the key is replaced,
    // the unionid is kept.
    app.wechat_answers(code2session_ok("oSAME", "second-key", None))
        .await;
    let (second_token, second) = app.login_ok("code-b").await;

    assert_eq!(first["user"]["id"], second["user"]["id"]);
    assert_eq!(second["user"]["unionid"], "oUNION");
    assert_eq!(second["user"]["created_at"], first["user"]["created_at"]);
    assert_ne!(
        second["user"]["last_login_at"],
        first["user"]["last_login_at"]
    );
    assert_eq!(app.count_users().await, 1);

    let (key, count): (String, i64) = app
        .with_db(|c| {
            on_backend!(c, |c| identities::table
                .inner_join(accounts::table)
                .select((identities::session_key, accounts::login_count))
                .first(c))
            .unwrap()
        })
        .await;
    assert_eq!(opened(Purpose::SessionKey, &key), "second-key");
    assert_eq!(count, 2);

    // Both sessions stay valid: a new login does not end the old one.
    assert_eq!(app.get_me(&first_token).await.status(), 200);
    assert_eq!(app.get_me(&second_token).await.status(), 200);
}

async fn concurrent_first_logins_make_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oCONCURRENT", "k", None))
        .await;

    let logins = (0..50).map(|i| {
        let app = &app;
        async move { app.post_login(&json!({"code": format!("code-{i}")})).await }
    });
    let responses = futures::future::join_all(logins).await;
    let mut tokens = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 50, "every login gets its own token");

    assert_eq!(app.count_users().await, 1);
    assert_eq!(app.count_sessions().await, 50);
    let count: i64 = app
        .with_db(|c| {
            on_backend!(c, |c| accounts::table
                .select(accounts::login_count)
                .first(c))
            .unwrap()
        })
        .await;
    assert_eq!(count, 50);
    for token in &tokens {
        assert_eq!(app.get_me(token).await.status(), 200);
    }
}

async fn session_key_never_appears_in_a_response(backend: Backend) {
    const KEY: &str = "SeSsIoNkEy/ShouldStayHidden+0==";
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oHIDDEN", KEY, Some("oU")))
        .await;

    let mut bodies = Vec::new();
    let login = app.post_login(&json!({"code": "c"})).await;
    let text = login.text().await.unwrap();
    let token = serde_json::from_str::<Value>(&text).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    bodies.push(text);
    bodies.push(app.get_me(&token).await.text().await.unwrap());
    bodies.push(
        app.post_login(&json!({"code": ""}))
            .await
            .text()
            .await
            .unwrap(),
    );
    bodies.push(app.logout(&token).await.text().await.unwrap());
    bodies.push(app.get_me(&token).await.text().await.unwrap());

    for body in &bodies {
        assert!(!body.contains(KEY), "session_key leaked: {body}");
        assert!(
            !body.contains("session_key"),
            "session_key field leaked: {body}"
        );
        assert!(!body.contains(SECRET), "app secret leaked: {body}");
    }
}
