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
        seed: 42,
        dev: false,
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
}
