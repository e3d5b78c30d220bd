//! PostgreSQL: the ordinary logins of a batch, written by one statement.
//!
//! PostgreSQL's login writers spend their time in round trips, one per
//! statement. So on PostgreSQL the login writer first sends one `WITH`
//! chain that, for every returning identity and first login of the batch,
//! stores the identity (its new session_key, its login count), finds or
//! makes its account by unionid, counts the account's login and opens the
//! session. [`logins`](super::logins) writes what it leaves, by the general
//! path and in the same transaction: a second login of one identity in the
//! batch and a login that sends profile data (the caller keeps those out), a
//! first login whose unionid another writer is making at the same moment,
//! and a first login whose unionid a returning identity of the batch may be
//! bringing to its account. The caller also links a late unionid (see
//! [`links::backfill`](super::links::backfill)).
//!
//! The chain, in order:
//! - `input`: the logins, one row each, from arrays (so the text of the
//!   statement never depends on the batch);
//! - `known`: the update of the identities that exist;
//! - `fresh`: the others, each with the account holding its unionid, if one
//!   does, or else a new account id;
//! - `made`: the new accounts, one per new unionid and one per login without
//!   a unionid, already counting their logins;
//! - `created`: the new identities. If another writer made one since this
//!   statement began, the upsert updates that row instead, which belongs to
//!   the other writer's account; [`settle_lost_races`] then fixes the counts;
//! - `counted`: the logins counted on the accounts that existed before;
//! - `opened`: the sessions.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Binary, Bool, Nullable, SmallInt, Text, Timestamp};

use super::accounts::Account;
use super::identities::Identity;
use super::schema::accounts;
use super::DbError;
use crate::domain::login::LoginRecord;

const STATEMENT: &str = r#"
WITH input AS MATERIALIZED (
    SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bytea[], $7::timestamp[], $8::timestamp[], $9::text[], $10::text[])
        AS t(n, appid, openid, unionid, session_key, token_hash, now, expires_at, client_ip, user_agent)
),
known AS (
    UPDATE identities i
    SET session_key = input.session_key,
        unionid = COALESCE(input.unionid, i.unionid),
        last_login_at = input.now,
        login_count = i.login_count + 1
    FROM input
    WHERE i.openid = input.openid AND i.appid = input.appid
    RETURNING input.n, input.unionid AS sent_unionid, i.id, i.account_id, i.appid, i.openid,
              i.unionid, i.session_key, i.created_at, i.last_login_at, i.login_count
),
fresh AS MATERIALIZED (
    SELECT input.*, holder.id AS holder_id,
           CASE WHEN holder.id IS NULL
                THEN nextval((SELECT pg_get_serial_sequence('accounts', 'id'))::regclass)
           END AS candidate
    FROM input
    LEFT JOIN accounts holder ON holder.unionid = input.unionid
    WHERE input.n NOT IN (SELECT n FROM known)
      AND NOT EXISTS (SELECT 1 FROM known WHERE known.sent_unionid = input.unionid)
),
made AS (
    INSERT INTO accounts (id, unionid, created_at, updated_at, last_login_at, login_count)
    SELECT min(candidate), unionid, min(now), min(now), max(now), count(*)
    FROM fresh
    WHERE holder_id IS NULL
    GROUP BY unionid, CASE WHEN unionid IS NULL THEN candidate END
    ON CONFLICT (unionid) DO NOTHING
    RETURNING *
),
placed AS MATERIALIZED (
    SELECT fresh.*, COALESCE(fresh.holder_id, made.id) AS account_id
    FROM fresh
    LEFT JOIN made ON made.unionid = fresh.unionid OR made.id = fresh.candidate
),
created AS (
    INSERT INTO identities (account_id, appid, openid, unionid, session_key, created_at, last_login_at, login_count)
    SELECT account_id, appid, openid, unionid, session_key, now, now, 1
    FROM placed
    WHERE account_id IS NOT NULL
    ON CONFLICT (openid, appid) DO UPDATE
    SET session_key = excluded.session_key,
        unionid = COALESCE(excluded.unionid, identities.unionid),
        last_login_at = excluded.last_login_at,
        login_count = identities.login_count + 1
    RETURNING id, account_id, appid, openid, unionid, session_key, created_at, last_login_at, login_count
),
stored AS MATERIALIZED (
    SELECT n, NULL::int8 AS placed_account_id, FALSE AS placed_made,
           id, account_id, appid, openid, unionid, session_key, created_at, last_login_at, login_count
    FROM known
    UNION ALL
    SELECT placed.n, placed.account_id, placed.holder_id IS NULL,
           created.id, created.account_id, created.appid, created.openid, created.unionid,
           created.session_key, created.created_at, created.last_login_at, created.login_count
    FROM created
    JOIN placed ON placed.openid = created.openid AND placed.appid = created.appid
),
counted AS (
    UPDATE accounts a
    SET login_count = a.login_count + logins.n, last_login_at = logins.latest
    FROM (SELECT account_id, count(*) AS n, max(last_login_at) AS latest
          FROM stored GROUP BY account_id) logins
    WHERE a.id = logins.account_id
    RETURNING a.*
),
opened AS (
    INSERT INTO sessions (account_id, identity_id, token_hash, created_at, expires_at, last_seen_at, client_ip, user_agent)
    SELECT stored.account_id, stored.id, input.token_hash, input.now, input.expires_at, input.now,
           input.client_ip, input.user_agent
    FROM stored
    JOIN input ON input.n = stored.n
)
SELECT stored.*,
       a.id AS a_id, a.unionid AS a_unionid, a.nickname AS a_nickname, a.avatar_url AS a_avatar_url,
       a.gender AS a_gender, a.country AS a_country, a.province AS a_province, a.city AS a_city,
       a.language AS a_language, a.created_at AS a_created_at, a.updated_at AS a_updated_at,
       a.last_login_at AS a_last_login_at, a.login_count AS a_login_count,
       a.phone_number AS a_phone_number, a.phone_country_code AS a_phone_country_code
FROM stored
LEFT JOIN (SELECT * FROM counted UNION ALL SELECT * FROM made) a ON a.id = stored.account_id
"#;

/// A login the statement wrote: (its index in `logins`, the identity, its
/// account, whether the account was made now).
type Answer = (usize, Identity, Account, bool);

/// A login the statement wrote.
#[derive(Debug)]
pub(super) struct Written {
    /// Its index in the caller's `logins`.
    pub login: usize,
    pub identity: Identity,
    pub account: Account,
    /// The account was made by this login.
    pub account_created: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    n: i64,
    /// For a first login: the account the statement chose for it, which it
    /// made when `placed_made`.
    #[diesel(sql_type = Nullable<BigInt>)]
    placed_account_id: Option<i64>,
    #[diesel(sql_type = Bool)]
    placed_made: bool,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    account_id: i64,
    #[diesel(sql_type = Text)]
    appid: String,
    #[diesel(sql_type = Text)]
    openid: String,
    #[diesel(sql_type = Nullable<Text>)]
    unionid: Option<String>,
    #[diesel(sql_type = Text)]
    session_key: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    last_login_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    login_count: i64,
    #[diesel(embed)]
    account: AccountColumns,
}

/// The identity's account as the statement left it; all NULL when the
/// statement did not touch that account (another writer made it meanwhile).
#[derive(QueryableByName)]
struct AccountColumns {
    #[diesel(sql_type = Nullable<BigInt>)]
    a_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    a_unionid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_nickname: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_avatar_url: Option<String>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    a_gender: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    a_country: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_province: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_city: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_language: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    a_created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    a_updated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    a_last_login_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    a_login_count: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    a_phone_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    a_phone_country_code: Option<String>,
}

impl AccountColumns {
    fn account(self) -> Option<Account> {
        Some(Account {
            id: self.a_id?,
            unionid: self.a_unionid,
            nickname: self.a_nickname?,
            avatar_url: self.a_avatar_url?,
            gender: self.a_gender?,
            country: self.a_country?,
            province: self.a_province?,
            city: self.a_city?,
            language: self.a_language?,
            created_at: self.a_created_at?,
            updated_at: self.a_updated_at?,
            last_login_at: self.a_last_login_at?,
            login_count: self.a_login_count?,
            phone_number: self.a_phone_number,
            phone_country_code: self.a_phone_country_code,
        })
    }
}

/// Writes the logins `which` (indexes into `logins`, of distinct identities)
/// and opens their sessions. Returns those it wrote, in the order of
/// `which`; the caller writes the others. Run it inside a write transaction.
pub(super) fn record(
    conn: &mut PgConnection,
    logins: &[&LoginRecord],
    which: &[usize],
) -> Result<Vec<Written>, DbError> {
    if which.is_empty() {
        return Ok(Vec::new());
    }
    let chosen = || which.iter().map(|&i| logins[i]);
    let n: Vec<i64> = which.iter().map(|&i| i as i64).collect();
    let rows: Vec<Row> = diesel::sql_query(STATEMENT)
        .bind::<Array<BigInt>, _>(&n)
        .bind::<Array<Text>, _>(chosen().map(|l| l.appid.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chosen().map(|l| l.openid.as_str()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            chosen().map(|l| l.unionid.as_deref()).collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(chosen().map(|l| l.session_key.expose()).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(chosen().map(|l| &l.token_hash.0[..]).collect::<Vec<_>>())
        .bind::<Array<Timestamp>, _>(chosen().map(|l| l.now).collect::<Vec<_>>())
        .bind::<Array<Timestamp>, _>(chosen().map(|l| l.expires_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            chosen().map(|l| l.client_ip.as_deref()).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            chosen()
                .map(|l| l.user_agent.as_deref())
                .collect::<Vec<_>>(),
        )
        .load(conn)?;

    let mut lost = Vec::new();
    let mut written = Vec::with_capacity(rows.len());
    for row in rows {
        let login = usize::try_from(row.n)
            .ok()
            .filter(|i| which.contains(i))
            .ok_or(DbError::Invariant(
                "the login statement answered another login",
            ))?;
        let identity = Identity {
            id: row.id,
            account_id: row.account_id,
            appid: row.appid,
            openid: row.openid,
            unionid: row.unionid,
            session_key: row.session_key.into(),
            created_at: row.created_at,
            last_login_at: row.last_login_at,
            login_count: row.login_count,
        };
        let account = row.account.account();
        match row.placed_account_id {
            Some(placed) if placed != identity.account_id => lost.push(LostRace {
                login,
                placed,
                placed_made: row.placed_made,
                identity,
                account,
            }),
            _ => {
                let account = account.ok_or(DbError::Invariant(
                    "the login statement left a login without its account",
                ))?;
                let made_now = row.placed_made && row.placed_account_id == Some(account.id);
                written.push((login, identity, account, made_now));
            }
        }
    }
    if !lost.is_empty() {
        settle_lost_races(conn, lost, &mut written)?;
    }

    // The first login (in the caller's order) into an account made now made it.
    written.sort_by_key(|(login, ..)| *login);
    let mut claimed = HashSet::new();
    let mut by_login: HashMap<usize, Written> = written
        .into_iter()
        .map(|(login, identity, account, made_now)| {
            let account_created = made_now && claimed.insert(account.id);
            let written = Written {
                login,
                identity,
                account,
                account_created,
            };
            (login, written)
        })
        .collect();
    Ok(which.iter().filter_map(|i| by_login.remove(i)).collect())
}

/// A first login whose identity another writer made after the statement
/// began: the upsert stored the login in that writer's account.
struct LostRace {
    login: usize,
    /// The account the statement chose for the identity.
    placed: i64,
    placed_made: bool,
    identity: Identity,
    /// The identity's real account, if the statement counted it already.
    account: Option<Account>,
}

/// Counts each lost race's login on the account its identity is in, and
/// takes it off the account the statement made for it, which is deleted
/// when no identity is left in it.
fn settle_lost_races(
    conn: &mut PgConnection,
    lost: Vec<LostRace>,
    written: &mut Vec<Answer>,
) -> Result<(), DbError> {
    for race in lost {
        let account = match race.account {
            Some(account) => account,
            None => diesel::update(accounts::table.find(race.identity.account_id))
                .set((
                    accounts::login_count.eq(accounts::login_count + 1),
                    accounts::last_login_at.eq(race.identity.last_login_at),
                ))
                .returning(Account::as_returning())
                .get_result(conn)?,
        };
        if race.placed_made {
            let still_used = written.iter().any(|(_, i, ..)| i.account_id == race.placed);
            if still_used {
                let placed: Account = diesel::update(accounts::table.find(race.placed))
                    .set(accounts::login_count.eq(accounts::login_count - 1))
                    .returning(Account::as_returning())
                    .get_result(conn)?;
                for answer in written.iter_mut().filter(|a| a.2.id == placed.id) {
                    answer.2 = placed.clone();
                }
            } else {
                diesel::delete(accounts::table.find(race.placed)).execute(conn)?;
            }
        }
        for answer in written.iter_mut().filter(|a| a.2.id == account.id) {
            answer.2 = account.clone();
        }
        written.push((race.login, race.identity, account, false));
    }
    Ok(())
}
