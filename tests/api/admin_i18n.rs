//! The admin site's languages (zh-CN by default, English on request or by
//! choice) and its display time zone.

use chrono::NaiveDate;
use diesel::prelude::*;
use wxlogin::db::schema::admins;
use wxlogin::domain::display_time::{day_of, parse_zone, start_of_day, DEFAULT_ZONE};
use wxlogin::domain::totp::TotpSecret;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    without_accept_language_the_site_speaks_chinese,
    accept_language_english_gets_english,
    the_stored_choice_beats_the_browser,
    refusals_and_error_pages_are_translated,
    times_are_shown_in_the_display_zone,
    date_filters_are_days_in_the_display_zone,
    the_overview_counts_the_zone_s_day,
);

/// A signed-in client of the test admin (an owner) whose browser sends
/// `accept_language`, or none.
async fn signed_in(app: &TestApp, accept_language: Option<&str>) -> AdminClient {
    app.create_admin().await;
    let admin = AdminClient::with_language(app, accept_language);
    admin.sign_in().await;
    admin
}

/// The admin's stored language.
async fn stored_locale(app: &TestApp) -> Option<String> {
    app.with_db(|c| {
        on_backend!(c, |c| admins::table
            .filter(admins::username.eq(ADMIN))
            .select(admins::locale)
            .first::<Option<String>>(c))
        .unwrap()
    })
    .await
}

/// The `<h1>` of a page, its tags left in.
fn heading(html: &str) -> &str {
    let start = html.find("<h1>").expect("a heading") + 4;
    &html[start..start + html[start..].find("</h1>").unwrap()]
}

async fn without_accept_language_the_site_speaks_chinese(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(vec![Person::new("oCHINESE")]).await;
    let anonymous = AdminClient::with_language(&app, None);
    let login = anonymous.page("/admin/login").await;
    assert!(login.contains(r#"<html lang="zh-CN">"#), "{login}");
    assert!(
        login.contains(r#"<button type="submit">登录</button>"#),
        "{login}"
    );
    assert!(
        login.contains("用户名") && login.contains("密码"),
        "{login}"
    );
    assert!(
        !login.contains("Sign in") && !login.contains("Username"),
        "{login}"
    );

    let admin = signed_in(&app, None).await;
    let users = admin.page("/admin/users").await;
    assert!(users.contains(r#"<html lang="zh-CN">"#));
    assert!(heading(&users).starts_with("用户"), "{}", heading(&users));
    assert!(
        heading(&users).contains("共 1 位用户"),
        "{}",
        heading(&users)
    );
    for label in [
        "导出 CSV",
        "注册时间",
        "最后登录",
        "昵称",
        "筛选",
        "退出登录",
        "审计日志",
        "未知",
    ] {
        assert!(users.contains(label), "the users page says {label}");
    }
    for english in [
        "Export CSV",
        "Created",
        "Last login",
        "Apply",
        "Sign out",
        "Unknown",
    ] {
        assert!(
            !users.contains(english),
            "no English {english:?} on the page"
        );
    }
    // The header names the role in Chinese, and offers the other language.
    assert!(users.contains(&format!("{ADMIN} · 所有者")));
    assert!(users.contains(r#"value="en" lang="en">English</button>"#));
}

async fn accept_language_english_gets_english(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(vec![Person::new("oENGLISH")]).await;
    let header = Some("en-US,en;q=0.9");
    let login = AdminClient::with_language(&app, header)
        .page("/admin/login")
        .await;
    assert!(login.contains(r#"<html lang="en">"#), "{login}");
    assert!(login.contains(r#"<button type="submit">Sign in</button>"#));
    assert!(!login.contains("用户名"));

    let admin = signed_in(&app, header).await;
    let users = admin.page("/admin/users").await;
    assert!(heading(&users).starts_with("Users"), "{}", heading(&users));
    assert!(heading(&users).contains("1 user<"), "{}", heading(&users));
    for label in ["Export CSV", "Created", "Last login", "Apply", "Unknown"] {
        assert!(users.contains(label), "the users page says {label}");
    }
    assert!(!users.contains("导出 CSV") && !users.contains("注册时间"));
}

async fn the_stored_choice_beats_the_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = signed_in(&app, Some("en-US,en;q=0.9")).await;
    assert_eq!(
        stored_locale(&app).await,
        None,
        "the browser's, until chosen"
    );
    let csrf = admin.csrf().await;

    // Without the CSRF token: refused, nothing stored.
    let forged = admin
        .post_form(
            "/admin/language",
            &[("lang", "zh-CN"), ("next", "/admin/users")],
        )
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(stored_locale(&app).await, None);

    // The switcher: Chinese, back to the page it was on.
    let chosen = admin
        .post_form(
            "/admin/language",
            &[
                ("csrf", &csrf),
                ("lang", "zh-CN"),
                ("next", "/admin/users?gender=1"),
            ],
        )
        .await;
    assert_eq!(chosen.status(), 303);
    assert_eq!(chosen.headers()["location"], "/admin/users?gender=1");
    assert_eq!(stored_locale(&app).await.as_deref(), Some("zh-CN"));
    let users = admin.page("/admin/users").await;
    assert!(
        users.contains(r#"<html lang="zh-CN">"#),
        "the choice beats Accept-Language"
    );
    assert!(users.contains("导出 CSV") && !users.contains("Export CSV"));
    assert!(users.contains(r#"aria-pressed="true" disabled>中文</button>"#));

    // An unknown language is refused with a form error, in the language
    // chosen; the choice stands.
    for bad in ["fr", "", "zh-CN'--"] {
        let refused = admin
            .post_form(
                "/admin/language",
                &[("csrf", &csrf), ("lang", bad), ("next", "/admin")],
            )
            .await;
        assert_eq!(refused.status(), 400, "{bad:?}");
        let page = refused.text().await.unwrap();
        assert!(page.contains("不支持语言"), "{page}");
        assert!(page.contains("请求有误"), "{page}");
    }
    assert_eq!(stored_locale(&app).await.as_deref(), Some("zh-CN"));

    // A next that leaves the admin site goes to its front page.
    let back = admin
        .post_form(
            "/admin/language",
            &[
                ("csrf", &csrf),
                ("lang", "en"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(back.headers()["location"], "/admin");
    assert_eq!(stored_locale(&app).await.as_deref(), Some("en"));
    let chinese_browser = admin.page("/admin").await;
    assert!(chinese_browser.contains(r#"<html lang="en">"#));
}

async fn refusals_and_error_pages_are_translated(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(vec![Person::new("oREFUSED")]).await;
    app.create_admin_named("vera", "viewer").await;

    // A viewer asks for the export: 403, naming both roles in Chinese.
    let viewer = AdminClient::with_language(&app, None);
    assert_eq!(
        viewer.sign_in_with("vera", ADMIN_PASSWORD).await.status(),
        303
    );
    let refused = viewer.get("/admin/users.csv").await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.unwrap();
    assert!(page.contains(r#"<html lang="zh-CN">"#), "{page}");
    assert!(page.contains("403 无权访问"), "{page}");
    assert!(
        page.contains("您的角色（查看者）无权导出用户，需要操作员或更高的角色。"),
        "{page}"
    );
    // The same refusal for an English browser.
    let english = AdminClient::new(&app);
    assert_eq!(
        english.sign_in_with("vera", ADMIN_PASSWORD).await.status(),
        303
    );
    let page = english.get("/admin/users.csv").await.text().await.unwrap();
    assert!(
        page.contains(
            "your role (viewer) cannot export users; that needs the operator role or higher"
        ),
        "{page}"
    );

    // No such page, a bad parameter, a service's refusal.
    let missing = viewer.get("/admin/no-such-page").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("404 页面不存在"));
    let bad = viewer.get("/admin/users?per_page=7").await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("每页条数（per_page）必须是 25、50、100 或 200"));
    let owner = signed_in(&app, None).await;
    let itself = owner.get("/admin/users/1/merge?with=1").await;
    assert_eq!(itself.status(), 400);
    assert!(itself.text().await.unwrap().contains("账号不能与自身合并"));
    let only = owner.get("/admin/users/1/merge?with=999999").await;
    assert!(only.text().await.unwrap().contains("账号 999999 不存在"));

    // A wrong or malformed code while turning on the second factor: the
    // account page again, with the message in Chinese.
    let csrf = owner.csrf().await;
    assert_eq!(
        owner
            .post_form("/admin/account/2fa/start", &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let page = owner.page("/admin/account").await;
    let start = page.find("<code class=\"secret\">").unwrap() + 21;
    let secret =
        TotpSecret::from_base32(&page[start..start + page[start..].find('<').unwrap()]).unwrap();
    let five_minutes_ago = wxlogin::clock::unix_now() as u64 - 300;
    for (code, message) in [
        (secret.code(five_minutes_ago), "验证码不正确"),
        ("12ab".to_owned(), "请输入身份验证器显示的 6 位数字"),
    ] {
        let wrong = owner
            .post_form(
                "/admin/account/2fa/confirm",
                &[("csrf", &csrf), ("code", &code)],
            )
            .await;
        assert_eq!(wrong.status(), 400);
        let page = wrong.text().await.unwrap();
        assert!(page.contains(message), "{code}: {page}");
        assert!(page.contains("<svg"), "still the enrolment page: {page}");
    }
}

/// 2026-01-01T20:00:00Z: already 2 January in Shanghai.
fn evening_of_new_year() -> Person {
    let at = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(20, 0, 0)
        .unwrap();
    Person {
        created_at: at,
        last_login_at: at,
        ..Person::new("oEVENING")
    }
}

async fn times_are_shown_in_the_display_zone(backend: Backend) {
    // The default zone: Asia/Shanghai.
    let app = spawn_app(backend).await;
    app.seed(vec![evening_of_new_year()]).await;
    let admin = signed_in(&app, None).await;
    let page = admin.page("/admin/users/1").await;
    assert!(page.contains("2026-01-02 04:00:00 (UTC+08:00)"), "{page}");
    assert!(!page.contains("2026-01-01 20:00"), "{page}");
    assert!(!page.contains("(UTC)"), "no heading claims UTC: {page}");
    assert!(page.contains("时间均按 Asia/Shanghai 时区显示"), "{page}");
    let table = admin.page("/admin/users").await;
    assert!(table.contains("2026-01-02 04:00:00 (UTC+08:00)"), "{table}");
    // The CSV stays in UTC, with its offset.
    let csv = admin.page("/admin/users.csv").await;
    assert!(csv.contains("2026-01-01T20:00:00Z"), "{csv}");

    // --admin-timezone UTC.
    let app = spawn_app_with(backend, |s| {
        s.admin.policy.timezone = parse_zone("UTC").unwrap();
    })
    .await;
    app.seed(vec![evening_of_new_year()]).await;
    let admin = signed_in(&app, None).await;
    let page = admin.page("/admin/users/1").await;
    assert!(page.contains("2026-01-01 20:00:00 (UTC+00:00)"), "{page}");
    assert!(!page.contains("2026-01-02 04:00"), "{page}");
}

/// The ids the table shows for `query`, and those the CSV has.
async fn found(admin: &AdminClient, query: &str) -> (Vec<i64>, bool) {
    let table = row_ids(&admin.page(&format!("/admin/users?{query}")).await);
    let csv = admin.page(&format!("/admin/users.csv?{query}")).await;
    (table, csv.contains("oEVENING"))
}

async fn date_filters_are_days_in_the_display_zone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(vec![evening_of_new_year()]).await;
    let admin = signed_in(&app, None).await;
    // In Shanghai it was made on 2 January.
    assert_eq!(
        found(&admin, "created_from=2026-01-02").await,
        (vec![1], true)
    );
    assert_eq!(
        found(&admin, "created_to=2026-01-02").await,
        (vec![1], true)
    );
    assert_eq!(
        found(&admin, "created_to=2026-01-01").await,
        (vec![], false)
    );

    let app = spawn_app_with(backend, |s| {
        s.admin.policy.timezone = parse_zone("UTC").unwrap();
    })
    .await;
    app.seed(vec![evening_of_new_year()]).await;
    let admin = signed_in(&app, None).await;
    // In UTC on 1 January.
    assert_eq!(
        found(&admin, "created_from=2026-01-02").await,
        (vec![], false)
    );
    assert_eq!(
        found(&admin, "created_to=2026-01-01").await,
        (vec![1], true)
    );
}

async fn the_overview_counts_the_zone_s_day(backend: Backend) {
    let app = spawn_app(backend).await;
    // One account made at the first second of today in Shanghai, one the
    // second before. Whatever the time of day in UTC, UTC days would count
    // both or neither.
    let midnight = start_of_day(day_of(wxlogin::clock::now(), DEFAULT_ZONE), DEFAULT_ZONE);
    let made_at = |openid: &str, at| Person {
        created_at: at,
        last_login_at: at,
        ..Person::new(openid)
    };
    app.seed(vec![
        made_at("oYESTERDAY", midnight - chrono::Duration::seconds(1)),
        made_at("oTODAY", midnight),
    ])
    .await;
    let home = signed_in(&app, None).await.page("/admin").await;
    let totals: Vec<&str> = home
        .split(r#"<span class="n">"#)
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert_eq!(
        &totals[..3],
        ["2", "1", "2"],
        "users, new today, new in 7 days"
    );
    assert!(home.contains("今日新增"), "{home}");
}
