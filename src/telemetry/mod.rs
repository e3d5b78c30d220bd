//! Logging. `RUST_LOG` picks what is logged (default: `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    // A second call (as in tests that build several apps) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // Reporting a failed log write would itself write to the broken
        // stderr and panic; a server must outlive its log reader.
        .log_internal_errors(false)
        .try_init();
}

pub mod prometheus;
