//! A fake WeChat `jscode2session` for the benchmarks.
//!
//! ```sh
//! cargo build --release --example fake_wechat
//! target/release/examples/fake_wechat --port 9100 --latency-ms 100
//! ```
//!
//! Answers `GET /sns/jscode2session?...&js_code=CODE` after a fixed delay,
//! as WeChat does when all goes well. The code is `USER.NONCE`: the same USER
//! always gets the same openid and unionid (so a code names a returning
//! user), and every code gets a new session_key. `GET /healthz` answers at
//! once. A path under `/latN/` (e.g. `/lat100/sns/jscode2session`) is answered
//! after N ms, so one fake serves several latencies.
//!
//! It runs on one thread, and a delayed answer is a timer, not a thread: it
//! answers 5,000 requests a second at 100 ms with a small part of one core,
//! which leaves the rest of the machine to wxlogin.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use clap::Parser;
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(about = "A fake WeChat jscode2session for the benchmarks")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 9100)]
    port: u16,
    /// Delay of every answer outside `/latN/` paths.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

/// 28 URL-safe characters, `o` and a shared prefix first, like WeChat's.
fn ident(prefix: &str, user: &str) -> String {
    let digest = Sha256::digest(format!("{prefix}{user}"));
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(digest);
    format!("{prefix}{}", &encoded[..28 - prefix.len()])
}

fn session(code: &str) -> serde_json::Value {
    if code.is_empty() {
        return serde_json::json!({"errcode": 40029, "errmsg": "invalid code"});
    }
    let user = code.rsplit_once('.').map_or(code, |(user, _)| user);
    let mut key = [0u8; 16];
    rand::rng().fill_bytes(&mut key);
    serde_json::json!({
        "openid": ident("oBENCH", user),
        "unionid": ident("oUNION", user),
        "session_key": base64::engine::general_purpose::STANDARD.encode(key),
    })
}

async fn answer(req: HttpRequest, latency: web::Data<Duration>) -> HttpResponse {
    let mut path = req.path();
    let mut delay = **latency;
    if let Some(rest) = path.strip_prefix("/lat") {
        if let Some((ms, _)) = rest.split_once('/') {
            if let Ok(n) = ms.parse::<u64>() {
                delay = Duration::from_millis(n);
                path = &rest[ms.len()..];
            }
        }
    }
    let body = match path {
        "/healthz" => return HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        "/sns/jscode2session" => {
            let code = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.0.into_iter().find(|(k, _)| k == "js_code"))
                .map(|(_, v)| v)
                .unwrap_or_default();
            session(&code)
        }
        _ => {
            return HttpResponse::NotFound()
                .json(serde_json::json!({"errcode": 404, "errmsg": "not found"}))
        }
    };
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    HttpResponse::Ok().json(body)
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let latency = web::Data::new(Duration::from_millis(args.latency_ms));
    eprintln!(
        "fake WeChat on {}:{}, latency {} ms",
        args.host, args.port, args.latency_ms
    );
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            App::new()
                .app_data(latency.clone())
                .default_service(web::get().to(answer))
        })
        .workers(1)
        .backlog(4096)
        .bind((args.host.as_str(), args.port))?
        .run(),
    )
}
