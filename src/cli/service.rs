//! `wxlogin service …`: the backend services that introspect tokens.

use anyhow::bail;

use super::args::{ServiceArgs, ServiceCommand};
use crate::db::DbPool;
use crate::service::{services, Refusal, ServiceError};

pub fn run(
    runtime: &tokio::runtime::Runtime,
    pool: &DbPool,
    args: ServiceArgs,
) -> anyhow::Result<()> {
    match args.command {
        ServiceCommand::Create { name, .. } => {
            let created = match runtime.block_on(services::create(pool, &name)) {
                Ok(created) => created,
                Err(ServiceError::Refused(Refusal::ServiceExists)) => bail!(
                    "a live service named {name} already exists; revoke it first with `wxlogin service revoke {name}`, or choose another name"
                ),
                Err(e) => return Err(e.into()),
            };
            println!("created service {}", created.name);
            println!("client_id:     {}", created.client_id);
            println!("client_secret: {}", created.secret.expose());
            println!("The secret is shown only this once; wxlogin keeps only its hash.");
            println!("Introspect a token with HTTP Basic authentication:");
            println!(
                "  curl -u '{}:SECRET' -d token=TOKEN https://LOGIN-SERVER/oauth/introspect",
                created.client_id
            );
        }
        ServiceCommand::List { .. } => {
            let list = runtime.block_on(services::list(pool))?;
            if list.is_empty() {
                println!("no services yet: create one with `wxlogin service create NAME`");
            }
            for s in list {
                let status = s.revoked_at.map_or_else(
                    || "live".to_owned(),
                    |t| format!("revoked {}", t.format("%Y-%m-%d %H:%M:%S")),
                );
                let last = s.last_used_at.map_or_else(
                    || "never".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                );
                println!(
                    "{}\t{}\t{status}\tcreated {}\tcalls {}\tlast used {last}",
                    s.name,
                    s.client_id,
                    s.created_at.format("%Y-%m-%d %H:%M:%S"),
                    s.calls
                );
            }
        }
        ServiceCommand::Revoke { name, .. } => {
            match runtime.block_on(services::revoke(pool, &name)) {
                Ok(()) => println!("revoked service {name}"),
                Err(ServiceError::NotFound) => bail!("there is no live service named {name}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
