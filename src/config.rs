//! Validated settings: what the command line (`cli::args`) becomes once
//! checked. Nothing here knows about clap or any subcommand. Secrets are
//! [`SecretString`]s, so that they never show up in `Debug` output.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

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

/// How often old audit entries and sessions are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Least length of `--secret-key`, in bytes.
pub const MIN_SECRET_KEY_BYTES: usize = 64;

/// An admin's session ends after 8 hours without a request.
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);

/// The admin site's cookie settings.
#[derive(Clone)]
pub struct AdminSettings {
    pub cookie_key: actix_web::cookie::Key,
    pub secure_cookies: bool,
    /// A signed-in session ends after this long without a request.
    pub idle_timeout: Duration,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub db: DbSettings,
    pub wechat: WechatSettings,
    pub session_ttl: Duration,
    pub dev: bool,
    pub workers: usize,
    pub admin: AdminSettings,
    pub trust_proxy: bool,
    /// Where `/metrics` is served; `None`: nowhere.
    pub metrics_bind: Option<SocketAddr>,
    /// How long audit entries are kept; `None`: forever.
    pub audit_retention: Option<Duration>,
    /// How long sessions are kept once expired or revoked; `None`: forever.
    pub session_retention: Option<Duration>,
    /// How often old rows are pruned.
    pub prune_every: Duration,
    /// How long a client may take to send a request body.
    pub client_body_timeout: Duration,
    /// Most open client connections before slow bodies are shed.
    pub max_connections: usize,
    pub data_dir: PathBuf,
    /// Base URL of this server, without a trailing slash.
    pub public_url: Option<String>,
}

/// An http(s) base URL with a host and nothing after the path; returned
/// without its trailing slash.
pub fn parse_public_url(s: &str) -> Result<String, ConfigError> {
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
}
