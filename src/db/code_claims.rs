//! Claims of login codes, written in batches: each login claims its code
//! before WeChat is asked (see `service::code_retry`), and one statement per
//! login would double a login's database work. So, as the login writer
//! does, one thread takes the claims waiting at a moment and inserts them
//! in one statement; only a code already there (a retry, or a concurrent
//! login with it) costs statements of its own.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::login_codes::{self, Claim, NewCode};
use super::{DbError, DbPool};

/// Most claims in one statement.
const MAX_BATCH: usize = 256;
/// How often an idle thread checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);

struct Job {
    code: NewCode,
    reply: oneshot::Sender<Result<Claim, DbError>>,
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
        self.queue
            .send(Job { code, reply })
            .map_err(|_| gone())?;
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
    loop {
        let first = match jobs.recv_timeout(STOP_POLL) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) if stopping.load(Ordering::SeqCst) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A panic in the driver answers this batch "unavailable" (the reply
        // senders are dropped), and the next one is claimed as usual.
        if catch_unwind(AssertUnwindSafe(|| claim_batch(pool, batch))).is_err() {
            tracing::error!("the login code writer recovered from a panic");
        }
    }
}

fn claim_batch(pool: &DbPool, batch: Vec<Job>) {
    // While the database is known to be down, a short probe: a login must
    // fail fast in an outage.
    let wait = pool.health().wait_for_connection(pool.connection_timeout());
    let mut conn = match pool.get_timeout(wait) {
        Ok(conn) => conn,
        Err(e) => {
            let message = e.to_string();
            for job in batch {
                let _ = job.reply.send(Err(DbError::Unavailable(message.clone().into())));
            }
            return;
        }
    };
    let codes: Vec<&NewCode> = batch.iter().map(|j| &j.code).collect();
    let inserted: HashSet<Vec<u8>> = match login_codes::insert_new(&mut conn, &codes) {
        Ok(inserted) => inserted.into_iter().collect(),
        Err(e) => {
            let message = e.to_string();
            for job in batch {
                let _ = job.reply.send(Err(DbError::Unavailable(message.clone().into())));
            }
            return;
        }
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
