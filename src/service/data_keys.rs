//! Encryption at rest over the stored values: sealing what a release before
//! it wrote in plain text (at each server start), and re-encrypting every
//! value under the current data key (`wxlogin rotate-data-key`). Both work
//! in batches, each written in a short transaction, while the service runs.

use std::collections::BTreeSet;

use crate::db::sealed_values::{self, Unsealed};
use crate::db::{self, DbError, DbPool};
use crate::domain::data_keys::{self, DataKeys, OpenError, Purpose};

/// Rows read and rewritten per transaction.
pub const BATCH_ROWS: i64 = 1_000;

/// Which stored values to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Values written before encryption at rest.
    Plain,
    /// Every value not sealed under the current key: a rotation.
    NotCurrent,
}

/// What a pass rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub session_keys: u64,
    pub phones: u64,
    pub access_tokens: u64,
    /// Values that do not open under their key (altered): left as they are.
    pub unreadable: u64,
}

impl Resealed {
    pub fn total(&self) -> u64 {
        self.session_keys + self.phones + self.access_tokens
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// Values sealed under keys that are not configured: a rotation would
    /// leave them unreadable, so it does not start.
    #[error(
        "values are sealed under data key {ids}, which is not among the keys given: add it to --old-data-keys / WXLOGIN_OLD_DATA_KEYS (the configured keys are {configured}); nothing was changed"
    )]
    MissingKeys { ids: String, configured: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::r2d2::PoolError> for ResealError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Db(e.into())
    }
}

/// Refuses when stored values need a key that `keys` lacks. Reads the
/// sealed columns whole, once.
pub fn check_keys(pool: &DbPool, keys: &DataKeys) -> Result<(), ResealError> {
    // `wxe1.` and an eight-character key id.
    const PREFIX_CHARS: i32 = 13;
    let prefixes =
        sealed_values::sealed_prefixes(&mut *pool.get()?, PREFIX_CHARS, data_keys::LIKE_SEALED)?;
    let known: BTreeSet<&str> = keys.ids().into_iter().collect();
    let missing: BTreeSet<String> = prefixes
        .iter()
        .filter_map(|p| data_keys::key_id_of(&format!("{p}.")).map(str::to_owned))
        .filter(|id| !known.contains(id.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ResealError::MissingKeys {
        ids: missing.into_iter().collect::<Vec<_>>().join(", "),
        configured: keys.ids().join(", "),
    })
}

/// Rewrites the values `scope` selects under the current key, batch by
/// batch; `progress` hears the running totals after each batch. Blocking:
/// call it off the async workers.
pub fn reseal(
    pool: &DbPool,
    keys: &DataKeys,
    scope: Scope,
    mut progress: impl FnMut(&Resealed),
) -> Result<Resealed, ResealError> {
    let not_current = data_keys::like_key_id(keys.current_id());
    let which = match scope {
        Scope::Plain => Unsealed::Plain,
        Scope::NotCurrent => Unsealed::NotLike(&not_current),
    };
    let mut done = Resealed::default();
    let mut after = 0;
    loop {
        let batch = sealed_values::session_keys(&mut *pool.get()?, after, which, BATCH_ROWS)?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        after = last;
        db::transaction(&mut *pool.get()?, |conn| -> Result<(), DbError> {
            for (id, stored) in &batch {
                match keys.reseal(Purpose::SessionKey, stored) {
                    Ok(Some(new)) => {
                        if sealed_values::replace_session_key(conn, *id, stored, &new)? {
                            done.session_keys += 1;
                        }
                    }
                    Ok(None) => {}
                    Err(error) => unreadable(&mut done, "session_key", *id, &error),
                }
            }
            Ok(())
        })?;
        progress(&done);
    }
    let mut after = 0;
    loop {
        let batch = sealed_values::phones(&mut *pool.get()?, after, which, BATCH_ROWS)?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        after = last;
        db::transaction(&mut *pool.get()?, |conn| -> Result<(), DbError> {
            for (id, stored) in &batch {
                let phone = match keys.open_phone(stored) {
                    Ok(phone) => phone,
                    Err(error) => {
                        unreadable(&mut done, "phone_number", *id, &error);
                        continue;
                    }
                };
                let new = keys.seal(Purpose::Phone, &phone);
                let hash = keys.phone_hash(&phone);
                if sealed_values::replace_phone(conn, *id, stored, &new, &hash)? {
                    done.phones += 1;
                }
            }
            Ok(())
        })?;
        progress(&done);
    }
    if scope == Scope::NotCurrent {
        // A token sealed before encryption at rest, or under a key not
        // given, is simply fetched again by the next node that needs it.
        for (appid, stored) in sealed_values::access_tokens(&mut *pool.get()?)? {
            let Ok(text) = std::str::from_utf8(&stored) else {
                continue;
            };
            if let Ok(Some(new)) = keys.reseal(Purpose::AccessToken, text) {
                if sealed_values::replace_access_token(
                    &mut *pool.get()?,
                    &appid,
                    &stored,
                    new.as_bytes(),
                )? {
                    done.access_tokens += 1;
                }
            }
        }
        progress(&done);
    }
    Ok(done)
}

fn unreadable(done: &mut Resealed, column: &str, id: i64, error: &OpenError) {
    done.unreadable += 1;
    tracing::warn!(column, id, %error, "a stored value does not open; it is left as it is");
}
