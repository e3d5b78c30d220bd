//! Three real `wxlogin serve` nodes on one PostgreSQL database: a token
//! from one works on the others, a revocation on one is refused by the
//! others within a second (LISTEN/NOTIFY), an admin signed in on one is
//! signed in on the others, and the listeners come back after PostgreSQL
//! cuts their connections.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};
use wxlogin::config::DatabaseUrl;

use crate::binary::{wxlogin, Server};
use crate::common::*;

const KEY: &str = "fleet-test-key-0123456789-0123456789-0123456789-0123456789-0123456789";
const PASSWORD: &str = "fleet admin password";
/// How soon every node must refuse a revoked token.
const WITHIN: Duration = Duration::from_secs(1);

struct Node {
    _server: Server,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn start_node(dir: &std::path::Path, database: &str) -> Node {
    let mut command = wxlogin();
    command.args(["serve", "--dev", "--bind", "127.0.0.1:0"]);
    spawn_node(command, dir, database)
}

/// A node of one real app, whose WeChat is `wechat`.
fn start_app_node(dir: &std::path::Path, database: &str, wechat: &str) -> Node {
    let mut command = wxlogin();
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--insecure-cookies"])
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_SECRET", SECRET)
        .env("WECHAT_API_BASE", wechat);
    spawn_node(command, dir, database)
}

fn spawn_node(mut command: std::process::Command, dir: &std::path::Path, database: &str) -> Node {
    let mut child = command
        .current_dir(dir)
        .env("DATABASE_URL", database)
        .env("WXLOGIN_SECRET_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let server = Server(child);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            let base = format!("http://{}", rest.split_whitespace().next().unwrap());
            let log = std::sync::Arc::new(std::sync::Mutex::new(seen));
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            return Node {
                _server: server,
                base,
                log,
            };
        }
        seen.push(line);
    }
    panic!("a node did not start: {seen:#?}");
}

fn run(database: &str, args: &[&str], stdin: &str) {
    let mut child = wxlogin()
        .args(args)
        .env("DATABASE_URL", database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "wxlogin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn login(client: &reqwest::Client, node: &Node, code: &str) -> String {
    let r = client
        .post(format!("{}/api/login", node.base))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn me(client: &reqwest::Client, node: &Node, token: &str) -> reqwest::StatusCode {
    client
        .get(format!("{}/api/me", node.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Every node answers the token (and so caches it).
async fn works_everywhere(client: &reqwest::Client, nodes: &[Node], token: &str) {
    for node in nodes {
        for _ in 0..2 {
            assert_eq!(me(client, node, token).await, 200, "on {}", node.base);
        }
    }
}

/// Every node refuses the token within [`WITHIN`] of `since`.
async fn refused_everywhere(client: &reqwest::Client, nodes: &[Node], token: &str, since: Instant) {
    for node in nodes {
        loop {
            let status = me(client, node, token).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                since.elapsed() < WITHIN,
                "{} still took the revoked token after {:?}",
                node.base,
                since.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn listeners(admin_url: &str, database: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let (admin_url, database) = (admin_url.to_owned(), database.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
        )
        .bind::<diesel::sql_types::Text, _>(wxlogin::db::revocations::LISTENER_NAME)
        .bind::<diesel::sql_types::Text, _>(database)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
    })
    .await
    .unwrap()
}

async fn cut_listeners(admin_url: &str, database: &str) {
    let (admin_url, database) = (admin_url.to_owned(), database.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
        )
        .bind::<diesel::sql_types::Text, _>(wxlogin::db::revocations::LISTENER_NAME)
        .bind::<diesel::sql_types::Text, _>(database)
        .execute(&mut conn)
        .unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_tokens_revocations_and_admin_sign_ins() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let (db, url) = TestDb::create(Backend::Postgres);
    let DatabaseUrl::Postgres(database) = url else {
        unreachable!()
    };
    let TestDb::Postgres { name, .. } = &db else {
        unreachable!()
    };
    let name = name.clone();
    run(&database, &["migrate"], "");
    run(
        &database,
        &["admin", "create", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..3).map(|_| start_node(dir.path(), &database)).collect();
    let (a, others) = (&nodes[0], &nodes[1..]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while listeners(&admin_url, &name).await < 3 {
        assert!(
            Instant::now() < deadline,
            "the three listeners never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();

    // A token issued on A works on B and C; a logout on A is refused there.
    let token = login(&client, a, "fleet-1").await;
    works_everywhere(&client, &nodes, &token).await;
    let r = client
        .post(format!("{}/api/logout", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    refused_everywhere(&client, others, &token, Instant::now()).await;

    // One session revoked on A, by another session of the same person.
    let (kept, revoked) = (
        login(&client, a, "fleet-2").await,
        login(&client, a, "fleet-2-b").await,
    );
    works_everywhere(&client, &nodes, &revoked).await;
    let sessions: Value = client
        .get(format!("{}/api/me/sessions", a.base))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .clone();
    let r = client
        .delete(format!("{}/api/me/sessions/{id}", a.base))
        .bearer_auth(&kept)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    refused_everywhere(&client, others, &revoked, Instant::now()).await;
    works_everywhere(&client, &nodes, &kept).await;

    // An admin signed in on A is signed in on B: cookies hold for the host,
    // whatever the port, and every node has the same key.
    let admin = AdminClient::at(&a.base);
    assert_eq!(admin.sign_in_with("alice", PASSWORD).await.status(), 303);
    let on_b = admin
        .client
        .get(format!("{}/admin/users", others[0].base))
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 200, "signed in on B too");
    // Signing out on A ends the session on B at once: it is one row.
    let csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post_form("/admin/logout", &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let on_b = admin
        .client
        .get(format!("{}/admin/users", others[0].base))
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 303, "signed out on B too");

    // PostgreSQL cuts the listeners: they come back, and revocations reach
    // every node again.
    cut_listeners(&admin_url, &name).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    while listeners(&admin_url, &name).await < 3 {
        assert!(Instant::now() < deadline, "the listeners never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    works_everywhere(&client, &nodes, &kept).await;
    let r = client
        .post(format!("{}/api/logout", a.base))
        .bearer_auth(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    refused_everywhere(&client, others, &kept, Instant::now()).await;
    let log = others[0].log.lock().unwrap().join("\n");
    assert!(
        log.contains("revocation listener lost its connection"),
        "{log}"
    );
}

/// How many `stable_token` calls the fake WeChat received, with the given
/// `force_refresh`.
async fn stable_token_calls(wechat: &wiremock::MockServer, forced: bool) -> usize {
    wechat
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/stable_token")
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["force_refresh"] == json!(forced)
        })
        .count()
}

async fn phone(client: &reqwest::Client, node: &Node, token: &str) -> (u16, Value) {
    let r = client
        .post(format!("{}/api/me/phone", node.base))
        .bearer_auth(token)
        .json(&json!({"code": "phone-code"}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// One access_token for the fleet: three nodes asked for phone numbers at
/// once make one `stable_token` call between them, and a token WeChat
/// refuses on all three is replaced by one forced refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_access_token() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};
    if postgres_url().is_none() {
        return;
    }
    let (_db, url) = TestDb::create(Backend::Postgres);
    let DatabaseUrl::Postgres(database) = url else {
        unreachable!()
    };
    let wechat = wiremock::MockServer::start().await;
    Mock::given(path("/sns/jscode2session"))
        .respond_with(code2session_ok("oFLEET", "k", None))
        .mount(&wechat)
        .await;
    let token_answer = |token: &str| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"access_token": token, "expires_in": 7200}))
            // Slow, so that the other nodes ask while it is being fetched.
            .set_delay(Duration::from_millis(300))
    };
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .and(wiremock::matchers::body_partial_json(
            json!({"force_refresh": false}),
        ))
        .respond_with(token_answer("FLEET-TOKEN-1"))
        .mount(&wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .and(wiremock::matchers::body_partial_json(
            json!({"force_refresh": true}),
        ))
        .respond_with(token_answer("FLEET-TOKEN-2"))
        .mount(&wechat)
        .await;
    let phone_ok = ResponseTemplate::new(200).set_body_json(json!({
        "errcode": 0, "errmsg": "ok",
        "phone_info": {"purePhoneNumber": "13800138000", "countryCode": "86"}
    }));
    Mock::given(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "FLEET-TOKEN-1"))
        .respond_with(phone_ok.clone())
        .up_to_n_times(3 * 4)
        .mount(&wechat)
        .await;
    // Once the first round is answered, WeChat refuses the first token (as
    // after a refresh elsewhere).
    Mock::given(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "FLEET-TOKEN-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 40001, "errmsg": "invalid credential"})),
        )
        .mount(&wechat)
        .await;
    Mock::given(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "FLEET-TOKEN-2"))
        .respond_with(phone_ok)
        .mount(&wechat)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..3)
        .map(|_| start_app_node(dir.path(), &database, &wechat.uri()))
        .collect();
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for node in &nodes {
        tokens.push(login(&client, node, "c").await);
    }
    let round = || {
        let calls = nodes
            .iter()
            .zip(&tokens)
            .flat_map(|(node, token)| (0..4).map(|_| phone(&client, node, token)));
        futures::future::join_all(calls)
    };
    for (status, body) in round().await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["phone_number"], "13800138000");
    }
    assert_eq!(
        stable_token_calls(&wechat, false).await,
        1,
        "one fetch for the fleet"
    );
    assert_eq!(stable_token_calls(&wechat, true).await, 0);

    // Every node is refused the token at once: one forced refresh between them.
    for (status, body) in round().await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(stable_token_calls(&wechat, false).await, 1);
    assert_eq!(
        stable_token_calls(&wechat, true).await,
        1,
        "one forced refresh for the fleet"
    );

    // The token is kept sealed: neither the database nor any log holds it.
    let mut conn = PgConnection::establish(&database).unwrap();
    #[derive(QueryableByName)]
    struct Sealed {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        sealed_token: Vec<u8>,
    }
    let rows: Vec<Sealed> = diesel::sql_query("SELECT sealed_token FROM wechat_access_tokens")
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].sealed_token.windows(5).any(|w| w == b"FLEET"));
    for node in &nodes {
        let log = node.log.lock().unwrap().join("\n");
        assert!(!log.contains("FLEET-TOKEN"), "{log}");
        assert!(!log.contains(SECRET), "{log}");
    }
}

/// A code retried on other nodes (a client behind round robin that lost
/// the answer, or two pages at once): one WeChat exchange for the fleet,
/// and the same token on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_exchange_one_code_once() {
    use wiremock::matchers::path;
    use wiremock::Mock;
    if postgres_url().is_none() {
        return;
    }
    let (_db, url) = TestDb::create(Backend::Postgres);
    let DatabaseUrl::Postgres(database) = url else {
        unreachable!()
    };
    let wechat = wiremock::MockServer::start().await;
    Mock::given(path("/sns/jscode2session"))
        // Slow, so that every node asks while the first exchange is under way.
        .respond_with(code2session_ok("oFLEET", "k", None).set_delay(Duration::from_millis(500)))
        .mount(&wechat)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..3)
        .map(|_| start_app_node(dir.path(), &database, &wechat.uri()))
        .collect();
    let client = reqwest::Client::new();
    let tokens = futures::future::join_all(
        nodes
            .iter()
            .cycle()
            .take(9)
            .map(|node| login(&client, node, "one-code-for-the-fleet")),
    )
    .await;
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    let exchanges = wechat
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/sns/jscode2session")
        .count();
    assert_eq!(exchanges, 1);
    works_everywhere(&client, &nodes, &tokens[0]).await;
    // A retry later, on any node, still gets it.
    assert_eq!(
        login(&client, &nodes[2], "one-code-for-the-fleet").await,
        tokens[0]
    );
}
