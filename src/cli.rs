//! What each subcommand does.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};

use crate::config::{AdminArgs, AdminCommand, Cli, Command, DbSettings, ExportArgs, Settings};
use crate::db::{self, admins, DbError, DbPool};
use crate::startup::{self, Application};
use crate::{export, password};

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
            with_database(&runtime, &settings, |_| {
                println!("{}: migrations are up to date", settings.url.redacted());
                Ok(())
            })
        }
        Some(Command::Admin(args)) => {
            let settings = DbSettings::from_args(args.command.db())?;
            with_database(&runtime, &settings, |pool| admin(pool, args))
        }
        Some(Command::Export(args)) => {
            let settings = DbSettings::from_args(&args.db)?;
            with_database(&runtime, &settings, |pool| export_csv(pool, args))
        }
        Some(Command::Seed(args)) => {
            let settings = DbSettings::from_args(&args.db)?;
            with_database(&runtime, &settings, |pool| crate::seed::run(pool, args))
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

/// Reads the password from the first line of standard input.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        bail!("give the password on standard input with --password-stdin, e.g. `printf '%s' \"$PW\" | wxlogin admin create NAME --password-stdin`");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    password::check_strength(&password)?;
    Ok(password)
}

fn check_username(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("an admin name has 1 to 64 characters and no spaces");
    }
    Ok(())
}

fn admin(pool: &DbPool, args: AdminArgs) -> anyhow::Result<()> {
    let mut conn = pool.get().map_err(DbError::from)?;
    match args.command {
        AdminCommand::Create {
            name,
            password_stdin,
            ..
        } => {
            check_username(&name)?;
            let password = read_password(password_stdin)?;
            match admins::create(&mut conn, &name, &password::hash(&password), db::now()) {
                Ok(_) => println!("created admin {name}"),
                Err(DbError::Conflict) => bail!("an admin named {name} already exists; use `wxlogin admin passwd {name}` to change the password"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Passwd {
            name,
            password_stdin,
            ..
        } => {
            let password = read_password(password_stdin)?;
            if !admins::set_password(&mut conn, &name, &password::hash(&password))? {
                bail!("there is no admin named {name}");
            }
            println!("changed the password of {name}");
        }
        AdminCommand::List { .. } => {
            let list = admins::list(&mut conn)?;
            if list.is_empty() {
                println!(
                    "no admins yet: create one with `wxlogin admin create NAME --password-stdin`"
                );
            }
            for a in list {
                let last = a
                    .last_login_at
                    .map_or_else(|| "never".to_owned(), |t| format!("{t}"));
                println!(
                    "{}\tcreated {}\tlast sign-in {}",
                    a.username,
                    a.created_at.format("%Y-%m-%d %H:%M:%S"),
                    last
                );
            }
        }
        AdminCommand::Delete { name, .. } => {
            if !admins::delete(&mut conn, &name)? {
                bail!("there is no admin named {name}");
            }
            println!("deleted admin {name}");
        }
    }
    Ok(())
}

fn export_csv(pool: &DbPool, args: ExportArgs) -> anyhow::Result<()> {
    let query = args.filter.to_query()?;
    // Into a temporary file beside the target, renamed at the end, so that a
    // failed export never leaves a half-written file under the real name.
    let (mut out, temp): (Box<dyn Write>, Option<tempfile::NamedTempFile>) = match &args.out {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let file = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            (
                Box::new(std::io::BufWriter::new(file.reopen()?)),
                Some(file),
            )
        }
        None => (
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            None,
        ),
    };
    out.write_all(&export::head(!args.no_bom))?;
    let mut failure = None;
    let rows = export::write_rows(pool, &query, |chunk| match out.write_all(&chunk) {
        Ok(()) => true,
        Err(e) => {
            failure = Some(e);
            false
        }
    })?;
    if let Some(e) = failure {
        return Err(e).context("cannot write the CSV");
    }
    out.flush()?;
    drop(out);
    if let (Some(temp), Some(path)) = (temp, &args.out) {
        temp.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {rows} users to {}", path.display());
    }
    Ok(())
}
