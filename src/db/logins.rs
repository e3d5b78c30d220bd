//! Logins as the login writer stores them: the identity found or made, its
//! account linked by unionid (see [`links`](super::links)), and a session.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde_json::json;

use super::accounts::{Account, ProfileChanges};
use super::identities::Identity;
use super::links::{self, Merge};
use super::outbox;
use super::schema::{accounts, identities, sessions};
use super::users::{self, User};
use super::{write_transaction, DbConnection, DbError};
use crate::domain::event::{Event, EventKind};
use crate::domain::login::LoginRecord;
use crate::on_backend;

diesel::define_sql_function! {
    /// SQL `COALESCE` of two nullable texts.
    fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::Text>, y: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// A login as stored.
#[derive(Debug, Clone)]
pub struct RecordedLogin {
    pub user: User,
    /// The account was made by this login.
    pub account_created: bool,
    /// The merge this login's unionid caused.
    pub merge: Option<Merge>,
}

// `None` is bound as NULL rather than left out, so that the statement's text
// never changes and SQLite can reuse the prepared statement.
#[derive(Insertable)]
#[diesel(table_name = identities, treat_none_as_default_value = false)]
struct NewIdentity<'a> {
    account_id: i64,
    appid: &'a str,
    openid: &'a str,
    unionid: Option<&'a str>,
    session_key: &'a str,
    created_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
}

#[derive(Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
struct NewSession<'a> {
    account_id: i64,
    identity_id: i64,
    token_hash: &'a [u8],
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
}

type Key = (String, String);

fn key(login: &LoginRecord) -> Key {
    (login.appid.clone(), login.openid.clone())
}

/// Writes logins in one write transaction: for each, finds or makes the
/// identity and its account, stores the new session_key, counts the login,
/// applies the profile data sent along, and opens a session. Returns the
/// logins in the order of `logins`; if one fails, nothing is written.
///
/// Whatever the number of logins, the known identities are read with one
/// query, written with one multi-row upsert, their accounts counted with one
/// update, and the sessions inserted with one statement. New identities and
/// unionids cost a statement or two each. An identity that logs in twice in
/// `logins` is handled once per login, in order, by further rounds.
///
/// With `events`, each login also records its webhook events (see
/// [`login_events`]) in the same transaction.
pub fn record_logins(
    conn: &mut DbConnection,
    logins: &[&LoginRecord],
    events: bool,
) -> Result<Vec<RecordedLogin>, DbError> {
    if logins.is_empty() {
        return Ok(Vec::new());
    }
    write_transaction(conn, |conn| {
        let mut answers: Vec<Option<RecordedLogin>> = vec![None; logins.len()];
        let mut pending: Vec<usize> = (0..logins.len()).collect();
        while !pending.is_empty() {
            // One upsert can change a row only once: a second login of the
            // same identity waits for the next round.
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = pending
                .iter()
                .partition(|&&i| seen.insert((&logins[i].appid, &logins[i].openid)));
            record_round(conn, logins, &round, &mut answers)?;
            pending = later;
        }
        let mut answers: Vec<RecordedLogin> =
            answers
                .into_iter()
                .collect::<Option<_>>()
                .ok_or(DbError::Invariant(
                    "a login was left unanswered by every round",
                ))?;
        // A merge may have moved an identity answered in an earlier round.
        if answers.iter().any(|a| a.merge.is_some()) {
            for answer in &mut answers {
                answer.user = users::find(conn, answer.user.identity.id)?;
            }
        }
        let new_sessions: Vec<NewSession<'_>> = logins
            .iter()
            .zip(&answers)
            .map(|(login, answer)| NewSession {
                account_id: answer.user.account.id,
                identity_id: answer.user.identity.id,
                token_hash: &login.token_hash.0,
                created_at: login.now,
                expires_at: login.expires_at,
                last_seen_at: login.now,
                client_ip: login.client_ip.as_deref(),
                user_agent: login.user_agent.as_deref(),
            })
            .collect();
        on_backend!(conn, |c| diesel::insert_into(sessions::table)
            .values(&new_sessions)
            .execute(c))?;
        if events {
            let recorded: Vec<Event> = logins
                .iter()
                .zip(&answers)
                .flat_map(|(login, answer)| login_events(answer, login.now))
                .collect();
            outbox::record(conn, &recorded)?;
        }
        Ok(answers)
    })
}

/// The webhook events of a login: `account.created` when it made the
/// account, `account.merged` when its unionid merged two, then `login`.
pub fn login_events(login: &RecordedLogin, at: NaiveDateTime) -> Vec<Event> {
    let (account, identity) = (&login.user.account, &login.user.identity);
    let mut out = Vec::new();
    if login.account_created {
        out.push(Event::new(
            EventKind::AccountCreated,
            at,
            json!({
                "account_id": account.id,
                "appid": identity.appid,
                "openid": identity.openid,
                "unionid": account.unionid,
            }),
        ));
    }
    if let Some(merge) = &login.merge {
        out.push(links::merge_event(merge, "unionid", at));
    }
    out.push(Event::new(
        EventKind::Login,
        at,
        json!({
            "account_id": account.id,
            "identity_id": identity.id,
            "appid": identity.appid,
            "openid": identity.openid,
            "unionid": account.unionid,
        }),
    ));
    out
}

/// Where a login's identity goes, decided before it is written.
struct Target {
    /// The account a new identity is made in.
    account_id: i64,
    account_created: bool,
    merge: Option<Merge>,
}

/// One round: logins of distinct identities.
fn record_round(
    conn: &mut DbConnection,
    logins: &[&LoginRecord],
    round: &[usize],
    answers: &mut [Option<RecordedLogin>],
) -> Result<(), DbError> {
    let openids: Vec<&str> = round.iter().map(|&i| logins[i].openid.as_str()).collect();
    let known: Vec<(Identity, Account)> = on_backend!(conn, |c| identities::table
        .inner_join(accounts::table)
        .filter(identities::openid.eq_any(&openids))
        .select((Identity::as_select(), Account::as_select()))
        .load(c))?;
    let known: HashMap<Key, (Identity, Account)> = known
        .into_iter()
        .map(|(i, a)| ((i.appid.clone(), i.openid.clone()), (i, a)))
        .collect();

    // Known identities first (a late unionid may link or merge their
    // account); then the accounts of all new ones at once.
    let mut targets: Vec<Option<Target>> = Vec::with_capacity(round.len());
    let mut new_ones: Vec<usize> = Vec::new();
    for (n, &i) in round.iter().enumerate() {
        let login = logins[i];
        let target = match known.get(&key(login)) {
            Some((identity, account)) => match (login.unionid.as_deref(), &account.unionid) {
                (Some(unionid), None) => {
                    let (account_id, merge) =
                        links::give_unionid(conn, identity.id, unionid, login.now)?;
                    if let Some(merge) = &merge {
                        links::audit_merge(conn, merge, "unionid", login.now)?;
                    }
                    Some(Target {
                        account_id,
                        account_created: false,
                        merge,
                    })
                }
                _ => Some(Target {
                    account_id: account.id,
                    account_created: false,
                    merge: None,
                }),
            },
            None => {
                new_ones.push(n);
                None
            }
        };
        targets.push(target);
    }
    if !new_ones.is_empty() {
        let unionids: Vec<Option<&str>> = new_ones
            .iter()
            .map(|&n| logins[round[n]].unionid.as_deref())
            .collect();
        let now = new_ones
            .iter()
            .map(|&n| logins[round[n]].now)
            .min()
            .unwrap_or_else(crate::clock::now);
        let made = links::accounts_for_new_identities(conn, &unionids, now)?;
        for (&n, (account_id, account_created)) in new_ones.iter().zip(made) {
            targets[n] = Some(Target {
                account_id,
                account_created,
                merge: None,
            });
        }
    }
    let mut targets: Vec<Target> = targets
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(DbError::Invariant("a login was left without a target"))?;

    let new_identities: Vec<NewIdentity<'_>> = round
        .iter()
        .zip(&targets)
        .map(|(&i, target)| {
            let login = logins[i];
            NewIdentity {
                account_id: target.account_id,
                appid: &login.appid,
                openid: &login.openid,
                unionid: login.unionid.as_deref(),
                session_key: login.session_key.expose(),
                created_at: login.now,
                last_login_at: login.now,
                login_count: 1,
            }
        })
        .collect();
    let rows: Vec<Identity> = on_backend!(conn, |c| diesel::insert_into(identities::table)
        .values(&new_identities)
        .on_conflict((identities::openid, identities::appid))
        .do_update()
        .set((
            identities::session_key.eq(excluded(identities::session_key)),
            identities::unionid.eq(coalesce(excluded(identities::unionid), identities::unionid)),
            identities::last_login_at.eq(excluded(identities::last_login_at)),
            identities::login_count.eq(identities::login_count + 1),
        ))
        .returning(Identity::as_returning())
        .get_results(c))?;
    // RETURNING promises no order: match the rows by their key.
    let mut by_key: HashMap<Key, Identity> = rows
        .into_iter()
        .map(|i| ((i.appid.clone(), i.openid.clone()), i))
        .collect();
    let mut identities = Vec::with_capacity(round.len());
    for (&i, target) in round.iter().zip(&mut targets) {
        let identity = by_key
            .remove(&key(logins[i]))
            .ok_or(DbError::Invariant("the upsert returned no row for a login"))?;
        if target.account_created && identity.account_id != target.account_id {
            // Another writer made this identity first (PostgreSQL runs
            // several): the account made for it here holds nothing.
            on_backend!(conn, |c| diesel::delete(
                accounts::table.find(target.account_id)
            )
            .execute(c))?;
            target.account_created = false;
        }
        identities.push(identity);
    }

    // Each account is counted once per login, by one update per count.
    let mut logins_of: BTreeMap<i64, i64> = BTreeMap::new();
    for identity in &identities {
        *logins_of.entry(identity.account_id).or_default() += 1;
    }
    let latest = round.iter().map(|&i| logins[i].now).max();
    let mut by_count: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (account_id, n) in logins_of {
        by_count.entry(n).or_default().push(account_id);
    }
    let mut accounts_by_id: HashMap<i64, Account> = HashMap::new();
    for (n, ids) in by_count {
        let rows: Vec<Account> = on_backend!(conn, |c| diesel::update(
            accounts::table.filter(accounts::id.eq_any(&ids))
        )
        .set((
            accounts::last_login_at.eq(latest.unwrap_or_default()),
            accounts::login_count.eq(accounts::login_count + n),
        ))
        .returning(Account::as_returning())
        .get_results(c))?;
        accounts_by_id.extend(rows.into_iter().map(|a| (a.id, a)));
    }
    for (&i, identity) in round.iter().zip(&identities) {
        let login = logins[i];
        if !login.profile.is_empty() {
            let account: Account = on_backend!(conn, |c| diesel::update(
                accounts::table.find(identity.account_id)
            )
            .set((
                ProfileChanges::from(&login.profile),
                accounts::updated_at.eq(login.now),
            ))
            .returning(Account::as_returning())
            .get_result(c))?;
            accounts_by_id.insert(account.id, account);
        }
    }
    for ((&i, identity), target) in round.iter().zip(identities).zip(targets) {
        let account = accounts_by_id
            .get(&identity.account_id)
            .cloned()
            .ok_or(DbError::Invariant("a login's account was not updated"))?;
        answers[i] = Some(RecordedLogin {
            user: User { account, identity },
            account_created: target.account_created,
            merge: target.merge,
        });
    }
    Ok(())
}
