//! The shared state of a server: the WeChat clients, the admin of dev
//! mode, the caches, the login writer and the background threads.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::DEV_ADMIN;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::media::MediaStore;
use crate::state::{AppState, Background};
use crate::wechat::WechatApps;

/// How long past WeChat's timeout a login may take to be written, before
/// another request with its code takes it over.
const CODE_HOLD_MARGIN: Duration = Duration::from_secs(5);

/// Everything the handlers share, with its background threads started.
/// Also returns the dev-mode admin's password, when one was just made.
pub(super) async fn assemble_state(
    settings: &Settings,
    pool: &DbPool,
) -> anyhow::Result<(AppState, Option<String>)> {
    // Every node of a fleet shares each app's access token through the
    // database, sealed with the data key they share.
    let sharing = crate::wechat::TokenSharing {
        store: Some(Arc::new(crate::service::wechat_tokens::DbTokenStore::new(
            pool.clone(),
            settings.data_keys.clone(),
        ))),
        holder: format!(
            "{}-{}",
            std::process::id(),
            crate::domain::random::prefixed_text::<9>("")
        ),
    };
    let wechat =
        WechatApps::from_settings(&settings.wechat, sharing, settings.public_url.as_deref())
            .context("cannot set up the WeChat clients")?;
    let dev_admin_password = if settings.dev {
        crate::service::admins::create_first(pool, DEV_ADMIN)
            .await
            .context("cannot create the dev-mode admin")?
    } else {
        None
    };
    let dummy_password_hash = tokio::task::spawn_blocking(|| {
        crate::domain::password::hash(&crate::domain::password::random_password())
    })
    .await?;
    let checker_threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let password_checker =
        crate::domain::password::PasswordChecker::start(checker_threads, 4 * checker_threads)
            .context("cannot start the password-check threads")?;
    let media = {
        let (dir, public_url) = (settings.data_dir.clone(), settings.public_url.clone());
        tokio::task::spawn_blocking(move || MediaStore::prepare(&dir, public_url))
            .await?
            .with_context(|| {
                format!(
                    "cannot use the data directory {} (--data-dir / WXLOGIN_DATA_DIR)",
                    settings.data_dir.display()
                )
            })?
    };
    let checkpointer = match settings.db.url {
        crate::config::DatabaseUrl::Sqlite(_) => Some(
            db::Checkpointer::start(pool.clone())
                .context("cannot start the WAL checkpoint thread")?,
        ),
        crate::config::DatabaseUrl::Postgres(_) => None,
    };
    let logins = db::group_commit::LoginWriter::start(
        pool.clone(),
        login_writers(&settings.db),
        checkpointer.as_ref().map(db::Checkpointer::notice),
        settings.webhook.is_some(),
    )
    .context("cannot start the login writer")?;
    let webhooks = settings
        .webhook
        .clone()
        .map(|webhook| crate::webhook::Deliverer::start(webhook, pool.clone()))
        .transpose()
        .context("cannot start the webhook deliverer")?;
    let token_cache = Arc::new(db::token_cache::TokenCache::default());
    let token_refresher = db::token_cache::Refresher::start(token_cache.clone(), pool.clone())
        .context("cannot start the token cache refresher")?;
    let revocations = match &settings.db.url {
        crate::config::DatabaseUrl::Postgres(url) => {
            let (announce, announced) = std::sync::mpsc::channel();
            token_cache.announce_to(announce);
            let announcer = db::revocations::Announcer::start(announced, pool.clone())
                .context("cannot start the revocation announcer")?;
            let listener = db::revocations::Listener::start(url, token_cache.clone())
                .context("cannot start the revocation listener")?;
            Some(std::sync::Mutex::new((announcer, listener)))
        }
        crate::config::DatabaseUrl::Sqlite(_) => None,
    };
    let pruner = db::retention::start(
        pool.clone(),
        db::retention::Retention {
            audit: settings.audit_retention,
            sessions: settings.session_retention,
            counters: crate::service::admin_sign_in::WINDOW,
            admin_sessions: settings.admin.policy,
        },
        settings.prune_every,
    )
    .context("cannot start the pruning thread")?;
    // SQLite holds them in memory: see db::code_claims.
    let code_claims = Arc::new(
        db::code_claims::CodeStore::start(
            pool.clone(),
            matches!(settings.db.url, crate::config::DatabaseUrl::Sqlite(_)),
        )
        .context("cannot start the login code writer")?,
    );
    let code_sweeper = db::retention::start_login_code_sweeper(code_claims.clone())
        .context("cannot start the login code sweeper")?;
    let activity = Arc::new(db::activity::ActivityCounter::default());
    let activity_writer = db::activity::start(activity.clone(), pool.clone())
        .context("cannot start the activity counter")?;
    let service_cache = Arc::new(db::service_cache::ServiceCache::default());
    let service_calls = {
        let (cache, last_cache) = (service_cache.clone(), service_cache.clone());
        let (pool, last_pool) = (pool.clone(), pool.clone());
        let flush = move |cache: &db::service_cache::ServiceCache, pool: &DbPool| {
            if let Err(e) = cache.flush(pool) {
                tracing::warn!(error = %e, "cannot write the services' call counts yet");
            }
        };
        crate::background::Periodic::start(
            "service-calls",
            db::service_cache::FLUSH_EVERY,
            move || flush(&cache, &pool),
            move || flush(&last_cache, &last_pool),
        )
        .context("cannot start the service call counter")?
    };
    // Values an older release stored in plain text are sealed in the
    // background: the node serves meanwhile, reading them as they are.
    let sealer = crate::service::data_keys::start_sealer(pool.clone(), settings.data_keys.clone())
        .context("cannot start the sealing thread")?;
    let clock_check = match settings.db.url {
        crate::config::DatabaseUrl::Postgres(_) => {
            let checked = pool.clone();
            tokio::task::spawn_blocking(move || db::clock::check(&checked))
                .await?
                .context("cannot compare the clock with the database's")?;
            Some(db::clock::start(pool.clone()).context("cannot start the clock check")?)
        }
        crate::config::DatabaseUrl::Sqlite(_) => None,
    };
    let state = AppState {
        draining: std::sync::atomic::AtomicBool::new(false),
        pool: pool.clone(),
        apps: wechat,
        session_ttl: settings.session_ttl,
        code_retry: (!settings.code_retry_window.is_zero()).then(|| {
            crate::domain::login_code::CodeRetry {
                window: settings.code_retry_window,
                hold: settings.wechat.timeout + CODE_HOLD_MARGIN,
                keys: crate::domain::login_code::CodeKeys::derive(
                    settings.admin.cookie_key.master(),
                ),
            }
        }),
        ready_timeout: settings.db.connect_timeout.min(Duration::from_secs(2)),
        trust_proxy: settings.trust_proxy,
        admin_policy: settings.admin.policy,
        activity,
        data_keys: settings.data_keys.clone(),
        second_factor_keys: crate::domain::totp_keys::SecondFactorKeys::derive(
            settings.admin.cookie_key.master(),
        ),
        dummy_password_hash,
        password_checker,
        media,
        image_check_wait: settings.image_check_wait,
        token_cache,
        service_cache,
        logins,
        code_claims,
        webhook_events: settings.webhook.is_some(),
        webhook_target: settings.webhook.as_ref().map(|w| {
            let url = &w.url;
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.path()
            )
        }),
        background: Background {
            webhooks,
            token_refresher,
            revocations,
            service_calls,
            activity: activity_writer,
            clock_check,
            pruner,
            code_sweeper,
            sealer,
            checkpointer,
        },
    };
    Ok((state, dev_admin_password))
}

/// How many threads write logins. SQLite takes one writer at a time; on
/// PostgreSQL, half the pool lets batches overlap and leaves the rest for reads.
fn login_writers(db: &crate::config::DbSettings) -> usize {
    match db.url {
        crate::config::DatabaseUrl::Sqlite(_) => 1,
        crate::config::DatabaseUrl::Postgres(_) => (db.pool_size as usize / 2).max(1),
    }
}
