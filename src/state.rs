//! What every handler can reach: the shared state, below the handlers.
//! It imports neither `api` nor `admin`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::background::Periodic;
use crate::db::code_claims::CodeStore;
use crate::db::group_commit::LoginWriter;
use crate::db::revocations::{Announcer, Listener};
use crate::db::service_cache::ServiceCache;
use crate::db::token_cache::{Refresher, TokenCache};
use crate::db::{Checkpointer, DbPool};
use crate::domain::login_code::CodeRetry;
use crate::domain::password::PasswordChecker;
use crate::media::MediaStore;
use crate::webhook::Deliverer;
use crate::wechat::WechatApps;

/// What every request handler can reach.
pub struct AppState {
    pub pool: DbPool,
    /// The mini-programs served, each with its WeChat client.
    pub apps: WechatApps,
    pub session_ttl: Duration,
    /// Retried login codes get their token back; `None`: off.
    pub code_retry: Option<CodeRetry>,
    /// How long `/readyz` waits for a database connection.
    pub ready_timeout: Duration,
    /// Whether `X-Forwarded-For` names the client.
    pub trust_proxy: bool,
    /// The admin site's session lifetimes, export and second-factor rules.
    pub admin_policy: crate::config::AdminPolicy,
    /// Checked against when an unknown admin name signs in, so that it costs
    /// as much as a wrong password.
    pub dummy_password_hash: String,
    /// Encrypt session keys, phone numbers and access tokens at rest.
    pub data_keys: crate::domain::data_keys::DataKeys,
    /// The keys of admins' TOTP secrets and recovery codes.
    pub second_factor_keys: crate::domain::totp_keys::SecondFactorKeys,
    /// Checks admin passwords off the request workers, with bounded room.
    pub password_checker: PasswordChecker,
    /// Uploaded avatars.
    pub media: MediaStore,
    /// How long an image check waits for WeChat's push, per try.
    pub image_check_wait: Duration,
    /// Checked tokens, so that Bearer requests skip the database.
    pub token_cache: Arc<TokenCache>,
    /// Backend services' credentials, and their calls not yet written.
    pub service_cache: Arc<ServiceCache>,
    /// New accounts and logins per hour, for the overview's charts.
    pub activity: Arc<crate::db::activity::ActivityCounter>,
    /// Writes logins in batches (group commit).
    pub logins: LoginWriter,
    /// Login codes held for their retry window.
    pub code_claims: Arc<CodeStore>,
    /// Whether changes record webhook events: a webhook is configured.
    pub webhook_events: bool,
    /// Where they go, without credentials or query, for the admin site.
    pub webhook_target: Option<String>,
    /// Set at SIGTERM or SIGINT: `/readyz` fails from then on.
    pub draining: std::sync::atomic::AtomicBool,
    /// The background threads, held so that they live as long as the state
    /// and can be stopped before the process exits.
    pub background: Background,
}

/// The threads that work beside the requests.
pub struct Background {
    /// Delivers webhook events; `None` without a webhook.
    pub webhooks: Option<Deliverer>,
    /// Keeps busy tokens in the token cache and writes `last_seen_at`.
    pub token_refresher: Refresher,
    /// Tells the other nodes of this one's revocations, and applies theirs
    /// (PostgreSQL's LISTEN/NOTIFY); `None` on SQLite.
    pub revocations: Option<Mutex<(Announcer, Listener)>>,
    /// Compares the node's clock with PostgreSQL's; `None` on SQLite.
    pub clock_check: Option<Periodic>,
    /// Writes the services' call counts.
    pub service_calls: Periodic,
    /// Writes the login counts, recounts the profile totals.
    pub activity: Periodic,
    /// Prunes old audit entries, sessions and sign-in counters.
    pub pruner: Periodic,
    /// Deletes login codes past their retry window.
    pub code_sweeper: Periodic,
    /// Seals values an older release stored in plain text.
    pub sealer: Periodic,
    /// Copies SQLite's WAL back in the background; `None` on PostgreSQL.
    pub checkpointer: Option<Checkpointer>,
}

impl AppState {
    /// Stops the background threads, after they have written what they
    /// hold: queued logins, then `last_seen_at` times.
    pub fn stop_background(&self) {
        self.code_claims.stop();
        self.logins.stop();
        let background = &self.background;
        background.token_refresher.stop();
        if let Some(revocations) = &background.revocations {
            let (announcer, listener) = &mut *revocations.lock().unwrap_or_else(|e| e.into_inner());
            // What was revoked last is sent before the pool closes.
            announcer.stop();
            listener.stop();
        }
        if let Some(webhooks) = &background.webhooks {
            webhooks.stop();
        }
        background.service_calls.stop();
        // Its last round writes the login counts still in memory.
        background.activity.stop();
        background.pruner.stop();
        background.code_sweeper.stop();
        background.sealer.stop();
        if let Some(clock_check) = &background.clock_check {
            clock_check.stop();
        }
        if let Some(checkpointer) = &background.checkpointer {
            checkpointer.stop();
        }
    }
}
