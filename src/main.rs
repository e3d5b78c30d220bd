use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wxlogin::cli::args::Cli::parse();
    wxlogin::telemetry::init();
    match wxlogin::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
