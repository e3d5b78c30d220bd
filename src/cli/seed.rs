//! `wxlogin seed`: its flags, and the tokens file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::args::{CommandKeyArgs, DbArgs};
use crate::db::{self, DbError};
use crate::seed::{seed, SeedOptions};

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// How many users to create.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub users: u64,
    /// Live sessions (valid tokens) to create for each user that gets sessions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub sessions_per_user: u32,
    /// Give sessions to only this many users, spread evenly over the new ones
    /// (default: every new user).
    #[arg(long)]
    pub session_users: Option<u64>,
    /// Write the plaintext token of every session created to this file, one
    /// per line (the database keeps only their SHA-256). For load tests.
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// The AppID the users belong to; use the one `serve` runs with.
    #[arg(long, env = "WECHAT_APPID", default_value = crate::config::DEV_APPID)]
    pub appid: String,
    /// A second app (its AppID) that some users also use: each of them gets
    /// a second identity there, linked to the same account by a unionid.
    #[arg(long)]
    pub second_app: Option<String>,
    /// The percentage of users who also use `--second-app`.
    #[arg(long, default_value_t = 20, requires = "second_app", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub second_app_share: u32,
    /// Seed of the random generator: the same seed gives the same users.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Add users even though the database already has some. Never on a
    /// production database.
    #[arg(long)]
    pub dev: bool,
    #[command(flatten)]
    pub db: DbArgs,
    /// The server's keys, so that it opens the session keys seeded. Without
    /// either, development mode's fixed data key: what `serve --dev`
    /// without a secret key uses.
    #[command(flatten)]
    pub keys: CommandKeyArgs,
}

impl TryFrom<&SeedArgs> for SeedOptions {
    type Error = crate::config::ConfigError;

    fn try_from(a: &SeedArgs) -> Result<Self, Self::Error> {
        Ok(Self {
            users: a.users,
            sessions_per_user: a.sessions_per_user,
            session_users: a.session_users,
            appid: a.appid.clone(),
            second_app: a
                .second_app
                .clone()
                .map(|appid| (appid, a.second_app_share)),
            seed: a.seed,
            dev: a.dev,
            // Fake users' keys: the fixed dev key is no risk here.
            data_keys: a.keys.resolve(true)?,
        })
    }
}

/// `wxlogin seed`.
pub fn run(pool: &db::DbPool, args: SeedArgs) -> anyhow::Result<()> {
    let options = SeedOptions::try_from(&args)?;
    let mut conn = pool.get().map_err(DbError::from)?;
    let mut tokens: Box<dyn Write> = match &args.tokens_out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::sink()),
    };
    let started = Instant::now();
    let report = seed(&mut conn, &options, &mut tokens)?;
    tokens.flush().context("cannot write the tokens")?;
    eprintln!(
        "seeded {} users ({} identities) and {} sessions in {:.1} s",
        report.users,
        report.identities,
        report.sessions,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
