//! Attacks of a hostile client on the real binary, bounded in size and time
//! and sent to 127.0.0.1 only. Memory is read from `/proc/PID/status`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary::{start_dev_server, Server};

const MIB: usize = 1024 * 1024;

/// The server's peak resident memory so far, in bytes.
fn peak_rss(server: &Server) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

fn host(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Logs in through the simulator and returns the token.
fn login(base: &str, code: &str) -> String {
    let body = format!(r#"{{"code":"{code}"}}"#);
    let answer = exchange(
        base,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    let value: Value = serde_json::from_str(json).unwrap();
    value["token"].as_str().unwrap().to_owned()
}

/// Sends a whole request and reads the answer until the server closes.
fn exchange(base: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(host(base)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The status code of an HTTP answer.
fn status_of(answer: &[u8]) -> u16 {
    std::str::from_utf8(answer)
        .ok()
        .and_then(|a| a.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `head`, then up to `most` bytes of `a` in 64 KiB chunks (chunked
/// framing when `chunked`), until the server answers or closes. Returns the
/// answer and how many body bytes were written before it came.
fn send_until_answered(base: &str, head: &str, most: usize, chunked: bool) -> (Vec<u8>, usize) {
    let mut stream = TcpStream::connect(host(base)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        reader
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        answer
    });
    let chunk = vec![b'a'; 64 * 1024];
    let mut written = 0;
    while written < most && !answer.is_finished() {
        let sent = if chunked {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(&chunk))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(&chunk)
        };
        if sent.is_err() {
            break;
        }
        written += chunk.len();
    }
    (answer.join().unwrap(), written)
}

fn upload_head(token: Option<&str>, framing: &str) -> String {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST /api/me/avatar HTTP/1.1\r\nHost: h\r\n{auth}Content-Type: multipart/form-data; boundary=XX\r\n{framing}\r\n"
    )
}

/// A chunked upload of `a`s with no boundary in it is refused with 413 once
/// 8 MiB have been read, and four at once leave memory bounded.
#[test]
fn an_endless_multipart_preamble_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base, _, _) = start_dev_server(dir.path(), &[]);
    let token = login(&base, "upload-attacker");
    let before = peak_rss(&server);

    let attacks: Vec<_> = (0..4)
        .map(|i| {
            let (base, token) = (base.clone(), token.clone());
            std::thread::spawn(move || {
                let framing = if i % 2 == 0 {
                    "Transfer-Encoding: chunked\r\n".to_owned()
                } else {
                    format!("Content-Length: {}\r\n", 8 * MIB - 1000)
                };
                let most = if i % 2 == 0 { 64 * MIB } else { 8 * MIB - 1000 };
                send_until_answered(
                    &base,
                    &upload_head(Some(&token), &framing),
                    most,
                    i % 2 == 0,
                )
            })
        })
        .collect();
    for (i, attack) in attacks.into_iter().enumerate() {
        let (answer, written) = attack.join().unwrap();
        let status = status_of(&answer);
        if i % 2 == 0 {
            assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
            // What the sockets' buffers hold comes on top of the 8 MiB read.
            assert!(
                written < 32 * MIB,
                "{written} bytes were taken before the 413"
            );
        } else {
            // Under the limit, with no boundary: malformed, not too large.
            assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
        }
    }
    let grown = peak_rss(&server).saturating_sub(before);
    assert!(grown < 80 * MIB, "peak memory grew by {} MiB", grown / MIB);
}

/// Without a token, the answer is 401 before the body is read.
#[test]
fn an_upload_without_a_token_is_refused_before_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server(dir.path(), &[]);
    let started = Instant::now();
    let (answer, _) = send_until_answered(
        &base,
        &upload_head(None, &format!("Content-Length: {}\r\n", 100 * MIB)),
        0,
        false,
    );
    assert_eq!(
        status_of(&answer),
        401,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Reads what the server sends until it closes the connection, at most
/// `within`; `None` if it is still open then.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(answer),
            Err(_) => return None,
        }
    }
}

/// Opens a connection and sends `request` (headers and the start of a body).
fn open_with(base: &str, request: &str) -> TcpStream {
    let mut stream = TcpStream::connect(host(base)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

const SLOW_LOGIN: &str = "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";

/// A body that does not arrive in time is answered 408, and the
/// connection is closed, whatever the framing and whether or not the
/// handler reads the body.
#[test]
fn slow_bodies_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server(dir.path(), &["--client-body-timeout", "1"]);
    let chunked = "POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n";
    for request in [SLOW_LOGIN, chunked] {
        let started = Instant::now();
        let mut stream = open_with(&base, request);
        let answer = read_until_closed(&mut stream, Duration::from_secs(10))
            .expect("the connection is closed after the timeout");
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(status_of(&answer), 408, "{text}");
        assert!(text.contains(r#""code":"request_timeout""#), "{text}");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "not before the timeout"
        );
    }
    // A handler that never reads the body answers at once; the connection
    // is then closed instead of being drained for as long as the client likes.
    let mut stream = open_with(
        &base,
        "GET /healthz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n",
    );
    let answer =
        read_until_closed(&mut stream, Duration::from_secs(10)).expect("the connection is closed");
    assert_eq!(
        status_of(&answer),
        200,
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// 2,000 connections that send headers and one byte of body cannot keep
/// `/healthz` from answering: past `--max-connections`, the slowest bodies
/// are cut off to make room.
#[test]
fn slow_bodies_cannot_crowd_out_others() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _, _) = start_dev_server(
        dir.path(),
        &["--max-connections", "100", "--client-body-timeout", "60"],
    );
    let mut slow = Vec::new();
    for i in 0..2_000 {
        slow.push(open_with(&base, SLOW_LOGIN));
        if i % 500 == 499 {
            let started = Instant::now();
            let answer = exchange(
                &base,
                "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            );
            assert_eq!(status_of(answer.as_bytes()), 200, "{answer}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "/healthz took {:?} with {} slow connections",
                started.elapsed(),
                i + 1
            );
        }
    }
    // The oldest were cut off with 408 and closed.
    for stream in slow.iter_mut().take(100) {
        let answer = read_until_closed(stream, Duration::from_secs(10))
            .expect("an old slow connection was closed");
        assert_eq!(
            status_of(&answer),
            408,
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}
