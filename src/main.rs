use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // libpq uses the system's OpenSSL, which by default cleans itself up in
    // an `atexit` handler. That clean-up races any thread still alive at exit
    // which once touched OpenSSL (r2d2 opens connections on its own threads),
    // and crashes the process now and then after its work is done. Being the
    // first to initialise OpenSSL, with OPENSSL_INIT_NO_ATEXIT (which this call
    // passes), leaves the clean-up to the operating system.
    openssl_sys::init();
    let cli = wxlogin::cli::args::Cli::parse();
    wxlogin::telemetry::init(cli.log_format);
    match wxlogin::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Like clap's own usage errors: the settings are wrong, and
            // nothing was started.
            if e.downcast_ref::<wxlogin::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
