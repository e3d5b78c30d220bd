//! `wxlogin rotate-data-key`: every sealed value under the current data key.

use crate::db::DbPool;
use crate::domain::data_keys::DataKeys;
use crate::service::data_keys::{check_keys, reseal, Scope};

pub fn run(pool: &DbPool, keys: &DataKeys) -> anyhow::Result<()> {
    check_keys(pool, keys)?;
    eprintln!(
        "re-encrypting under data key {} (older keys: {})",
        keys.current_id(),
        keys.ids()[1..].join(", ")
    );
    let mut reported = 0;
    let done = reseal(pool, keys, Scope::NotCurrent, |done| {
        // A line per 10,000 values, not per batch.
        if done.total() >= reported + 10_000 {
            reported = done.total();
            eprintln!(
                "  {} session keys, {} phone numbers so far",
                done.session_keys, done.phones
            );
        }
    })?;
    println!(
        "re-encrypted under data key {}: {} session keys, {} phone numbers, {} access tokens",
        keys.current_id(),
        done.session_keys,
        done.phones,
        done.access_tokens
    );
    if done.unreadable > 0 {
        anyhow::bail!(
            "{} values do not open under their key and were left as they are (see the log)",
            done.unreadable
        );
    }
    Ok(())
}
