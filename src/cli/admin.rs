//! `wxlogin admin …`: the admin accounts.

use std::io::BufRead;

use anyhow::{bail, Context};

use super::args::{AdminArgs, AdminCommand};
use crate::db::DbPool;
use crate::service::{admins, Refusal, ServiceError};

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
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn run(
    runtime: &tokio::runtime::Runtime,
    pool: &DbPool,
    args: AdminArgs,
) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::Create {
            name,
            role,
            password_stdin,
            ..
        } => {
            admins::check_username(&name)?;
            let password = read_password(password_stdin)?;
            match runtime.block_on(admins::create(pool, &name, &password, role)) {
                Ok(role) => println!("created admin {name} with the role {role}"),
                Err(ServiceError::Refused(Refusal::AdminExists)) => bail!("an admin named {name} already exists; use `wxlogin admin passwd {name}` to change the password"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Passwd {
            name,
            password_stdin,
            ..
        } => {
            let password = read_password(password_stdin)?;
            match runtime.block_on(admins::set_password(pool, &name, &password)) {
                Ok(()) => println!("changed the password of {name}"),
                Err(ServiceError::NotFound) => bail!("there is no admin named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Role { name, role, .. } => {
            match runtime.block_on(admins::set_role(pool, None, &name, role)) {
                Ok(()) => println!("{name} now has the role {role}"),
                Err(ServiceError::NotFound) => bail!("there is no admin named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::ResetSecondFactor { name, .. } => {
            match runtime.block_on(admins::reset_second_factor(pool, &name)) {
                Ok(()) => println!("turned off two-factor sign-in for {name}; they can set it up again on their account page"),
                Err(ServiceError::NotFound) => bail!("there is no admin named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::List { .. } => {
            let list = runtime.block_on(admins::list(pool))?;
            if list.is_empty() {
                println!(
                    "no admins yet: create one with `wxlogin admin create NAME --password-stdin`"
                );
            }
            for a in list {
                let last = a
                    .last_sign_in
                    .map_or_else(|| "never".to_owned(), |t| format!("{t}"));
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast sign-in {}",
                    a.username,
                    a.role,
                    if a.second_factor { "2fa" } else { "no-2fa" },
                    a.created_at.format("%Y-%m-%d %H:%M:%S"),
                    last
                );
            }
        }
        AdminCommand::Delete { name, .. } => match runtime.block_on(admins::delete(pool, &name)) {
            Ok(()) => println!("deleted admin {name}"),
            Err(ServiceError::NotFound) => bail!("there is no admin named {name}"),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}
