//! Revocations across a fleet on one PostgreSQL.
//!
//! Every node caches checked tokens for a few seconds (see
//! [`token_cache`](super::token_cache)). A logout, a session revoke, a
//! revoke-all, a merge or a profile change clears the copy on the node that
//! made it at once; this module tells the other nodes:
//!
//! - the [`Announcer`] thread sends each revocation with `pg_notify` on the
//!   channel `wxlogin_revocations`, after the change has committed, several
//!   in one notification when they come together;
//! - the [`Listener`] thread keeps a connection of its own that `LISTEN`s on
//!   the channel, and clears what each notification names from the cache.
//!
//! When the listener's connection drops, it reconnects with backoff (0.1 s
//! doubling to 5 s), logs and counts the failure, and meanwhile the cache's
//! TTL bounds how long a revoked token still works on this node. Once back,
//! it clears the whole cache, since notifications sent meanwhile are lost.
//! SQLite is one host: there is nothing to send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::token_cache::TokenCache;
use super::{DbConnection, DbPool};
use crate::domain::token::TokenHash;

/// The PostgreSQL channel.
pub const CHANNEL: &str = "wxlogin_revocations";

/// The listener's `application_name`, by which it can be found in
/// `pg_stat_activity`.
pub const LISTENER_NAME: &str = "wxlogin-revocations";

/// PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7000;

/// How often the listener reads its socket.
const POLL: Duration = Duration::from_millis(50);

/// How often the listener checks, with a query, that its connection lives.
const CHECK_EVERY: Duration = Duration::from_secs(2);

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a node must drop from its token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token (a logout).
    Token(TokenHash),
    /// One session, by id.
    Session(i64),
    /// Every session of an account, and the account's copy.
    SessionsOf(i64),
    /// The account's cached copy (its profile changed).
    Account(i64),
    /// The identity's cached copy.
    Identity(i64),
}

impl Revocation {
    /// A short text: a letter and the id, or `t` and the token's hash in
    /// hex (the hash, never the token).
    fn encode(&self) -> String {
        match self {
            Self::Token(hash) => format!("t{}", hex::encode(hash.0)),
            Self::Session(id) => format!("s{id}"),
            Self::SessionsOf(id) => format!("a{id}"),
            Self::Account(id) => format!("p{id}"),
            Self::Identity(id) => format!("i{id}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_at_checked(1)?;
        let id = || rest.parse::<i64>().ok();
        Some(match kind {
            "t" => {
                let bytes: [u8; 32] = hex::decode(rest).ok()?.try_into().ok()?;
                Self::Token(TokenHash(bytes))
            }
            "s" => Self::Session(id()?),
            "a" => Self::SessionsOf(id()?),
            "p" => Self::Account(id()?),
            "i" => Self::Identity(id()?),
            _ => return None,
        })
    }
}

/// Packs revocations into as few payloads as fit PostgreSQL's limit.
fn payloads(revocations: &[Revocation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in revocations {
        let text = r.encode();
        match out.last_mut() {
            Some(p) if p.len() + 1 + text.len() <= MAX_PAYLOAD => {
                p.push(',');
                p.push_str(&text);
            }
            _ => out.push(text),
        }
    }
    out
}

/// The revocations a payload names; unknown parts are skipped.
fn parse(payload: &str) -> impl Iterator<Item = Revocation> + '_ {
    payload.split(',').filter_map(Revocation::decode)
}

fn count(name: &'static str, by: u64) {
    if crate::telemetry::prometheus::is_installed() {
        metrics::counter!(name).increment(by);
    }
}

/// A thread that runs until told to stop.
struct Worker {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(name: &str, run: impl FnOnce(&AtomicBool) + Send + 'static) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&flag))?;
        Ok(Self {
            stopping,
            thread: Some(thread),
        })
    }

    /// Lets the thread finish what it holds, then waits for it.
    fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends this node's revocations to the others.
pub struct Announcer(Worker);

impl Announcer {
    /// Starts the thread that sends what `revocations` receives, through
    /// `pool`.
    pub fn start(revocations: mpsc::Receiver<Revocation>, pool: DbPool) -> std::io::Result<Self> {
        Worker::spawn("revocation-announcer", move |stopping| {
            announce_loop(&revocations, &pool, stopping)
        })
        .map(Self)
    }

    /// Sends what is queued, then stops.
    pub fn stop(&mut self) {
        self.0.stop();
    }
}

fn announce_loop(revocations: &mpsc::Receiver<Revocation>, pool: &DbPool, stopping: &AtomicBool) {
    loop {
        let first = match revocations.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if stopping.load(Ordering::SeqCst) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        batch.extend(revocations.try_iter());
        if let Err(e) = send(pool, &batch) {
            // The other nodes drop their copies when the cache's TTL ends.
            tracing::warn!(error = %e, revocations = batch.len(), "cannot tell the other nodes of revocations");
            count("wxlogin_revocations_unsent_total", batch.len() as u64);
        } else {
            count("wxlogin_revocations_sent_total", batch.len() as u64);
        }
    }
}

fn send(pool: &DbPool, batch: &[Revocation]) -> Result<(), String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let DbConnection::Postgres(conn) = &mut *conn else {
        return Ok(());
    };
    for payload in payloads(batch) {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload)
            .execute(conn)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Applies the other nodes' revocations to this node's cache.
pub struct Listener(Worker);

impl Listener {
    /// Starts listening on `url` (a PostgreSQL URL), for `cache`.
    pub fn start(url: &str, cache: Arc<TokenCache>) -> std::io::Result<Self> {
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{url}{separator}application_name={LISTENER_NAME}&keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3"
        );
        Worker::spawn("revocation-listener", move |stopping| {
            listen_loop(&url, &cache, stopping)
        })
        .map(Self)
    }

    pub fn stop(&mut self) {
        self.0.stop();
    }
}

fn set_up(up: bool) {
    if crate::telemetry::prometheus::is_installed() {
        metrics::gauge!("wxlogin_revocation_listener_up").set(if up { 1.0 } else { 0.0 });
    }
}

fn listen_loop(url: &str, cache: &TokenCache, stopping: &AtomicBool) {
    let mut backoff = FIRST_BACKOFF;
    let mut connected_before = false;
    while !stopping.load(Ordering::SeqCst) {
        let failure = match PgConnection::establish(url) {
            Ok(mut conn) => match conn.batch_execute(&format!("LISTEN {CHANNEL}")) {
                Ok(()) => {
                    if connected_before {
                        // What was sent while this node was deaf is lost.
                        cache.clear();
                        tracing::info!(
                            "the revocation listener is back; the token cache is cleared"
                        );
                    }
                    connected_before = true;
                    backoff = FIRST_BACKOFF;
                    set_up(true);
                    listen(&mut conn, cache, stopping)
                }
                Err(e) => Some(e.to_string()),
            },
            Err(e) => Some(e.to_string()),
        };
        let Some(failure) = failure else { return };
        set_up(false);
        count("wxlogin_revocation_listener_failures_total", 1);
        tracing::warn!(
            error = %failure,
            retry_in_ms = backoff.as_millis() as u64,
            "the revocation listener lost its connection; other nodes' revocations reach this one only through the token cache's TTL until it is back"
        );
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stopping.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies notifications until the connection fails (its error) or the
/// node stops (`None`).
fn listen(conn: &mut PgConnection, cache: &TokenCache, stopping: &AtomicBool) -> Option<String> {
    let mut checked = Instant::now();
    loop {
        if stopping.load(Ordering::SeqCst) {
            return None;
        }
        for notification in conn.notifications_iter() {
            match notification {
                Ok(n) if n.channel == CHANNEL => {
                    let mut received = 0;
                    for revocation in parse(&n.payload) {
                        cache.apply(&revocation);
                        received += 1;
                    }
                    count("wxlogin_revocations_received_total", received);
                }
                Ok(_) => {}
                Err(e) => return Some(e.to_string()),
            }
        }
        if checked.elapsed() >= CHECK_EVERY {
            if let Err(e) = conn.batch_execute("SELECT 1") {
                return Some(e.to_string());
            }
            checked = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_survive_their_payloads() {
        let all = vec![
            Revocation::Token(TokenHash([0xab; 32])),
            Revocation::Session(42),
            Revocation::SessionsOf(7),
            Revocation::Account(-1),
            Revocation::Identity(i64::MAX),
        ];
        let packed = payloads(&all);
        assert_eq!(packed.len(), 1);
        assert_eq!(parse(&packed[0]).collect::<Vec<_>>(), all);
        assert_eq!(
            parse("x1,s,tzz,s5").collect::<Vec<_>>(),
            [Revocation::Session(5)]
        );
    }

    #[test]
    fn many_revocations_are_split_under_the_payload_limit() {
        let many: Vec<Revocation> = (0..2000)
            .map(|i| Revocation::Token(TokenHash([i as u8; 32])))
            .collect();
        let packed = payloads(&many);
        assert!(packed.len() > 1);
        assert!(packed.iter().all(|p| p.len() <= MAX_PAYLOAD));
        assert_eq!(packed.iter().flat_map(|p| parse(p)).count(), 2000);
    }
}
