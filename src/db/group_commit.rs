//! Group commit for logins.
//!
//! Every login writes: it creates or updates the identity and its account,
//! and opens a session.
//! With one transaction per login, the commit is most of the cost of a login
//! (on SQLite: the WAL append, the periodic checkpoint, and the single write
//! lock that every login queues for; on PostgreSQL: a WAL flush per commit).
//!
//! So logins go to a queue instead, and a writer thread takes every login
//! waiting at that moment (up to [`MAX_BATCH`]) and writes them all in one
//! transaction. Under load one commit serves dozens of logins; a lone login
//! is written at once, as it would be without the queue.
//!
//! - A login is answered only after the transaction that holds it has
//!   committed, so nothing is acknowledged that is not stored.
//! - If a batch fails, each of its logins is tried again in a transaction of
//!   its own, so that one bad login cannot fail the others. When the
//!   database is unavailable (no connection, SQLite's busy timeout), the
//!   whole batch gets that answer instead, without retries.
//! - PostgreSQL runs several writers, and each person has one: a login goes
//!   to the writer that its unionid (else its appid and openid) picks. Two
//!   logins of one person at once (a first login and its retry, or two apps)
//!   then meet in one writer, as two rounds of a batch or two batches,
//!   instead of in two transactions where one waits on the other's unique
//!   index until it commits, stalling a whole batch.
//! - A batch is written in (appid, openid) order, so that writers that do
//!   cross (a unionid that arrives late) lock rows in the same order and
//!   cannot deadlock.
//! - Every login is answered within one connection timeout of being queued:
//!   a batch waits for a connection only until its earliest login's deadline,
//!   and only briefly while the database is known to be down.
//! - [`LoginWriter::stop`] writes what is queued, then ends the threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::logins::{self, RecordedLogin};
use super::{CommitNotice, DbConnection, DbError, DbPool};
use crate::domain::login::LoginRecord;

/// Most logins written in one transaction.
pub const MAX_BATCH: usize = 256;

/// How often an idle writer looks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);

struct Job {
    login: LoginRecord,
    /// By then the login has its answer, whatever the database does: one
    /// connection timeout after it was queued.
    deadline: Instant,
    reply: oneshot::Sender<Result<RecordedLogin, DbError>>,
}

/// The queue in front of the writer threads. Cheap to share: the
/// application holds one.
pub struct LoginWriter {
    /// One queue per writer thread.
    queues: Vec<mpsc::Sender<Job>>,
    stopping: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// How long a login waits for a connection, at most.
    wait: Duration,
}

impl LoginWriter {
    /// Starts `writers` threads (at least one) that write logins through `pool`.
    /// SQLite takes one writer at a time, so one thread is right there;
    /// PostgreSQL gains from a few. After each batch a writer sends `notice`,
    /// if given (SQLite's WAL checkpoint thread). With `events`, logins
    /// record their webhook events.
    pub fn start(
        pool: DbPool,
        writers: usize,
        notice: Option<CommitNotice>,
        events: bool,
    ) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for i in 0..writers.max(1) {
            let (queue, jobs) = mpsc::channel::<Job>();
            let (pool, notice, stopping) = (pool.clone(), notice.clone(), stopping.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("login-writer-{i}"))
                    .spawn(move || write_loop(&pool, &jobs, notice.as_ref(), &stopping, events))?,
            );
            queues.push(queue);
        }
        Ok(Self {
            queues,
            stopping,
            threads: Mutex::new(threads),
            wait: pool.connection_timeout(),
        })
    }

    /// Writes one login, together with whatever other logins are waiting,
    /// and answers once it is committed, or at the latest one connection
    /// timeout after it was queued.
    pub async fn record(&self, login: LoginRecord) -> Result<RecordedLogin, DbError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(writer_gone());
        }
        let (reply, answer) = oneshot::channel();
        self.queues[writer_of(&login, self.queues.len())]
            .send(Job {
                login,
                deadline: Instant::now() + self.wait,
                reply,
            })
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Writes every login already queued, then stops the writers and waits
    /// for them. Logins recorded from now on are refused.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a login writer panicked");
            }
        }
    }
}

/// The writer of a login's person, among `writers`: the same for every
/// login of one unionid, or of one identity without a unionid.
fn writer_of(login: &LoginRecord, writers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    if writers <= 1 {
        return 0;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match &login.unionid {
        Some(unionid) => unionid.hash(&mut hasher),
        None => (&login.appid, &login.openid).hash(&mut hasher),
    }
    (hasher.finish() % writers as u64) as usize
}

fn writer_gone() -> DbError {
    DbError::Unavailable("the login writer has stopped".into())
}

fn write_loop(
    pool: &DbPool,
    jobs: &mpsc::Receiver<Job>,
    notice: Option<&CommitNotice>,
    stopping: &AtomicBool,
    events: bool,
) {
    while let Some(batch) = next_batch(jobs, stopping, MAX_BATCH) {
        if crate::telemetry::prometheus::is_installed() {
            metrics::histogram!("wxlogin_login_batch_size").record(batch.len() as f64);
        }
        // A panic in diesel or in the driver must not stop the writer: the
        // logins of that batch get "unavailable" (their reply senders are
        // dropped), and the next batch is written as usual.
        let r = catch_unwind(AssertUnwindSafe(|| write_batch(pool, batch, events)));
        if r.is_err() {
            tracing::error!("the login writer recovered from a panic");
        }
        if let Some(notice) = notice {
            notice.committed();
        }
    }
}

/// The jobs waiting now, at least one and at most `max`, once one comes.
/// `None` once `stopping` is set and the queue is empty (what was queued is
/// done first), or once every sender is gone. Shared by the writers that
/// batch their work (`db::code_claims` too).
pub(super) fn next_batch<J>(
    jobs: &mpsc::Receiver<J>,
    stopping: &AtomicBool,
    max: usize,
) -> Option<Vec<J>> {
    let first = loop {
        match jobs.recv_timeout(STOP_POLL) {
            Ok(job) => break job,
            Err(RecvTimeoutError::Timeout) if stopping.load(Ordering::SeqCst) => return None,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn write_batch(pool: &DbPool, mut batch: Vec<Job>, events: bool) {
    batch.sort_by(|a, b| (&a.login.appid, &a.login.openid).cmp(&(&b.login.appid, &b.login.openid)));
    // Every login is answered by its deadline: the wait for a connection
    // ends at the earliest one, and is a short probe while the database is
    // known to be down.
    let earliest = batch.iter().map(|j| j.deadline).min();
    let left = earliest.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
    });
    let mut conn = match pool.get_timeout(pool.health().wait_for_connection(left)) {
        Ok(conn) => conn,
        Err(e) => return unavailable(batch, &e),
    };
    let logins: Vec<&LoginRecord> = batch.iter().map(|j| &j.login).collect();
    match logins::record_logins(&mut conn, &logins, events) {
        Ok(recorded) => {
            pool.health().write_succeeded();
            for (job, login) in batch.into_iter().zip(recorded) {
                let _ = job.reply.send(Ok(login));
            }
        }
        Err(DbError::Unavailable(e)) => unavailable(batch, &e),
        // The same cause would fail each login again.
        Err(DbError::StorageFailing(e)) => {
            pool.health().write_failed();
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(DbError::Unavailable(e.to_string().into())));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                let result = if worth_retrying(&e) {
                    write_one(&mut conn, &job.login, events)
                } else {
                    Err(e)
                };
                let _ = job.reply.send(result);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, logins = batch.len(), "a batch of logins failed; writing them one by one");
            for job in batch {
                let result = match write_one(&mut conn, &job.login, events) {
                    Err(e) if worth_retrying(&e) => write_one(&mut conn, &job.login, events),
                    result => result,
                };
                let _ = job.reply.send(result);
            }
        }
    }
}

/// Whether a login that failed alone may succeed if written once more:
/// another writer's transaction crossed it (a deadlock, or a unionid it
/// took meanwhile), and is committed or gone by now.
fn worth_retrying(e: &DbError) -> bool {
    e.is_transient_conflict() || matches!(e, DbError::Conflict)
}

/// Answers every login of the batch with "the database is unavailable".
fn unavailable(batch: Vec<Job>, cause: &dyn std::fmt::Display) {
    let message = cause.to_string();
    for job in batch {
        let _ = job
            .reply
            .send(Err(DbError::Unavailable(message.clone().into())));
    }
}

fn write_one(
    conn: &mut DbConnection,
    login: &LoginRecord,
    events: bool,
) -> Result<RecordedLogin, DbError> {
    logins::record_logins(conn, &[login], events).map(|mut recorded| recorded.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::ProfileUpdate;
    use crate::domain::token::TokenHash;

    fn login(appid: &str, openid: &str, unionid: Option<&str>) -> LoginRecord {
        let now = crate::clock::now();
        LoginRecord {
            appid: appid.into(),
            openid: openid.into(),
            unionid: unionid.map(Into::into),
            session_key: crate::domain::data_keys::Stored::from("S0VZ".to_owned()),
            token_hash: TokenHash([0; 32]),
            expires_at: now,
            client_ip: None,
            user_agent: None,
            profile: ProfileUpdate::default(),
            risk_rank: None,
            now,
        }
    }

    #[test]
    fn the_logins_of_one_person_go_to_one_writer_and_people_spread_over_all() {
        for n in 0..100 {
            let unionid = format!("oUNION{n}");
            let shop = login("wxshop", &format!("oSHOP{n}"), Some(&unionid));
            let staff = login("wxstaff", &format!("oSTAFF{n}"), Some(&unionid));
            assert_eq!(writer_of(&shop, 4), writer_of(&staff, 4));
            let anonymous = login("wxshop", &format!("oANON{n}"), None);
            assert_eq!(writer_of(&anonymous, 4), writer_of(&anonymous, 4));
            assert_eq!(writer_of(&shop, 1), 0, "one writer takes every login");
        }
        let mut per_writer = [0; 4];
        for n in 0..4000 {
            per_writer[writer_of(&login("wxshop", &format!("o{n}"), None), 4)] += 1;
        }
        assert!(per_writer.iter().all(|&n| n > 800), "{per_writer:?}");
    }
}
