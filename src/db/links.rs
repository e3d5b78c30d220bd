//! Linking identities to accounts by unionid, and merging two accounts.
//!
//! The rule (the README's "Accounts and the merge rule" says it for users):
//! - An identity's first login joins the account that holds its unionid, or
//!   gets a new account (with that unionid, if WeChat sent one).
//! - When WeChat first sends a unionid for an identity whose account has
//!   none, the account takes it. If another account holds it already, the two
//!   accounts are merged.
//! - A merge keeps the older account (earlier `created_at`, then lower id).
//!   The newer one's identities and sessions move to it, so every token keeps
//!   working; the kept account's profile fields win, and those it has empty
//!   are filled from the other's. Login counts add up, and the last login is
//!   the later of the two. The newer account is then deleted.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::accounts::{Account, NewAccount};
use super::admins::{self, AuditAction, NewAuditEntry};
use super::schema::{accounts, identities, sessions};
use super::{DbConnection, DbError};
use crate::domain::event::{Event, EventKind};
use crate::on_backend;

/// What a merge did.
#[derive(Debug, Clone, Serialize)]
pub struct Merge {
    /// The older account, which remains.
    pub kept: i64,
    /// The newer account, which is gone.
    pub removed: i64,
    pub identities_moved: usize,
    pub sessions_moved: usize,
    /// The kept account's fields that were empty and were filled from the
    /// other one.
    pub filled: Vec<&'static str>,
}

impl Merge {
    /// What the audit log and the `account.merged` event say of it; `cause`
    /// is `unionid` (a login's) or `admin`.
    pub fn describe(&self, cause: &str) -> serde_json::Value {
        serde_json::json!({
            "cause": cause,
            "kept": self.kept,
            "removed": self.removed,
            "identities_moved": self.identities_moved,
            "sessions_moved": self.sessions_moved,
            "filled": self.filled,
        })
    }
}

/// The accounts for the first logins of identities, one per entry of
/// `unionids`: the account holding that unionid, or a new one (with it, if
/// there is one). Returns each one's id, and the account itself when it was
/// made now. A new account is born with its first login counted, so that it
/// is written once, not inserted and then updated: every update of an
/// account writes a new entry in each of its admin sort indexes. Made with
/// one insert for those without a unionid and one for those with, whatever
/// their number. Concurrent first logins of one unionid make one account:
/// the unique index on `accounts.unionid` lets one insert through, and the
/// others find it.
pub(super) fn accounts_for_new_identities(
    conn: &mut DbConnection,
    unionids: &[Option<&str>],
    now: NaiveDateTime,
) -> Result<Vec<(i64, Option<Account>)>, DbError> {
    let mut out: Vec<Option<(i64, Option<Account>)>> = vec![None; unionids.len()];

    // Without a unionid: new accounts, all alike, so that RETURNING's order
    // does not matter.
    let anonymous: Vec<usize> = (0..unionids.len())
        .filter(|&i| unionids[i].is_none())
        .collect();
    if !anonymous.is_empty() {
        let rows: Vec<NewAccount<'_>> = anonymous
            .iter()
            .map(|_| NewAccount::first_login(now, None))
            .collect();
        let made: Vec<Account> = on_backend!(conn, |c| diesel::insert_into(accounts::table)
            .values(&rows)
            .returning(Account::as_returning())
            .get_results(c))?;
        if made.len() != anonymous.len() {
            return Err(DbError::Invariant(
                "an account insert returned another number of rows",
            ));
        }
        for (&i, account) in anonymous.iter().zip(made) {
            out[i] = Some((account.id, Some(account)));
        }
    }

    // With one: inserted unless some account holds it (maybe made by
    // another entry of this very insert), then looked up.
    let mut wanted: Vec<&str> = unionids.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    if !wanted.is_empty() {
        let rows: Vec<NewAccount<'_>> = wanted
            .iter()
            .map(|&u| NewAccount::first_login(now, Some(u)))
            .collect();
        let made: Vec<Account> = on_backend!(conn, |c| diesel::insert_into(accounts::table)
            .values(&rows)
            .on_conflict(accounts::unionid)
            .do_nothing()
            .returning(Account::as_returning())
            .get_results(c))?;
        let mut by_unionid: std::collections::HashMap<String, (i64, Option<Account>)> = made
            .into_iter()
            .filter_map(|a| Some((a.unionid.clone()?, (a.id, Some(a)))))
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|u| !by_unionid.contains_key(*u))
            .collect();
        if !missing.is_empty() {
            let found: Vec<(i64, Option<String>)> = on_backend!(conn, |c| accounts::table
                .filter(accounts::unionid.eq_any(&missing))
                .select((accounts::id, accounts::unionid))
                .load(c))?;
            by_unionid.extend(
                found
                    .into_iter()
                    .filter_map(|(id, u)| Some((u?, (id, None)))),
            );
        }
        for (i, unionid) in unionids.iter().enumerate() {
            if let Some(u) = unionid {
                let (id, made) = by_unionid.get_mut(*u).ok_or(DbError::Invariant(
                    "no account holds a unionid just inserted",
                ))?;
                // A second identity of the same person joins the account,
                // and is counted like a returning one.
                out[i] = Some((*id, made.take()));
            }
        }
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or(DbError::Invariant(
            "a first login was left without an account",
        ))
}

/// WeChat sent `unionid` for an identity whose account had none when the
/// login began: the account takes it, or, when another account holds it, the
/// two are merged. Returns the identity's account after, and the merge.
pub(super) fn give_unionid(
    conn: &mut DbConnection,
    identity_id: i64,
    unionid: &str,
    now: NaiveDateTime,
) -> Result<(i64, Option<Merge>), DbError> {
    // Read again: an earlier login in the same transaction may have linked it.
    let account: Account = on_backend!(conn, |c| identities::table
        .inner_join(accounts::table)
        .filter(identities::id.eq(identity_id))
        .select(Account::as_select())
        .get_result(c))?;
    if account.unionid.is_some() {
        return Ok((account.id, None));
    }
    let holder: Option<Account> = on_backend!(conn, |c| accounts::table
        .filter(accounts::unionid.eq(unionid))
        .select(Account::as_select())
        .get_result(c)
        .optional())?;
    match holder {
        None => {
            on_backend!(conn, |c| diesel::update(accounts::table.find(account.id))
                .set(accounts::unionid.eq(unionid))
                .execute(c))?;
            Ok((account.id, None))
        }
        Some(holder) => {
            let merge = merge(conn, account, holder, now)?;
            Ok((merge.kept, Some(merge)))
        }
    }
}

/// Links the identity's account to `unionid`, which WeChat sent for it
/// after its login (signed user data), as a login would: see
/// [`give_unionid`]. Audits a merge. Run it inside a write transaction.
pub fn backfill(
    conn: &mut DbConnection,
    identity_id: i64,
    unionid: &str,
    now: NaiveDateTime,
) -> Result<Option<Merge>, DbError> {
    let (_, merge) = give_unionid(conn, identity_id, unionid, now)?;
    if let Some(merge) = &merge {
        audit_merge(conn, merge, "unionid", now)?;
    }
    Ok(merge)
}

/// Writes the audit entry of a merge made by the system, not by an admin.
pub(super) fn audit_merge(
    conn: &mut DbConnection,
    merge: &Merge,
    cause: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let detail = merge.describe(cause).to_string();
    admins::audit(
        conn,
        &NewAuditEntry {
            admin_id: None,
            username: SYSTEM_ACTOR,
            action: AuditAction::AccountMerged,
            ip: None,
            detail: &detail,
            now,
        },
    )
}

/// The `account.merged` webhook event of a merge.
pub fn merge_event(merge: &Merge, cause: &str, at: NaiveDateTime) -> Event {
    Event::new(EventKind::AccountMerged, at, merge.describe(cause))
}

/// Who the audit log names for what logins do by themselves.
pub const SYSTEM_ACTOR: &str = "(system)";

/// Every column of the kept account, as the merge leaves it.
#[derive(AsChangeset)]
#[diesel(table_name = accounts, treat_none_as_null = true)]
struct MergedAccount {
    unionid: Option<String>,
    nickname: String,
    avatar_url: String,
    gender: i16,
    country: String,
    province: String,
    city: String,
    language: String,
    updated_at: NaiveDateTime,
    last_login_at: NaiveDateTime,
    login_count: i64,
    phone_number: Option<String>,
    phone_hash: Option<String>,
    phone_country_code: Option<String>,
    phone_verified_at: Option<NaiveDateTime>,
    risk_rank: Option<i16>,
}

/// The kept account with its empty fields filled from the other, and the
/// names of the fields filled.
fn fill(keep: &Account, other: Account, now: NaiveDateTime) -> (MergedAccount, Vec<&'static str>) {
    let mut filled = Vec::new();
    let mut text = |name: &'static str, mine: &str, theirs: String| {
        if mine.is_empty() && !theirs.is_empty() {
            filled.push(name);
            theirs
        } else {
            mine.to_owned()
        }
    };
    let nickname = text("nickname", &keep.nickname, other.nickname);
    let avatar_url = text("avatar_url", &keep.avatar_url, other.avatar_url);
    let country = text("country", &keep.country, other.country);
    let province = text("province", &keep.province, other.province);
    let city = text("city", &keep.city, other.city);
    let language = text("language", &keep.language, other.language);
    let gender = if keep.gender == 0 && other.gender != 0 {
        filled.push("gender");
        other.gender
    } else {
        keep.gender
    };
    // The number, its hash, its country code and when it was verified go
    // together.
    let (phone_number, phone_hash, phone_country_code, phone_verified_at) =
        if keep.phone_number.is_none() && other.phone_number.is_some() {
            filled.push("phone_number");
            (
                other.phone_number,
                other.phone_hash,
                other.phone_country_code,
                other.phone_verified_at,
            )
        } else {
            (
                keep.phone_number.clone(),
                keep.phone_hash.clone(),
                keep.phone_country_code.clone(),
                keep.phone_verified_at,
            )
        };
    let unionid = if keep.unionid.is_none() && other.unionid.is_some() {
        filled.push("unionid");
        other.unionid
    } else {
        keep.unionid.clone()
    };
    let merged = MergedAccount {
        unionid,
        nickname,
        avatar_url,
        gender,
        country,
        province,
        city,
        language,
        updated_at: now,
        last_login_at: keep.last_login_at.max(other.last_login_at),
        login_count: keep.login_count + other.login_count,
        phone_number,
        phone_hash,
        phone_country_code,
        phone_verified_at,
        // The riskier of the two: a rank is never lost to a merge.
        risk_rank: keep.risk_rank.max(other.risk_rank),
    };
    (merged, filled)
}

/// What merging two accounts would do, without doing it.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub kept: Account,
    pub removed: Account,
    /// The kept account's empty fields that the other one fills.
    pub filled: Vec<&'static str>,
}

/// The plan of a merge of `a` and `b` (see the module documentation).
pub fn plan(a: Account, b: Account) -> MergePlan {
    let (kept, removed) = if a.is_older_than(&b) { (a, b) } else { (b, a) };
    let (_, filled) = fill(&kept, removed.clone(), kept.updated_at);
    MergePlan {
        kept,
        removed,
        filled,
    }
}

/// Moves an identity, with its sessions, out of its account into a new
/// one of its own, which starts with an empty profile. Returns the new
/// account's id. Run it inside a write transaction.
pub fn unlink(
    conn: &mut DbConnection,
    identity: &super::identities::Identity,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    let new = NewAccount {
        last_login_at: identity.last_login_at,
        login_count: identity.login_count,
        ..NewAccount::at(now, None)
    };
    let account_id: i64 = on_backend!(conn, |c| diesel::insert_into(accounts::table)
        .values(&new)
        .returning(accounts::id)
        .get_result(c))?;
    on_backend!(conn, |c| diesel::update(
        identities::table.find(identity.id)
    )
    .set(identities::account_id.eq(account_id))
    .execute(c))?;
    on_backend!(conn, |c| diesel::update(
        sessions::table.filter(sessions::identity_id.eq(identity.id))
    )
    .set(sessions::account_id.eq(account_id))
    .execute(c))?;
    if let Some(rank) = identity.risk_rank {
        super::accounts::raise_risk_rank(conn, account_id, rank)?;
    }
    super::accounts::recompute_risk_rank(conn, identity.account_id)?;
    Ok(account_id)
}

/// Merges two accounts into the older one (see the module documentation).
/// Run it inside a write transaction: it moves rows, deletes the newer
/// account and rewrites the older.
pub fn merge(
    conn: &mut DbConnection,
    a: Account,
    b: Account,
    now: NaiveDateTime,
) -> Result<Merge, DbError> {
    if a.id == b.id {
        return Err(DbError::Invariant(
            "an account cannot be merged with itself",
        ));
    }
    let (keep, gone) = if a.is_older_than(&b) { (a, b) } else { (b, a) };
    let identities_moved = on_backend!(conn, |c| diesel::update(
        identities::table.filter(identities::account_id.eq(gone.id))
    )
    .set(identities::account_id.eq(keep.id))
    .execute(c))?;
    let sessions_moved = on_backend!(conn, |c| diesel::update(
        sessions::table.filter(sessions::account_id.eq(gone.id))
    )
    .set(sessions::account_id.eq(keep.id))
    .execute(c))?;
    let removed = gone.id;
    let (merged, filled) = fill(&keep, gone, now);
    // Deleted first: its unionid may be the one the kept account takes.
    on_backend!(conn, |c| diesel::delete(accounts::table.find(removed))
        .execute(c))?;
    on_backend!(conn, |c| diesel::update(accounts::table.find(keep.id))
        .set(&merged)
        .execute(c))?;
    Ok(Merge {
        kept: keep.id,
        removed,
        identities_moved,
        sessions_moved,
        filled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, phone: Option<(&str, &str, NaiveDateTime)>) -> Account {
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + id, 0)
            .unwrap()
            .naive_utc();
        Account {
            id,
            unionid: None,
            nickname: String::new(),
            avatar_url: String::new(),
            gender: 0,
            country: String::new(),
            province: String::new(),
            city: String::new(),
            language: String::new(),
            created_at: t,
            updated_at: t,
            last_login_at: t,
            login_count: 1,
            phone_number: phone.map(|p| p.0.to_owned()),
            phone_hash: phone.map(|p| format!("hash of {}", p.0)),
            phone_country_code: phone.map(|p| p.1.to_owned()),
            phone_verified_at: phone.map(|p| p.2),
            risk_rank: None,
            nickname_pending: None,
            avatar_pending: None,
        }
    }

    #[test]
    fn a_phone_number_moves_with_its_country_code_and_verification_time() {
        let verified = chrono::DateTime::from_timestamp(1_750_000_000, 0)
            .unwrap()
            .naive_utc();
        let keep = account(1, None);
        let mut other = account(2, Some(("2025550123", "1", verified)));
        other.risk_rank = Some(2);
        let (merged, filled) = fill(&keep, other.clone(), keep.updated_at);
        assert_eq!(merged.risk_rank, Some(2), "the riskier rank is kept");
        assert_eq!(filled, vec!["phone_number"]);
        assert_eq!(merged.phone_number.as_deref(), Some("2025550123"));
        assert_eq!(merged.phone_country_code.as_deref(), Some("1"));
        assert_eq!(merged.phone_verified_at, Some(verified));

        // The kept account's own number wins, with its own time.
        let mine = chrono::DateTime::from_timestamp(1_760_000_000, 0)
            .unwrap()
            .naive_utc();
        let keep = account(1, Some(("13800138000", "86", mine)));
        let (merged, filled) = fill(&keep, other, keep.updated_at);
        assert!(filled.is_empty());
        assert_eq!(merged.phone_number.as_deref(), Some("13800138000"));
        assert_eq!(merged.phone_country_code.as_deref(), Some("86"));
        assert_eq!(merged.phone_verified_at, Some(mine));
    }
}
