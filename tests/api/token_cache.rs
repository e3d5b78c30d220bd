//! The token cache: a revoke on this node is instant even for tokens the
//! cache holds; a revoke made elsewhere (here: straight in the database, as
//! another node would) shows within the cache's lifetime.

use diesel::prelude::*;
use wxlogin::db::token_cache::DEFAULT_TTL;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    revokes_on_this_node_are_instant_for_cached_tokens,
    revokes_by_another_node_show_within_the_ttl,
    profile_changes_show_at_once_through_the_cache,
    a_busy_token_still_sees_a_revoke_by_another_node_within_the_ttl,
    last_seen_at_is_written_once_a_minute_in_the_background,
);

async fn revokes_on_this_node_are_instant_for_cached_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oCACHE", "KEY==", None))
        .await;
    let (first, body) = app.login_ok("a").await;
    let (second, _) = app.login_ok("b").await;
    let (third, _) = app.login_ok("c").await;
    let (fourth, _) = app.login_ok("d").await;
    let id = body["user"]["id"].as_i64().unwrap();
    // Twice each: the second answer comes from the cache.
    for token in [&first, &second, &third, &fourth] {
        for _ in 0..2 {
            assert_eq!(app.get_me(token).await.status(), 200);
        }
    }

    // Logout.
    assert_eq!(app.logout(&fourth).await.status(), 204);
    assert_error(app.get_me(&fourth).await, 401, "unauthorized").await;

    // The admin's revoke of one session.
    let browser = app.admin().await;
    let session_ids = app.session_ids().await;
    let response = browser.revoke_session(id, session_ids[0]).await;
    assert_eq!(response.status(), 303);
    assert_error(app.get_me(&first).await, 401, "unauthorized").await;
    assert_eq!(app.get_me(&second).await.status(), 200);

    // The admin's revoke-all.
    let response = browser
        .post_form(
            &format!("/admin/users/{id}/sessions/revoke-all"),
            &[("csrf", &browser.csrf().await)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_error(app.get_me(&second).await, 401, "unauthorized").await;
    assert_error(app.get_me(&third).await, 401, "unauthorized").await;
}

/// Revokes every session the way another node would: in the database only.
async fn revoke_all_in_the_database(app: &TestApp) {
    app.with_db(|c| {
        use wxlogin::db::schema::sessions::dsl::*;
        on_backend!(c, |c| diesel::update(sessions)
            .set(revoked_at.eq(wxlogin::clock::now()))
            .execute(c))
        .unwrap()
    })
    .await;
}

async fn revokes_by_another_node_show_within_the_ttl(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oELSEWHERE", "KEY==", None))
        .await;
    let (token, _) = app.login_ok("a").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    // Another node revokes: only the database changes.
    revoke_all_in_the_database(&app).await;
    tokio::time::sleep(DEFAULT_TTL + std::time::Duration::from_millis(300)).await;
    assert_error(app.get_me(&token).await, 401, "unauthorized").await;
}

async fn profile_changes_show_at_once_through_the_cache(backend: Backend) {
    use crate::fixtures::*;
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oFRESH", KEY_1, None))
        .await;
    let (token, _) = app.login_ok("c").await;
    // The first read fills the cache.
    assert_eq!(app.me(&token).await["nickname"], "");

    let patched = app
        .patch_me(&token, &serde_json::json!({"nickname": "新名字"}))
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(app.me(&token).await["nickname"], "新名字", "PATCH /api/me");

    let info = user_data(KEY_1, &real_user("oFRESH", "uFRESH"));
    assert_eq!(app.post_userinfo(&token, &info).await.status(), 200);
    let me = app.me(&token).await;
    assert_eq!(
        (me["nickname"].as_str(), me["unionid"].as_str()),
        (Some("小明"), Some("uFRESH")),
        "userinfo"
    );

    wiremock::Mock::given(wiremock::matchers::path("/cgi-bin/stable_token"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "AT", "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
    wiremock::Mock::given(wiremock::matchers::path("/wxa/business/getuserphonenumber"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "errcode": 0, "phone_info": {"purePhoneNumber": "13900139000", "countryCode": 86}
            })),
        )
        .mount(&app.wechat)
        .await;
    assert_eq!(
        app.post_phone(&token, &serde_json::json!({"code": "p"}))
            .await
            .status(),
        200
    );
    assert_eq!(app.me(&token).await["phone_number"], "13900139000", "phone");
}

async fn a_busy_token_still_sees_a_revoke_by_another_node_within_the_ttl(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oBUSY", "KEY==", None))
        .await;
    let (token, _) = app.login_ok("a").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    // Used all the time, the entry is read again before it ages out...
    let start = std::time::Instant::now();
    while start.elapsed() < DEFAULT_TTL + std::time::Duration::from_secs(1) {
        assert_eq!(app.get_me(&token).await.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // ...and such a read sees a revoke made elsewhere.
    revoke_all_in_the_database(&app).await;
    let revoked = std::time::Instant::now();
    loop {
        let status = app.get_me(&token).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < DEFAULT_TTL + std::time::Duration::from_millis(300),
            "a revoked token still works after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn last_seen_at_is_written_once_a_minute_in_the_background(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oSEEN", "KEY==", None))
        .await;
    let (token, _) = app.login_ok("a").await;
    let last_seen = || {
        app.with_db(|c| {
            use wxlogin::db::schema::sessions::dsl::*;
            on_backend!(c, |c| sessions
                .select(last_seen_at)
                .first::<chrono::NaiveDateTime>(c))
            .unwrap()
        })
    };
    // Last used two minutes ago, as far as the database knows.
    let long_ago = wxlogin::clock::now() - chrono::Duration::minutes(2);
    app.with_db(move |c| {
        use wxlogin::db::schema::sessions::dsl::*;
        on_backend!(c, |c| diesel::update(sessions)
            .set(last_seen_at.eq(long_ago))
            .execute(c))
        .unwrap()
    })
    .await;
    let used = wxlogin::clock::now();
    assert_eq!(app.get_me(&token).await.status(), 200);
    // The write comes within a round of the refresher.
    let mut seen = last_seen().await;
    for _ in 0..30 {
        if seen >= used {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = last_seen().await;
    }
    assert!(seen >= used, "last_seen_at is still {seen}, used at {used}");
    // Used again at once: not due, so not written again.
    assert_eq!(app.get_me(&token).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(last_seen().await, seen);
}
