//! Background threads that can be stopped and waited for.
//!
//! A process that exits while one of its threads still talks to the
//! database can crash in the TLS library's clean-up (see `db::close`), so
//! `serve` stops and joins every such thread before it closes its pool.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

/// A thread that runs a round of work every so often until stopped.
pub struct Periodic {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Periodic {
    /// Starts a thread named `name` that calls `round` every `every`, and
    /// `last` once when stopped.
    pub fn start(
        name: &str,
        every: Duration,
        mut round: impl FnMut() + Send + 'static,
        last: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    round();
                }
                last();
            })?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread after its current round and waits for it. Calling
    /// it again does nothing.
    pub fn stop(&self) {
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        join(&self.thread);
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        // Only signals: a thread is never joined from a destructor, which
        // could run anywhere.
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// Waits for the thread in `slot`, if it is still there.
pub fn join(slot: &Mutex<Option<JoinHandle<()>>>) {
    let thread = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(thread) = thread {
        let name = thread.thread().name().unwrap_or("?").to_owned();
        if thread.join().is_err() {
            tracing::error!(thread = %name, "a background thread panicked");
        }
    }
}
