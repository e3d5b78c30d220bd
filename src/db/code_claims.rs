//! Where login codes are held for their retry window (see
//! `service::code_retry`): the `login_codes` table on PostgreSQL, which
//! every node of a fleet sees, and memory on SQLite.
//!
//! On PostgreSQL each login claims its code before WeChat is asked, and one
//! statement per login would cost a login's database work a good part
//! again. So, as the login writer does, one thread takes the claims waiting
//! at a moment and inserts them in one statement; only a code already there
//! (a retry, or a concurrent login with it) costs statements of its own.
//!
//! SQLite is one host, and its one writer at a time is the logins' limit:
//! a row per login there cost about 30 % of the logins a second. So on
//! SQLite the codes are held in the process's memory: several processes on
//! one file do not share them (a retry that reaches the other one asks
//! WeChat, and gets `code_used`).

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::NaiveDateTime;
use tokio::sync::oneshot;

use super::login_codes::{self, Claim, HeldCode, NewCode};
use super::{DbError, DbPool};

/// Most claims in one statement.
const MAX_BATCH: usize = 256;

struct Job {
    code: NewCode,
    reply: oneshot::Sender<Result<Claim, DbError>>,
}

/// The store of held codes.
pub enum CodeStore {
    Database { writer: ClaimWriter, pool: DbPool },
    Memory(Mutex<HashMap<Vec<u8>, HeldCode>>),
}

impl CodeStore {
    /// The table through `pool`, or memory when `in_memory` (SQLite).
    pub fn start(pool: DbPool, in_memory: bool) -> std::io::Result<Self> {
        if in_memory {
            return Ok(Self::Memory(Mutex::default()));
        }
        Ok(Self::Database {
            writer: ClaimWriter::start(pool.clone())?,
            pool,
        })
    }

    /// Holds the code for the login that will make `code.sealed_token`,
    /// unless another login holds it.
    pub async fn claim(&self, code: NewCode) -> Result<Claim, DbError> {
        match self {
            Self::Database { writer, .. } => writer.claim(code).await,
            Self::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                match held.get(&code.code_hash) {
                    Some(found) if found.expires_at > code.claimed_at => {
                        Ok(Claim::Held(found.clone()))
                    }
                    _ => {
                        held.insert(code.code_hash.clone(), row(&code));
                        Ok(Claim::Mine)
                    }
                }
            }
        }
    }

    /// Takes over a code whose login never finished, if it is still held
    /// as `found`. True if taken.
    pub async fn take_over(&self, found: HeldCode, code: NewCode) -> Result<bool, DbError> {
        match self {
            Self::Database { pool, .. } => {
                super::run_probing(pool, move |c| login_codes::take_over(c, &found, &code)).await
            }
            Self::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                if held.get(&code.code_hash) != Some(&found) {
                    return Ok(false);
                }
                held.insert(code.code_hash.clone(), row(&code));
                Ok(true)
            }
        }
    }

    /// Frees the code held for the login of `sealed_token`, which failed.
    pub async fn release(&self, code_hash: Vec<u8>, sealed_token: Vec<u8>) -> Result<(), DbError> {
        match self {
            Self::Database { pool, .. } => {
                super::run_probing(pool, move |c| {
                    login_codes::release(c, &code_hash, &sealed_token)
                })
                .await
            }
            Self::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                if held
                    .get(&code_hash)
                    .is_some_and(|h| h.sealed_token == sealed_token)
                {
                    held.remove(&code_hash);
                }
                Ok(())
            }
        }
    }

    /// Forgets the codes past their window. Returns how many.
    pub fn prune(&self, now: NaiveDateTime) -> Result<usize, DbError> {
        match self {
            Self::Database { pool, .. } => login_codes::prune(&mut *pool.get()?, now),
            Self::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                let before = held.len();
                held.retain(|_, h| h.expires_at > now);
                Ok(before - held.len())
            }
        }
    }

    /// Stops the claiming thread, once the claims queued are answered.
    pub fn stop(&self) {
        if let Self::Database { writer, .. } = self {
            writer.stop();
        }
    }
}

fn row(code: &NewCode) -> HeldCode {
    HeldCode {
        sealed_token: code.sealed_token.clone(),
        claimed_at: code.claimed_at,
        expires_at: code.expires_at,
    }
}

/// The queue in front of the claiming thread.
pub struct ClaimWriter {
    queue: mpsc::Sender<Job>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ClaimWriter {
    pub fn start(pool: DbPool) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("code-claims".into())
            .spawn(move || claim_loop(&pool, &jobs, &stop))?;
        Ok(Self {
            queue,
            stopping,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Writes the code's row, unless another login holds the code (see
    /// [`login_codes::claim_taken`]).
    pub async fn claim(&self, code: NewCode) -> Result<Claim, DbError> {
        let gone = || DbError::Unavailable("the login code writer has stopped".into());
        if self.stopping.load(Ordering::SeqCst) {
            return Err(gone());
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { code, reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Answers the claims queued, then stops the thread and waits for it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the login code writer panicked");
            }
        }
    }
}

fn claim_loop(pool: &DbPool, jobs: &mpsc::Receiver<Job>, stopping: &AtomicBool) {
    while let Some(batch) = super::group_commit::next_batch(jobs, stopping, MAX_BATCH) {
        // A panic in the driver answers this batch "unavailable" (the reply
        // senders are dropped), and the next one is claimed as usual.
        if catch_unwind(AssertUnwindSafe(|| claim_batch(pool, batch))).is_err() {
            tracing::error!("the login code writer recovered from a panic");
        }
    }
}

/// Answers every claim of the batch with the same failure.
fn fail_all(batch: Vec<Job>, cause: &dyn std::fmt::Display) {
    let message = cause.to_string();
    for job in batch {
        let _ = job
            .reply
            .send(Err(DbError::Unavailable(message.clone().into())));
    }
}

fn claim_batch(pool: &DbPool, batch: Vec<Job>) {
    let mut conn = match pool.get_probing() {
        Ok(conn) => conn,
        Err(e) => return fail_all(batch, &e),
    };
    let codes: Vec<&NewCode> = batch.iter().map(|j| &j.code).collect();
    let inserted: HashSet<Vec<u8>> = match login_codes::insert_new(&mut conn, &codes) {
        Ok(inserted) => inserted.into_iter().collect(),
        Err(e) => return fail_all(batch, &e),
    };
    let mut given: HashSet<&[u8]> = HashSet::new();
    let mut job_answers = Vec::with_capacity(batch.len());
    for job in &batch {
        let hash = &job.code.code_hash[..];
        // The same code twice in one batch: the first holds it.
        let first = given.insert(hash);
        job_answers.push(if first && inserted.contains(hash) {
            Ok(Claim::Mine)
        } else {
            login_codes::claim_taken(&mut conn, &job.code)
        });
    }
    for (job, answer) in batch.into_iter().zip(job_answers) {
        let _ = job.reply.send(answer);
    }
}
