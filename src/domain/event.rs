//! The events sent to the webhook: what happened to an account, with a
//! unique id. The body is built once, when the event is recorded, and sent
//! as stored, so that every retry carries the same bytes.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::random::prefixed_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    AccountCreated,
    Login,
    ProfileUpdated,
    AccountMerged,
    SessionRevoked,
    ContentReviewed,
    AccountDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::Login => "login",
            Self::ProfileUpdated => "profile.updated",
            Self::AccountMerged => "account.merged",
            Self::SessionRevoked => "session.revoked",
            Self::ContentReviewed => "content.reviewed",
            Self::AccountDeleted => "account.deleted",
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// `evt_` and 22 random characters: receivers deduplicate on it.
    pub id: String,
    pub kind: EventKind,
    pub at: NaiveDateTime,
    /// The JSON body: `{"id", "type", "created_at", "data"}`.
    pub body: String,
}

impl Event {
    /// An event of `kind` at `at` with `data`. The data never holds a
    /// session_key, a token or a phone number: receivers that need more ask
    /// through introspection.
    pub fn new(kind: EventKind, at: NaiveDateTime, data: Value) -> Self {
        let id = prefixed_text::<16>("evt_");
        let body = json!({
            "id": id,
            "type": kind.as_str(),
            "created_at": at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": data,
        })
        .to_string();
        Self { id, kind, at, body }
    }
}

/// `profile.updated`: which fields of the account changed, not their values.
pub fn profile_updated(account_id: i64, fields: &[&str], at: NaiveDateTime) -> Event {
    Event::new(
        EventKind::ProfileUpdated,
        at,
        json!({"account_id": account_id, "fields": fields}),
    )
}

/// `session.revoked`: sessions of an account ended, by the user (`logout`,
/// `revoke`) or by an admin (`revoke`, `revoke_all`).
pub fn session_revoked(
    account_id: i64,
    session_ids: &[i64],
    by: &str,
    reason: &str,
    at: NaiveDateTime,
) -> Event {
    Event::new(
        EventKind::SessionRevoked,
        at,
        json!({"account_id": account_id, "session_ids": session_ids, "by": by, "reason": reason}),
    )
}

/// `content.reviewed`: a pending nickname or avatar was decided, by WeChat's
/// image check (`by: "wechat"`) or an operator (`by: "admin"`): `approved`
/// (it is now the account's) or `rejected` (it was dropped). Never the
/// value itself.
pub fn content_reviewed(
    account_id: i64,
    field: &str,
    decision: &str,
    by: &str,
    label: Option<i64>,
    at: NaiveDateTime,
) -> Event {
    Event::new(
        EventKind::ContentReviewed,
        at,
        json!({"account_id": account_id, "field": field, "decision": decision, "by": by, "label": label}),
    )
}

/// `account.deleted`: the account was closed, by its user (`by: "user"`)
/// or an operator (`by: "admin"`), and its personal data erased. Receivers
/// should erase what they hold of it too.
pub fn account_deleted(account_id: i64, by: &str, at: NaiveDateTime) -> Event {
    Event::new(
        EventKind::AccountDeleted,
        at,
        json!({"account_id": account_id, "by": by}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_unique_ids_and_their_type_in_the_body() {
        let at = crate::clock::now();
        let a = Event::new(EventKind::Login, at, json!({"account_id": 1}));
        let b = Event::new(EventKind::Login, at, json!({"account_id": 1}));
        assert_ne!(a.id, b.id);
        let body: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["type"], "login");
        assert_eq!(body["id"], a.id.as_str());
        assert_eq!(body["data"]["account_id"], 1);
    }
}
