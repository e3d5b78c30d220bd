//! A database made by the release before accounts migrates in place: every
//! user becomes an account with one identity, with the same id, and every
//! token keeps working.

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use wxlogin::config::DatabaseUrl;
use wxlogin::domain::token::SessionToken;

use crate::apps::{second_app, APPID_B};
use crate::backend_tests;
use crate::common::*;
use wxlogin::domain::data_keys::Purpose;

backend_tests!(a_database_of_users_migrates_to_accounts_and_keeps_every_token);

/// The name of the first migration of the accounts model.
const ACCOUNTS_MIGRATION: &str = "accounts";

/// Runs every migration before the accounts one.
fn make_old_schema<DB, C>(conn: &mut C, source: &dyn MigrationSource<DB>)
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB> + diesel::migration::MigrationConnection,
{
    conn.setup().expect("the migrations table");
    let migrations = source.migrations().expect("migrations");
    let mut ran = 0;
    for migration in &migrations {
        if migration.name().to_string().ends_with(ACCOUNTS_MIGRATION) {
            break;
        }
        conn.run_migration(&**migration).expect("old migration");
        ran += 1;
    }
    assert!(
        ran >= 6 && ran < migrations.len(),
        "{ran} of {}",
        migrations.len()
    );
}

/// A user of the old schema, with what the migration must keep.
#[derive(Debug, Clone, PartialEq)]
struct OldUser {
    id: i64,
    appid: String,
    openid: String,
    unionid: Option<String>,
    session_key: String,
    nickname: String,
    gender: i16,
    province: String,
    phone: Option<String>,
    created_at: String,
    last_login_at: String,
    login_count: i64,
}

fn old_users() -> Vec<OldUser> {
    (1..=120)
        .map(|id| {
            // The last two are of a second app; the very last has the unionid
            // of user 3, which the old table allowed.
            let appid = if id > 118 { APPID_B } else { APPID };
            let unionid = match id {
                120 => Some("uOLD3".to_owned()),
                n if n % 3 == 0 => Some(format!("uOLD{n}")),
                _ => None,
            };
            OldUser {
                id,
                appid: appid.to_owned(),
                openid: format!("oOLD{id:04}"),
                unionid,
                session_key: format!("a2V5LW9mLXVzZXIt{id:04}=="),
                nickname: if id % 4 == 0 {
                    String::new()
                } else {
                    format!("老用户{id}")
                },
                gender: (id % 3) as i16,
                province: if id % 2 == 0 {
                    "广东".into()
                } else {
                    String::new()
                },
                phone: (id % 5 == 0).then(|| format!("1380000{id:04}")),
                created_at: format!("2025-0{}-0{} 08:00:00", 1 + id % 9, 1 + id % 9),
                last_login_at: "2026-06-01 12:30:00.123456".into(),
                login_count: id * 3,
            }
        })
        .collect()
}

fn quoted(s: &Option<String>) -> String {
    s.as_ref().map_or("NULL".into(), |s| format!("'{s}'"))
}

/// The rows in the old tables' SQL, with `bytes` as the backend writes a
/// binary literal.
fn fill_sql(
    users: &[OldUser],
    sessions: &[(i64, [u8; 32], &str)],
    bytes: fn(&[u8]) -> String,
) -> String {
    let mut sql = String::new();
    for u in users {
        sql.push_str(&format!(
            "INSERT INTO users (id, appid, openid, unionid, session_key, nickname, gender, country, province, city, language, created_at, updated_at, last_login_at, login_count, phone_number, phone_country_code)
             VALUES ({}, '{}', '{}', {}, '{}', '{}', {}, '中国', '{}', '', 'zh_CN', '{}', '{}', '{}', {}, {}, {});\n",
            u.id,
            u.appid,
            u.openid,
            quoted(&u.unionid),
            u.session_key,
            u.nickname,
            u.gender,
            u.province,
            u.created_at,
            u.created_at,
            u.last_login_at,
            u.login_count,
            quoted(&u.phone),
            if u.phone.is_some() { "'86'" } else { "NULL" },
        ));
    }
    for (user_id, hash, state) in sessions {
        let (expires, revoked) = match *state {
            "live" => ("2099-01-01 00:00:00", "NULL"),
            "revoked" => ("2099-01-01 00:00:00", "'2026-06-01 00:00:00'"),
            _ => ("2026-01-01 00:00:00", "NULL"),
        };
        sql.push_str(&format!(
            "INSERT INTO sessions (user_id, token_hash, created_at, expires_at, last_seen_at, revoked_at, user_agent)
             VALUES ({user_id}, {}, '2026-06-01 12:30:00', '{expires}', '2026-06-01 12:30:00', {revoked}, 'old-client');\n",
            bytes(hash)
        ));
    }
    sql
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn a_database_of_users_migrates_to_accounts_and_keeps_every_token(backend: Backend) {
    let (db, url) = TestDb::create(backend);
    let users = old_users();
    // Sessions: a live one for every user, plus a revoked and an expired one
    // for a few.
    let mut tokens: Vec<(i64, SessionToken, &str)> = Vec::new();
    for u in &users {
        tokens.push((u.id, SessionToken::generate(), "live"));
        if u.id % 10 == 0 {
            tokens.push((u.id, SessionToken::generate(), "revoked"));
            tokens.push((u.id, SessionToken::generate(), "expired"));
        }
    }
    let sessions: Vec<(i64, [u8; 32], &str)> = tokens
        .iter()
        .map(|(id, t, state)| (*id, t.hash().0, *state))
        .collect();
    match &url {
        DatabaseUrl::Sqlite(file) => {
            let mut c = diesel::SqliteConnection::establish(file).unwrap();
            make_old_schema(&mut c, &wxlogin::db::SQLITE_MIGRATIONS);
            c.batch_execute(&fill_sql(&users, &sessions, |b| format!("X'{}'", hex(b))))
                .unwrap();
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = diesel::PgConnection::establish(u).unwrap();
            make_old_schema(&mut c, &wxlogin::db::POSTGRES_MIGRATIONS);
            c.batch_execute(&fill_sql(&users, &sessions, |b| {
                format!("'\\x{}'::bytea", hex(b))
            }))
            .unwrap();
            c.batch_execute("SELECT setval('users_id_seq', (SELECT MAX(id) FROM users))")
                .unwrap();
        }
    }

    // Start the new release on it: it migrates.
    let app = spawn_app_on(db, url, |s| second_app(s, false)).await;

    // Every row: an account and an identity, with the user's id.
    type Row = (i64, i64, String, String, Option<String>, String, i64);
    let identities: Vec<Row> = app
        .with_db(|c| {
            use wxlogin::db::schema::identities as i;
            wxlogin::on_backend!(c, |c| i::table
                .order(i::id)
                .select((
                    i::id,
                    i::account_id,
                    i::appid,
                    i::openid,
                    i::unionid,
                    i::session_key,
                    i::login_count
                ))
                .load::<Row>(c))
            .unwrap()
            .into_iter()
            // Plain, or already sealed by the node's background sealer:
            // opened either way.
            .map(|mut row| {
                row.5 = opened(Purpose::SessionKey, &row.5);
                row
            })
            .collect()
        })
        .await;
    type Account = (
        i64,
        Option<String>,
        String,
        i16,
        String,
        Option<String>,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
        i64,
    );
    let accounts: BTreeMap<i64, Account> = app
        .with_db(|c| {
            use wxlogin::db::schema::accounts as a;
            let rows: Vec<Account> = wxlogin::on_backend!(c, |c| a::table
                .select((
                    a::id,
                    a::unionid,
                    a::nickname,
                    a::gender,
                    a::province,
                    a::phone_number,
                    a::created_at,
                    a::last_login_at,
                    a::login_count
                ))
                .load(c))
            .unwrap();
            rows.into_iter()
                .map(|mut r| {
                    r.5 = r.5.map(|phone| opened(Purpose::Phone, &phone));
                    (r.0, r)
                })
                .collect()
        })
        .await;
    assert_eq!(identities.len(), users.len());
    assert_eq!(accounts.len(), users.len());
    let time = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
    for (u, identity) in users.iter().zip(&identities) {
        assert_eq!(
            identity,
            &(
                u.id,
                u.id,
                u.appid.clone(),
                u.openid.clone(),
                u.unionid.clone(),
                u.session_key.clone(),
                u.login_count
            ),
            "identity of user {}",
            u.id
        );
        let account = &accounts[&u.id];
        // A unionid on two old rows stays with the older one's account.
        let unionid = if u.id == 120 { None } else { u.unionid.clone() };
        assert_eq!(
            account,
            &(
                u.id,
                unionid,
                u.nickname.clone(),
                u.gender,
                u.province.clone(),
                u.phone.clone(),
                time(&u.created_at),
                time(&u.last_login_at),
                u.login_count
            ),
            "account of user {}",
            u.id
        );
    }

    // Every token: the live ones work and name their user, the others do not.
    for (id, token, state) in &tokens {
        let response = app.get_me(token.expose()).await;
        if *state == "live" {
            assert_eq!(response.status(), 200, "the token of user {id}");
            let user: serde_json::Value = response.json().await.unwrap();
            assert_eq!(user["user"]["id"], *id);
            assert_eq!(user["user"]["openid"], format!("oOLD{id:04}"));
        } else {
            assert_eq!(response.status(), 401, "the {state} token of user {id}");
        }
    }

    // The old duplicate merges at its next login, into the older account.
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .and(query_param("appid", APPID_B))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"openid": "oOLD0120", "session_key": "bmV3LWtleS1uZXcta2V5Lw==", "unionid": "uOLD3"}),
        ))
        .mount(&app.wechat)
        .await;
    let response = app
        .post_login(&json!({"code": "c", "appid": APPID_B}))
        .await;
    assert_eq!(response.status(), 200);
    let merged = response.json::<serde_json::Value>().await.unwrap()["user"].clone();
    assert_eq!(merged["id"], 3);
    assert_eq!(
        merged["nickname"], "老用户3",
        "the older account's own field"
    );
    assert_eq!(merged["province"], "广东", "filled from the newer one");
    assert_eq!(
        merged["phone_number"], "13800000120",
        "filled from the newer one"
    );
    let old_token = &tokens
        .iter()
        .find(|(id, _, s)| *id == 120 && *s == "live")
        .unwrap()
        .1;
    assert_eq!(
        app.me(old_token.expose()).await["id"],
        3,
        "the old token follows"
    );

    // New accounts and identities get ids past the old ones.
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .and(query_param("appid", APPID))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"openid": "oBRANDNEW", "session_key": "bmV3LWtleS1uZXcta2V5Lw=="}),
        ))
        .mount(&app.wechat)
        .await;
    let response = app.post_login(&json!({"code": "n", "appid": APPID})).await;
    assert_eq!(response.status(), 200);
    let fresh = response.json::<serde_json::Value>().await.unwrap()["user"].clone();
    assert!(fresh["id"].as_i64().unwrap() > 120, "{fresh}");
}
