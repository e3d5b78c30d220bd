//! Closing an account (DELETE /api/me and the admin's action), the user's
//! own export (GET /api/me/export), and old avatar files.

use diesel::prelude::*;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use wxlogin::db::schema::{accounts, audit_log, identities, webhook_events};
use wxlogin::on_backend;

use crate::avatar::{file_form, png};
use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(
    a_user_exports_and_then_deletes_their_account,
    operators_delete_accounts_and_a_second_delete_is_404,
    a_replaced_avatar_file_is_removed,
);

/// A user with a unionid, a phone number, an avatar file and two sessions.
async fn full_user(app: &TestApp) -> (i64, String, String) {
    app.wechat_answers(code2session_ok("oGONE", KEY_1, Some("uGONE")))
        .await;
    let (first, body) = app.login_ok("a").await;
    let (second, _) = app.login_ok("b").await;
    wechat_gives_phone(app, "13800138000").await;
    assert_eq!(
        app.post_phone(&first, &json!({"code": "p"})).await.status(),
        200
    );
    let response = app
        .upload(&first, file_form(png(500), "a.png", "image/png"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored_files().len(), 1);
    (body["user"]["id"].as_i64().unwrap(), first, second)
}

/// The stored account: nickname, phone, unionid, deleted_at set, identities.
async fn stored(app: &TestApp, id: i64) -> (Option<String>, Option<String>, bool, i64) {
    app.with_db(move |c| {
        on_backend!(c, |c| {
            let (phone, unionid, deleted): (
                Option<String>,
                Option<String>,
                Option<chrono::NaiveDateTime>,
            ) = accounts::table
                .find(id)
                .select((
                    accounts::phone_number,
                    accounts::unionid,
                    accounts::deleted_at,
                ))
                .get_result(c)
                .unwrap();
            let identities: i64 = identities::table
                .filter(identities::account_id.eq(id))
                .count()
                .get_result(c)
                .unwrap();
            (phone, unionid, deleted.is_some(), identities)
        })
    })
    .await
}

async fn a_user_exports_and_then_deletes_their_account(backend: Backend) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(backend, |s| {
        s.webhook = Some(
            wxlogin::config::WebhookSettings::new(
                &format!("{}/hooks", receiver.uri()),
                "webhook-secret-0123456789",
            )
            .unwrap(),
        )
    })
    .await;
    let (id, first, second) = full_user(&app).await;

    let response = app
        .client
        .get(app.url("/api/me/export"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["account"]["id"], id);
    assert_eq!(export["account"]["phone_number"], "13800138000");
    assert_eq!(export["account"]["unionid"], "uGONE");
    assert_eq!(export["identities"][0]["openid"], "oGONE");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 2);
    assert!(!export.to_string().contains(KEY_1), "never a session key");

    let delete = |token: &str| {
        app.client
            .delete(app.url("/api/me"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(delete(&first).await.unwrap().status(), 204);
    // Every token of the account is dead at once; a retry with one is 401.
    assert_error(app.get_me(&first).await, 401, "unauthorized").await;
    assert_error(app.get_me(&second).await, 401, "unauthorized").await;
    assert_error(delete(&second).await.unwrap(), 401, "unauthorized").await;
    // Erased: profile, phone, unionid, identities (openid, session key), the avatar file.
    assert_eq!(stored(&app, id).await, (None, None, true, 0));
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    let audit: Vec<(String, String)> = app
        .with_db(|c| {
            on_backend!(c, |c| audit_log::table
                .filter(audit_log::action.eq("account_deleted"))
                .select((audit_log::username, audit_log::detail))
                .load(c))
            .unwrap()
        })
        .await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "(user)");
    let events: Vec<String> = app
        .with_db(|c| {
            on_backend!(c, |c| webhook_events::table
                .filter(webhook_events::kind.eq("account.deleted"))
                .select(webhook_events::payload)
                .load(c))
            .unwrap()
        })
        .await;
    assert_eq!(events.len(), 1);
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["data"], json!({"account_id": id, "by": "user"}));
    // A later login of the same openid makes a new account.
    let (_, body) = app.login_ok("c").await;
    assert_ne!(body["user"]["id"].as_i64().unwrap(), id);
    assert_eq!(body["user"]["phone_number"], Value::Null);
}

async fn operators_delete_accounts_and_a_second_delete_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, token, _) = full_user(&app).await;
    let viewer = app.admin_with_role("vera", "viewer").await;
    let operator = app.admin_with_role("otto", "operator").await;
    async fn delete(admin: &AdminClient, id: i64, confirm: String) -> reqwest::Response {
        let csrf = admin.csrf().await;
        admin
            .post_form(
                &format!("/admin/users/{id}/delete"),
                &[("csrf", &csrf), ("confirm", &confirm)],
            )
            .await
    }
    assert!(!viewer
        .page(&format!("/admin/users/{id}"))
        .await
        .contains("Delete account"));
    assert_eq!(delete(&viewer, id, id.to_string()).await.status(), 403);
    // The id must be typed again; a wrong one deletes nothing.
    let response = delete(&operator, id, "1234567".into()).await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("nothing was deleted"));
    assert_eq!(app.get_me(&token).await.status(), 200);
    assert!(!stored(&app, id).await.2, "not deleted");

    assert_eq!(delete(&operator, id, id.to_string()).await.status(), 303);
    assert_error(app.get_me(&token).await, 401, "unauthorized").await;
    assert_eq!(stored(&app, id).await, (None, None, true, 0));
    let page = operator.page(&format!("/admin/users/{id}")).await;
    assert!(
        page.contains("Deleted at") && !page.contains("13800138000") && !page.contains("oGONE")
    );
    let list = operator.page("/admin/users").await;
    assert!(list.contains("account closed"), "the table marks the row");
    // Nor can the number be found by its hash any more.
    let phone_hash: Option<String> = app
        .with_db(move |c| {
            on_backend!(c, |c| accounts::table
                .find(id)
                .select(accounts::phone_hash)
                .first(c))
            .unwrap()
        })
        .await;
    assert_eq!(phone_hash, None);
    let response = delete(&operator, id, id.to_string()).await;
    assert_eq!(response.status(), 404, "a second delete");
    assert_eq!(delete(&operator, id, "999999".into()).await.status(), 400);
}

async fn a_replaced_avatar_file_is_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oPIC", KEY_1, None))
        .await;
    let (token, _) = app.login_ok("a").await;
    let upload = |bytes: Vec<u8>| app.upload(&token, file_form(bytes, "a.png", "image/png"));
    assert_eq!(upload(png(500)).await.status(), 200);
    let first = app.stored_files();
    assert_eq!(first.len(), 1);
    assert_eq!(upload(png(600)).await.status(), 200);
    let second = app.stored_files();
    assert_eq!(second.len(), 1, "the first file is gone");
    assert_ne!(first, second);
}
