//! Logins as the login writer stores them: the identity found or made, its
//! account linked by unionid (see [`links`](super::links)), and a session.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    session_key_issued_at: NaiveDateTime,
    risk_rank: Option<i16>,
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
/// update (one per distinct count), and the sessions inserted with one
/// statement. First logins add one insert of accounts, or two with
/// unionids. Logins of one identity in `logins` are written as one row
/// (the last one's session_key, and every one counted): the transaction
/// commits them together, so no one sees the states in between.
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
    // The logins of each identity, in their order in `logins`.
    let mut group_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, login) in logins.iter().enumerate() {
        let next = groups.len();
        let g = *group_of
            .entry((&login.appid, &login.openid))
            .or_insert(next);
        if g == next {
            groups.push(Vec::new());
        }
        groups[g].push(i);
    }
    write_transaction(conn, |conn| {
        let mut answers = record_identities(conn, logins, &groups)?;
        // A merge may have moved an identity of another login.
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
    /// The account made for this login's new identity, its login counted.
    made: Option<Account>,
    merge: Option<Merge>,
}

/// Writes the identities of `groups` (each the logins of one identity, in
/// order) and their accounts; returns one answer per login, in the order of
/// `logins`.
fn record_identities(
    conn: &mut DbConnection,
    logins: &[&LoginRecord],
    groups: &[Vec<usize>],
) -> Result<Vec<RecordedLogin>, DbError> {
    // The latest login of each identity gives its session_key; a unionid
    // sent by any of them counts.
    let last = |group: &[usize]| logins[group[group.len() - 1]];
    let unionid_of = |group: &[usize]| {
        group
            .iter()
            .rev()
            .find_map(|&i| logins[i].unionid.as_deref())
    };
    // Only a new identity's logins carry a rank; a known one keeps its own
    // (the upsert leaves the column as it is).
    let risk_of = |group: &[usize]| group.iter().find_map(|&i| logins[i].risk_rank);
    let openids: Vec<&str> = groups.iter().map(|g| last(g).openid.as_str()).collect();
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
    let mut targets: Vec<Option<Target>> = Vec::with_capacity(groups.len());
    let mut new_ones: Vec<usize> = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let login = last(group);
        let target = match known.get(&key(login)) {
            Some((identity, account)) => match (unionid_of(group), &account.unionid) {
                (Some(unionid), None) => {
                    let (account_id, merge) =
                        links::give_unionid(conn, identity.id, unionid, login.now)?;
                    if let Some(merge) = &merge {
                        links::audit_merge(conn, merge, "unionid", login.now)?;
                    }
                    Some(Target {
                        account_id,
                        made: None,
                        merge,
                    })
                }
                _ => Some(Target {
                    account_id: account.id,
                    made: None,
                    merge: None,
                }),
            },
            None => {
                new_ones.push(g);
                None
            }
        };
        targets.push(target);
    }
    if !new_ones.is_empty() {
        let unionids: Vec<Option<&str>> =
            new_ones.iter().map(|&g| unionid_of(&groups[g])).collect();
        let now = new_ones
            .iter()
            .map(|&g| logins[groups[g][0]].now)
            .min()
            .unwrap_or_else(crate::clock::now);
        let made = links::accounts_for_new_identities(conn, &unionids, now)?;
        for (&g, (account_id, made)) in new_ones.iter().zip(made) {
            targets[g] = Some(Target {
                account_id,
                made,
                merge: None,
            });
        }
    }
    let mut targets: Vec<Target> = targets
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(DbError::Invariant("a login was left without a target"))?;

    let new_identities: Vec<NewIdentity<'_>> = groups
        .iter()
        .zip(&targets)
        .map(|(group, target)| {
            let login = last(group);
            NewIdentity {
                account_id: target.account_id,
                appid: &login.appid,
                openid: &login.openid,
                unionid: unionid_of(group),
                session_key: login.session_key.as_str(),
                created_at: logins[group[0]].now,
                last_login_at: login.now,
                login_count: group.len() as i64,
                session_key_issued_at: login.now,
                risk_rank: risk_of(group),
            }
        })
        .collect();
    let rows: Vec<Identity> = on_backend!(conn, |c| diesel::insert_into(identities::table)
        .values(&new_identities)
        .on_conflict((identities::openid, identities::appid))
        .do_update()
        .set((
            identities::session_key.eq(excluded(identities::session_key)),
            identities::session_key_issued_at.eq(excluded(identities::session_key_issued_at)),
            identities::unionid.eq(coalesce(excluded(identities::unionid), identities::unionid)),
            identities::last_login_at.eq(excluded(identities::last_login_at)),
            identities::login_count.eq(identities::login_count + excluded(identities::login_count)),
        ))
        .returning(Identity::as_returning())
        .get_results(c))?;
    // RETURNING promises no order: match the rows by their key.
    let mut by_key: HashMap<Key, Identity> = rows
        .into_iter()
        .map(|i| ((i.appid.clone(), i.openid.clone()), i))
        .collect();
    let mut identities = Vec::with_capacity(groups.len());
    for (group, target) in groups.iter().zip(&mut targets) {
        let identity = by_key
            .remove(&key(last(group)))
            .ok_or(DbError::Invariant("the upsert returned no row for a login"))?;
        if target.made.is_some() && identity.account_id != target.account_id {
            // Another writer made this identity first (another node, or a
            // unionid that came late): the account made for it here holds
            // nothing.
            on_backend!(conn, |c| diesel::delete(
                accounts::table.find(target.account_id)
            )
            .execute(c))?;
            target.made = None;
        }
        identities.push(identity);
    }

    // An account made here counts its first login already; every other
    // login is counted by one update per count.
    let mut accounts_by_id: HashMap<i64, Account> = HashMap::new();
    let mut logins_of: BTreeMap<i64, i64> = BTreeMap::new();
    for ((identity, target), group) in identities.iter().zip(&targets).zip(groups) {
        let mut uncounted = group.len() as i64;
        if let Some(account) = &target.made {
            accounts_by_id.insert(account.id, account.clone());
            uncounted -= 1;
        }
        if uncounted > 0 {
            *logins_of.entry(identity.account_id).or_default() += uncounted;
        }
    }
    // A ranked new identity raises its account's rank (the highest of its
    // identities').
    for (identity, group) in identities.iter().zip(groups) {
        if let Some(rank) = risk_of(group) {
            super::accounts::raise_risk_rank(conn, identity.account_id, rank)?;
            if let Some(account) = accounts_by_id.get_mut(&identity.account_id) {
                account.risk_rank = account.risk_rank.max(Some(rank));
            }
        }
    }
    let latest = logins.iter().map(|l| l.now).max();
    let mut by_count: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (account_id, n) in logins_of {
        by_count.entry(n).or_default().push(account_id);
    }
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
    // Profile data, login by login, in order.
    for (group, identity) in groups.iter().zip(&identities) {
        for &i in group {
            let login = logins[i];
            if login.profile.is_empty() {
                continue;
            }
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
    let mut answers: Vec<Option<RecordedLogin>> = vec![None; logins.len()];
    for ((group, identity), target) in groups.iter().zip(identities).zip(targets) {
        let account = accounts_by_id
            .get(&identity.account_id)
            .cloned()
            .ok_or(DbError::Invariant("a login's account was not updated"))?;
        let user = User::new(account, identity);
        // The first login of the identity made its account, or merged.
        let (mut made, mut merge) = (target.made.is_some(), target.merge);
        for (j, &i) in group.iter().enumerate() {
            // Each login is answered as if written alone, in order: the
            // later logins of its identity not yet counted.
            let later = (group.len() - 1 - j) as i64;
            let mut user = user.clone();
            let identity = Arc::make_mut(&mut user.identity);
            identity.login_count -= later;
            identity.last_login_at = logins[i].now;
            Arc::make_mut(&mut user.account).login_count -= later;
            answers[i] = Some(RecordedLogin {
                user,
                account_created: std::mem::take(&mut made),
                merge: merge.take(),
            });
        }
    }
    answers
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(DbError::Invariant("a login was left unanswered"))
}
