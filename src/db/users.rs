//! A user: an account seen through one of its identities, the one a session
//! was opened with. The account holds the profile; the identity holds the
//! app, the openid and that app's session_key.

use std::sync::Arc;

use diesel::prelude::*;

use super::accounts::Account;
use super::identities::Identity;
use super::schema::{accounts, identities};
use super::{DbConnection, DbError};
use crate::on_backend;

/// Shared, not owned: the token cache hands the same account and identity
/// to every request of a token without copying their strings. Change one
/// with `Arc::make_mut`.
#[derive(Debug, Clone)]
pub struct User {
    pub account: Arc<Account>,
    pub identity: Arc<Identity>,
}

impl User {
    pub fn new(account: Account, identity: Identity) -> Self {
        Self {
            account: Arc::new(account),
            identity: Arc::new(identity),
        }
    }

    /// The account id: what other services know the person by.
    pub fn id(&self) -> i64 {
        self.account.id
    }
}

/// The user of an identity.
pub fn find(conn: &mut DbConnection, identity_id: i64) -> Result<User, DbError> {
    let (identity, account) = on_backend!(conn, |c| identities::table
        .inner_join(accounts::table)
        .filter(identities::id.eq(identity_id))
        .select((Identity::as_select(), Account::as_select()))
        .get_result(c))?;
    Ok(User::new(account, identity))
}
