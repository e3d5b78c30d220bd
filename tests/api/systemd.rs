//! Under systemd: the unit file is valid, and the real binary speaks the
//! notify protocol (READY=1, watchdog pings, STOPPING=1) on the socket that
//! `NOTIFY_SOCKET` names.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::{wxlogin, Server};

/// `deploy/wxlogin.service`, with its `ExecStart` pointed at the binary
/// under test, passes `systemd-analyze verify` without a word.
#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/wxlogin.service"
    ))
    .unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wxlogin.service");
    let unit = unit.replace("/usr/local/bin/wxlogin", env!("CARGO_BIN_EXE_wxlogin"));
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed (Debian's systemd package)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// The next datagram on `socket`, within `limit`.
fn next_message(socket: &UnixDatagram, limit: Duration) -> Option<String> {
    socket.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn serve_tells_systemd_it_is_ready_pings_the_watchdog_and_says_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    // systemd names the watched process in WATCHDOG_PID: the shell's pid,
    // which `exec` hands to wxlogin.
    let base = wxlogin();
    let mut shell = Command::new("sh");
    shell
        .args([
            "-c",
            r#"WATCHDOG_PID=$$ exec "$0" serve --dev --bind 127.0.0.1:0"#,
        ])
        .arg(base.get_program());
    for (name, value) in base.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    let child = shell
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|m: &String| m.contains("READY=1")) {
        assert!(Instant::now() < deadline, "no READY=1: {seen:?}");
        seen.extend(next_message(&socket, Duration::from_secs(1)));
    }
    // Pings at half of the 200 ms asked for: several within a second.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if next_message(&socket, Duration::from_millis(500))
            .is_some_and(|m| m.contains("WATCHDOG=1"))
        {
            pings += 1;
        }
    }
    assert!(pings >= 4, "{pings} watchdog pings in a second");

    unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no STOPPING=1");
        if next_message(&socket, Duration::from_secs(1)).is_some_and(|m| m.contains("STOPPING=1")) {
            break;
        }
    }
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
