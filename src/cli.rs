//! What each subcommand does.

use anyhow::Context;

use crate::app::{self, Application};
use crate::config::{Cli, Command, DbSettings, Settings};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        None => runtime.block_on(serve(Settings::from_args(cli.serve)?)),
        Some(Command::Serve(args)) => runtime.block_on(serve(Settings::from_args(args)?)),
        Some(Command::Migrate(args)) => {
            let settings = DbSettings::from_args(&args)?;
            runtime.block_on(app::open_database(&settings))?;
            println!("{}: migrations are up to date", settings.url.redacted());
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until_stopped()
        .await
        .context("the HTTP server failed")
}
