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

/// One mini-program that wxlogin serves.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub appid: String,
    /// Shown to operators; the appid when not given.
    pub name: Option<String>,
    /// Where its answers come from: WeChat with this secret, or the simulator.
    pub secret: AppSecret,
    /// A login that names no app is for this one.
    pub default: bool,
    /// What to do with WeChat's risk rank of new users.
    pub risk: RiskPolicy,
    /// Put nicknames and avatars to WeChat's content security APIs before
    /// others see them: on by default, off for the simulator's apps.
    pub content_check: bool,
    /// The app's message-push settings, for the image check's results.
    pub push: Option<PushSettings>,
}

/// The message push (消息推送) of an app, as set in WeChat's console: the
/// Token that signs each push, and the EncodingAESKey of the compatible and
/// safe modes (43 characters).
#[derive(Clone)]
pub struct PushSettings {
    pub token: SecretString,
    pub aes_key: Option<SecretString>,
}

impl std::fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSettings")
            .field("aes_key", &self.aes_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// WeChat's risk rank (`getuserriskrank`, 0 lowest to 4 highest) at an
/// identity's first login: off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskPolicy {
    /// Ask WeChat for the rank of each new identity, and keep it.
    pub check: bool,
    /// Refuse sign-ups ranked at or above this (1 to 4); `None` refuses none.
    pub refuse_at: Option<u8>,
}

/// The highest risk rank WeChat gives.
pub const MAX_RISK_RANK: u8 = 4;

impl RiskPolicy {
    /// Checks a policy from the settings; the error says what is wrong.
    pub fn new(check: bool, refuse_at: Option<u8>) -> Result<Self, String> {
        match refuse_at {
            Some(rank) if !(1..=MAX_RISK_RANK).contains(&rank) => Err(format!(
                "the risk rank to refuse at must be 1 to {MAX_RISK_RANK}, not {rank} (WeChat's ranks run from 0, lowest risk, to {MAX_RISK_RANK})"
            )),
            Some(_) if !check => Err(
                "a risk rank to refuse at needs the risk check on (risk_check = true, or --risk-check)".into(),
            ),
            _ => Ok(Self { check, refuse_at }),
        }
    }
}

/// How an app reaches WeChat.
#[derive(Debug, Clone)]
pub enum AppSecret {
    /// The real API (or a test double at `api_base`), with this AppSecret.
    Wechat(SecretString),
    /// The built-in simulator of `--dev`.
    Simulated,
}

impl AppSettings {
    /// A real app with this secret.
    pub fn wechat(appid: &str, secret: SecretString) -> Self {
        Self {
            appid: appid.to_owned(),
            name: None,
            secret: AppSecret::Wechat(secret),
            default: false,
            risk: RiskPolicy::default(),
            content_check: true,
            push: None,
        }
    }

    /// The name shown to operators.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.appid)
    }
}

/// Checks an app's message-push settings: a Token of 3 to 32 letters and
/// digits (as WeChat's console asks), and an EncodingAESKey of 43 letters
/// and digits. The error never shows either.
pub fn push_settings(
    token: Option<&str>,
    aes_key: Option<&str>,
) -> Result<Option<PushSettings>, String> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let aes_key = aes_key.map(str::trim).filter(|k| !k.is_empty());
    let Some(token) = token else {
        return match aes_key {
            Some(_) => Err("a push EncodingAESKey needs its push Token too".into()),
            None => Ok(None),
        };
    };
    if !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(
            "the push Token must be 3 to 32 letters and digits, as set in WeChat's console".into(),
        );
    }
    if let Some(key) = aes_key {
        if key.len() != 43 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(
                "the push EncodingAESKey must be 43 letters and digits, as set in WeChat's console"
                    .into(),
            );
        }
    }
    Ok(Some(PushSettings {
        token: SecretString::from(token.to_owned()),
        aes_key: aes_key.map(|k| SecretString::from(k.to_owned())),
    }))
}

/// Parses a `content_check` setting: `on` or `off`.
pub fn parse_content_check(value: &str) -> Result<bool, String> {
    match value.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!(
            "content_check must be \"on\" or \"off\", not \"{other}\""
        )),
    }
}

/// Every app, and how wxlogin reaches WeChat.
#[derive(Debug, Clone)]
pub struct WechatSettings {
    /// At least one; appids are unique, and at most one is the default.
    pub apps: Vec<AppSettings>,
    /// Base URL of the WeChat server API.
    pub api_base: String,
    /// How long to wait for WeChat.
    pub timeout: Duration,
    /// The simulator refuses a code it exchanged before, as WeChat does
    /// (`--dev-strict-codes`).
    pub dev_strict_codes: bool,
}

impl WechatSettings {
    /// The built-in simulator's two apps, the first the default.
    pub fn simulated() -> Self {
        let app = |appid: &str, name: &str, default| AppSettings {
            appid: appid.to_owned(),
            name: Some(name.to_owned()),
            secret: AppSecret::Simulated,
            default,
            risk: RiskPolicy::default(),
            content_check: false,
            push: None,
        };
        Self {
            apps: vec![
                app(DEV_APPID, "dev app", true),
                app(DEV_APPID_2, "second dev app", false),
            ],
            api_base: String::new(),
            timeout: Duration::from_secs(5),
            dev_strict_codes: false,
        }
    }

    /// Checks the rules of [`WechatSettings::apps`]; the message names the
    /// app at fault.
    pub fn check(&self) -> Result<(), String> {
        if self.apps.is_empty() {
            return Err("no app is configured".into());
        }
        let mut seen = std::collections::HashSet::new();
        for app in &self.apps {
            check_appid(&app.appid)?;
            if !seen.insert(app.appid.as_str()) {
                return Err(format!("app {} is listed twice", app.appid));
            }
        }
        let defaults: Vec<&str> = self
            .apps
            .iter()
            .filter(|a| a.default)
            .map(|a| a.appid.as_str())
            .collect();
        if defaults.len() > 1 {
            return Err(format!(
                "only one app can be the default, but {} are",
                defaults.join(" and ")
            ));
        }
        Ok(())
    }

    /// The appid of the app that a login naming none is for: the only app,
    /// or the one marked default.
    pub fn default_appid(&self) -> Option<&str> {
        match self.apps.as_slice() {
            [only] => Some(&only.appid),
            apps => apps.iter().find(|a| a.default).map(|a| a.appid.as_str()),
        }
    }
}

/// An AppID is `wx` and 16 letters or digits (WeChat's are hex).
pub fn check_appid(appid: &str) -> Result<(), String> {
    let ok = appid.len() == 18
        && appid.starts_with("wx")
        && appid[2..].bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        let shown: String = appid.chars().take(40).collect();
        Err(format!(
            "`{shown}` is not an AppID: an AppID is `wx` and 16 letters or digits, as the WeChat admin console shows it"
        ))
    }
}

/// The simulator's AppIDs.
pub const DEV_APPID: &str = "wx0000000000000dev";
pub const DEV_APPID_2: &str = "wx000000000000dev2";

/// How often old audit entries and sessions are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Least length of `--secret-key`, in bytes.
pub const MIN_SECRET_KEY_BYTES: usize = 64;

/// An admin's session ends after 8 hours without a request.
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);
/// An admin's session ends 24 hours after sign-in, however busy.
pub const ADMIN_SESSION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The admin site's cookie settings and rules.
#[derive(Clone)]
pub struct AdminSettings {
    pub cookie_key: actix_web::cookie::Key,
    pub secure_cookies: bool,
    pub policy: AdminPolicy,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("secure_cookies", &self.secure_cookies)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The admin site's rules, which the service layer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPolicy {
    /// A signed-in session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A signed-in session ends this long after sign-in.
    pub session_lifetime: Duration,
    /// Whether exports carry whole phone numbers (operators and owners).
    pub export_phone: bool,
    /// Whether every admin must sign in with a second factor.
    pub require_second_factor: bool,
    /// The zone the admin site shows times in and reads dates in; storage
    /// stays UTC.
    pub timezone: chrono_tz::Tz,
}

impl Default for AdminPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: ADMIN_IDLE_TIMEOUT,
            session_lifetime: ADMIN_SESSION_LIFETIME,
            export_phone: false,
            require_second_factor: false,
            timezone: crate::domain::display_time::DEFAULT_ZONE,
        }
    }
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub db: DbSettings,
    pub wechat: WechatSettings,
    pub session_ttl: Duration,
    /// How long a retried login with a used code gets the same token back;
    /// zero: never (every login asks WeChat).
    pub code_retry_window: Duration,
    /// How long an image check waits for WeChat's push before it is
    /// submitted again (three tries), then sent to review.
    pub image_check_wait: Duration,
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
    /// How a node stops at SIGTERM or SIGINT.
    pub drain: DrainSettings,
    pub data_dir: PathBuf,
    /// Base URL of this server, without a trailing slash.
    pub public_url: Option<String>,
    /// Where account events are sent; `None`: no events are recorded.
    pub webhook: Option<WebhookSettings>,
    /// Encrypt session keys, phone numbers and access tokens at rest.
    pub data_keys: crate::domain::data_keys::DataKeys,
}

/// How a node stops: `/readyz` fails at once; the listener closes after
/// `grace`, so that a load balancer has stopped sending new requests by
/// then; requests in flight get `shutdown_timeout` to finish.
#[derive(Debug, Clone, Copy)]
pub struct DrainSettings {
    pub grace: Duration,
    pub shutdown_timeout: Duration,
}

/// The webhook: where events go, how they are signed, and how deliveries
/// are retried.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: reqwest::Url,
    /// The HMAC-SHA256 key of `X-Wxlogin-Signature`.
    pub secret: SecretString,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
    /// The wait before the first retry; each further one doubles it, up to
    /// `max_backoff`.
    pub first_retry: Duration,
    pub max_backoff: Duration,
    /// Tries of one event before it is given up as failed.
    pub max_attempts: i32,
}

/// Shortest webhook secret accepted.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

impl WebhookSettings {
    /// The webhook of `--webhook-url` and `--webhook-secret`, with the
    /// default timeout and retries: 10 s per try, retries from 10 s doubling
    /// to an hour, 20 tries (about 13 hours) in all.
    pub fn new(url: &str, secret: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::Invalid(
                "--webhook-url / WXLOGIN_WEBHOOK_URL must be an http(s) URL such as https://api.example.com/hooks/wxlogin".into(),
            )
        };
        let url = reqwest::Url::parse(url.trim()).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad());
        }
        if secret.len() < MIN_WEBHOOK_SECRET_BYTES {
            return Err(ConfigError::Invalid(format!(
                "--webhook-secret / WXLOGIN_WEBHOOK_SECRET is {} bytes long; it must be at least {MIN_WEBHOOK_SECRET_BYTES} (try `openssl rand -hex 32`)",
                secret.len()
            )));
        }
        Ok(Self {
            url,
            secret: SecretString::from(secret.to_owned()),
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 20,
        })
    }

    /// The wait before try number `attempts + 1`, after `attempts` failed.
    pub fn backoff(&self, attempts: i32) -> Duration {
        // Past 2^20 the product only saturates: the cap has long been reached.
        let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
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
    fn webhook_retries_double_up_to_the_cap() {
        let w = WebhookSettings::new("https://example.com/hook", "0123456789abcdef").unwrap();
        let waits: Vec<u64> = [1, 2, 3, 4, 9, 10, 19, 1000, i32::MAX]
            .map(|n| w.backoff(n).as_secs())
            .to_vec();
        assert_eq!(waits, [10, 20, 40, 80, 2560, 3600, 3600, 3600, 3600]);
        assert!(WebhookSettings::new("ftp://example.com", "0123456789abcdef").is_err());
        assert!(WebhookSettings::new("https://example.com", "short").is_err());
    }

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
    fn apps_are_checked() {
        let app = |appid: &str, default| AppSettings {
            default,
            ..AppSettings::wechat(appid, SecretString::from("s"))
        };
        let settings = |apps| WechatSettings {
            apps,
            api_base: "https://api.weixin.qq.com".into(),
            timeout: Duration::from_secs(5),
            dev_strict_codes: false,
        };
        let one = settings(vec![app("wx1111111111111111", false)]);
        assert!(one.check().is_ok());
        assert_eq!(one.default_appid(), Some("wx1111111111111111"));
        let two = settings(vec![
            app("wx1111111111111111", false),
            app("wx2222222222222222", false),
        ]);
        assert!(two.check().is_ok());
        assert_eq!(two.default_appid(), None, "two apps and no default");
        let with_default = settings(vec![
            app("wx1111111111111111", false),
            app("wx2222222222222222", true),
        ]);
        assert_eq!(with_default.default_appid(), Some("wx2222222222222222"));
        for (bad, why) in [
            (vec![], "no app"),
            (vec![app("wx1", false)], "not an AppID"),
            (
                vec![
                    app("wx1111111111111111", false),
                    app("wx1111111111111111", false),
                ],
                "listed twice",
            ),
            (
                vec![
                    app("wx1111111111111111", true),
                    app("wx2222222222222222", true),
                ],
                "only one app can be the default",
            ),
        ] {
            let err = settings(bad).check().unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        assert!(WechatSettings::simulated().check().is_ok());
        assert_eq!(WechatSettings::simulated().default_appid(), Some(DEV_APPID));
        for bad in [
            "",
            "wx",
            "wx111111111111111",
            "wx11111111111111111",
            "ab1111111111111111",
            "wx11111111-1111111",
        ] {
            assert!(check_appid(bad).is_err(), "{bad}");
        }
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
