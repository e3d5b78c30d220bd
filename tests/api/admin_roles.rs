//! Admin roles (viewer, operator, owner) and server-side admin sessions.

use diesel::prelude::*;
use serde_json::json;
use wxlogin::db::schema::{admin_sessions, audit_log};
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(
    each_role_can_do_what_it_may_and_refusals_are_audited,
    exports_carry_whole_phones_only_with_export_phone,
    owners_change_roles_but_not_of_the_last_owner,
    sign_out_kills_a_copied_cookie,
    admins_see_and_end_their_sessions_and_owners_anyones,
    sessions_end_at_their_absolute_lifetime,
    roles_are_given_from_the_command_line,
);

/// A user with a phone number, through the API as a client would; returns
/// the user's id and token.
async fn user_with_phone(app: &TestApp) -> (i64, String) {
    app.wechat_answers(code2session_ok("oROLES", KEY_1, None))
        .await;
    let (token, body) = app.login_ok("c").await;
    wechat_gives_phone(app, "13800138000").await;
    let response = app.post_phone(&token, &json!({"code": "phone-code"})).await;
    assert_eq!(response.status(), 200);
    (body["user"]["id"].as_i64().unwrap(), token)
}

async fn denials(app: &TestApp) -> Vec<(String, String)> {
    app.with_db(|c| {
        on_backend!(c, |c| audit_log::table
            .filter(audit_log::action.eq("access_denied"))
            .order(audit_log::id)
            .select((audit_log::username, audit_log::detail))
            .load(c))
        .unwrap()
    })
    .await
}

async fn assert_refused(response: reqwest::Response, needs: &str) {
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!("needs the {needs} role")), "{page}");
}

async fn each_role_can_do_what_it_may_and_refusals_are_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, token) = user_with_phone(&app).await;
    let viewer = app.admin_with_role("vera", "viewer").await;
    let operator = app.admin_with_role("otto", "operator").await;
    let user_page = format!("/admin/users/{user}");

    // The viewer browses, with the phone masked and no buttons that change anything.
    let page = viewer.page(&user_page).await;
    assert!(page.contains("138****8000") && !page.contains("13800138000"));
    assert!(!page.contains("Revoke") && !page.contains("Preview the merge"));
    assert!(viewer.page("/admin/users").await.contains("oROLES"));
    // ... and is refused what it may not do, with nothing changed.
    assert_refused(viewer.get("/admin/users.csv").await, "operator").await;
    let csrf = viewer.csrf().await;
    let revoke_all = format!("/admin/users/{user}/sessions/revoke-all");
    assert_refused(
        viewer.post_form(&revoke_all, &[("csrf", &csrf)]).await,
        "operator",
    )
    .await;
    assert_eq!(app.get_me(&token).await.status(), 200, "not revoked");
    assert_refused(viewer.get("/admin/admins").await, "owner").await;
    assert!(!viewer
        .page("/admin")
        .await
        .contains("href=\"/admin/admins\""));
    let refused = denials(&app).await;
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|(who, _)| who == "vera"));
    let detail: serde_json::Value = serde_json::from_str(&refused[0].1).unwrap();
    assert_eq!(
        detail,
        json!({"action": "export users", "needs": "export", "role": "viewer"})
    );

    // The operator sees the whole number, exports (masked) and revokes.
    assert!(operator.page(&user_page).await.contains("+86 13800138000"));
    let csv = operator.get("/admin/users.csv").await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.contains("138****8000") && !csv.contains("13800138000"),
        "{csv}"
    );
    assert_refused(operator.get("/admin/admins").await, "owner").await;
    let csrf = operator.csrf().await;
    assert_eq!(
        operator
            .post_form(&revoke_all, &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    assert_eq!(app.get_me(&token).await.status(), 401, "revoked");
    assert_eq!(denials(&app).await.len(), 4);
}

async fn exports_carry_whole_phones_only_with_export_phone(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin.policy.export_phone = true).await;
    user_with_phone(&app).await;
    let operator = app.admin_with_role("otto", "operator").await;
    let csv = operator.get("/admin/users.csv").await.text().await.unwrap();
    assert!(csv.contains("13800138000"), "{csv}");
    let viewer = app.admin_with_role("vera", "viewer").await;
    assert_refused(viewer.get("/admin/users.csv").await, "operator").await;
}

async fn owners_change_roles_but_not_of_the_last_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.admin().await;
    let viewer = app.admin_with_role("vera", "viewer").await;
    assert_eq!(viewer.get("/admin/users.csv").await.status(), 403);
    let page = owner.page("/admin/admins").await;
    assert!(page.contains("vera") && page.contains(ADMIN));

    let csrf = owner.csrf().await;
    let change = |name: &'static str, role: &'static str| {
        let (owner, csrf) = (&owner, csrf.clone());
        async move {
            owner
                .post_form(
                    "/admin/admins/role",
                    &[("csrf", &csrf), ("name", name), ("role", role)],
                )
                .await
        }
    };
    assert_eq!(change("vera", "operator").await.status(), 303);
    // At the viewer's next request, in the session she already has.
    assert_eq!(viewer.get("/admin/users.csv").await.status(), 200);
    // Bad input: a role that does not exist, an admin that does not exist,
    // and the last owner's demotion; nothing changes.
    let response = change("vera", "root").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("there is no role"));
    assert_eq!(change("nobody", "viewer").await.status(), 404);
    let response = change(ADMIN, "viewer").await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("only owner"));
    assert_eq!(
        owner.get("/admin/admins").await.status(),
        200,
        "still an owner"
    );
    let changes: Vec<String> = app
        .with_db(|c| {
            on_backend!(c, |c| audit_log::table
                .filter(audit_log::action.eq("role_changed"))
                .select(audit_log::detail)
                .load(c))
            .unwrap()
        })
        .await;
    assert_eq!(changes.len(), 1);
    assert!(changes[0].contains("\"to\":\"operator\""), "{changes:?}");
}

async fn sign_out_kills_a_copied_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.admin().await;
    let url = reqwest::Url::parse(&format!("{}/admin", app.address)).unwrap();
    let cookie = reqwest::cookie::CookieStore::cookies(browser.jar.as_ref(), &url)
        .expect("a session cookie");
    let copy = || async {
        app.client
            .get(format!("{}/admin/users", app.address))
            .header("cookie", cookie.clone())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(copy().await.status(), 200, "the copy works while signed in");
    let stored: Vec<String> = app
        .with_db(|c| {
            on_backend!(c, |c| admin_sessions::table
                .select(admin_sessions::token_hash)
                .load(c))
            .unwrap()
        })
        .await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 64, "only a hash is stored");

    let csrf = browser.csrf().await;
    assert_eq!(
        browser
            .post_form("/admin/logout", &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let response = copy().await;
    assert_eq!(response.status(), 303, "the copied cookie is dead");
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin/login"));
}

async fn admins_see_and_end_their_sessions_and_owners_anyones(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.admin().await;
    let viewer = app.admin_with_role("vera", "viewer").await;
    let laptop = AdminClient::from_ip(&app, "127.0.0.2");
    assert_eq!(
        laptop.sign_in_with("vera", ADMIN_PASSWORD).await.status(),
        303
    );

    let page = viewer.page("/admin/sessions").await;
    assert_eq!(page.matches("/end\"").count(), 2, "her two sessions");
    assert!(page.contains("127.0.0.2") && page.contains("this session"));
    assert!(!page.contains("Every admin"), "not for a viewer");
    let ids = session_ids(&app).await;
    let (owners, laptops) = (ids[0], ids[2]);

    // She ends her laptop's session; it is signed out at its next request.
    let csrf = viewer.csrf().await;
    let end = |id: i64| format!("/admin/sessions/{id}/end");
    assert_eq!(
        viewer
            .post_form(&end(laptops), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    assert_eq!(laptop.get("/admin").await.status(), 303);
    // She may not end the owner's; that is refused and audited.
    assert_refused(
        viewer.post_form(&end(owners), &[("csrf", &csrf)]).await,
        "owner",
    )
    .await;
    assert_eq!(owner.get("/admin").await.status(), 200);
    assert_eq!(denials(&app).await.len(), 1);
    // The owner sees everyone's, and ends hers.
    let page = owner.page("/admin/sessions").await;
    assert!(page.contains("Every admin") && page.contains("vera"));
    let csrf = owner.csrf().await;
    assert_eq!(
        owner
            .post_form(&end(ids[1]), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    assert_eq!(viewer.get("/admin").await.status(), 303);
    // Ending one that is gone is a clear 404.
    assert_eq!(
        owner
            .post_form(&end(ids[1]), &[("csrf", &csrf)])
            .await
            .status(),
        404
    );
    // Ending one's own current session signs out.
    let response = owner.post_form(&end(owners), &[("csrf", &csrf)]).await;
    assert_eq!(response.headers()["location"], "/admin/login?signed_out=1");
    assert_eq!(owner.get("/admin").await.status(), 303);
}

async fn session_ids(app: &TestApp) -> Vec<i64> {
    app.with_db(|c| {
        on_backend!(c, |c| admin_sessions::table
            .order(admin_sessions::id)
            .select(admin_sessions::id)
            .load(c))
        .unwrap()
    })
    .await
}

async fn sessions_end_at_their_absolute_lifetime(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.admin.policy.session_lifetime = std::time::Duration::from_secs(2)
    })
    .await;
    let browser = app.admin().await;
    // Busy the whole time: the idle limit is never reached.
    for _ in 0..4 {
        assert_eq!(browser.get("/admin/users").await.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let response = browser.get("/admin/users").await;
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .contains("expired=1"));
    assert!(session_ids(&app).await.is_empty(), "the row is gone");
}

async fn roles_are_given_from_the_command_line(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let url = database_url(&url);
    tokio::task::spawn_blocking(move || {
        let admin = |args: &[&str]| {
            let out = crate::binary::admin_cmd(&url, args, "a long enough password\n");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.code(), text)
        };
        let create = |name: &str, role: Option<&str>| {
            let mut args = vec!["create", name, "--password-stdin"];
            if let Some(role) = role {
                args.extend(["--role", role]);
            }
            admin(&args)
        };
        // Without --role: the first admin is an owner, later ones viewers.
        let (status, text) = create("first", None);
        assert_eq!(status, Some(0), "{text}");
        assert!(text.contains("with the role owner"), "{text}");
        assert!(create("second", None).1.contains("with the role viewer"));
        assert_eq!(create("ops", Some("operator")).0, Some(0));
        // A role that does not exist: a usage error, and nobody is made.
        let (status, text) = create("bogus", Some("root"));
        assert_eq!(status, Some(2), "{text}");
        assert!(text.contains("there is no role \"root\""), "{text}");
        let (_, list) = admin(&["list"]);
        assert!(!list.contains("bogus"));
        assert!(list.contains("ops\toperator\tno-2fa"), "{list}");

        assert_eq!(admin(&["role", "second", "owner"]).0, Some(0));
        assert!(admin(&["list"]).1.contains("second\towner"));
        let (status, text) = admin(&["role", "second", "superuser"]);
        assert_eq!(status, Some(2), "{text}");
        let (status, text) = admin(&["role", "nobody", "viewer"]);
        assert_eq!(status, Some(1), "{text}");
        assert!(text.contains("no admin named nobody"));
        // Two owners: one may step down, the last may not.
        assert_eq!(admin(&["role", "first", "viewer"]).0, Some(0));
        let (status, text) = admin(&["role", "second", "viewer"]);
        assert_eq!(status, Some(1), "{text}");
        assert!(text.contains("only owner"), "{text}");
        assert!(admin(&["list"]).1.contains("second\towner"));
    })
    .await
    .unwrap();
}
