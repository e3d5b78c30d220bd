//! `wxlogin seed`: fills a database with realistic fake users, for the
//! benchmarks and for trying the admin site on a big table.
//!
//! The data is made to look like a real mini-program's:
//! - openid and unionid have WeChat's shape: 28 URL-safe characters, `o`
//!   then a prefix shared by every user of the same app (or open-platform
//!   account), then 22 random characters;
//! - nicknames are mostly Chinese: common surnames with given names, the
//!   "微信用户" that WeChat hands out since 2022, nicknames, some Latin ones;
//! - provinces and cities follow population roughly (Guangdong and
//!   Shandong far ahead of Tibet), and many users have none;
//! - sign-ups grow over two years, and ids follow creation time as they do
//!   in a real table; last logins crowd into the recent weeks.
//!
//! Rows go in as multi-row `INSERT`s of [`BATCH_ROWS`], many per transaction.
//! The random generator is seeded, so the same `--seed` gives the same users.

mod data;
mod generate;

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use self::generate::{FakeSession, FakeUser, Generator};
use crate::db::{self, bulk, DbConnection};
use crate::domain::token::SessionToken;

/// Users per `INSERT`: 14 columns × 1,000 rows stays under both backends'
/// limits on bound parameters (32,766 for SQLite, 65,535 for PostgreSQL).
pub const BATCH_ROWS: usize = 1_000;

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub users: u64,
    pub identities: u64,
    pub sessions: u64,
    pub seconds: String,
}

/// The seed run's options, without the database.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub users: u64,
    pub sessions_per_user: u32,
    pub session_users: Option<u64>,
    pub appid: String,
    /// A second app, and the percentage of users who also use it.
    pub second_app: Option<(String, u32)>,
    pub seed: u64,
    pub dev: bool,
    /// Seal the session keys, as logins do.
    pub data_keys: crate::domain::data_keys::DataKeys,
}

/// Fills the database. Refuses when it already holds users, unless `dev`.
/// Writes the plaintext of every token created to `tokens`, one per line.
pub fn seed(
    conn: &mut DbConnection,
    opts: &SeedOptions,
    tokens: &mut dyn Write,
) -> anyhow::Result<SeedReport> {
    let existing = db::accounts::count(conn)?;
    if existing > 0 && !opts.dev {
        bail!(
            "the database already holds {existing} users; seed fills only an empty database, \
             unless --dev is given (never on a production database)"
        );
    }
    bulk::prepare(conn)?;
    let started = Instant::now();
    // Users added to a non-empty database (--dev) get other openids than
    // the first run's, even with the same seed.
    let mut rng =
        SmallRng::seed_from_u64(opts.seed ^ (existing as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let gen = Generator::new(&mut rng, crate::clock::now());
    let with_sessions = opts.session_users.unwrap_or(opts.users).min(opts.users);
    // Every `stride`-th user gets sessions.
    let stride = opts.users.checked_div(with_sessions).unwrap_or(u64::MAX);
    let mut sessions_made = 0u64;
    let mut sessions_wanted = with_sessions;
    // One transaction: an interrupted seed leaves the database as it was.
    let identities = db::transaction(conn, |c| {
        // Into an empty table, building each index once at the end is many
        // times faster than keeping a dozen indexes sorted row by row.
        let indexes = if existing == 0 {
            bulk::drop_account_indexes(c)?
        } else {
            Vec::new()
        };
        let (mut next_account, mut next_identity) = bulk::next_ids(c)?;
        let (second_appid, second_share) = match &opts.second_app {
            Some((appid, share)) => (Some(appid.as_str()), u64::from(*share)),
            None => (None, 0),
        };
        let mut identities_made = 0u64;
        let mut i = 0u64;
        while i < opts.users {
            let batch_end = (i + BATCH_ROWS as u64).min(opts.users);
            let people: Vec<FakeUser> = (i..batch_end)
                .map(|n| {
                    gen.user(
                        &mut rng,
                        &opts.data_keys,
                        n,
                        opts.users,
                        n % 100 < second_share,
                    )
                })
                .collect();
            let mut accounts = Vec::with_capacity(people.len());
            let mut identities = Vec::with_capacity(people.len());
            // (account id, first identity id) of each person.
            let mut ids = Vec::with_capacity(people.len());
            for p in &people {
                accounts.push(p.account(next_account));
                let rows = p.identities(next_account, next_identity, &opts.appid, second_appid);
                ids.push((next_account, next_identity));
                next_account += 1;
                next_identity += rows.len() as i64;
                identities.extend(rows);
            }
            bulk::insert_accounts(c, &accounts)?;
            for chunk in identities.chunks(BATCH_ROWS) {
                bulk::insert_identities(c, chunk)?;
            }
            identities_made += identities.len() as u64;
            let mut new_sessions = Vec::new();
            for ((n, p), (account_id, identity_id)) in (i..batch_end).zip(&people).zip(ids) {
                if opts.sessions_per_user == 0 || sessions_wanted == 0 || n % stride != 0 {
                    continue;
                }
                sessions_wanted -= 1;
                for _ in 0..opts.sessions_per_user {
                    let token = SessionToken::generate();
                    writeln!(tokens, "{}", token.expose())
                        .context("cannot write the tokens file (--tokens-out)")?;
                    new_sessions.push(gen.session(
                        &mut rng,
                        account_id,
                        identity_id,
                        p,
                        token.hash().0,
                    ));
                }
            }
            for chunk in new_sessions.chunks(BATCH_ROWS) {
                let rows: Vec<_> = chunk.iter().map(FakeSession::row).collect();
                bulk::insert_sessions(c, &rows)?;
            }
            sessions_made += new_sessions.len() as u64;
            i = batch_end;
        }
        bulk::create_indexes(c, &indexes)?;
        crate::db::activity::recount_from_tables(c)?;
        Ok::<_, anyhow::Error>(identities_made)
    })?;
    bulk::finish(conn)?;
    Ok(SeedReport {
        users: opts.users,
        identities,
        sessions: sessions_made,
        seconds: format!("{:.1}", started.elapsed().as_secs_f64()),
    })
}
