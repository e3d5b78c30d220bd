//! One account per person: identities in several apps linked by unionid,
//! the back-fill of a unionid that arrives later, and the merge it causes.

use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::apps::{second_app, APPID_B};
use crate::backend_tests;
use crate::common::*;

backend_tests!(
    a_unionid_links_the_apps_of_one_person,
    concurrent_first_logins_of_one_unionid_make_one_account,
    concurrent_first_logins_of_one_identity_make_one_identity,
    a_late_unionid_is_given_to_the_account,
    a_late_unionid_held_by_another_account_merges_them,
    the_admin_site_shows_an_account_with_its_identities,
    an_admin_merges_two_accounts_after_a_preview_and_unlinks_one_again,
);

/// `jscode2session` of `appid` answers the code `code` with this identity.
async fn answer(app: &TestApp, appid: &str, code: &str, openid: &str, unionid: Option<&str>) {
    let mut body = json!({"openid": openid, "session_key": "a2V5a2V5a2V5a2V5a2V5aw=="});
    if let Some(unionid) = unionid {
        body["unionid"] = unionid.into();
    }
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .and(query_param("appid", appid))
        .and(query_param("js_code", code))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&app.wechat)
        .await;
}

/// Logs in with `code` in `appid`; returns the token and the user.
async fn login(app: &TestApp, appid: &str, code: &str) -> (String, Value) {
    let response = app.post_login(&json!({"code": code, "appid": appid})).await;
    assert_eq!(response.status(), 200, "login {code} in {appid}");
    let body: Value = response.json().await.unwrap();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["user"].clone(),
    )
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.count_rows(table, "1 = 1").await
}

async fn a_unionid_links_the_apps_of_one_person(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer(&app, APPID, "a1", "oSHOP", Some("uPERSON")).await;
    answer(&app, APPID_B, "b1", "oSTAFF", Some("uPERSON")).await;
    answer(&app, APPID_B, "b2", "oOTHER", Some("uSOMEONE")).await;
    let (shop_token, shop) = login(&app, APPID, "a1").await;
    let (staff_token, staff) = login(&app, APPID_B, "b1").await;
    let (_, other) = login(&app, APPID_B, "b2").await;

    assert_eq!(shop["id"], staff["id"], "one account");
    assert_ne!(shop["id"], other["id"], "another person, another account");
    assert_eq!(
        (
            count(&app, "accounts").await,
            count(&app, "identities").await
        ),
        (2, 3)
    );
    // Each session sees the account through its own app.
    let me = app.me(&staff_token).await;
    assert_eq!(
        (me["appid"].as_str(), me["openid"].as_str()),
        (Some(APPID_B), Some("oSTAFF"))
    );
    // A profile change made in one app shows in the other.
    let patched = app
        .client
        .patch(app.url("/api/me"))
        .bearer_auth(&shop_token)
        .json(&json!({"nickname": "小红"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(app.me(&staff_token).await["nickname"], "小红");
    // The sessions of both apps are the account's.
    let sessions: Value = app
        .client
        .get(app.url("/api/me/sessions"))
        .bearer_auth(&staff_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut apps: Vec<&str> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["appid"].as_str().unwrap())
        .collect();
    apps.sort();
    assert_eq!(apps, [APPID, APPID_B]);
    // Forward-auth names the account, and the identity of the token.
    let verify = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(&shop_token)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    assert_eq!(
        verify.headers()["x-wxlogin-account-id"],
        shop["id"].to_string().as_str()
    );
    assert_eq!(verify.headers()["x-wxlogin-openid"], "oSHOP");
    assert_eq!(verify.headers()["x-wxlogin-unionid"], "uPERSON");
}

async fn concurrent_first_logins_of_one_unionid_make_one_account(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    // 20 people, each logging in for the first time in both apps at once.
    let mut logins = Vec::new();
    for n in 0..20 {
        let unionid = format!("uBOTH{n}");
        answer(
            &app,
            APPID,
            &format!("a{n}"),
            &format!("oA{n}"),
            Some(&unionid),
        )
        .await;
        answer(
            &app,
            APPID_B,
            &format!("b{n}"),
            &format!("oB{n}"),
            Some(&unionid),
        )
        .await;
        logins.push((APPID, format!("a{n}")));
        logins.push((APPID_B, format!("b{n}")));
    }
    let answers = futures::future::join_all(logins.iter().map(|(appid, code)| {
        let app = &app;
        async move { login(app, appid, code).await }
    }))
    .await;
    for pair in answers.chunks(2) {
        assert_eq!(
            pair[0].1["id"], pair[1].1["id"],
            "{:?} and {:?}",
            pair[0].1, pair[1].1
        );
        assert_eq!(pair[0].1["unionid"], pair[1].1["unionid"]);
    }
    assert_eq!(count(&app, "accounts").await, 20, "no account left over");
    assert_eq!(count(&app, "identities").await, 40);
    for (token, user) in &answers {
        assert_eq!(app.me(token).await["id"], user["id"]);
    }
}

/// Many first logins of one openid at once (two pages, or a retrying
/// client, each with its own code) land in one batch or in several writers'
/// batches at once: one identity and one account either way, each login
/// counted once, and every token working.
async fn concurrent_first_logins_of_one_identity_make_one_identity(backend: Backend) {
    let app = spawn_app(backend).await;
    const EACH: usize = 20; // as in the login_count checks below
    let mut codes = Vec::new();
    for n in 0..EACH {
        answer(&app, APPID, &format!("u{n}"), "oSAME", Some("uSAME")).await;
        answer(&app, APPID, &format!("n{n}"), "oNOUNION", None).await;
        codes.push(format!("u{n}"));
        codes.push(format!("n{n}"));
    }
    let answers = futures::future::join_all(codes.iter().map(|code| {
        let app = &app;
        async move { login(app, APPID, code).await }
    }))
    .await;
    assert_eq!(count(&app, "identities").await, 2);
    assert_eq!(count(&app, "accounts").await, 2, "no account left over");
    assert_eq!(count(&app, "sessions").await, 2 * EACH as i64);
    assert_eq!(app.count_rows("identities", "login_count = 20").await, 2);
    assert_eq!(app.count_rows("accounts", "login_count = 20").await, 2);
    for pair in answers.chunks(2) {
        assert_eq!(pair[0].1["id"], answers[0].1["id"]);
        assert_eq!(pair[1].1["id"], answers[1].1["id"]);
    }
    assert_ne!(answers[0].1["id"], answers[1].1["id"]);
    for (token, user) in &answers {
        assert_eq!(app.me(token).await["id"], user["id"]);
    }
}

async fn a_late_unionid_is_given_to_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    answer(&app, APPID, "c1", "oLATE", None).await;
    answer(&app, APPID, "c2", "oLATE", Some("uLATE")).await;
    let (first_token, first) = login(&app, APPID, "c1").await;
    assert_eq!(first["unionid"], Value::Null);
    let (_, second) = login(&app, APPID, "c2").await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["unionid"], "uLATE");
    assert_eq!(app.me(&first_token).await["unionid"], "uLATE");
    assert_eq!(count(&app, "accounts").await, 1);
}

async fn a_late_unionid_held_by_another_account_merges_them(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    // The shop app is not yet bound to the Open Platform: no unionid.
    answer(&app, APPID, "a1", "oSHOP", None).await;
    answer(&app, APPID_B, "b1", "oSTAFF", Some("uMERGE")).await;
    answer(&app, APPID, "a2", "oSHOP", Some("uMERGE")).await;
    let (older_token, older) = login(&app, APPID, "a1").await;
    let (newer_token, newer) = login(&app, APPID_B, "b1").await;
    assert_ne!(older["id"], newer["id"], "two accounts so far");
    // Profiles: the older has a province, the newer a nickname and another
    // province.
    for (token, body) in [
        (&older_token, json!({"province": "广东"})),
        (
            &newer_token,
            json!({"nickname": "阿强", "province": "北京", "gender": 1}),
        ),
    ] {
        let r = app
            .client
            .patch(app.url("/api/me"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // The shop app is bound now: its next login brings the unionid.
    let (third_token, merged) = login(&app, APPID, "a2").await;
    assert_eq!(merged["id"], older["id"], "the older account is kept");
    assert_eq!(merged["unionid"], "uMERGE");
    assert_eq!(merged["province"], "广东", "the kept account's fields win");
    assert_eq!(merged["nickname"], "阿强", "its empty fields are filled");
    assert_eq!(merged["gender"], 1);
    assert_eq!(
        (
            count(&app, "accounts").await,
            count(&app, "identities").await
        ),
        (1, 2)
    );
    // Every token keeps working, and now means the kept account.
    for token in [&older_token, &newer_token, &third_token] {
        assert_eq!(app.me(token).await["id"], older["id"]);
    }
    let staff = app.me(&newer_token).await;
    assert_eq!(
        (staff["appid"].as_str(), staff["openid"].as_str()),
        (Some(APPID_B), Some("oSTAFF"))
    );
    // Logins add up: two in the shop app, one in the staff app.
    let admin = app.admin().await;
    let page = admin.page(&format!("/admin/users/{}", older["id"])).await;
    assert!(page.contains("oSHOP") && page.contains("oSTAFF"), "{page}");
    let gone = admin.get(&format!("/admin/users/{}", newer["id"])).await;
    assert_eq!(gone.status(), 404);
    // The merge is in the audit log, as the system's.
    let audit = unescape(&admin.page("/admin/audit").await);
    assert!(audit.contains("account_merged"), "{audit}");
    assert!(audit.contains("(system)"), "{audit}");
    assert!(
        audit.contains(&format!(
            r#""kept":{},"removed":{}"#,
            older["id"], newer["id"]
        )),
        "{audit}"
    );
}

async fn the_admin_site_shows_an_account_with_its_identities(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer(&app, APPID, "a1", "oLISTED_A", Some("uLISTED")).await;
    answer(&app, APPID_B, "b1", "oLISTED_B", Some("uLISTED")).await;
    answer(&app, APPID, "a2", "oALONE", None).await;
    let (_, user) = login(&app, APPID, "a1").await;
    login(&app, APPID_B, "b1").await;
    let (_, alone) = login(&app, APPID, "a2").await;
    let admin = app.admin().await;

    let page = admin.page(&format!("/admin/users/{}", user["id"])).await;
    for shown in ["oLISTED_A", "oLISTED_B", APPID, APPID_B, "员工端"] {
        assert!(page.contains(shown), "the account page shows {shown}");
    }
    assert!(!page.contains("a2V5a2V5"), "never a session_key");

    // The app filter, and an openid search that finds the account by either.
    assert_eq!(
        row_ids(&admin.page(&format!("/admin/users?app={APPID_B}")).await),
        [user["id"].as_i64().unwrap()]
    );
    let mut both = row_ids(&admin.page(&format!("/admin/users?app={APPID}")).await);
    both.sort();
    assert_eq!(
        both,
        [user["id"].as_i64().unwrap(), alone["id"].as_i64().unwrap()]
    );
    assert_eq!(
        row_ids(&admin.page("/admin/users?q=oLISTED_B").await),
        [user["id"].as_i64().unwrap()]
    );
    assert!(row_ids(&admin.page("/admin/users?app=wx9999999999999999").await).is_empty());

    // The CSV: one row per identity, with the account id and the app.
    let csv = admin
        .get("/admin/users.csv?sort=created_at&order=asc")
        .await
        .bytes()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_owned(), r[2].to_owned(), r[3].to_owned())
        })
        .collect();
    let id = user["id"].to_string();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.contains(&(id.clone(), APPID.to_owned(), "oLISTED_A".to_owned())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&(id, APPID_B.to_owned(), "oLISTED_B".to_owned())),
        "{rows:?}"
    );
}

async fn an_admin_merges_two_accounts_after_a_preview_and_unlinks_one_again(backend: Backend) {
    let app = spawn_app_with(backend, |s| second_app(s, false)).await;
    answer(&app, APPID, "a1", "oHAND_A", None).await;
    answer(&app, APPID_B, "b1", "oHAND_B", None).await;
    answer(&app, APPID, "a2", "oTWIN_A", Some("uTWIN_A")).await;
    answer(&app, APPID_B, "b2", "oTWIN_B", Some("uTWIN_B")).await;
    let (older_token, older) = login(&app, APPID, "a1").await;
    let (newer_token, newer) = login(&app, APPID_B, "b1").await;
    let (_, twin_a) = login(&app, APPID, "a2").await;
    let (_, twin_b) = login(&app, APPID_B, "b2").await;
    let r = app
        .client
        .patch(app.url("/api/me"))
        .bearer_auth(&newer_token)
        .json(&json!({"nickname": "新名字"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (older_id, newer_id) = (older["id"].as_i64().unwrap(), newer["id"].as_i64().unwrap());
    let admin = app.admin().await;

    // The preview, asked from the newer account's page, keeps the older.
    let preview = admin
        .page(&format!("/admin/users/{newer_id}/merge?with={older_id}"))
        .await;
    assert!(
        preview.contains(&format!(
            "Account <a href=\"/admin/users/{older_id}\">{older_id}</a> is the older one"
        )),
        "{preview}"
    );
    assert!(
        preview.contains("新名字 <small>(filled)</small>"),
        "{preview}"
    );
    assert!(preview.contains("oHAND_B"), "the identity that moves");
    assert_eq!(
        count(&app, "accounts").await,
        4,
        "a preview changes nothing"
    );

    // Refusals: itself, nothing, no such account, two unionids, no CSRF.
    for (with, status, message) in [
        (newer_id.to_string(), 400, "cannot be merged with itself"),
        ("abc".to_owned(), 400, "give the other account"),
        ("999999".to_owned(), 400, "there is no account 999999"),
    ] {
        let r = admin
            .get(&format!("/admin/users/{newer_id}/merge?with={with}"))
            .await;
        assert_eq!(r.status(), status, "{with}");
        assert!(r.text().await.unwrap().contains(message), "{with}");
    }
    let twins = admin
        .get(&format!(
            "/admin/users/{}/merge?with={}",
            twin_a["id"], twin_b["id"]
        ))
        .await;
    assert_eq!(twins.status(), 409);
    assert!(twins.text().await.unwrap().contains("two people"));
    let forged = admin
        .post_form(
            &format!("/admin/users/{newer_id}/merge"),
            &[("with", &older_id.to_string())],
        )
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(count(&app, "accounts").await, 4);

    // The merge.
    let csrf = admin.csrf().await;
    let done = admin
        .post_form(
            &format!("/admin/users/{newer_id}/merge"),
            &[("csrf", &csrf), ("with", &older_id.to_string())],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("/admin/users/{older_id}").as_str()
    );
    assert_eq!(count(&app, "accounts").await, 3);
    for token in [&older_token, &newer_token] {
        let me = app.me(token).await;
        assert_eq!(me["id"], older_id);
        assert_eq!(me["nickname"], "新名字");
    }
    let audit = unescape(&admin.page("/admin/audit").await);
    assert!(audit.contains(r#""cause":"admin""#), "{audit}");

    // Unlinking the staff identity gives it an account of its own again.
    let identity_b: i64 = app
        .with_db(|c| {
            use diesel::prelude::*;
            use wxlogin::db::schema::identities as i;
            wxlogin::on_backend!(c, |c| i::table
                .filter(i::openid.eq("oHAND_B"))
                .select(i::id)
                .first(c))
            .unwrap()
        })
        .await;
    let csrf = admin.csrf().await;
    let unlinked = admin
        .post_form(
            &format!("/admin/users/{older_id}/identities/{identity_b}/unlink"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(unlinked.status(), 303);
    let location = unlinked.headers()["location"].to_str().unwrap().to_owned();
    let new_id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    assert!(new_id > older_id);
    assert_eq!(
        app.me(&newer_token).await["id"],
        new_id,
        "the token follows its identity"
    );
    assert_eq!(app.me(&older_token).await["id"], older_id);
    // Its only identity cannot be unlinked from it.
    let csrf = admin.csrf().await;
    let only = admin
        .post_form(
            &format!("/admin/users/{new_id}/identities/{identity_b}/unlink"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(only.status(), 400);
    assert!(only.text().await.unwrap().contains("only identity"));
    assert!(unescape(&admin.page("/admin/audit").await).contains("account_unlinked"));
}
