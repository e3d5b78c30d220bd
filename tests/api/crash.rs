//! SQLite survives SIGKILL under a login load: after each restart, every
//! token that got a 200 still works, and the file passes an integrity check.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::binary::start_dev_server;

/// Logins on `workers` connections until the server goes away; the tokens
/// that got a 200 land in `tokens`.
async fn login_load(base: String, workers: usize, round: usize, tokens: Arc<Mutex<Vec<String>>>) {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (base, tokens) = (base.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0.. {
                let sent = client
                    .post(format!("{base}/api/login"))
                    .json(&json!({"code": format!("crash{round}w{w}-{n}")}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let Ok(answer) = sent else { return };
                if answer.status() != 200 {
                    continue;
                }
                let Ok(body) = answer.json::<Value>().await else {
                    return;
                };
                if let Some(token) = body["token"].as_str() {
                    tokens.lock().unwrap().push(token.to_owned());
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn integrity(db: &std::path::Path) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .stderr(Stdio::inherit())
        .output()
        .expect("sqlite3 is installed (Debian's sqlite3 package)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_login_through_three_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Arc::new(Mutex::new(Vec::new()));
    for round in 0..3 {
        let (server, base, _, _) = start_dev_server(dir.path(), &[]);
        let load = tokio::spawn(login_load(base, 16, round, tokens.clone()));
        // Killed in the middle of the load, once some logins are through.
        let acknowledged = tokens.lock().unwrap().len();
        let started = std::time::Instant::now();
        while tokens.lock().unwrap().len() < acknowledged + 200 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the load never got going"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGKILL) };
        drop(server);
        load.await.unwrap();
        assert_eq!(
            integrity(&dir.path().join("wxlogin.db")),
            "ok",
            "after kill {round}"
        );
    }

    let (_server, base, _, _) = start_dev_server(dir.path(), &[]);
    let client = reqwest::Client::new();
    let tokens = tokens.lock().unwrap().clone();
    assert!(tokens.len() >= 600, "{} logins acknowledged", tokens.len());
    for token in &tokens {
        let me = client
            .get(format!("{base}/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "an acknowledged login was lost");
    }
    assert_eq!(integrity(&dir.path().join("wxlogin.db")), "ok");
}
