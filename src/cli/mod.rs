//! The command line: what each subcommand does. `args` declares them.

pub mod admin;
mod admin_args;
mod apps_file;
pub mod args;
pub mod export;
mod key_args;
mod rotate_data_key;
pub mod seed;
pub mod service;
mod values;
pub mod wechat_args;

use anyhow::Context;

use self::args::{Cli, Command};
use crate::config::{DbSettings, Settings};
use crate::db::{self, DbPool};
use crate::startup::{self, Application};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        None => runtime.block_on(serve(Settings::try_from(cli.serve)?)),
        Some(Command::Serve(args)) => runtime.block_on(serve(Settings::try_from(args)?)),
        Some(Command::Migrate(args)) => {
            let settings = DbSettings::try_from(&args)?;
            with_database(&runtime, &settings, |_| {
                println!("{}: migrations are up to date", settings.url.redacted());
                Ok(())
            })
        }
        Some(Command::Admin(args)) => {
            let settings = DbSettings::try_from(args.command.db())?;
            with_database(&runtime, &settings, |pool| admin::run(&runtime, pool, args))
        }
        Some(Command::Service(args)) => {
            let settings = DbSettings::try_from(args.command.db())?;
            with_database(&runtime, &settings, |pool| {
                service::run(&runtime, pool, args)
            })
        }
        Some(Command::Export(args)) => {
            let settings = DbSettings::try_from(&args.db)?;
            with_database(&runtime, &settings, |pool| export::run(pool, args))
        }
        Some(Command::Seed(args)) => {
            let settings = DbSettings::try_from(&args.db)?;
            with_database(&runtime, &settings, |pool| seed::run(pool, args))
        }
        Some(Command::RotateDataKey(args)) => {
            let settings = DbSettings::try_from(&args.db)?;
            let keys = args.keys.resolve(false)?;
            with_database(&runtime, &settings, |pool| {
                rotate_data_key::run(pool, &keys)
            })
        }
    }
}

/// Opens (and migrates) the database for a one-shot command, runs it, and
/// closes the pool before returning, whatever the outcome (see `db::close`).
fn with_database<T>(
    runtime: &tokio::runtime::Runtime,
    settings: &DbSettings,
    command: impl FnOnce(&DbPool) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let pool = runtime.block_on(startup::open_database(settings, db::PoolUse::OneShot))?;
    let result = command(&pool);
    db::close(&pool);
    result
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let bind = settings.bind;
    let app = Application::build(settings).await?;
    if let Some(password) = app.dev_admin_password() {
        let line = "=".repeat(64);
        println!("{line}\n Dev-mode admin account (shown only this once):\n   http://{bind}/admin\n   username: {}\n   password: {password}\n{line}", startup::DEV_ADMIN);
    }
    app.run_until_stopped()
        .await
        .context("the HTTP server failed")
}
