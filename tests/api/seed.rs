//! `wxlogin seed`: realistic users, valid tokens, and the refusal to fill a
//! database that already has users.

use wxlogin::seed::{seed, SeedOptions};

use crate::backend_tests;
use crate::common::*;

backend_tests!(seed_fills_an_empty_database_with_working_tokens);

fn options(users: u64) -> SeedOptions {
    SeedOptions {
        users,
        sessions_per_user: 2,
        session_users: Some(10),
        appid: APPID.into(),
        second_app: Some((wxlogin::config::DEV_APPID_2.into(), 20)),
        seed: 42,
        dev: false,
        data_keys: test_data_keys(),
    }
}

async fn seed_fills_an_empty_database_with_working_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    // More than one transaction's worth would be slow here; two batches are enough.
    let (report, tokens) = app
        .with_db(|c| {
            let mut out = Vec::new();
            let report = seed(c, &options(1_500), &mut out).unwrap();
            (report, String::from_utf8(out).unwrap())
        })
        .await;
    assert_eq!(report.users, 1_500);
    assert_eq!(report.identities, 1_800, "a fifth also use the second app");
    assert_eq!(report.sessions, 20);
    assert_eq!(app.count_users().await, 1_500);
    assert_eq!(app.count_sessions().await, 20);
    let tokens: Vec<&str> = tokens.lines().collect();
    assert_eq!(tokens.len(), 20);
    for token in &tokens {
        let response = app.get_me(token).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        let openid = body["user"]["openid"].as_str().unwrap();
        assert_eq!(openid.len(), 28, "{openid}");
    }

    // A database with users is refused, unless --dev.
    let refused = app
        .with_db(|c| seed(c, &options(10), &mut std::io::sink()).unwrap_err())
        .await;
    assert!(refused.to_string().contains("--dev"), "{refused}");
    assert_eq!(app.count_users().await, 1_500);
    app.with_db(|c| {
        let dev = SeedOptions {
            dev: true,
            seed: 43,
            ..options(10)
        };
        seed(c, &dev, &mut std::io::sink()).unwrap()
    })
    .await;
    assert_eq!(app.count_users().await, 1_510);

    // Realistic spread: the admin table's province filter finds people.
    let browser = app.admin().await;
    let page = browser.page("/admin/users?province=广东").await;
    assert!(!row_ids(&page).is_empty());
    // The second app's users, each linked by a unionid to one account.
    let page = browser
        .page(&format!(
            "/admin/users?app={}&per_page=100",
            wxlogin::config::DEV_APPID_2
        ))
        .await;
    assert_eq!(row_ids(&page).len(), 100);
    let linked: i64 = app
        .with_db(|c| {
            use diesel::prelude::*;
            use wxlogin::db::schema::{accounts, identities};
            wxlogin::on_backend!(c, |c| identities::table
                .inner_join(accounts::table)
                .filter(identities::appid.eq(wxlogin::config::DEV_APPID_2))
                .filter(accounts::unionid.is_not_null())
                .count()
                .get_result(c))
            .unwrap()
        })
        .await;
    assert_eq!(linked, 310, "300, and all 10 of the second run");
}
