//! The real WeChat API over HTTPS.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Code2Session, WechatApi, WechatError};
use crate::db::users::SessionKey;

/// WeChat's answers are small; anything larger is not an answer from WeChat.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct HttpWechat {
    client: reqwest::Client,
    appid: String,
    secret: SecretString,
    api_base: String,
}

impl HttpWechat {
    pub fn new(
        appid: String,
        secret: SecretString,
        api_base: String,
        timeout: Duration,
    ) -> Result<Self, WechatError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("wxlogin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WechatError::Transport(e.without_url()))?;
        Ok(Self {
            client,
            appid,
            secret,
            api_base,
        })
    }

    /// Sends a request and reads a JSON answer, mapping every failure to a
    /// [`WechatError`]. reqwest's errors name the URL, whose query holds the
    /// secret, so the URL is always stripped from them.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WechatError> {
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                WechatError::Timeout
            } else {
                WechatError::Transport(e.without_url())
            }
        };
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(WechatError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(WechatError::BadAnswer("the answer is too large"));
        }
        let body = response.bytes().await.map_err(classify)?;
        if body.len() > MAX_ANSWER_BYTES {
            return Err(WechatError::BadAnswer("the answer is too large"));
        }
        serde_json::from_slice(&body).map_err(|_| WechatError::BadAnswer("the answer is not JSON"))
    }
}

/// Both shapes of a `jscode2session` answer: success (sometimes with
/// `"errcode": 0`) and `{"errcode": N, "errmsg": "..."}`.
#[derive(Deserialize)]
struct Code2SessionAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
}

#[async_trait::async_trait]
impl WechatApi for HttpWechat {
    async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError> {
        let request = self
            .client
            .get(format!("{}/sns/jscode2session", self.api_base))
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ]);
        let answer: Code2SessionAnswer = self.get_json(request).await?;
        if answer.errcode != 0 {
            return Err(WechatError::Api {
                errcode: answer.errcode,
                errmsg: answer.errmsg,
            });
        }
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let openid = non_empty(answer.openid).ok_or(WechatError::BadAnswer("no openid"))?;
        let session_key =
            non_empty(answer.session_key).ok_or(WechatError::BadAnswer("no session_key"))?;
        Ok(Code2Session {
            openid,
            session_key: SessionKey::new(session_key),
            unionid: non_empty(answer.unionid),
        })
    }
}
