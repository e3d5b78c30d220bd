//! The overview's charts: logins and new accounts counted per hour, the
//! counts from before the table, and accounts by gender and province.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use wxlogin::db::activity;
use wxlogin::db::schema::activity_hours;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    logins_and_new_users_are_drawn_per_day,
    seeded_accounts_are_recounted_and_totalled,
);

async fn totals(app: &TestApp) -> (i64, i64) {
    app.with_db(|c| {
        let rows: Vec<(i64, i64)> = on_backend!(c, |c| activity_hours::table
            .select((activity_hours::new_accounts, activity_hours::logins))
            .load(c))
        .unwrap();
        rows.iter().fold((0, 0), |(n, l), (a, b)| (n + a, l + b))
    })
    .await
}

fn assert_svg(page: &str) {
    for svg in page.split("<svg").skip(1) {
        let svg = format!("<svg{}", &svg[..svg.find("</svg>").expect("closed") + 6]);
        let mut reader = quick_xml::Reader::from_str(&svg);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}\n{svg}"),
            }
        }
        assert!(!svg.contains("<script") && !svg.contains("style="));
    }
}

async fn logins_and_new_users_are_drawn_per_day(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oCHART1", "k", None))
        .await;
    app.login_ok("a").await;
    app.login_ok("b").await;
    app.wechat_answers(code2session_ok("oCHART2", "k", None))
        .await;
    app.login_ok("c").await;
    // Counted in memory, written every few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    while totals(&app).await != (2, 3) {
        assert!(Instant::now() < deadline, "counts {:?}", totals(&app).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let admin = app.admin().await;
    let page = admin.page("/admin").await;
    // The charts count China's days, which start at 16:00 UTC.
    let today = wxlogin::domain::display_time::day_of(
        chrono::Utc::now().naive_utc(),
        wxlogin::domain::display_time::DEFAULT_ZONE,
    );
    assert!(
        page.contains(&format!("<title>{today}: 2</title>")),
        "new users today"
    );
    assert!(
        page.contains(&format!("<title>{today}: 3</title>")),
        "logins today"
    );
    assert_eq!(
        page.matches("<svg").count(),
        7,
        "4 daily charts, phones, genders, provinces"
    );
    assert_svg(&page);
}

async fn seeded_accounts_are_recounted_and_totalled(backend: Backend) {
    let app = spawn_app(backend).await;
    // Rows written without the counter, as `wxlogin seed` writes them.
    app.seed(crowd(30)).await;
    assert_eq!(totals(&app).await, (0, 0));
    app.with_db(|c| activity::recount_from_tables(c).unwrap())
        .await;
    app.with_db(|c| activity::recount_from_tables(c).unwrap())
        .await;
    assert_eq!(totals(&app).await, (30, 0), "recounting twice counts once");

    // Later than the background thread's own rounds could make them fresh.
    let now = wxlogin::clock::now() + chrono::Duration::minutes(11);
    assert!(
        app.with_db(move |c| activity::refresh_profile_totals(c, now).unwrap())
            .await
    );
    assert!(
        !app.with_db(move |c| activity::refresh_profile_totals(c, now).unwrap())
            .await,
        "fresh totals are kept"
    );
    let page = app.admin().await.page("/admin").await;
    // crowd(): 5 places in turn, so 6 of 30 in each; genders 0, 1, 2 in turn.
    assert!(page.contains("<title>浙江: 6</title>"), "{page}");
    assert!(
        page.contains("<title>Male: 10</title>"),
        "the test client reads English"
    );
    assert!(!page.contains("Being counted"));
    assert_svg(&page);
}
