//! SIGTERM and SIGINT, which start a drain (see `startup::Application::run_until_stopped`).

/// SIGTERM and SIGINT, listened to from start-up on.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// A second signal while draining: the operator wants out now.
pub fn exit_at_once(signal: &str) -> ! {
    tracing::warn!(signal, "a second signal while draining: exiting at once");
    std::process::exit(1)
}
