//! Two-factor sign-in for admins: turning it on, signing in with a code or
//! a recovery code, replays, throttling, `--admin-require-2fa`, and
//! `wxlogin admin reset-2fa`.

use diesel::prelude::*;
use wxlogin::db::schema::{admin_sessions, audit_log};
use wxlogin::domain::totp::TotpSecret;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    an_admin_turns_it_on_and_signs_in_with_codes,
    wrong_codes_are_throttled,
    it_can_be_required_for_every_admin,
    a_half_signed_in_session_can_only_finish_or_sign_out,
    it_is_reset_from_the_command_line,
);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// Turns the second factor on for a signed-in admin; returns the secret
/// and the recovery codes.
async fn turn_on(admin: &AdminClient) -> (TotpSecret, Vec<String>) {
    let csrf = admin.csrf().await;
    assert!(admin
        .page("/admin/account")
        .await
        .contains("Set up two-factor sign-in"));
    assert_eq!(
        admin
            .post_form("/admin/account/2fa/start", &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let page = admin.page("/admin/account").await;
    assert!(
        page.contains("<svg") && page.contains("viewBox"),
        "a QR code"
    );
    let secret = TotpSecret::from_base32(between(&page, "<code class=\"secret\">", "<")).unwrap();
    let confirm = |code: String| {
        let csrf = csrf.clone();
        async move {
            admin
                .post_form(
                    "/admin/account/2fa/confirm",
                    &[("csrf", &csrf), ("code", &code)],
                )
                .await
        }
    };
    let wrong = confirm(secret.code(now() - 300)).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("not right"));
    let response = confirm(secret.code(now())).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let codes: Vec<String> = between(&page, "<ul class=\"mono\">", "</ul>")
        .split("<li>")
        .filter_map(|li| li.strip_suffix("</li>"))
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (secret, codes)
}

async fn sign_in_with_code(app: &TestApp, code: &str) -> reqwest::Response {
    let browser = AdminClient::new(app);
    let response = browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/admin/login/second-factor?next=%2Fadmin"
    );
    let page = browser
        .page("/admin/login/second-factor?next=%2Fadmin")
        .await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    browser
        .post_form(
            "/admin/login/second-factor",
            &[("csrf", &csrf), ("code", code), ("next", "/admin")],
        )
        .await
}

async fn audit_count(app: &TestApp, action: &'static str) -> i64 {
    app.with_db(move |c| {
        on_backend!(c, |c| audit_log::table
            .filter(audit_log::action.eq(action))
            .count()
            .get_result(c))
        .unwrap()
    })
    .await
}

async fn an_admin_turns_it_on_and_signs_in_with_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (secret, recovery) = turn_on(&admin).await;
    assert!(admin
        .page("/admin/account")
        .await
        .contains("Recovery codes left: 10"));

    // The password alone now leaves the session half signed in.
    let browser = AdminClient::new(&app);
    assert_eq!(
        browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await.status(),
        303
    );
    let response = browser.get("/admin/users").await;
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin/login/second-factor"));

    // The step that turned it on was used: the next step's code signs in (one
    // step of clock skew is allowed), once.
    let code = secret.code(now() + 30);
    assert_eq!(sign_in_with_code(&app, &code).await.status(), 303);
    let replay = sign_in_with_code(&app, &code).await;
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("used already"));
    let wrong = sign_in_with_code(&app, &secret.code(now() + 600)).await;
    assert_eq!(wrong.status(), 401);
    // A recovery code works once, typed however.
    let lower = recovery[0].to_lowercase().replace('-', " ");
    assert_eq!(sign_in_with_code(&app, &lower).await.status(), 303);
    let again = sign_in_with_code(&app, &recovery[0]).await;
    assert_eq!(again.status(), 401);
    assert!(again.text().await.unwrap().contains("used already"));
    assert_eq!(
        sign_in_with_code(&app, "ABCDE-FGHJK").await.status(),
        401,
        "not one of them"
    );
    assert_eq!(sign_in_with_code(&app, "garbage!").await.status(), 401);
    assert_eq!(audit_count(&app, "second_factor_passed").await, 2);
    assert_eq!(audit_count(&app, "second_factor_failed").await, 5);
    assert!(admin
        .page("/admin/account")
        .await
        .contains("Recovery codes left: 9"));

    // Turning it off needs a code.
    let csrf = admin.csrf().await;
    let off = admin
        .post_form(
            "/admin/account/2fa/disable",
            &[("csrf", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(off.status(), 400);
    let off = admin
        .post_form(
            "/admin/account/2fa/disable",
            &[("csrf", &csrf), ("code", &recovery[1])],
        )
        .await;
    assert_eq!(off.status(), 303);
    assert_eq!(
        AdminClient::new(&app)
            .sign_in_with(ADMIN, ADMIN_PASSWORD)
            .await
            .headers()["location"],
        "/admin"
    );
}

async fn wrong_codes_are_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (secret, _) = turn_on(&app.admin().await).await;
    for _ in 0..5 {
        assert_eq!(sign_in_with_code(&app, "000000").await.status(), 401);
    }
    // Even the right code waits for the window's end.
    let response = sign_in_with_code(&app, &secret.code(now() + 30)).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

async fn it_can_be_required_for_every_admin(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.policy.require_second_factor = true).await;
    let admin = app.admin().await;
    let response = admin.get("/admin/users").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/account");
    assert!(admin
        .page("/admin/account")
        .await
        .contains("requires two-factor sign-in"));
    turn_on(&admin).await;
    assert_eq!(admin.get("/admin/users").await.status(), 200);
}

async fn a_half_signed_in_session_can_only_finish_or_sign_out(backend: Backend) {
    let app = spawn_app(backend).await;
    turn_on(&app.admin().await).await;
    let browser = AdminClient::new(&app);
    browser.sign_in_with(ADMIN, ADMIN_PASSWORD).await;
    for page in [
        "/admin",
        "/admin/users.csv",
        "/admin/account",
        "/admin/sessions",
    ] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
    }
    let page = browser.page("/admin/login/second-factor").await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let sessions = || {
        app.with_db(|c| {
            on_backend!(c, |c| admin_sessions::table.count().get_result::<i64>(c)).unwrap()
        })
    };
    assert_eq!(sessions().await, 2, "the first admin client's and this one");
    let response = browser.post_form("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(sessions().await, 1, "the half signed-in one is gone");
}

async fn it_is_reset_from_the_command_line(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let cli_url = database_url(&url);
    let app = spawn_app_on(db, url, |_| {}).await;
    let admin = move |args: &'static [&'static str]| {
        let url = cli_url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                crate::binary::admin_cmd(&url, args, "a long enough password\n")
            })
            .await
            .unwrap()
        }
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(admin(&["create", "li", "--password-stdin"])
        .await
        .status
        .success());
    app.with_db(|c| {
        on_backend!(c, |c| diesel::update(wxlogin::db::schema::admins::table)
            .set(wxlogin::db::schema::admins::totp_enabled_at.eq(wxlogin::clock::now()))
            .execute(c))
        .unwrap()
    })
    .await;
    assert!(text(&admin(&["list"]).await).contains("li\towner\t2fa"));
    let out = admin(&["reset-2fa", "li"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&admin(&["list"]).await).contains("li\towner\tno-2fa"));
    assert_eq!(audit_count(&app, "second_factor_disabled").await, 1);
    let out = admin(&["reset-2fa", "nobody"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no admin named nobody"));
}
