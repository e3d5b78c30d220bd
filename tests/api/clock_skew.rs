//! A node whose clock is far from the database's says so and is not ready.
//! The skewed clocks come from libfaketime (Debian's `faketime`), preloaded
//! into the real binary on PostgreSQL. Preloaded rather than through the
//! `faketime` wrapper, which runs the program as its child: killing the
//! wrapper would leave the server running.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wxlogin::config::DatabaseUrl;

use crate::common::{postgres_url, Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");

/// Starts `serve --dev` on PostgreSQL with its clock moved by `offset`
/// (libfaketime's syntax, e.g. `+8d`), and returns `/readyz`'s status and
/// the log lines that mention the clock.
fn readiness_with_clock(url: &str, offset: Option<&str>) -> (u16, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    if let Some(offset) = offset {
        let library = libfaketime().expect("libfaketime");
        cmd.env("LD_PRELOAD", library).env("FAKETIME", offset);
    }
    let mut child = cmd
        .current_dir(dir.path())
        .env("DATABASE_URL", url)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("RUST_LOG", "info")
        .args(["serve", "--dev", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut clock_lines = Vec::new();
    let mut address = None;
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("clock") {
            clock_lines.push(line.clone());
        }
        if let Some(rest) = line.split("address=").nth(1) {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("the server started");
    let status = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&address).unwrap();
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let _ = child.kill();
    let _ = child.wait();
    (status, clock_lines)
}

/// Debian's libfaketime, wherever its multiarch directory is.
fn libfaketime() -> Option<std::path::PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
}

#[test]
fn a_skewed_clock_is_not_ready() {
    if postgres_url().is_none() {
        return;
    }
    if libfaketime().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI installs faketime");
        eprintln!("SKIPPED: the clock-skew test needs Debian's faketime");
        return;
    }
    let (_db, url) = TestDb::create(Backend::Postgres);
    let DatabaseUrl::Postgres(url) = url else {
        unreachable!()
    };
    let started = Instant::now();
    let (status, lines) = readiness_with_clock(&url, None);
    assert_eq!(status, 200, "{lines:?}");
    for offset in ["+8d", "-20m"] {
        let (status, lines) = readiness_with_clock(&url, Some(offset));
        assert_eq!(status, 503, "{offset}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ERROR") && l.contains("synchronised clocks")),
            "{offset}: {lines:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}
