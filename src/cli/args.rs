//! The command line: every subcommand's flags, with their environment
//! twins, and their conversion into validated [`crate::config`] settings.
//!
//! Every flag has an environment-variable twin. The environment values of
//! secrets are hidden from `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::admin_args::AdminSiteArgs;
pub use super::admin_args::{AdminArgs, AdminCommand};
use super::key_args::check_secret_key;
pub use super::key_args::{CommandKeyArgs, DataKeyArgs};
use super::values::{
    parse_grace, parse_retention, parse_seconds, Retention, DEFAULT_DRAIN_GRACE_SECONDS,
};
use super::wechat_args::{wechat_settings, WechatArgs};
use crate::config::{
    parse_public_url, AdminSettings, ConfigError, DatabaseUrl, DbSettings, Settings,
    WebhookSettings, MIN_SECRET_KEY_BYTES, PRUNE_EVERY,
};

/// Login server for WeChat mini-programs.
///
/// A mini-program posts the code from `wx.login()`; wxlogin exchanges it with
/// WeChat, keeps the session_key on the server and returns its own session
/// token. Running `wxlogin` with no subcommand is the same as `wxlogin serve`.
#[derive(Debug, Parser)]
#[command(
    name = "wxlogin",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// How log lines are written to standard error: `text`, or `json` (one
    /// object per line, for a log shipper). `RUST_LOG` picks what is logged.
    #[arg(
        long,
        global = true,
        env = "WXLOGIN_LOG_FORMAT",
        value_enum,
        default_value_t = crate::telemetry::LogFormat::Text
    )]
    pub log_format: crate::telemetry::LogFormat,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage the accounts of the admin site.
    Admin(AdminArgs),
    /// Manage the backend services that may introspect tokens (POST /oauth/introspect).
    Service(ServiceArgs),
    /// Write users as CSV, exactly as the admin site's "Export CSV" does.
    Export(ExportArgs),
    /// Fill an empty database with realistic fake users, for benchmarks and demos.
    Seed(super::seed::SeedArgs),
    /// Re-encrypt the session keys, phone numbers and access tokens kept in
    /// the database under the current data key, in batches, while the
    /// servers run. Give the new key as --data-key and the previous one in
    /// --old-data-keys, here and on every node, first. Refuses, changing
    /// nothing, when values need a key that is not given.
    RotateDataKey(RotateDataKeyArgs),
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service and print its client id and secret. The secret is
    /// shown only this once: only its hash is stored.
    Create {
        /// A name for operators: 1 to 64 letters, digits, `.`, `_` or `-`.
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the services, with their calls and last use.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a service: its credentials stop working (within 5 s on a
    /// running server). The name can then be given to a new service.
    Revoke {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

impl ServiceCommand {
    pub fn db(&self) -> &DbArgs {
        match self {
            Self::Create { db, .. } | Self::List { db } | Self::Revoke { db, .. } => db,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output. The file is only
    /// replaced once the export is complete.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Leave out the UTF-8 byte order mark (Excel needs it for Chinese text).
    #[arg(long)]
    pub no_bom: bool,
    /// Write whole phone numbers. Without it they are masked (138****0000).
    #[arg(long)]
    pub export_phone: bool,
    #[command(flatten)]
    pub filter: crate::domain::user_query::UserListArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: CommandKeyArgs,

    #[command(flatten)]
    pub wechat: WechatArgs,
}

#[derive(Debug, Args)]
pub struct RotateDataKeyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: CommandKeyArgs,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database to use: `postgres://…` or `postgresql://…` for PostgreSQL;
    /// `sqlite://PATH` or a plain file path for SQLite (created if missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://wxlogin.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Most database connections kept open at once. Default: twice the number of CPU cores, at least 4.
    #[arg(long, env = "WXLOGIN_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub db_pool_size: Option<u32>,

    /// Seconds to wait for a free database connection before answering 503.
    #[arg(long, env = "WXLOGIN_DB_TIMEOUT", default_value_t = 5.0, value_parser = parse_seconds)]
    pub db_timeout: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "WXLOGIN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub db: DbArgs,

    #[command(flatten)]
    pub wechat: WechatArgs,

    #[command(flatten)]
    pub admin_site: AdminSiteArgs,

    /// Lifetime of a session token, in seconds (default: 7 days).
    #[arg(long, env = "WXLOGIN_SESSION_TTL", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub session_ttl: u64,

    /// Seconds during which a login retried with a code that already logged
    /// in gets that login's token back, instead of WeChat's "code been used"
    /// (a client that lost the answer, or two pages logging in at once). 0
    /// turns it off. WeChat's codes live 5 minutes, so at most 300. See the
    /// README's "Retried codes" for the trade-off.
    #[arg(long, env = "WXLOGIN_CODE_RETRY_WINDOW", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub code_retry_window: u64,

    /// Seconds an avatar's image check waits for WeChat's verdict (a message
    /// push) before it is submitted again; after the third wait it goes to
    /// the admin review queue.
    #[arg(long, env = "WXLOGIN_IMAGE_CHECK_WAIT", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub image_check_wait: u64,

    /// Development mode: without an AppID and secret, a built-in WeChat
    /// simulator answers instead of WeChat (see the README for its codes).
    /// Never use it in production.
    #[arg(long, env = "WXLOGIN_DEV", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,

    /// Key that signs and encrypts the admin site's session cookies and seals
    /// the WeChat access tokens kept in the database: at least 64 bytes (e.g.
    /// `openssl rand -base64 64`), the same on every node. Required unless
    /// --dev, which makes a random one per process. Never printed or logged.
    #[arg(long, env = "WXLOGIN_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    #[command(flatten)]
    pub data_keys: DataKeyArgs,

    /// Send admin cookies without the Secure flag, for plain-HTTP set-ups
    /// behind a trusted proxy, and for tests. --dev implies it.
    #[arg(long, env = "WXLOGIN_INSECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure_cookies: bool,

    /// Take the client's IP address from the last `X-Forwarded-For` entry.
    /// Only behind a reverse proxy that sets that header.
    #[arg(long, env = "WXLOGIN_TRUST_PROXY", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: bool,

    /// Seconds a client has to send a request's body, counted from its
    /// headers. A slower body is answered 408 and its connection closed.
    #[arg(long, env = "WXLOGIN_CLIENT_BODY_TIMEOUT", default_value_t = 10.0, value_parser = parse_seconds)]
    pub client_body_timeout: f64,

    /// Most open client connections. Past it, the requests that have waited
    /// longest for their bodies are cut off (408) to make room; each worker
    /// also stops accepting past it.
    #[arg(long, env = "WXLOGIN_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Seconds between SIGTERM (or SIGINT) and closing the listener. In
    /// between, `/readyz` answers 503 and requests are still served, so that
    /// a load balancer stops sending new ones first. Default: 5, or 0 with
    /// `--dev`.
    #[arg(long, env = "WXLOGIN_DRAIN_GRACE", value_parser = parse_grace)]
    pub drain_grace: Option<f64>,

    /// Seconds that requests in flight have, once the listener is closed,
    /// to finish; past it they are cut off. A second SIGTERM or SIGINT
    /// exits at once.
    #[arg(long, env = "WXLOGIN_SHUTDOWN_TIMEOUT", default_value_t = 30.0, value_parser = parse_seconds)]
    pub shutdown_timeout: f64,

    /// How long audit entries are kept, e.g. `365d`, `90d`, `12h`; `forever`
    /// keeps them all. Older ones are deleted in small batches in the background.
    #[arg(long, env = "WXLOGIN_AUDIT_RETENTION", default_value = "365d", value_parser = parse_retention)]
    pub audit_retention: Retention,

    /// How long sessions are kept after they expired or were revoked, e.g.
    /// `30d`; `forever` keeps them all.
    #[arg(long, env = "WXLOGIN_SESSION_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub session_retention: Retention,

    /// Address for the Prometheus metrics listener (`GET /metrics`), e.g.
    /// `127.0.0.1:9090`. Off unless set: metrics are business data, and are
    /// never served on the public listener.
    #[arg(long, env = "WXLOGIN_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Number of HTTP worker threads. Default: the number of CPU cores.
    #[arg(long, env = "WXLOGIN_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Directory for uploaded files (avatars go in its `avatars/`
    /// subdirectory). Created if missing.
    #[arg(long, env = "WXLOGIN_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The address at which clients reach this server, e.g.
    /// `https://login.example.com`; used to build the URLs of uploaded
    /// avatars. Default: the scheme and host of each upload request.
    #[arg(long, env = "WXLOGIN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// URL that receives account events (account.created, login,
    /// profile.updated, account.merged, session.revoked) as signed JSON
    /// POSTs, at least once, retried with backoff. Off unless set.
    #[arg(long, env = "WXLOGIN_WEBHOOK_URL", requires = "webhook_secret")]
    pub webhook_url: Option<String>,

    /// Key of the HMAC-SHA256 in each delivery's `X-Wxlogin-Signature`
    /// header, at least 16 bytes; the receiver checks it.
    #[arg(
        long,
        env = "WXLOGIN_WEBHOOK_SECRET",
        hide_env_values = true,
        requires = "webhook_url"
    )]
    pub webhook_secret: Option<String>,
}

impl TryFrom<&DbArgs> for DbSettings {
    type Error = ConfigError;

    fn try_from(args: &DbArgs) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        Ok(Self {
            url: DatabaseUrl::parse(&args.database_url)?,
            pool_size: args.db_pool_size.unwrap_or((cores * 2).max(4)),
            connect_timeout: Duration::from_secs_f64(args.db_timeout),
        })
    }
}

impl TryFrom<ServeArgs> for Settings {
    type Error = ConfigError;

    fn try_from(args: ServeArgs) -> Result<Self, ConfigError> {
        let db = DbSettings::try_from(&args.db)?;
        let wechat = wechat_settings(&args.wechat, args.dev)?;
        let secret_key = args.secret_key.clone();
        let cookie_key = match args.secret_key.filter(|k| !k.is_empty()) {
            Some(k) => {
                check_secret_key(&k)?;
                actix_web::cookie::Key::from(k.as_bytes())
            }
            None if args.dev => actix_web::cookie::Key::generate(),
            None => {
                return Err(ConfigError::Invalid(format!(
                    "missing --secret-key / WXLOGIN_SECRET_KEY: the admin site needs at least {MIN_SECRET_KEY_BYTES} random bytes to protect its cookies (try `openssl rand -base64 64`)"
                )))
            }
        };
        // After the cookie key, whose absence explains more.
        let data_keys = args.data_keys.resolve(secret_key.as_deref(), args.dev)?;
        let workers = args.workers.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            usize::from,
        );
        if args.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid(
                "--data-dir / WXLOGIN_DATA_DIR is empty".into(),
            ));
        }
        let public_url = args
            .public_url
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_public_url(&s))
            .transpose()?;
        let webhook = match (args.webhook_url.as_deref(), args.webhook_secret.as_deref()) {
            (Some(url), Some(secret)) if !url.trim().is_empty() => {
                Some(WebhookSettings::new(url, secret)?)
            }
            (Some(_), _) => {
                return Err(ConfigError::Invalid(
                    "--webhook-url / WXLOGIN_WEBHOOK_URL is empty".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "--webhook-secret is set but --webhook-url is not".into(),
                ))
            }
            (None, None) => None,
        };
        Ok(Self {
            bind: args.bind,
            db,
            wechat,
            session_ttl: Duration::from_secs(args.session_ttl),
            code_retry_window: Duration::from_secs(args.code_retry_window),
            image_check_wait: Duration::from_secs(args.image_check_wait),
            dev: args.dev,
            workers,
            admin: AdminSettings {
                cookie_key,
                secure_cookies: !(args.dev || args.insecure_cookies),
                policy: args.admin_site.policy(),
            },
            trust_proxy: args.trust_proxy,
            metrics_bind: args.metrics_bind,
            audit_retention: args.audit_retention.0,
            session_retention: args.session_retention.0,
            prune_every: PRUNE_EVERY,
            client_body_timeout: Duration::from_secs_f64(args.client_body_timeout),
            drain: crate::config::DrainSettings {
                grace: Duration::from_secs_f64(args.drain_grace.unwrap_or(if args.dev {
                    0.0
                } else {
                    DEFAULT_DRAIN_GRACE_SECONDS
                })),
                shutdown_timeout: Duration::from_secs_f64(args.shutdown_timeout),
            },
            max_connections: args.max_connections as usize,
            data_dir: args.data_dir,
            public_url,
            webhook,
            data_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_refuses_without_credentials_outside_dev() {
        let cli = Cli::try_parse_from(["wxlogin", "serve", "--wechat-appid", "wx1"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        let err = Settings::try_from(args).unwrap_err().to_string();
        assert!(err.contains("WECHAT_SECRET"), "{err}");
        assert!(!err.contains("WECHAT_APPID"), "{err}");
    }

    #[test]
    fn a_malformed_single_appid_is_refused_naming_the_flag() {
        let cli = Cli::try_parse_from([
            "wxlogin",
            "serve",
            "--wechat-appid",
            "wx1",
            "--wechat-secret",
            "hidden-secret",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        let err = Settings::try_from(args).unwrap_err().to_string();
        assert!(err.contains("--wechat-appid / WECHAT_APPID"), "{err}");
        assert!(err.contains("`wx1` is not an AppID"), "{err}");
        assert!(!err.contains("hidden-secret"), "{err}");
    }
}
