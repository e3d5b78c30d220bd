//! The admin user table: search, filters, sorting, keyset paging, CSV.

use std::collections::HashSet;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    search_matches_ids_by_prefix_and_nicknames_by_substring,
    each_filter_narrows_the_table,
    every_column_sorts_both_ways,
    keyset_paging_loses_and_repeats_nothing,
    bad_parameters_get_a_form_error,
    csv_exports_exactly_the_filtered_rows,
    csv_round_trips_hostile_text,
    csv_streams_every_row_of_a_large_table,
    a_stalled_csv_download_holds_no_database_connection,
);

/// The ids of all rows the CSV export gives, in order, with the raw body.
/// The account ids of the CSV rows, one per identity, and the raw body.
async fn csv_ids(browser: &AdminClient, query: &str) -> (Vec<i64>, Vec<u8>) {
    let response = browser.get(&format!("/admin/users.csv?{query}")).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap().to_vec();
    let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
    let mut reader = csv::Reader::from_reader(text);
    let ids = reader
        .records()
        .map(|r| r.unwrap()[1].parse().unwrap())
        .collect();
    (ids, body)
}

async fn table_ids(browser: &AdminClient, query: &str) -> Vec<i64> {
    row_ids(
        &browser
            .page(&format!("/admin/users?per_page=200&{query}"))
            .await,
    )
}

async fn search_matches_ids_by_prefix_and_nicknames_by_substring(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut people = Vec::new();
    for (openid, unionid, nickname) in [
        ("oAAA111", Some("uZZZ1"), "Alice Wong"),
        ("oAAA222", None, "bob"),
        ("oBBB333", Some("uAAA9"), "小明同学"),
        ("oCCC444", None, "ALICE"),
        ("o100%_x", None, "50%_off"),
    ] {
        let mut p = Person::new(openid);
        p.unionid = unionid.map(str::to_owned);
        p.nickname = nickname.into();
        people.push(p);
    }
    app.seed(people).await;
    let browser = app.admin().await;
    let search = |q: &'static str| {
        let browser = &browser;
        async move {
            let mut ids = table_ids(
                browser,
                &serde_urlencoded::to_string([("q", q), ("sort", "created_at"), ("order", "asc")])
                    .unwrap(),
            )
            .await;
            ids.sort();
            ids
        }
    };
    assert_eq!(search("oAAA111").await, vec![1], "exact openid");
    assert_eq!(search("oAAA").await, vec![1, 2], "openid prefix");
    assert_eq!(search("uZZZ1").await, vec![1], "exact unionid");
    assert_eq!(search("uAAA").await, vec![3], "unionid prefix");
    assert_eq!(search("alice").await, vec![1, 4], "nickname, any case");
    assert_eq!(search("ALI").await, vec![1, 4]);
    assert_eq!(search("明同").await, vec![3], "Chinese substring");
    assert_eq!(
        search("AAA1").await,
        Vec::<i64>::new(),
        "ids match by prefix only"
    );
    assert_eq!(search("%").await, vec![5], "LIKE wildcards are literal");
    assert_eq!(search("_").await, vec![5]);
    let none = browser.page("/admin/users?q=nobody-matches-this").await;
    assert!(none.contains("No users match."));

    // Text shaped like an id that is an id prefix finds the ids only ...
    let mut pasted = Person::new("oPASTED0123456789abcdefghij");
    pasted.nickname = "someone".into();
    let mut fan = Person::new("oFAN");
    fan.nickname = "fan of oPASTED0123456789".into();
    // ... and one that is no id's prefix still finds nicknames.
    let mut named = Person::new("oNAMED");
    named.nickname = "xx_gamer_2024_xx".into();
    app.seed(vec![pasted, fan, named]).await;
    assert_eq!(
        search("oPASTED0123456789abcdefghij").await,
        vec![6],
        "exact pasted openid"
    );
    assert_eq!(
        search("oPASTED0123456789").await,
        vec![6],
        "a long id prefix"
    );
    assert_eq!(
        search("gamer_2024").await,
        vec![8],
        "id-shaped, but a nickname"
    );
    let csv = csv_ids(&browser, "q=oPASTED0123456789").await.0;
    assert_eq!(csv, vec![6], "the CSV searches the same way");
}

async fn each_filter_narrows_the_table(backend: Backend) {
    let app = spawn_app(backend).await;
    let people = crowd(60);
    app.seed(people.clone()).await;
    let browser = app.admin().await;
    let expect = |pred: &dyn Fn(&Person) -> bool| -> Vec<i64> {
        let mut ids: Vec<i64> = people
            .iter()
            .enumerate()
            .filter(|(_, p)| pred(p))
            .map(|(i, _)| i as i64 + 1)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("gender=2", expect(&|p| p.gender == 2)),
        ("gender=0", expect(&|p| p.gender == 0)),
        (
            "province=%E5%B9%BF%E4%B8%9C",
            expect(&|p| p.province == "广东"),
        ),
        (
            "province=%E5%B9%BF%E4%B8%9C&city=%E6%B7%B1%E5%9C%B3",
            expect(&|p| p.city == "深圳"),
        ),
        ("has_unionid=yes", expect(&|p| p.unionid.is_some())),
        ("has_unionid=no", expect(&|p| p.unionid.is_none())),
        (
            "created_from=2026-01-03&created_to=2026-01-05",
            expect(&|p| {
                let d = p.created_at.date().to_string();
                ("2026-01-03".."2026-01-06").contains(&d.as_str())
            }),
        ),
        (
            "gender=1&has_unionid=yes&province=%E6%B5%99%E6%B1%9F",
            expect(&|p| p.gender == 1 && p.unionid.is_some() && p.province == "浙江"),
        ),
    ];
    for (query, expected) in cases {
        assert!(!expected.is_empty(), "{query} should select someone");
        assert_eq!(
            sorted(table_ids(&browser, query).await),
            expected,
            "table {query}"
        );
        assert_eq!(
            sorted(csv_ids(&browser, query).await.0),
            expected,
            "csv {query}"
        );
    }
    // The province and city choices come from the data.
    let page = browser
        .page("/admin/users?province=%E5%B9%BF%E4%B8%9C")
        .await;
    for place in [
        "<option selected>广东</option>",
        "<option>浙江</option>",
        "<option>北京</option>",
        "<option>广州</option>",
        "<option>深圳</option>",
    ] {
        assert!(page.contains(place), "{place}");
    }
    assert!(
        !page.contains("<option>杭州</option>"),
        "only the chosen province's cities"
    );
}

async fn every_column_sorts_both_ways(backend: Backend) {
    let app = spawn_app(backend).await;
    let people = crowd(40);
    app.seed(people.clone()).await;
    let browser = app.admin().await;
    let columns = [
        "unionid",
        "nickname",
        "gender",
        "province",
        "city",
        "created_at",
        "last_login_at",
    ];
    for column in columns {
        for order in ["asc", "desc"] {
            let query = format!("sort={column}&order={order}");
            let ids = table_ids(&browser, &query).await;
            let key = |id: i64| {
                let p = &people[id as usize - 1];
                match column {
                    "unionid" => p.unionid.clone().unwrap_or_default(),
                    "nickname" => p.nickname.clone(),
                    "gender" => p.gender.to_string(),
                    "province" => p.province.clone(),
                    "city" => p.city.clone(),
                    "created_at" => p.created_at.to_string(),
                    _ => p.last_login_at.to_string(),
                }
            };
            let mut expected: Vec<i64> = (1..=40).collect();
            // Byte order, with id as the tie-breaker in the same direction.
            expected.sort_by(|a, b| key(*a).as_bytes().cmp(key(*b).as_bytes()).then(a.cmp(b)));
            if order == "desc" {
                expected.reverse();
            }
            if backend == Backend::Postgres && matches!(column, "nickname" | "province" | "city") {
                // These follow the database's collation there; check only
                // that the order is total and stable with id.
                assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 40, "{query}");
                assert_eq!(ids, table_ids(&browser, &query).await, "{query} is stable");
            } else {
                assert_eq!(ids, expected, "{query}");
            }
            assert_eq!(
                csv_ids(&browser, &query).await.0,
                ids,
                "CSV follows the table's order for {query}"
            );
        }
    }
}

async fn keyset_paging_loses_and_repeats_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(crowd(137)).await;
    let browser = app.admin().await;
    for query in [
        "",
        "sort=gender&order=asc",
        "sort=province&order=desc",
        "sort=unionid&order=asc",
        "sort=last_login_at&order=desc&has_unionid=yes",
    ] {
        let all = table_ids(&browser, query).await;
        // Forwards, 25 at a time.
        let mut url = format!("/admin/users?per_page=25&{query}");
        let mut pages = Vec::new();
        loop {
            let html = browser.page(&url).await;
            let ids = row_ids(&html);
            assert!(ids.len() <= 25);
            pages.push((url.clone(), ids));
            match rel_link(&html, "next") {
                Some(next) => url = next,
                None => break,
            }
        }
        let forward: Vec<i64> = pages.iter().flat_map(|(_, ids)| ids.clone()).collect();
        assert_eq!(forward, all, "following next over {query:?}");
        assert_eq!(pages.len(), all.len().div_ceil(25));
        assert!(pages[..pages.len() - 1]
            .iter()
            .all(|(_, ids)| ids.len() == 25));

        // And back again with "previous", page by page.
        let mut html = browser.page(&pages.last().unwrap().0).await;
        for (_, expected) in pages.iter().rev().skip(1) {
            let prev = rel_link(&html, "prev").expect("a previous page");
            html = browser.page(&prev).await;
            assert_eq!(&row_ids(&html), expected, "following prev over {query:?}");
        }
        assert!(
            rel_link(&html, "prev").is_none(),
            "the first page has no previous"
        );
    }
}

async fn bad_parameters_get_a_form_error(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(crowd(5)).await;
    let browser = app.admin().await;
    let cursor = rel_link(
        &browser.page("/admin/users?per_page=25&sort=nickname").await,
        "next",
    );
    assert!(cursor.is_none(), "5 rows fit on a page");
    for (query, message) in [
        ("gender=7", "gender must be"),
        ("sort=session_key", "sort must be one of"),
        ("sort=openid", "sort must be one of"),
        ("app=%01", "app contains control characters"),
        ("order=sideways", "order must be"),
        ("per_page=1000000", "per_page must be"),
        ("created_from=yesterday", "YYYY-MM-DD"),
        ("after=bm90LWEtY3Vyc29y", "start again from the first page"),
        ("after=%FF%FE", "start again"),
        ("has_unionid=1", "has_unionid must be"),
    ] {
        let response = browser.get(&format!("/admin/users?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{query}: {page}");
        assert!(
            page.contains(r#"class="filters""#),
            "{query}: the form is still there"
        );
        let csv = browser.get(&format!("/admin/users.csv?{query}")).await;
        if !query.starts_with("after") && !query.starts_with("per_page") {
            assert_eq!(csv.status(), 400, "csv {query}");
        }
    }
    // A cursor made for one sort is refused by another.
    let mut many = crowd(30);
    for (i, p) in many.iter_mut().enumerate() {
        p.openid = format!("oMANY{i:03}");
        p.unionid = Some(format!("uMANY{i:03}"));
    }
    app.seed(many).await;
    let next = rel_link(
        &browser.page("/admin/users?per_page=25&sort=nickname").await,
        "next",
    )
    .unwrap();
    let other = next.replace("sort=nickname", "sort=gender");
    assert_eq!(browser.get(&other).await.status(), 400);
    assert_eq!(browser.get("/admin/users.csv?bom=2").await.status(), 400);
}

async fn csv_exports_exactly_the_filtered_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(crowd(90)).await;
    let browser = app.admin().await;

    let response = browser
        .get("/admin/users.csv?gender=1&sort=city&order=asc")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"users-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBFid,account_id,appid,openid,unionid,nickname,gender,country,province,city,language,created_at,last_login_at,login_count,phone,phone_country_code,risk_rank\r\n"));
    assert!(body.ends_with(b"\r\n"));
    let (ids, _) = csv_ids(&browser, "gender=1&sort=city&order=asc").await;
    assert_eq!(ids.len(), 30);
    assert_eq!(
        ids,
        table_ids(&browser, "gender=1&sort=city&order=asc").await
    );
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    assert!(
        !text.contains("SECRET-KEY"),
        "session_key must never be exported"
    );

    let (_, raw) = csv_ids(&browser, "bom=0").await;
    assert!(raw.starts_with(b"id,account_id,appid,openid"));
    let (all, _) = csv_ids(&browser, "").await;
    assert_eq!(all.len(), 90);
    let (none, raw) = csv_ids(&browser, "q=nobody").await;
    assert!(none.is_empty());
    assert!(
        raw.ends_with(b"phone_country_code,risk_rank\r\n"),
        "just the header"
    );

    // Each export is in the audit log with its filters and row count.
    let audit = browser.page("/admin/audit").await;
    let audit = unescape(&audit);
    assert!(
        audit.contains(r#""filters":"gender=1&sort=city&order=asc""#),
        "{audit}"
    );
    assert!(audit.contains(r#""rows":30"#));
    assert!(audit.contains(r#""rows":90"#));
}

async fn csv_round_trips_hostile_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let nicknames = [
        "张三, \"老张\"",
        "line one\nline two",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+2",
        "-3",
        "@SUM(A1:A2)",
        "\tindented",
        "\rcarriage",
        "plain 😀 ünïcode",
        "a;=cmd|' /C calc'!A0",
    ];
    let people: Vec<Person> = nicknames
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut p = Person::new(&format!("oHOSTILE{i}"));
            p.nickname = (*n).into();
            p.province = "广东".into();
            p
        })
        .collect();
    app.seed(people).await;
    let browser = app.admin().await;
    let body = browser
        .get("/admin/users.csv?sort=created_at&order=asc")
        .await
        .bytes()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), nicknames.len());
    for (row, original) in rows.iter().zip(nicknames) {
        let expected = if original.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{original}")
        } else {
            original.to_owned()
        };
        assert_eq!(&row[5], expected);
        assert_eq!(&row[8], "广东");
    }
    // A cell with a semicolon is quoted, so that a spreadsheet reading `;` as
    // its separator cannot split it into a formula cell.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(r#""a;=cmd|' /C calc'!A0""#), "{text}");
}

async fn csv_streams_every_row_of_a_large_table(backend: Backend) {
    // More rows than one export batch, so the keyset continuation is used.
    let app = spawn_app(backend).await;
    let n = wxlogin::service::export::BATCH_ROWS as usize * 2 + 123;
    let people: Vec<Person> = (0..n)
        .map(|i| {
            let mut p = Person::new(&format!("oBULK{i:06}"));
            p.gender = (i % 2) as i16;
            p
        })
        .collect();
    app.seed(people).await;
    let browser = app.admin().await;
    let (ids, _) = csv_ids(&browser, "sort=gender&order=asc").await;
    assert_eq!(ids.len(), n);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), n, "no row twice");
    let (ids, _) = csv_ids(&browser, "gender=1").await;
    assert_eq!(ids.len(), n / 2);
}

/// Export entries in the audit log: one is written when an export ends.
async fn finished_exports(app: &TestApp) -> i64 {
    app.with_db(|c| {
        use diesel::prelude::*;
        use wxlogin::db::schema::audit_log::dsl::*;
        wxlogin::on_backend!(c, |c| audit_log
            .filter(action.eq("export"))
            .count()
            .get_result(c))
        .unwrap()
    })
    .await
}

async fn a_stalled_csv_download_holds_no_database_connection(backend: Backend) {
    // One pool connection: an export that kept it while its client stalls
    // would leave none for a login.
    let app = spawn_app_with(backend, |s| s.db.pool_size = 1).await;
    // About 35 MB of CSV: far more than the sockets and the export's queue of
    // two chunks hold, so the export must wait for the client.
    let n = wxlogin::service::export::BATCH_ROWS as usize * 10;
    let people: Vec<Person> = (0..n)
        .map(|i| {
            let mut p = Person::new(&format!("oSLOW{i:06}"));
            p.nickname = format!("{i}{}", "长".repeat(200));
            p
        })
        .collect();
    app.seed(people).await;
    let browser = app.admin().await;
    let download = browser.get("/admin/users.csv").await;
    assert_eq!(download.status(), 200);
    // The client reads nothing for now: the export fills the buffers and waits.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        finished_exports(&app).await,
        0,
        "the export is still under way"
    );

    app.wechat_answers(code2session_ok("oDURING", "S0VZ", None))
        .await;
    let login = app.post_login(&serde_json::json!({"code": "c"})).await;
    assert_eq!(login.status(), 200, "a login during a stalled export");
    assert_eq!(
        finished_exports(&app).await,
        0,
        "the export was still under way"
    );

    // The download then completes, every seeded row once.
    let body = download.bytes().await.unwrap();
    let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
    let ids: Vec<i64> = csv::Reader::from_reader(text)
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    assert_eq!(ids.len(), n);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), n, "no row twice");
}
