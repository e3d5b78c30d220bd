//! The command line's WeChat settings: the apps (one by --wechat-appid, or
//! several by --apps), where WeChat is, and the per-app policies of the
//! single-app form (risk, content checks, message push).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::values::parse_seconds;
use crate::config::{AppSettings, ConfigError, RiskPolicy, WechatSettings};

#[derive(Debug, Clone, Args)]
pub struct WechatArgs {
    /// A TOML file that lists the mini-programs, one `[[apps]]` entry each
    /// (appid, name, one of secret_env / secret_file / secret, default).
    /// Instead of --wechat-appid and --wechat-secret; see the README.
    #[arg(long, env = "WXLOGIN_APPS")]
    pub apps: Option<PathBuf>,

    /// The mini-program's AppID (from the WeChat admin console), for a single
    /// app without --apps. Required unless --apps or --dev.
    #[arg(long, env = "WECHAT_APPID")]
    pub wechat_appid: Option<String>,

    /// The mini-program's AppSecret, with --wechat-appid. Never printed or logged.
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

    /// Ask WeChat for the risk rank (0 lowest to 4 highest) of every new
    /// user, at their first login, and keep it (the admin table shows it).
    /// For the app of --wechat-appid, or the simulator's apps; with --apps,
    /// set `risk_check` per app in the file instead.
    #[arg(long, env = "WXLOGIN_RISK_CHECK", value_parser = clap::builder::BoolishValueParser::new())]
    pub risk_check: bool,

    /// With --risk-check: refuse sign-ups that WeChat ranks at or above this
    /// (1 to 4) with 403 risky_user. Off by default. With --apps, set
    /// `risk_refuse_at` per app instead.
    #[arg(long, env = "WXLOGIN_RISK_REFUSE_AT", value_parser = clap::value_parser!(u8))]
    pub risk_refuse_at: Option<u8>,

    /// Put nicknames and avatars to WeChat's content security checks before
    /// others see them: `on` or `off`. On by default for the app of
    /// --wechat-appid, off for the simulator's; with --apps, set
    /// `content_check` per app. See the README's "Content security".
    #[arg(long, env = "WXLOGIN_CONTENT_CHECK", value_parser = ["on", "off"])]
    pub content_check: Option<String>,

    /// The Token of the app's message push (WeChat console, 消息推送), with
    /// --wechat-appid: it signs the pushes that bring image check results to
    /// POST /wechat/push/APPID. Never printed or logged.
    #[arg(long, env = "WECHAT_PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,

    /// The message push's EncodingAESKey (43 characters), for its compatible
    /// and safe modes. Never printed or logged.
    #[arg(long, env = "WECHAT_PUSH_AES_KEY", hide_env_values = true)]
    pub push_aes_key: Option<String>,

    /// With --dev: the simulator refuses a login code it exchanged before
    /// with WeChat's 40163, as WeChat does, so that retried codes can be
    /// tried (see the README's "Retried codes").
    #[arg(long, env = "WXLOGIN_DEV_STRICT_CODES", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev_strict_codes: bool,
}

/// The apps, from --apps, from --wechat-appid and --wechat-secret, or the
/// simulator's under --dev.
pub fn wechat_settings(args: &WechatArgs, dev: bool) -> Result<WechatSettings, ConfigError> {
    let appid = args.wechat_appid.clone().filter(|s| !s.trim().is_empty());
    let secret = args.wechat_secret.clone().filter(|s| !s.trim().is_empty());
    let api_base = args.wechat_api_base.trim_end_matches('/').to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(ConfigError::Invalid(format!(
            "--wechat-api-base / WECHAT_API_BASE must be an http(s) URL, not `{api_base}`"
        )));
    }
    let timeout = Duration::from_secs_f64(args.wechat_timeout);
    let risk_flags = args.risk_check || args.risk_refuse_at.is_some();
    if risk_flags && args.apps.is_some() {
        return Err(ConfigError::Invalid(
            "--risk-check / --risk-refuse-at (WXLOGIN_RISK_CHECK / WXLOGIN_RISK_REFUSE_AT) apply to a single app: with --apps, set risk_check and risk_refuse_at per app in the apps file".into(),
        ));
    }
    let risk = RiskPolicy::new(args.risk_check, args.risk_refuse_at).map_err(|e| {
        ConfigError::Invalid(format!("--risk-refuse-at / WXLOGIN_RISK_REFUSE_AT: {e}"))
    })?;
    let per_app_flags =
        args.content_check.is_some() || args.push_token.is_some() || args.push_aes_key.is_some();
    if per_app_flags && args.apps.is_some() {
        return Err(ConfigError::Invalid(
            "--content-check / --push-token / --push-aes-key (WXLOGIN_CONTENT_CHECK / WECHAT_PUSH_TOKEN / WECHAT_PUSH_AES_KEY) apply to a single app: with --apps, set content_check, push_token and push_aes_key per app in the apps file".into(),
        ));
    }
    let push =
        crate::config::push_settings(args.push_token.as_deref(), args.push_aes_key.as_deref())
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "--push-token / --push-aes-key (WECHAT_PUSH_TOKEN / WECHAT_PUSH_AES_KEY): {e}"
                ))
            })?;
    let content_check = args.content_check.as_deref().map(|v| v == "on");
    let apps = match (&args.apps, appid, secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ConfigError::Invalid(
                "both --apps / WXLOGIN_APPS and --wechat-appid / --wechat-secret (WECHAT_APPID / WECHAT_SECRET) are set: list every app in the apps file, or give one app by its AppID and secret, not both".into(),
            ))
        }
        (Some(path), None, None) => {
            super::apps_file::read(path, |var| std::env::var(var).ok())
                .map_err(ConfigError::Invalid)?
        }
        (None, Some(appid), Some(secret)) => vec![AppSettings {
            risk,
            content_check: content_check.unwrap_or(true),
            push,
            ..AppSettings::wechat(&appid, SecretString::from(secret))
        }],
        (None, appid, secret) if dev => {
            if appid.is_some() != secret.is_some() {
                return Err(ConfigError::Invalid(
                    "--dev with only one of WECHAT_APPID and WECHAT_SECRET: give both to use WeChat, or neither to use the simulator".into(),
                ));
            }
            let mut simulated = WechatSettings::simulated();
            simulated.dev_strict_codes = args.dev_strict_codes;
            for app in &mut simulated.apps {
                app.risk = risk;
                app.content_check = content_check.unwrap_or(false);
            }
            return Ok(simulated);
        }
        (None, appid, secret) => {
            let mut missing = Vec::new();
            if appid.is_none() {
                missing.push("--wechat-appid / WECHAT_APPID");
            }
            if secret.is_none() {
                missing.push("--wechat-secret / WECHAT_SECRET");
            }
            return Err(ConfigError::Invalid(format!(
                "missing {}. Set them to your mini-program's AppID and AppSecret, list your apps in a file given by --apps (WXLOGIN_APPS), or pass --dev (WXLOGIN_DEV=1) to try wxlogin with the built-in WeChat simulator",
                missing.join(" and ")
            )));
        }
    };
    if args.dev_strict_codes {
        return Err(ConfigError::Invalid(
            "--dev-strict-codes (WXLOGIN_DEV_STRICT_CODES) is for the simulator of --dev; real apps get WeChat's own answers".into(),
        ));
    }
    let settings = WechatSettings {
        apps,
        api_base,
        timeout,
        dev_strict_codes: false,
    };
    settings.check().map_err(|e| {
        let source = args.apps.as_ref().map_or_else(
            || "--wechat-appid / WECHAT_APPID".to_owned(),
            |p| p.display().to_string(),
        );
        ConfigError::Invalid(format!("{source}: {e}"))
    })?;
    Ok(settings)
}
