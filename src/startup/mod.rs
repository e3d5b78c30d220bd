//! Building and running the HTTP application: opens the database, starts
//! the background threads, assembles the state and mounts both surfaces.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;

mod assemble;

use crate::admin;
use crate::api;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::signals::{exit_at_once, Signals};
use crate::state::AppState;
use crate::web::connections::{self, ConnectionLimits};
use crate::web::request_log;
use crate::web::CONTENT_SECURITY_POLICY;
use crate::wechat::WechatApps;

/// A bound, ready-to-run server. Binding to port 0 picks a free port, which
/// is how the tests start it.
pub struct Application {
    port: u16,
    pool: DbPool,
    state: web::Data<AppState>,
    server: Server,
    /// The `/metrics` listener, when `--metrics-bind` is set.
    metrics: Option<(Server, std::net::SocketAddr)>,
    dev_admin_password: Option<String>,
    drain: crate::config::DrainSettings,
    /// Listened to from before the listener is announced, so that a signal
    /// sent as soon as the node says it listens is a drain, not a kill.
    signals: Signals,
    stop: StopHandle,
}

/// Starts the same drain as SIGTERM from inside the process: how a program
/// that embeds the server (the tests do) stops one it started.
#[derive(Clone, Default)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    /// Asks the server to drain and stop; returns at once. A request made
    /// before the server runs is kept.
    pub fn stop(&self) {
        self.0.notify_one();
    }

    async fn requested(&self) {
        self.0.notified().await;
    }
}

impl Application {
    /// Opens the database, applies migrations and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if settings.dev {
            warn_dev_mode(&settings);
        }
        // Bound first: a port in use fails before anything else has started.
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let metrics_listener = settings
            .metrics_bind
            .map(|bind| {
                TcpListener::bind(bind)
                    .with_context(|| format!("cannot listen on {bind} for metrics"))
            })
            .transpose()?;
        let pool = open_database(&settings.db, db::PoolUse::Server).await?;
        let (state, dev_admin_password) = match assemble::assemble_state(&settings, &pool).await {
            Ok(assembled) => assembled,
            Err(e) => {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || db::close(&pool)).await?;
                return Err(e);
            }
        };
        let state = web::Data::new(state);
        let admin_settings = settings.admin.clone();
        let app_state = state.clone();
        let limits = ConnectionLimits::new(settings.client_body_timeout, settings.max_connections);
        check_open_file_limit(settings.max_connections);
        let limits_data = web::Data::new(limits.clone());
        let signals = Signals::new()?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Cache-Control", "no-store"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "no-referrer"))
                        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY)),
                )
                .wrap(ErrorHandlers::new().default_handler(api::error::json_error_bodies))
                .wrap(from_fn(connections::guard_bodies))
                .wrap(from_fn(request_log::log_request))
                .app_data(limits_data.clone())
                .app_data(app_state.clone())
                .configure(api::routes)
                .route("/static/admin.css", web::get().to(admin::stylesheet))
                .service(admin::scope(&admin_settings))
                .default_service(web::to(api::not_found))
        })
        .workers(settings.workers)
        .max_connections(settings.max_connections)
        // Signals are handled by `run_until_stopped`, which drains first.
        .disable_signals()
        .shutdown_timeout(settings.drain.shutdown_timeout.as_secs_f64().ceil() as u64)
        .on_connect(move |io, data| connections::on_connect(&limits, io, data))
        .listen(listener)?
        .run();
        warn_of_unchecked_avatars(&state);
        tracing::info!(
            %address,
            database = %settings.db.url.redacted(),
            apps = %apps_summary(&state.apps),
            data_dir = %settings.data_dir.display(),
            "wxlogin is listening"
        );
        let metrics = match metrics_listener {
            Some(listener) => {
                let address = listener.local_addr()?;
                let server = crate::telemetry::prometheus::serve(listener, pool_gauges(&pool))?;
                tracing::info!(%address, "metrics are served at /metrics");
                Some((server, address))
            }
            None => None,
        };
        Ok(Self {
            port: address.port(),
            pool,
            state,
            server,
            metrics,
            dev_admin_password,
            drain: settings.drain,
            signals,
            stop: StopHandle::default(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address of the `/metrics` listener, when there is one.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|(_, address)| *address)
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Stops this server once it runs, as SIGTERM would.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// In dev mode on a database without admins: the password of the
    /// `admin` account just created, to show once.
    pub fn dev_admin_password(&self) -> Option<&str> {
        self.dev_admin_password.as_deref()
    }

    /// Serves until SIGTERM or SIGINT, then drains: `/readyz` fails at once,
    /// the listener closes after the grace, requests in flight get the
    /// shutdown timeout to finish, the login writer writes what is queued,
    /// and the background threads stop. A second signal exits at once. A
    /// [`StopHandle`] starts the same drain.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut signals = self.signals;
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let image_checks = tokio::spawn(crate::service::content::watch_image_checks(
            self.state.clone().into_inner(),
        ));
        crate::systemd::ready();
        crate::systemd::start_watchdog();
        let served = tokio::select! {
            served = &mut server => served,
            cause = async {
                tokio::select! {
                    signal = signals.next() => signal,
                    () = self.stop.requested() => "stop requested",
                }
            } => {
                self.state.draining.store(true, Ordering::SeqCst);
                crate::systemd::stopping();
                tracing::info!(
                    cause,
                    grace_s = self.drain.grace.as_secs_f64(),
                    shutdown_timeout_s = self.drain.shutdown_timeout.as_secs_f64(),
                    "draining: /readyz answers 503; the listener closes after the grace"
                );
                tokio::select! {
                    () = tokio::time::sleep(self.drain.grace) => {}
                    signal = signals.next() => exit_at_once(signal),
                }
                tracing::info!("the listener is closed; finishing the requests in flight");
                tokio::select! {
                    () = handle.stop(true) => {}
                    signal = signals.next() => exit_at_once(signal),
                }
                server.await
            }
        };
        image_checks.abort();
        let served = served.map_err(std::io::Error::other)?;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        let (state, pool) = (self.state, self.pool);
        tokio::task::spawn_blocking(move || {
            state.stop_background();
            db::close(&pool);
        })
        .await
        .map_err(std::io::Error::other)?;
        tracing::info!("stopped");
        served
    }
}

/// Raises the soft limit on open files to the hard one, as a server with
/// many connections needs, and warns when it is still below what
/// `--max-connections` asks for.
fn check_open_file_limit(max_connections: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // Room for the database pool, log files and the listeners.
    let needed = max_connections as u64 + 256;
    if limit.rlim_cur < needed {
        tracing::warn!(
            open_files = limit.rlim_cur,
            max_connections,
            "the limit on open files is below --max-connections plus 256; raise it (ulimit -n, LimitNOFILE=) or lower --max-connections"
        );
    }
}

/// Samples the pool's connections at each scrape of `/metrics`.
fn pool_gauges(pool: &db::DbPool) -> crate::telemetry::prometheus::BeforeScrape {
    let pool = pool.clone();
    std::sync::Arc::new(move || {
        let state = pool.state();
        let idle = f64::from(state.idle_connections);
        let in_use = f64::from(state.connections - state.idle_connections);
        metrics::gauge!("wxlogin_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("wxlogin_db_pool_connections", "state" => "in_use").set(in_use);
    })
}

/// Connects and migrates, off the async threads.
pub async fn open_database(
    settings: &crate::config::DbSettings,
    purpose: db::PoolUse,
) -> anyhow::Result<DbPool> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<DbPool> {
        let where_ = settings.url.redacted();
        let pool = db::connect(&settings, purpose)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            })
            .with_context(|| format!("cannot open the database {where_}"))?;
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                db::close(&pool);
                return Err(e).with_context(|| format!("cannot open the database {where_}"));
            }
        };
        let migrated = db::migrate(&mut conn).and_then(|applied| {
            db::checkpoint(&mut conn)?;
            Ok(applied)
        });
        let applied = match migrated {
            Ok(applied) => applied,
            Err(e) => {
                drop(conn);
                db::close(&pool);
                return Err(e.into());
            }
        };
        for name in &applied {
            tracing::info!(migration = %name, "applied migration");
        }
        drop(conn);
        Ok(pool)
    })
    .await?
}

/// Name of the account that dev mode creates.
pub const DEV_ADMIN: &str = "admin";

fn warn_dev_mode(settings: &Settings) {
    let banner = "*".repeat(72);
    tracing::warn!("{banner}");
    tracing::warn!("DEVELOPMENT MODE (--dev). Never run this in production.");
    let simulated = settings
        .wechat
        .apps
        .iter()
        .any(|a| matches!(a.secret, crate::config::AppSecret::Simulated));
    if simulated {
        tracing::warn!(
            "WeChat is SIMULATED for two dev apps: any code logs in a fake user (try `demo-1`)."
        );
    } else {
        tracing::warn!("WeChat is real (AppIDs and secrets are set).");
    }
    tracing::warn!("{banner}");
}

/// The apps, for the start-up line: `wx… (name), wx… (name, default)`.
fn apps_summary(apps: &WechatApps) -> String {
    let default = apps.default_appid();
    let described: Vec<String> = apps
        .iter()
        .map(|app| {
            let mut notes = vec![app.name.as_str()];
            if Some(app.appid.as_str()) == default {
                notes.push("default");
            }
            if app.simulated {
                notes.push("simulated");
            }
            format!("{} ({})", app.appid, notes.join(", "))
        })
        .collect();
    described.join(", ")
}

/// Says at start-up which apps' avatars go unchecked: WeChat fetches an
/// image to check it, which needs `--public-url`; and which apps will
/// never hear the verdicts, having no message push set up.
fn warn_of_unchecked_avatars(state: &AppState) {
    let checked: Vec<&str> = state
        .apps
        .iter()
        .filter(|app| app.content_check)
        .map(|app| app.appid.as_str())
        .collect();
    if checked.is_empty() {
        return;
    }
    if state.media.public_url.is_none() {
        tracing::warn!(
            apps = %checked.join(", "),
            "avatars are not content-checked: WeChat fetches the image by its URL, so set --public-url (WXLOGIN_PUBLIC_URL); nicknames are checked"
        );
        return;
    }
    for app in state
        .apps
        .iter()
        .filter(|a| a.content_check && a.push.is_none())
    {
        tracing::warn!(
            appid = %app.appid,
            "no message push is set up (push_token): WeChat's image verdicts cannot arrive, so every avatar goes to the review queue after --image-check-wait"
        );
    }
}
