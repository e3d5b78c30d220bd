use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
