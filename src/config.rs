//! Command line and typed settings.
//!
//! Every flag has an environment-variable twin. Secrets are parsed into
//! [`SecretString`] so that they never show up in `Debug` output, and their
//! environment values are hidden from `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

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

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
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

    /// The mini-program's AppID (from the WeChat admin console). Required unless --dev.
    #[arg(long, env = "WECHAT_APPID")]
    pub wechat_appid: Option<String>,

    /// The mini-program's AppSecret. Required unless --dev. Never printed or logged.
    #[arg(long, env = "WECHAT_SECRET", hide_env_values = true)]
    pub wechat_secret: Option<String>,

    /// Base URL of the WeChat server API. Change it only to point at a test double.
    #[arg(
        long,
        env = "WECHAT_API_BASE",
        default_value = "https://api.weixin.qq.com"
    )]
    pub wechat_api_base: String,

    /// Seconds to wait for WeChat before answering 502 wechat_unavailable.
    #[arg(long, env = "WECHAT_TIMEOUT", default_value_t = 5.0, value_parser = parse_seconds)]
    pub wechat_timeout: f64,

    /// Lifetime of a session token, in seconds (default: 7 days).
    #[arg(long, env = "WXLOGIN_SESSION_TTL", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub session_ttl: u64,

    /// Development mode: without an AppID and secret, a built-in WeChat
    /// simulator answers instead of WeChat (see the README for its codes).
    /// Never use it in production.
    #[arg(long, env = "WXLOGIN_DEV", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,

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
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err(format!(
            "`{s}` must be more than 0 and at most 3600 seconds"
        ))
    }
}

/// The database backend, chosen from the URL and never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    /// A file path (or `:memory:`).
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(ConfigError::Invalid("DATABASE_URL is empty".into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::Invalid(
                    "DATABASE_URL `sqlite://` has no file path; write sqlite://wxlogin.db".into(),
                ));
            }
            return Ok(Self::Sqlite(path.to_owned()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(ConfigError::Invalid(format!(
                "DATABASE_URL scheme `{scheme}://` is not supported; use postgres://, postgresql://, sqlite:// or a file path"
            )));
        }
        Ok(Self::Sqlite(
            url.strip_prefix("sqlite:").unwrap_or(url).to_owned(),
        ))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// A form that is safe to log: no user name or password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{path}"),
            Self::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{rest}")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

/// Database settings, validated.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

impl DbSettings {
    pub fn from_args(args: &DbArgs) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        Ok(Self {
            url: DatabaseUrl::parse(&args.database_url)?,
            pool_size: args.db_pool_size.unwrap_or((cores * 2).max(4)),
            connect_timeout: Duration::from_secs_f64(args.db_timeout),
        })
    }
}

/// How wxlogin reaches WeChat.
#[derive(Debug, Clone)]
pub enum WechatSettings {
    /// The real API (or a test double at `api_base`).
    Api {
        appid: String,
        secret: SecretString,
        api_base: String,
        timeout: Duration,
    },
    /// The built-in simulator of `--dev`.
    Simulator { appid: String },
}

impl WechatSettings {
    pub fn appid(&self) -> &str {
        match self {
            Self::Api { appid, .. } | Self::Simulator { appid } => appid,
        }
    }
}

/// The simulator's AppID: an AppID is `wx` and 16 hex digits.
pub const DEV_APPID: &str = "wx0000000000000dev";

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub db: DbSettings,
    pub wechat: WechatSettings,
    pub session_ttl: Duration,
    pub dev: bool,
    pub workers: usize,
    pub data_dir: PathBuf,
    /// Base URL of this server, without a trailing slash.
    pub public_url: Option<String>,
}

impl Settings {
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let db = DbSettings::from_args(&args.db)?;
        let appid = args.wechat_appid.filter(|s| !s.trim().is_empty());
        let secret = args.wechat_secret.filter(|s| !s.trim().is_empty());
        let wechat = match (appid, secret) {
            (Some(appid), Some(secret)) => {
                let api_base = args.wechat_api_base.trim_end_matches('/').to_owned();
                if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
                    return Err(ConfigError::Invalid(format!(
                        "--wechat-api-base / WECHAT_API_BASE must be an http(s) URL, not `{api_base}`"
                    )));
                }
                WechatSettings::Api {
                    appid,
                    secret: SecretString::from(secret),
                    api_base,
                    timeout: Duration::from_secs_f64(args.wechat_timeout),
                }
            }
            (appid, secret) if args.dev => {
                if appid.is_some() != secret.is_some() {
                    return Err(ConfigError::Invalid(
                        "--dev with only one of WECHAT_APPID and WECHAT_SECRET: give both to use WeChat, or neither to use the simulator".into(),
                    ));
                }
                WechatSettings::Simulator {
                    appid: DEV_APPID.to_owned(),
                }
            }
            (appid, secret) => {
                let mut missing = Vec::new();
                if appid.is_none() {
                    missing.push("--wechat-appid / WECHAT_APPID");
                }
                if secret.is_none() {
                    missing.push("--wechat-secret / WECHAT_SECRET");
                }
                return Err(ConfigError::Invalid(format!(
                    "missing {}. Set them to your mini-program's AppID and AppSecret, or pass --dev (WXLOGIN_DEV=1) to try wxlogin with the built-in WeChat simulator",
                    missing.join(" and ")
                )));
            }
        };
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
        Ok(Self {
            bind: args.bind,
            db,
            wechat,
            session_ttl: Duration::from_secs(args.session_ttl),
            dev: args.dev,
            workers,
            data_dir: args.data_dir,
            public_url,
        })
    }
}

/// An http(s) base URL with a host and nothing after the path; returned
/// without its trailing slash.
fn parse_public_url(s: &str) -> Result<String, ConfigError> {
    let s = s.trim();
    let bad = || {
        ConfigError::Invalid(format!(
            "--public-url / WXLOGIN_PUBLIC_URL must be an http(s) URL such as https://login.example.com, not `{s}`"
        ))
    };
    let url = reqwest::Url::parse(s).map_err(|_| bad())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !ok {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_choose_the_backend() {
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///abs/x.db").unwrap(),
            DatabaseUrl::Sqlite("/abs/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("x.db").unwrap(),
            DatabaseUrl::Sqlite("x.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn redacted_urls_drop_credentials() {
        let url = DatabaseUrl::parse("postgres://user:hunter2@db.example:5432/app").unwrap();
        assert_eq!(url.redacted(), "postgres://db.example:5432/app");
    }

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(
            parse_public_url("https://login.example.com/").unwrap(),
            "https://login.example.com"
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8080/wx/").unwrap(),
            "http://127.0.0.1:8080/wx"
        );
        for bad in [
            "login.example.com",
            "ftp://x",
            "https://x/?a=1",
            "https://u:p@x",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serve_refuses_without_credentials_outside_dev() {
        let cli = Cli::try_parse_from(["wxlogin", "serve", "--wechat-appid", "wx1"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        let err = Settings::from_args(args).unwrap_err().to_string();
        assert!(err.contains("WECHAT_SECRET"), "{err}");
        assert!(!err.contains("WECHAT_APPID"), "{err}");
    }
}
