//! Encryption at rest: session keys, phone numbers and access tokens are
//! sealed in the database (a dump holds none of them), values of an older
//! release are sealed in the background, admins still find a phone number,
//! and `wxlogin rotate-data-key` moves every value to a new key, or refuses
//! without the old one and changes nothing.

use std::process::Output;

use base64::Engine;
use diesel::prelude::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::db::schema::{accounts, identities, wechat_access_tokens};
use wxlogin::domain::data_keys::{DataKey, DataKeys};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::binary::wxlogin;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(
    a_dump_of_the_database_holds_no_session_key_phone_or_access_token,
    plain_values_of_an_older_release_are_sealed_in_the_background,
    rotate_data_key_moves_every_value_or_refuses_without_the_old_key,
);

const PHONE: &str = "13912345678";
const ACCESS_TOKEN: &str = "ACCESS-TOKEN-at-rest-0123456789";

/// A user logged in with [`KEY_1`] as session_key and [`PHONE`] bound.
async fn user_with_phone(app: &TestApp, openid: &str) -> String {
    app.wechat_answers(code2session_ok(openid, KEY_1, None))
        .await;
    let (token, _) = app.login_ok("c").await;
    mount_access_token(app, ACCESS_TOKEN).await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": format!("+86 {PHONE}"),
                "purePhoneNumber": PHONE,
                "countryCode": "86",
                "watermark": {"timestamp": 1_637_744_274, "appid": APPID}
            }
        })))
        .mount(&app.wechat)
        .await;
    let response = app.post_phone(&token, &json!({"code": "phone-code"})).await;
    assert_eq!(response.status(), 200);
    token
}

/// The stored session key and phone number of the only account.
async fn stored_values(app: &TestApp) -> (String, String, Option<String>) {
    app.with_db(|c| {
        let key: String = on_backend!(c, |c| identities::table
            .select(identities::session_key)
            .first(c))
        .unwrap();
        let (phone, hash): (Option<String>, Option<String>) = on_backend!(c, |c| accounts::table
            .select((accounts::phone_number, accounts::phone_hash))
            .first(c))
        .unwrap();
        (key, phone.unwrap(), hash)
    })
    .await
}

/// The user's data check passes with the stored key: it opens.
async fn assert_user_data_opens(app: &TestApp, token: &str) {
    let info = real_user("oREST", "oU-REST");
    let response = app.post_userinfo(token, &user_data(KEY_1, &info)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn a_dump_of_the_database_holds_no_session_key_phone_or_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = user_with_phone(&app, "oREST").await;
    assert_eq!(app.me(&token).await["phone_number"], PHONE);
    assert_user_data_opens(&app, &token).await;

    let (key, phone, hash) = stored_values(&app).await;
    assert!(key.starts_with("wxe1."), "{key}");
    assert!(phone.starts_with("wxe1."), "{phone}");
    assert!(hash.is_some());

    let dump = app.db.dump();
    assert!(dump.contains("wxe1."), "the dump has the sealed values");
    // The session key as stored in text, and as the 16 bytes it encodes.
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(KEY_1)
        .unwrap();
    for secret in [
        KEY_1,
        std::str::from_utf8(&key_bytes).unwrap(),
        PHONE,
        ACCESS_TOKEN,
    ] {
        assert!(!dump.contains(secret), "the dump holds {secret}");
    }

    // An admin finds the account by its whole number, however it is typed.
    let admin = app.admin().await;
    for typed in [PHONE, "+86 139 1234 5678", "139-1234-5678"] {
        let page = admin
            .page(&format!("/admin/users?q={}", urlencode(typed)))
            .await;
        assert!(page.contains("oREST"), "search {typed}");
    }
    let page = admin.page("/admin/users?q=13912345670").await;
    assert!(!page.contains("oREST"), "another number finds no one");
}

async fn plain_values_of_an_older_release_are_sealed_in_the_background(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = user_with_phone(&app, "oREST").await;
    // As a release before encryption at rest left them.
    app.with_db(|c| {
        on_backend!(c, |c| diesel::update(identities::table)
            .set(identities::session_key.eq(KEY_1))
            .execute(c))
        .unwrap();
        on_backend!(c, |c| diesel::update(accounts::table)
            .set((
                accounts::phone_number.eq(PHONE),
                accounts::phone_hash.eq(None::<String>)
            ))
            .execute(c))
        .unwrap();
    })
    .await;
    // Read as they are until then.
    assert_eq!(app.me(&token).await["phone_number"], PHONE);

    // A node started on the database seals them in the background, and
    // serves meanwhile.
    let url = app.db.url();
    let restarted = spawn_app_on(app.db.shared(), url, |_| {}).await;
    assert_eq!(restarted.me(&token).await["phone_number"], PHONE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (key, phone, hash) = stored_values(&restarted).await;
        if key.starts_with("wxe1.") && phone.starts_with("wxe1.") && hash.is_some() {
            assert_eq!(hash, Some(test_data_keys().phone_hash(PHONE)));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still in plain text: {key} {phone} {hash:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    restarted
        .wechat_answers(code2session_ok("oREST", KEY_1, None))
        .await;
    assert_eq!(restarted.me(&token).await["phone_number"], PHONE);
    assert_user_data_opens(&restarted, &token).await;
    let admin = restarted.admin().await;
    assert!(admin
        .page(&format!("/admin/users?q={PHONE}"))
        .await
        .contains("oREST"));
}

async fn rotate_data_key_moves_every_value_or_refuses_without_the_old_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = user_with_phone(&app, "oREST").await;
    let before = stored_values(&app).await;
    let access_token_before = sealed_access_token(&app).await;
    let url = database_url(&app.db.url());
    let old_key = base64::engine::general_purpose::STANDARD.encode(TEST_DATA_KEY);
    let new_bytes = [0x7e; 32];
    let new_key = base64::engine::general_purpose::STANDARD.encode(new_bytes);
    let new_id = DataKey::from_bytes(&new_bytes).id().to_owned();
    let rotate = |old: Option<&str>, new: &str| {
        let mut cmd = wxlogin();
        cmd.args(["rotate-data-key", "--database-url", &url])
            .env("WXLOGIN_DATA_KEY", new);
        if let Some(old) = old {
            cmd.args(["--old-data-keys", old]);
        }
        cmd.output().unwrap()
    };

    // A key of the wrong length: a usage error, before anything is read.
    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
    let out = rotate(None, &short);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("16 bytes long"), "{}", stderr(&out));

    // Without the old key: refused, naming it, and nothing changes.
    let out = rotate(None, &new_key);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let old_id = DataKey::from_bytes(&TEST_DATA_KEY).id().to_owned();
    assert!(stderr(&out).contains(&old_id), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stored_values(&app).await, before);
    assert_eq!(sealed_access_token(&app).await, access_token_before);

    // With it: every value moves to the new key.
    let out = rotate(Some(&old_key), &new_key);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("1 session keys, 1 phone numbers, 1 access tokens"),
        "{printed}"
    );
    let (key, phone, hash) = stored_values(&app).await;
    assert!(key.starts_with(&format!("wxe1.{new_id}.")), "{key}");
    assert!(phone.starts_with(&format!("wxe1.{new_id}.")), "{phone}");
    let new_keys = DataKeys::new(DataKey::from_bytes(&new_bytes), vec![]);
    assert_eq!(hash, Some(new_keys.phone_hash(PHONE)));
    let access_token = sealed_access_token(&app).await;
    assert!(access_token.starts_with(&format!("wxe1.{new_id}.")));
    // Run again, it has nothing left to do.
    let out = rotate(Some(&old_key), &new_key);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 session keys, 0 phone numbers"));

    // A node with only the new key reads everything, and finds the phone.
    let url = app.db.url();
    let node = spawn_app_on(app.db.shared(), url, |s| s.data_keys = new_keys.clone()).await;
    assert_eq!(node.me(&token).await["phone_number"], PHONE);
    assert_user_data_opens(&node, &token).await;
    let admin = node.admin().await;
    assert!(admin
        .page(&format!("/admin/users?q={PHONE}"))
        .await
        .contains("oREST"));
}

async fn sealed_access_token(app: &TestApp) -> String {
    app.with_db(|c| {
        let token: Option<Vec<u8>> = on_backend!(c, |c| wechat_access_tokens::table
            .select(wechat_access_tokens::sealed_token)
            .first(c))
        .unwrap();
        String::from_utf8(token.unwrap()).unwrap()
    })
    .await
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
