//! The apps wxlogin serves, each with its own WeChat client: code2session,
//! the watermark of user data, phone numbers and the access token are all
//! per app.

use std::sync::Arc;

use secrecy::ExposeSecret;

use super::{push, HttpWechat, Simulator, TokenSharing, WechatApi, WechatError};
use crate::config::{AppSecret, RiskPolicy, WechatSettings};

/// One mini-program and its client.
pub struct WechatApp {
    pub appid: String,
    /// Shown to operators.
    pub name: String,
    /// Answered by the built-in simulator rather than WeChat.
    pub simulated: bool,
    /// What to do with WeChat's risk rank of new users.
    pub risk: RiskPolicy,
    /// Nicknames and avatars go through WeChat's content checks.
    pub content_check: bool,
    /// The keys of its message push, which brings image verdicts; the
    /// simulator's apps have the dev keys.
    pub push: Option<push::PushKeys>,
    pub api: Arc<dyn WechatApi>,
}

/// Every app, in the order of the settings.
pub struct WechatApps {
    apps: Vec<WechatApp>,
    /// The app of logins that name none.
    default: Option<usize>,
}

/// Why a login's app could not be chosen. The messages list the configured
/// appids, which are public, and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum UnknownApp {
    #[error("`appid` is required: this server serves {0}; send the appid of your mini-program (wx.getAccountInfoSync().miniProgram.appId)")]
    Missing(String),
    #[error("this server does not serve the app `{given}`; it serves {served}")]
    Unknown { given: String, served: String },
    #[error("the app {0} of this session is no longer configured on this server")]
    Gone(String),
}

impl WechatApps {
    /// Builds one client per app; their access tokens are kept as
    /// `sharing` says.
    /// The simulator's apps push their image verdicts to `public_url`.
    pub fn from_settings(
        settings: &WechatSettings,
        sharing: TokenSharing,
        public_url: Option<&str>,
    ) -> Result<Self, WechatError> {
        let mut apps = Vec::with_capacity(settings.apps.len());
        for app in &settings.apps {
            let push = match (&app.secret, &app.push) {
                (AppSecret::Simulated, _) => Some((
                    super::simulator::DEV_PUSH_TOKEN.to_owned(),
                    Some(super::simulator::DEV_PUSH_AES_KEY.to_owned()),
                )),
                (_, Some(p)) => Some((
                    p.token.expose_secret().to_owned(),
                    p.aes_key.as_ref().map(|k| k.expose_secret().to_owned()),
                )),
                (_, None) => None,
            };
            let push = push
                .map(|(token, key)| push::PushKeys::new(&token, key.as_deref()))
                .transpose()
                .map_err(|_| {
                    WechatError::BadAnswer("the push Token or EncodingAESKey is not valid")
                })?;
            let (api, simulated): (Arc<dyn WechatApi>, bool) = match &app.secret {
                AppSecret::Wechat(secret) => (
                    Arc::new(HttpWechat::new(
                        app.appid.clone(),
                        secret.clone(),
                        settings.api_base.clone(),
                        settings.timeout,
                        sharing.clone(),
                    )?),
                    false,
                ),
                AppSecret::Simulated => (
                    Arc::new(
                        Simulator::pushing_to(&app.appid, public_url)
                            .with_strict_codes(settings.dev_strict_codes)
                            .with_token_sharing(sharing.clone(), settings.timeout),
                    ),
                    true,
                ),
            };
            apps.push(WechatApp {
                appid: app.appid.clone(),
                name: app.display_name().to_owned(),
                simulated,
                risk: app.risk,
                content_check: app.content_check,
                push,
                api,
            });
        }
        let default = settings
            .default_appid()
            .and_then(|appid| apps.iter().position(|a| a.appid == appid));
        Ok(Self { apps, default })
    }

    /// The app a login is for: the one it names, else the default.
    pub fn choose(&self, appid: Option<&str>) -> Result<&WechatApp, UnknownApp> {
        match appid.map(str::trim).filter(|a| !a.is_empty()) {
            Some(appid) => self.get(appid).ok_or_else(|| UnknownApp::Unknown {
                given: appid.chars().take(40).collect(),
                served: self.served(),
            }),
            None => self
                .default
                .map(|i| &self.apps[i])
                .ok_or_else(|| UnknownApp::Missing(self.served())),
        }
    }

    /// The app of a stored identity.
    pub fn of_identity(&self, appid: &str) -> Result<&WechatApp, UnknownApp> {
        self.get(appid)
            .ok_or_else(|| UnknownApp::Gone(appid.to_owned()))
    }

    pub fn get(&self, appid: &str) -> Option<&WechatApp> {
        self.apps.iter().find(|a| a.appid == appid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &WechatApp> {
        self.apps.iter()
    }

    /// The default app's appid, if there is one.
    pub fn default_appid(&self) -> Option<&str> {
        self.default.map(|i| self.apps[i].appid.as_str())
    }

    fn served(&self) -> String {
        let appids: Vec<&str> = self.apps.iter().map(|a| a.appid.as_str()).collect();
        appids.join(", ")
    }
}
