//! Every subcommand of the real binary exits 0 on success, every time, on
//! both backends, and so does `serve` after SIGTERM. On PostgreSQL the
//! commands connect with libpq's default `sslmode`, which uses TLS when the
//! server offers it: a process that exited while a pool thread was still
//! connecting used to crash in OpenSSL's clean-up at exit (status 139), and
//! one whose pool threads were still exiting crashed there too (now OpenSSL
//! runs no clean-up at exit: see main.rs).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::backend_tests;
use crate::binary::CLI_DATA_KEY;
use crate::common::{Backend, TestDb};
use wxlogin::config::DatabaseUrl;

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");
/// Runs of each subcommand.
const RUNS: usize = 20;

fn url_of(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(u) => u.clone(),
        DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
    }
}

fn command(url: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    cmd
}

fn run(url: &str, dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(url, dir)
        .args(args)
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
    child.wait_with_output().unwrap()
}

fn assert_clean_exit(what: &str, i: usize, out: &Output) {
    assert!(
        out.status.success(),
        "`wxlogin {what}` run {i}: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Says whether this connection method really uses TLS, so that a green run
/// on a server without TLS is not mistaken for proof.
fn note_tls(url: &str) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    if let Ok(mut c) = diesel::PgConnection::establish(url) {
        let ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result::<Ssl>(&mut c)
            .map(|s| s.ssl)
            .unwrap_or(false);
        if !ssl {
            eprintln!("NOTE: this PostgreSQL server does not offer TLS, so the run does not exercise libpq's TLS clean-up");
        }
    }
}

async fn one_shot_commands_exit_cleanly(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let url = url_of(&url);
    tokio::task::spawn_blocking(move || {
        if backend == Backend::Postgres {
            note_tls(&url);
        }
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let password = "a password long enough\n";
        for i in 0..RUNS {
            let name = format!("admin{i}");
            let seed = (i + 100).to_string();
            for (what, args, stdin) in [
                ("migrate", vec!["migrate"], ""),
                (
                    "admin create",
                    vec!["admin", "create", &name, "--password-stdin"],
                    password,
                ),
                (
                    "admin passwd",
                    vec!["admin", "passwd", &name, "--password-stdin"],
                    password,
                ),
                ("admin list", vec!["admin", "list"], ""),
                ("export", vec!["export", "--data-key", CLI_DATA_KEY], ""),
                // --dev lets seed add users to a table that has some.
                (
                    "seed",
                    vec![
                        "seed",
                        "--users",
                        "3",
                        "--dev",
                        "--seed",
                        &seed,
                        "--data-key",
                        CLI_DATA_KEY,
                    ],
                    "",
                ),
                (
                    "rotate-data-key",
                    vec!["rotate-data-key", "--data-key", CLI_DATA_KEY],
                    "",
                ),
                ("admin delete", vec!["admin", "delete", &name], ""),
            ] {
                assert_clean_exit(what, i, &run(&url, dir, &args, stdin));
            }
        }
    })
    .await
    .unwrap();
}

async fn serve_exits_cleanly_after_sigterm(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let url = url_of(&url);
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..RUNS {
            let mut child = command(&url, dir.path())
                .env("RUST_LOG", "info")
                .args(["serve", "--dev", "--bind", "127.0.0.1:0"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let address = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| {
                    l.split("address=")
                        .nth(1)
                        .map(|r| r.split_whitespace().next().unwrap().to_owned())
                })
                .unwrap_or_else(|| panic!("serve run {i} did not start"));
            std::thread::spawn(move || lines.for_each(drop));
            // A login, so the pool and the writer have work behind them.
            let login = raw_http::login(&address, &format!("exit-{i}"));
            assert_eq!(login, 200, "login on serve run {i}");
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let started = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "serve run {i} did not exit after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "serve run {i} after SIGTERM: {status:?}");
        }
    })
    .await
    .unwrap();
}

/// A tiny blocking HTTP client, so that the test thread needs no runtime.
mod raw_http {
    use std::io::{Read, Write};

    pub fn login(address: &str, code: &str) -> u16 {
        let body = format!(r#"{{"code":"{code}"}}"#);
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "POST /api/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Nodes of a fleet that start together on a new database all migrate it:
/// one applies the migrations while the others wait, then find none left.
async fn commands_started_together_all_migrate(backend: Backend) {
    const TOGETHER: usize = 4;
    tokio::task::spawn_blocking(move || {
        for round in 0..3 {
            let (_db, url) = TestDb::create(backend);
            let url = url_of(&url);
            let dir = tempfile::tempdir().unwrap();
            let children: Vec<_> = (0..TOGETHER)
                .map(|_| {
                    command(&url, dir.path())
                        .arg("migrate")
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for (i, child) in children.into_iter().enumerate() {
                let out = child.wait_with_output().unwrap();
                assert_clean_exit(&format!("migrate (round {round})"), i, &out);
            }
            assert_clean_exit(
                "admin list",
                round,
                &run(&url, dir.path(), &["admin", "list"], ""),
            );
        }
    })
    .await
    .unwrap();
}

backend_tests!(
    one_shot_commands_exit_cleanly,
    serve_exits_cleanly_after_sigterm,
    commands_started_together_all_migrate
);
