//! A user's own data, for `GET /api/me/export` (PIPL's right of access):
//! the account, every identity (never a session key), the live sessions.

use super::ServiceResult;
use crate::clock;
use crate::db::accounts::Account;
use crate::db::identities::{self, Identity};
use crate::db::sessions::{self, Session};
use crate::db::{self, accounts};
use crate::domain::data_keys::DataKeys;
use crate::state::AppState;

/// Sessions listed at most; a user has far fewer.
const MAX_SESSIONS: i64 = 1_000;

/// Everything stored about one account.
#[derive(Debug)]
pub struct PersonalData {
    pub account: Account,
    pub identities: Vec<Identity>,
    /// Live sessions with the appid of each.
    pub sessions: Vec<(Session, String)>,
    pub exported_at: chrono::NaiveDateTime,
}

pub async fn export(state: &AppState, account_id: i64) -> ServiceResult<PersonalData> {
    let now = clock::now();
    let mut data = db::run(&state.pool, move |conn| {
        Ok(PersonalData {
            account: accounts::find(conn, account_id)?,
            identities: identities::list_for_account(conn, account_id)?,
            sessions: sessions::list_live_for_account(conn, account_id, now, MAX_SESSIONS)?,
            exported_at: now,
        })
    })
    .await?;
    open_phone(&state.data_keys, &mut data.account.phone_number);
    Ok(data)
}

/// Opens a sealed phone number in place, for showing it. One that does not
/// open (sealed under a key this node lacks) is logged and shown as none.
pub(crate) fn open_phone(keys: &DataKeys, phone: &mut Option<String>) {
    *phone = phone.take().and_then(|sealed| opened_phone(keys, &sealed));
}

/// A sealed phone number, opened; `None`, logged, when it does not open.
pub(crate) fn opened_phone(keys: &DataKeys, sealed: &str) -> Option<String> {
    keys.open_phone(sealed)
        .inspect_err(|error| tracing::error!(%error, "a stored phone number does not open"))
        .ok()
}
