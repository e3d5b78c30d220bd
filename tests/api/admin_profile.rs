//! What the profile endpoints store, as the admin site shows it.

use serde_json::json;

use crate::backend_tests;
use crate::common::*;
use crate::fixtures::*;

backend_tests!(encrypted_profile_and_phone_show_in_the_admin_site);

async fn encrypted_profile_and_phone_show_in_the_admin_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wechat_answers(code2session_ok("oPROFILE", KEY_1, None))
        .await;
    let body = login_body("c", &user_data(KEY_1, &real_user("oPROFILE", "uPROFILE")));
    let response = app.post_login(&body).await;
    assert_eq!(response.status(), 200);
    let login: serde_json::Value = response.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let id = login["user"]["id"].as_i64().unwrap();

    wechat_gives_phone(&app, "13800138000").await;
    assert_eq!(
        app.post_phone(&token, &json!({"code": "phone-code"}))
            .await
            .status(),
        200
    );

    let browser = app.admin().await;
    let table = browser.page("/admin/users?q=oPROFILE").await;
    for shown in [
        "uPROFILE",
        "小明",
        // The clients ask for English: WeChat's gender 1 in its words.
        "Male",
        "Guangdong",
        "Shenzhen",
        "138****8000",
    ] {
        assert!(table.contains(shown), "the table shows {shown}");
    }
    assert!(
        !table.contains("13800138000"),
        "lists mask the phone number"
    );

    let page = browser.page(&format!("/admin/users/{id}")).await;
    assert!(
        page.contains("+86 13800138000"),
        "the user's page shows it in full"
    );
    assert!(page.contains("https://thirdwx.qlogo.cn/mmopen/vi_32/real-avatar/132"));
    assert!(!page.contains(KEY_1));

    let csv = browser
        .get("/admin/users.csv?q=oPROFILE")
        .await
        .bytes()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    assert_eq!(&reader.headers().unwrap()[14], "phone");
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        (&row[2], &row[3], &row[4], &row[5], &row[6]),
        (APPID, "oPROFILE", "uPROFILE", "小明", "1")
    );
    // Masked: the server runs without --export-phone (tests/api/admin_roles.rs has it on).
    assert_eq!(
        (&row[8], &row[9], &row[14], &row[15]),
        ("Guangdong", "Shenzhen", "138****8000", "86")
    );
}
