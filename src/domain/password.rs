//! Admin passwords: argon2id PHC strings, and the threads that check them.
//! Hashing is slow on purpose, so callers on an async worker run it on the
//! blocking pool or on a [`PasswordChecker`].

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// An argon2id PHC string with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks passwords on a few threads of their own, at a lower CPU priority
/// than the rest of the server, and refuses at once what it has no room for.
///
/// A flood of sign-ins would otherwise keep every core busy with argon2 and
/// slow every API request down. The threads run at nice 10, so the request
/// workers win the cores whenever both want them; and the queue is short, so
/// a flood waits in no line: past it, [`PasswordChecker::try_reserve`] says
/// so and the sign-in is refused with 503 before anything else is done.
pub struct PasswordChecker {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// Checks admitted and not yet answered.
    admitted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    capacity: usize,
}

struct Job {
    password: zeroize::Zeroizing<String>,
    phc: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// Room for one password check, taken before the sign-in touches the
/// database. Dropping it unused gives the room back.
pub struct CheckSlot<'a> {
    checker: &'a PasswordChecker,
    used: bool,
}

/// Every thread is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins are being checked at once")]
pub struct Busy;

/// Nice value of the checking threads.
const CHECKER_NICENESS: libc::c_int = 10;

impl PasswordChecker {
    /// `threads` checking threads, and room for `queue` more checks waiting.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, receiver) = std::sync::mpsc::sync_channel::<Job>(threads + queue);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { return };
                        let _ = job.reply.send(verify(&job.password, &job.phc));
                    }
                })?;
        }
        Ok(Self {
            jobs,
            admitted: Default::default(),
            capacity: threads + queue,
        })
    }

    /// Room for one check, or [`Busy`].
    pub fn try_reserve(&self) -> Result<CheckSlot<'_>, Busy> {
        use std::sync::atomic::Ordering;
        let admitted = self.admitted.fetch_add(1, Ordering::SeqCst);
        if admitted >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        Ok(CheckSlot {
            checker: self,
            used: false,
        })
    }
}

impl CheckSlot<'_> {
    /// Whether `password` matches `phc`, checked on the checker's threads.
    pub async fn verify(mut self, password: String, phc: String) -> bool {
        use std::sync::atomic::Ordering;
        self.used = true;
        let admitted = self.checker.admitted.clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            password: zeroize::Zeroizing::new(password),
            phc,
            reply,
        };
        // The slot guarantees room in the channel.
        let sent = self.checker.jobs.try_send(job).is_ok();
        let valid = sent && answer.await.unwrap_or(false);
        admitted.fetch_sub(1, Ordering::SeqCst);
        valid
    }
}

impl Drop for CheckSlot<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.checker
                .admitted
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Makes the calling thread yield the CPU to normal-priority threads.
fn lower_this_threads_priority() {
    // SAFETY: plain system calls on the calling thread's own id.
    let done = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, CHECKER_NICENESS)
    };
    if done != 0 {
        tracing::debug!("could not lower the priority of a password-check thread");
    }
}

/// A random password for the dev-mode admin: 20 letters and digits.
pub fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::TryRngCore;
    Alphanumeric.sample_string(&mut rand::rngs::OsRng.unwrap_err(), 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("wrong horse battery", &phc));
        assert!(!verify("anything", "not a phc string"));
    }

    #[tokio::test]
    async fn the_checker_refuses_what_it_has_no_room_for() {
        let phc = hash("correct horse battery");
        let checker = PasswordChecker::start(1, 1).unwrap();
        let a = checker.try_reserve().unwrap();
        let b = checker.try_reserve().unwrap();
        assert_eq!(checker.try_reserve().err(), Some(Busy));
        drop(b);
        assert!(a.verify("correct horse battery".into(), phc.clone()).await);
        let c = checker.try_reserve().unwrap();
        assert!(!c.verify("wrong".into(), phc).await);
        assert!(checker.try_reserve().is_ok(), "every slot came back");
    }

    #[test]
    fn strength_is_counted_in_characters() {
        assert_eq!(check_strength("123456789"), Err(PasswordError::TooShort));
        assert_eq!(check_strength("一二三四五六七八九十"), Ok(()));
        assert_eq!(random_password().len(), 20);
    }
}
