//! Group commit: concurrent logins are written in shared transactions, and
//! one bad login in a batch fails alone.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};
use wxlogin::db::group_commit::LoginWriter;
use wxlogin::db::logins::record_logins;
use wxlogin::db::{DbConnection, DbError, DbPool};
use wxlogin::domain::login::LoginRecord;
use wxlogin::domain::profile::ProfileUpdate;
use wxlogin::domain::token::TokenHash;
use wxlogin::on_backend;

use crate::backend_tests;
use crate::common::*;

backend_tests!(
    concurrent_logins_of_many_users_are_all_written,
    a_batch_is_written_whole_and_keeps_the_order_of_its_logins,
    one_bad_login_in_a_batch_fails_alone,
);

/// Answers `jscode2session` with the user named by the code: `u7-2` is the
/// second login of the user `oGROUP7`.
struct PerCodeUser;

impl Respond for PerCodeUser {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let code = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "js_code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let user = code.split('-').next().unwrap_or_default();
        ResponseTemplate::new(200)
            .set_body_json(json!({"openid": format!("oGROUP{user}"), "session_key": "S0VZ"}))
    }
}

async fn concurrent_logins_of_many_users_are_all_written(backend: Backend) {
    let app = spawn_app(backend).await;
    Mock::given(path("/sns/jscode2session"))
        .respond_with(PerCodeUser)
        .mount(&app.wechat)
        .await;
    // 20 users, 3 logins each, all at once: a batch often holds two logins
    // of one user.
    let codes: Vec<String> = (0..60).map(|i| format!("{}-{}", i % 20, i / 20)).collect();
    let bodies: Vec<serde_json::Value> = codes.iter().map(|code| json!({ "code": code })).collect();
    let logins = bodies.iter().map(|body| app.post_login(body));
    let responses = futures::future::join_all(logins).await;
    let mut tokens = Vec::new();
    for (code, response) in codes.iter().zip(responses) {
        assert_eq!(response.status(), 200, "login {code}");
        let body: serde_json::Value = response.json().await.unwrap();
        let user = code.split('-').next().unwrap();
        assert_eq!(body["user"]["openid"], format!("oGROUP{user}"), "{code}");
        tokens.push((user.to_owned(), body["token"].as_str().unwrap().to_owned()));
    }
    assert_eq!(app.count_users().await, 20);
    assert_eq!(app.count_sessions().await, 60);
    let counts: Vec<i64> = app
        .with_db(|c| {
            use wxlogin::db::schema::accounts::dsl::*;
            on_backend!(c, |c| accounts.select(login_count).load(c)).unwrap()
        })
        .await;
    assert!(counts.iter().all(|&n| n == 3), "{counts:?}");
    for (user, token) in tokens {
        let me = app.get_me(&token).await;
        assert_eq!(me.status(), 200);
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["user"]["openid"], format!("oGROUP{user}"));
    }
}

fn login(openid: &str, hash: u8) -> LoginRecord {
    let now = wxlogin::clock::now();
    LoginRecord {
        appid: APPID.into(),
        openid: openid.into(),
        unionid: None,
        session_key: wxlogin::domain::data_keys::Stored::from("S0VZ".to_owned()),
        token_hash: TokenHash([hash; 32]),
        expires_at: now + chrono::Duration::hours(1),
        client_ip: None,
        user_agent: None,
        profile: ProfileUpdate::default(),
        risk_rank: None,
        now,
    }
}

async fn open_pool(url: wxlogin::config::DatabaseUrl) -> DbPool {
    let settings = test_settings(url, "http://127.0.0.1:9");
    wxlogin::startup::open_database(&settings.db, wxlogin::db::PoolUse::Server)
        .await
        .expect("open database")
}

fn count(pool: &DbPool, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = pool.get().unwrap();
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    on_backend!(&mut *conn, |c| diesel::sql_query(&sql).get_result::<N>(c))
        .unwrap()
        .n
}

async fn a_batch_is_written_whole_and_keeps_the_order_of_its_logins(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let pool = open_pool(url).await;
    let mut conn = pool.get().unwrap();

    // Two logins of oA in one batch: one row, counted twice, answered in order.
    let (a1, b, a2) = (login("oA", 1), login("oB", 2), login("oA", 3));
    let logins = record_logins(&mut conn, &[&a1, &b, &a2], false).unwrap();
    let seen: Vec<(&str, i64, i64, bool)> = logins
        .iter()
        .map(|l| {
            (
                l.user.identity.openid.as_str(),
                l.user.identity.login_count,
                l.user.account.login_count,
                l.account_created,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("oA", 1, 1, true), ("oB", 1, 1, true), ("oA", 2, 2, false)]
    );
    assert_eq!(logins[0].user.account.id, logins[2].user.account.id);
    assert_eq!(logins[0].user.identity.id, logins[2].user.identity.id);
    assert_eq!(count(&pool, "accounts"), 2);
    assert_eq!(count(&pool, "identities"), 2);
    assert_eq!(count(&pool, "sessions"), 3);

    // A batch whose last login cannot be written (its token hash is taken)
    // writes nothing at all.
    let (c, dup) = (login("oC", 4), login("oD", 1));
    let err = record_logins(&mut conn, &[&c, &dup], false).unwrap_err();
    assert!(
        matches!(err, DbError::Conflict | DbError::Query(_)),
        "{err:?}"
    );
    assert_eq!(count(&pool, "accounts"), 2, "no account is left behind");
    assert_eq!(count(&pool, "identities"), 2);
    assert_eq!(count(&pool, "sessions"), 3);
}

/// Holds the accounts table's write lock until told to let go.
fn hold_write_lock(pool: &DbPool) -> std::sync::mpsc::Sender<()> {
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let mut conn = pool.get().unwrap();
    std::thread::spawn(move || {
        let lock = match &mut *conn {
            DbConnection::Sqlite(c) => c.batch_execute("BEGIN IMMEDIATE"),
            DbConnection::Postgres(c) => {
                c.batch_execute("BEGIN; LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
            }
        };
        lock.expect("lock");
        locked_tx.send(()).unwrap();
        let _ = released.recv();
        on_backend!(&mut *conn, |c| c.batch_execute("COMMIT")).expect("commit");
    });
    locked.recv().unwrap();
    release
}

async fn one_bad_login_in_a_batch_fails_alone(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let pool = open_pool(url).await;
    let writer = std::sync::Arc::new(LoginWriter::start(pool.clone(), 1, None, false).unwrap());
    let taken = writer.record(login("oTAKEN", 9)).await.unwrap();
    assert_eq!(taken.user.identity.openid, "oTAKEN");

    // While the database is locked, the writer waits on its first login and
    // the next three queue up behind it: they make the next batch.
    let release = hold_write_lock(&pool);
    let spawn = |l: LoginRecord| {
        let writer = writer.clone();
        tokio::spawn(async move { writer.record(l).await })
    };
    let first = spawn(login("oFIRST", 10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let batch = [
        spawn(login("oLEFT", 11)),
        spawn(login("oBAD", 9)), // the token hash of oTAKEN's session
        spawn(login("oRIGHT", 12)),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.send(()).unwrap();

    assert_eq!(first.await.unwrap().unwrap().user.identity.openid, "oFIRST");
    let [left, bad, right] = batch;
    assert_eq!(left.await.unwrap().unwrap().user.identity.openid, "oLEFT");
    let err = bad.await.unwrap().unwrap_err();
    assert!(
        matches!(err, DbError::Conflict | DbError::Query(_)),
        "{err:?}"
    );
    assert_eq!(right.await.unwrap().unwrap().user.identity.openid, "oRIGHT");
    assert_eq!(count(&pool, "accounts"), 4, "oBAD was not written");
    assert_eq!(count(&pool, "identities"), 4);
    assert_eq!(count(&pool, "sessions"), 4);
}

/// PostgreSQL runs several login writers. Writer A makes two identities
/// (one without a unionid, one with) and holds its transaction open; writer
/// B logs the same two in meanwhile, waits on A's rows, and goes on once A
/// commits. Whatever B made for them in between is undone: one account and
/// one identity each, each login counted once, and B's sessions in A's
/// accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writers_racing_on_a_first_login_make_one_account() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let (_db, url) = TestDb::create(Backend::Postgres);
    let pool = open_pool(url).await;
    let with_unionid = |mut l: LoginRecord| {
        l.unionid = Some("uRACE".into());
        l
    };
    let a = [login("oRACE", 21), with_unionid(login("oRACEU", 22))];
    let b = [login("oRACE", 23), with_unionid(login("oRACEU", 24))];

    let (written_tx, written) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let mut conn_a = pool.get().unwrap();
    let writer_a = std::thread::spawn(move || {
        wxlogin::db::write_transaction(&mut conn_a, |c| {
            let recorded = record_logins(c, &[&a[0], &a[1]], false)?;
            written_tx.send(()).unwrap();
            let _ = released.recv();
            Ok::<_, DbError>(recorded)
        })
        .unwrap()
    });
    written.recv().unwrap();
    let mut conn_b = pool.get().unwrap();
    let writer_b =
        std::thread::spawn(move || record_logins(&mut conn_b, &[&b[0], &b[1]], false).unwrap());

    // Let A commit only once B waits on one of A's rows.
    let mut watcher = PgConnection::establish(&admin_url).unwrap();
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        )
        .get_result::<Waiting>(&mut watcher)
        .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "writer B never waited on A"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    release.send(()).unwrap();
    let by_a = writer_a.join().unwrap();
    let by_b = writer_b.join().unwrap();

    for (a, b) in by_a.iter().zip(&by_b) {
        assert_eq!(b.user.identity.id, a.user.identity.id);
        assert_eq!(b.user.account.id, a.user.account.id);
        assert_eq!(b.user.identity.login_count, 2);
        assert_eq!(b.user.account.login_count, 2);
        assert!(a.account_created && !b.account_created);
    }
    assert_eq!(by_b[1].user.account.unionid.as_deref(), Some("uRACE"));
    assert_eq!(count(&pool, "accounts"), 2, "no account is left behind");
    assert_eq!(count(&pool, "identities"), 2);
    assert_eq!(count(&pool, "sessions"), 4);
    let mut conn = pool.get().unwrap();
    let misplaced: i64 = on_backend!(&mut *conn, |c| {
        use wxlogin::db::schema::{identities, sessions};
        sessions::table
            .inner_join(identities::table)
            .filter(sessions::account_id.ne(identities::account_id))
            .count()
            .get_result(c)
    })
    .unwrap();
    assert_eq!(misplaced, 0, "every session is in its identity's account");
}

/// SQLite: logins reach the database file itself soon after their commit,
/// long before the WAL grows to the size at which a commit checkpoints by
/// itself. The checkpoint thread does that copy, off the login's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_logins_are_checkpointed_in_the_background() {
    let app = spawn_app(Backend::Sqlite).await;
    Mock::given(path("/sns/jscode2session"))
        .respond_with(PerCodeUser)
        .mount(&app.wechat)
        .await;
    let TestDb::Sqlite(dir) = &app.db else {
        unreachable!("a SQLite app")
    };
    let file = dir.path().join("wxlogin.db");

    let threshold = app
        .with_db(|c| {
            #[derive(QueryableByName)]
            struct Pages {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                wal_autocheckpoint: i32,
            }
            let DbConnection::Sqlite(c) = c else {
                unreachable!()
            };
            diesel::sql_query("PRAGMA wal_autocheckpoint")
                .get_result::<Pages>(c)
                .unwrap()
                .wal_autocheckpoint
        })
        .await;
    assert_eq!(threshold as u32, wxlogin::db::WAL_AUTOCHECKPOINT_PAGES);

    for code in ["1-0", "2-0", "3-0"] {
        assert_eq!(app.post_login(&json!({ "code": code })).await.status(), 200);
    }
    // A copy of the database file alone, without its WAL, shows what has
    // been checkpointed. A copy taken during a checkpoint may be torn: it
    // then counts as not yet.
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join("copy.db");
    let mut checkpointed = 0;
    for _ in 0..50 {
        std::fs::copy(&file, &copied).unwrap();
        let _ = std::fs::remove_file(copy.path().join("copy.db-wal"));
        checkpointed = diesel::SqliteConnection::establish(copied.to_str().unwrap())
            .ok()
            .and_then(|mut c| {
                #[derive(QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM identities WHERE openid LIKE 'oGROUP%'",
                )
                .get_result::<N>(&mut c)
                .ok()
            })
            .map_or(0, |r| r.n);
        if checkpointed == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(checkpointed, 3, "logins still only in the WAL after 5 s");
}
