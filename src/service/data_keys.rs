//! Encryption at rest over the stored values: sealing what a release before
//! it wrote in plain text (in the background of every node), and re-encrypting every
//! value under the current data key (`wxlogin rotate-data-key`). Both work
//! in batches, each written in a short transaction, while the service runs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::background::Periodic;

use crate::db::sealed_values::{self, Unsealed};
use crate::db::{self, DbConnection, DbError, DbPool};
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
    reseal_session_keys(pool, keys, which, u64::MAX, &mut done, &mut progress)?;
    reseal_phones(pool, keys, which, u64::MAX, &mut done, &mut progress)?;
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

/// Seals at most `max_batches` batches of the values still in plain text,
/// session keys first. A node calls it in the background, a little at a
/// time, so that the first start after an upgrade does not wait for a
/// whole table; until then plain values are read as they are.
pub fn seal_some_plain(
    pool: &DbPool,
    keys: &DataKeys,
    max_batches: u64,
) -> Result<Resealed, ResealError> {
    let mut done = Resealed::default();
    let used = reseal_session_keys(
        pool,
        keys,
        Unsealed::Plain,
        max_batches,
        &mut done,
        &mut |_| {},
    )?;
    reseal_phones(
        pool,
        keys,
        Unsealed::Plain,
        max_batches - used,
        &mut done,
        &mut |_| {},
    )?;
    Ok(done)
}

/// Rewrites up to `max_batches` batches of session keys; returns how many
/// batches it read.
fn reseal_session_keys(
    pool: &DbPool,
    keys: &DataKeys,
    which: Unsealed<'_>,
    max_batches: u64,
    done: &mut Resealed,
    progress: &mut impl FnMut(&Resealed),
) -> Result<u64, ResealError> {
    in_batches(
        pool,
        max_batches,
        |conn, after| sealed_values::session_keys(conn, after, which, BATCH_ROWS),
        |conn, done, id, stored| {
            match keys.reseal(Purpose::SessionKey, stored) {
                Ok(Some(new)) => {
                    if sealed_values::replace_session_key(conn, id, stored, &new)? {
                        done.session_keys += 1;
                    }
                }
                Ok(None) => {}
                Err(error) => unreadable(done, "session_key", id, &error),
            }
            Ok(())
        },
        done,
        progress,
    )
}

/// Rewrites up to `max_batches` batches of phone numbers, with their
/// lookup hashes; returns how many batches it read.
fn reseal_phones(
    pool: &DbPool,
    keys: &DataKeys,
    which: Unsealed<'_>,
    max_batches: u64,
    done: &mut Resealed,
    progress: &mut impl FnMut(&Resealed),
) -> Result<u64, ResealError> {
    in_batches(
        pool,
        max_batches,
        |conn, after| sealed_values::phones(conn, after, which, BATCH_ROWS),
        |conn, done, id, stored| {
            let phone = match keys.open_phone(stored) {
                Ok(phone) => phone,
                Err(error) => {
                    unreadable(done, "phone_number", id, &error);
                    return Ok(());
                }
            };
            let new = keys.seal(Purpose::Phone, &phone);
            let hash = keys.phone_hash(&phone);
            if sealed_values::replace_phone(conn, id, stored, &new, &hash)? {
                done.phones += 1;
            }
            Ok(())
        },
        done,
        progress,
    )
}

/// Reads rows (id, stored value) past the last id seen, a batch at a time,
/// and rewrites each batch in one transaction, for at most `max_batches`
/// batches; returns how many it read.
fn in_batches(
    pool: &DbPool,
    max_batches: u64,
    read: impl Fn(&mut DbConnection, i64) -> Result<Vec<(i64, String)>, DbError>,
    mut rewrite: impl FnMut(&mut DbConnection, &mut Resealed, i64, &str) -> Result<(), DbError>,
    done: &mut Resealed,
    progress: &mut impl FnMut(&Resealed),
) -> Result<u64, ResealError> {
    let (mut after, mut batches) = (0, 0);
    while batches < max_batches {
        let batch = read(&mut *pool.get()?, after)?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        (after, batches) = (last, batches + 1);
        db::transaction(&mut *pool.get()?, |conn| -> Result<(), DbError> {
            for (id, stored) in &batch {
                rewrite(conn, done, *id, stored)?;
            }
            Ok(())
        })?;
        progress(done);
    }
    Ok(batches)
}

/// How often the sealer runs a round.
const SEALER_EVERY: Duration = Duration::from_secs(1);
/// Batches a round of the sealer seals at most, so that stopping the node
/// waits for one short round only.
const SEALER_BATCHES_PER_ROUND: u64 = 10;
/// Rounds skipped after one that found nothing: a node of an older release
/// may still write plain values during a rolling upgrade, so the sealer
/// looks again once a minute (one read of a partial index, holding only
/// the rows in plain text).
const SEALER_IDLE_ROUNDS: u32 = 59;
/// How often the sealer says how far it got, while it works.
const SEALER_PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Starts the thread that seals the values still in plain text, a few
/// batches a second, and logs how far it got.
pub fn start_sealer(pool: DbPool, keys: DataKeys) -> std::io::Result<Periodic> {
    let mut skip = 0;
    let mut sealed = Resealed::default();
    let mut last_said = Instant::now();
    let round = move || {
        if skip > 0 {
            skip -= 1;
            return;
        }
        match seal_some_plain(&pool, &keys, SEALER_BATCHES_PER_ROUND) {
            Ok(done) if done.total() == 0 => {
                if sealed.total() > 0 {
                    tracing::info!(
                        session_keys = sealed.session_keys,
                        phones = sealed.phones,
                        data_key = keys.current_id(),
                        "sealed the values stored in plain text; none is left"
                    );
                    sealed = Resealed::default();
                }
                skip = SEALER_IDLE_ROUNDS;
            }
            Ok(done) => {
                sealed.session_keys += done.session_keys;
                sealed.phones += done.phones;
                if last_said.elapsed() >= SEALER_PROGRESS_EVERY {
                    last_said = Instant::now();
                    tracing::info!(
                        session_keys = sealed.session_keys,
                        phones = sealed.phones,
                        "sealing the values stored in plain text"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot seal the values stored in plain text yet; trying again in a minute");
                skip = SEALER_IDLE_ROUNDS;
            }
        }
    };
    Periodic::start("sealer", SEALER_EVERY, round, || {})
}

fn unreadable(done: &mut Resealed, column: &str, id: i64, error: &OpenError) {
    done.unreadable += 1;
    tracing::warn!(column, id, %error, "a stored value does not open; it is left as it is");
}
