//! The admin site: signing in, CSRF, throttling, redirects, headers, a
//! user's page and revoking, escaping.

use diesel::prelude::*;
use wxlogin::db::schema::audit_log;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    sign_in_right_wrong_and_unknown,
    forms_without_csrf_are_refused,
    failed_sign_ins_are_throttled,
    anonymous_visitors_go_to_sign_in_and_come_back,
    admin_responses_carry_security_headers,
    user_page_shows_sessions_and_revokes_them,
    user_text_is_escaped,
    sign_out_ends_the_session,
    idle_sessions_end,
    audit_log_pages_newest_first,
    home_page_totals,
    cookies_are_secure_unless_told_otherwise,
);

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    app.with_db(|c| {
        on_backend!(c, |c| audit_log::table
            .order(audit_log::id)
            .select((audit_log::action, audit_log::username))
            .load(c))
        .unwrap()
    })
    .await
}

async fn sign_in_right_wrong_and_unknown(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let browser = AdminClient::new(&app);

    let wrong = browser.sign_in_with(ADMIN, "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = browser.sign_in_with("nobody-here", ADMIN_PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    for page in [&wrong, &unknown] {
        assert!(page.contains("wrong username or password"), "{page}");
        assert!(!page.contains(ADMIN_PASSWORD));
    }
    assert_eq!(
        browser.get("/admin").await.status(),
        303,
        "still signed out"
    );

    let right = browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()["location"], "/admin");
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("wxlogin_admin="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains(ADMIN), "the cookie is encrypted: {cookie}");

    let home = browser.page("/admin").await;
    assert!(home.contains("Overview") && home.contains(ADMIN));

    let log = audit_actions(&app).await;
    assert_eq!(
        log,
        vec![
            ("sign_in_failed".into(), ADMIN.into()),
            ("sign_in_failed".into(), "nobody-here".into()),
            ("sign_in".into(), ADMIN.into()),
        ]
    );
}

async fn forms_without_csrf_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let browser = AdminClient::new(&app);

    // Sign-in itself: no token, a wrong token.
    browser.login_csrf().await;
    for csrf in [None, Some("forged")] {
        let mut form = vec![("username", ADMIN), ("password", ADMIN_PASSWORD)];
        if let Some(t) = csrf {
            form.push(("csrf", t));
        }
        let response = browser.post_form("/admin/login", &form).await;
        assert_eq!(response.status(), 403);
        assert!(response.text().await.unwrap().contains("form has expired"));
    }
    assert_eq!(browser.get("/admin").await.status(), 303);

    // A signed-in admin's forms.
    browser.sign_in().await;
    app.wechat_answers(code2session_ok("oCSRF", "k", None))
        .await;
    let (token, body) = app.login_ok("c").await;
    let user_id = body["user"]["id"].as_i64().unwrap();
    for path in [
        "/admin/logout".to_owned(),
        format!("/admin/users/{user_id}/sessions/revoke-all"),
    ] {
        let response = browser.post_form(&path, &[("csrf", "forged")]).await;
        assert_eq!(response.status(), 403, "{path}");
        let response = browser.post_form(&path, &[]).await;
        assert_eq!(response.status(), 403, "{path}");
    }
    assert_eq!(
        app.get_me(&token).await.status(),
        200,
        "nothing was revoked"
    );
    assert_eq!(browser.get("/admin").await.status(), 200, "still signed in");
}

async fn failed_sign_ins_are_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let browser = AdminClient::new(&app);
    for _ in 0..5 {
        assert_eq!(
            browser
                .sign_in_with(ADMIN, "wrong password!!")
                .await
                .status(),
            401
        );
    }
    // Now even the right password is refused from this address, and the
    // page says why.
    let throttled = browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    let retry: i64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "retry after {retry}s");
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    assert_eq!(browser.get("/admin").await.status(), 303);

    // Once the window has passed, the right password works again.
    app.with_db(|c| {
        let old = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(16);
        on_backend!(c, |c| diesel::update(
            wxlogin::db::schema::sign_in_throttle::table
        )
        .set(wxlogin::db::schema::sign_in_throttle::window_start.eq(old))
        .execute(c))
        .unwrap()
    })
    .await;
    assert_eq!(
        browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await.status(),
        303
    );
}

async fn anonymous_visitors_go_to_sign_in_and_come_back(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_admin().await;
    let browser = AdminClient::new(&app);
    for path in [
        "/admin",
        "/admin/",
        "/admin/users?q=abc&gender=1",
        "/admin/users/1",
        "/admin/audit",
        "/admin/users.csv",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let expected = format!(
            "/admin/login?{}",
            serde_urlencoded::to_string([("next", path)]).unwrap()
        );
        assert_eq!(location, expected);
    }
    let post = browser
        .post_form("/admin/users/1/sessions/revoke-all", &[("csrf", "x")])
        .await;
    assert_eq!(post.status(), 303);
    assert_eq!(post.headers()["location"], "/admin/login?next=%2Fadmin");

    // Sign in from the redirect and land where the visit began.
    let html = browser
        .get("/admin/login?next=%2Fadmin%2Fusers%3Fgender%3D1")
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&html, "csrf").unwrap();
    let next = hidden_field(&html, "next").unwrap();
    assert_eq!(next, "/admin/users?gender=1");
    let response = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(response.headers()["location"], "/admin/users?gender=1");

    // A `next` leading off the site is ignored.
    let browser = AdminClient::new(&app);
    let csrf = browser.login_csrf().await;
    let response = browser
        .post_form(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(response.headers()["location"], "/admin");
}

async fn admin_responses_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.admin().await;
    for path in [
        "/admin/login",
        "/admin",
        "/admin/users",
        "/admin/audit",
        "/admin/users/999",
    ] {
        let response = browser.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
    let missing = browser.get("/admin/users/999").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("does not exist"));
    assert_eq!(browser.get("/admin/users/not-a-number").await.status(), 404);
    assert_eq!(browser.get("/admin/no-such-page").await.status(), 404);
    let css = browser.get("/static/admin.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

async fn user_page_shows_sessions_and_revokes_them(backend: Backend) {
    const KEY: &str = "VerySecretSessionKey0==";
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oDETAIL", KEY, Some("uDETAIL")))
        .await;
    let (first, body) = app.login_ok("a").await;
    let (second, _) = app.login_ok("b").await;
    let (third, _) = app.login_ok("c").await;
    let id = body["user"]["id"].as_i64().unwrap();
    let browser = app.admin().await;

    let page = browser.page(&format!("/admin/users/{id}")).await;
    assert!(page.contains("oDETAIL") && page.contains("uDETAIL"));
    assert_eq!(page.matches(r#"class="status active""#).count(), 3);
    assert!(!page.contains(KEY), "session_key must never be shown");
    assert!(!page.to_lowercase().contains("session_key"));

    // Revoke the first session: its token dies at once, the others live.
    let session_ids = app.session_ids().await;
    let response = browser.revoke_session(id, session_ids[0]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/admin/users/{id}").as_str()
    );
    assert_error(app.get_me(&first).await, 401, "unauthorized").await;
    assert_eq!(app.get_me(&second).await.status(), 200);

    let page = browser.page(&format!("/admin/users/{id}")).await;
    assert_eq!(page.matches(r#"class="status revoked""#).count(), 1);

    let csrf = browser.csrf().await;
    let response = browser
        .post_form(
            &format!("/admin/users/{id}/sessions/revoke-all"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_error(app.get_me(&second).await, 401, "unauthorized").await;
    assert_error(app.get_me(&third).await, 401, "unauthorized").await;
    let page = browser.page(&format!("/admin/users/{id}")).await;
    assert_eq!(page.matches(r#"class="status revoked""#).count(), 3);
    assert!(!page.contains("Revoke all"), "nothing left to revoke");

    let log = audit_actions(&app).await;
    let actions: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["sign_in", "revoke_session", "revoke_all_sessions"]
    );
}

async fn user_text_is_escaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut evil = Person::new("oEVIL");
    evil.nickname = "<script>alert(1)</script>".into();
    evil.province = r#""><img src=x onerror=alert(2)>"#.into();
    evil.city = "'single' & <b>".into();
    app.seed(vec![evil]).await;
    let browser = app.admin().await;
    for path in ["/admin/users", "/admin/users?q=%3Cscript", "/admin/users/1"] {
        let page = browser.page(path).await;
        // The text is there for the reader, and no tag of it is.
        assert!(
            unescape(&page).contains("<script>alert(1)</script>"),
            "{path}"
        );
        assert!(!page.contains("<script>alert(1)"), "{path}");
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(!page.contains(r#""><img"#), "{path}");
        assert!(!page.contains("<b>"), "{path}");
    }
    // A hostile sign-in name is escaped on the audit page too.
    let other = AdminClient::new(&app);
    other
        .sign_in_with("<i>mallory</i>", "irrelevant-pass")
        .await;
    let audit = browser.page("/admin/audit").await;
    assert!(unescape(&audit).contains("<i>mallory</i>"));
    assert!(!audit.contains("<i>mallory"));
}

async fn sign_out_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.admin().await;
    let csrf = browser.csrf().await;
    let response = browser.post_form("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(browser
        .page(&location)
        .await
        .contains("You have signed out."));
    assert_eq!(browser.get("/admin").await.status(), 303);
    // Sign-out is a POST only.
    assert_eq!(browser.get("/admin/logout").await.status(), 303);
    let log = audit_actions(&app).await;
    assert_eq!(log.last().unwrap().0, "sign_out");
}

async fn idle_sessions_end(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.admin.policy.idle_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let browser = app.admin().await;
    assert_eq!(browser.get("/admin/users").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let response = browser.get("/admin/users").await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/admin/login?next=%2Fadmin%2Fusers&expired=1");
    assert!(browser
        .page(&location)
        .await
        .contains("Your session has ended"));
    assert_eq!(
        browser.get("/admin").await.status(),
        303,
        "the session is gone"
    );
}

async fn audit_log_pages_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.admin().await;
    app.with_db(|c| {
        for i in 0..60 {
            let name = format!("tried-{i:02}");
            wxlogin::db::admins::audit(
                c,
                &wxlogin::db::admins::NewAuditEntry {
                    admin_id: None,
                    username: &name,
                    action: wxlogin::db::admins::AuditAction::SignInFailed,
                    ip: Some("192.0.2.1"),
                    detail: "",
                    now: wxlogin::clock::now(),
                },
            )
            .unwrap();
        }
    })
    .await;
    // 61 entries: the test admin's sign-in, then the 60 above.
    let first = browser.page("/admin/audit").await;
    assert_eq!(first.matches("<tr><td class=\"time\">").count(), 50);
    assert!(
        first.find("tried-59").unwrap() < first.find("tried-58").unwrap(),
        "newest first"
    );
    assert!(!first.contains("tried-09"));
    let older = rel_link(&first, "next").expect("a link to older entries");
    let second = browser.page(&older).await;
    assert_eq!(second.matches("<tr><td class=\"time\">").count(), 11);
    assert!(
        second.contains("tried-09") && second.contains("tried-00") && second.contains("sign_in")
    );
    assert!(rel_link(&second, "next").is_none());
    assert_eq!(browser.get("/admin/audit?before=abc").await.status(), 400);
}

async fn home_page_totals(backend: Backend) {
    let app = spawn_app(backend).await;
    // Twelve users from long ago, three logging in today (one twice, and one
    // of the sessions then revoked).
    app.seed(crowd(12)).await;
    for (openid, code) in [
        ("oTODAY1", "a"),
        ("oTODAY2", "b"),
        ("oTODAY3", "c"),
        ("oTODAY3", "d"),
    ] {
        app.wechat_answers(code2session_ok(openid, "k", None)).await;
        app.login_ok(code).await;
    }
    let (token, _) = app.login_ok("e").await;
    app.logout(&token).await;
    let browser = app.admin().await;
    let home = browser.page("/admin").await;
    let totals: Vec<&str> = home
        .split(r#"<span class="n">"#)
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert_eq!(
        totals,
        ["15", "3", "3", "4", "0"],
        "users, new today, new this week, active sessions, waiting for review"
    );
}

async fn cookies_are_secure_unless_told_otherwise(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.secure_cookies = true).await;
    let response = AdminClient::new(&app).get("/admin/login").await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/admin"),
        "{cookie}"
    );
}
