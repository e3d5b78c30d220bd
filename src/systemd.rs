//! The service manager's protocol (`sd_notify`): with `Type=notify`,
//! systemd waits for `READY=1` before it starts what depends on wxlogin,
//! and with `WatchdogSec=` it restarts a node that stops pinging. Outside
//! systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// The listener is bound, the database migrated, the threads started.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// The drain has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// When systemd asked for a watchdog (`WATCHDOG_USEC`), pings it at half
/// its interval from a task of the async runtime, so that a runtime that
/// stops running tasks stops the pings too.
pub fn start_watchdog() {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec) / 2;
    tracing::info!(
        every_ms = every.as_millis() as u64,
        "pinging the systemd watchdog"
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    });
}
