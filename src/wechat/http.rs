//! The real WeChat API over HTTPS.

use std::time::Duration;

use super::access_token::{FetchedToken, SharedAccessToken, TokenSource, TokenStore};
use super::{
    crypto, errcode, CheckResult, Code2Session, KeyCheck, PhoneNumber, Suggest, WechatApi,
    WechatError,
};
use crate::domain::profile::SessionKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thread_local::ThreadLocal;

/// WeChat's answers are small; anything larger is not an answer from WeChat.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct HttpWechat {
    /// One client, and so one connection pool, per thread. Each actix worker
    /// runs its own single-threaded runtime, and a pooled connection is
    /// driven by the runtime that opened it: with one shared pool, a worker
    /// that borrowed another worker's connection had to wake that worker's
    /// thread to make its call (measured in `bench/README.md`).
    clients: ThreadLocal<reqwest::Client>,
    timeout: Duration,
    appid: String,
    secret: SecretString,
    api_base: String,
    /// The app's access token, shared with the fleet through the store.
    access_token: SharedAccessToken,
}

/// Where the access tokens of a process's apps are kept.
#[derive(Clone)]
pub struct TokenSharing {
    /// The fleet's store; `None` keeps each token in this process only.
    pub store: Option<std::sync::Arc<dyn TokenStore>>,
    /// Names this process in the store's leases.
    pub holder: String,
}

impl HttpWechat {
    pub fn new(
        appid: String,
        secret: SecretString,
        api_base: String,
        timeout: Duration,
        sharing: TokenSharing,
    ) -> Result<Self, WechatError> {
        let this = Self {
            clients: ThreadLocal::new(),
            timeout,
            access_token: SharedAccessToken::new(
                appid.clone(),
                sharing.store,
                sharing.holder,
                timeout,
            ),
            appid,
            secret,
            api_base,
        };
        // Fails here, at start-up, if a client cannot be built at all.
        this.client()?;
        Ok(this)
    }

    /// This thread's client.
    fn client(&self) -> Result<&reqwest::Client, WechatError> {
        self.clients.get_or_try(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .user_agent(concat!("wxlogin/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| WechatError::Transport(e.without_url()))
        })
    }

    /// Makes a call that needs the app's access token (see
    /// [`SharedAccessToken::call`]).
    async fn with_access_token<T, F, Fut>(&self, call: F) -> Result<T, WechatError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, WechatError>>,
    {
        self.access_token.call(self, call).await
    }

    /// POSTs `body` to the API at `path` with the access token, and reads
    /// the JSON answer (see [`Self::with_access_token`]).
    async fn post_with_token<T: serde::de::DeserializeOwned>(
        &self,
        api: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, WechatError> {
        self.with_access_token(|token| async move {
            let request = self
                .client()?
                .post(format!("{}{path}", self.api_base))
                .query(&[("access_token", token.expose_secret())])
                .json(body);
            self.get_json(api, request).await
        })
        .await
    }

    async fn get_phone_number(
        &self,
        token: &SecretString,
        code: &str,
        openid: &str,
    ) -> Result<PhoneNumber, WechatError> {
        let request = self
            .client()?
            .post(format!("{}/wxa/business/getuserphonenumber", self.api_base))
            .query(&[("access_token", token.expose_secret())])
            .json(&serde_json::json!({"code": code, "openid": openid}));
        let answer: PhoneAnswer = self.get_json("getuserphonenumber", request).await?;
        let info = answer
            .phone_info
            .ok_or(WechatError::BadAnswer("no phone_info"))?;
        let country_code = match info.country_code {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let country_code = country_code.trim().trim_start_matches('+').to_owned();
        let number = info.pure_phone_number.unwrap_or_default();
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(&number, 32) {
            return Err(WechatError::BadAnswer("no valid purePhoneNumber"));
        }
        if !digits(&country_code, 8) {
            return Err(WechatError::BadAnswer("no valid countryCode"));
        }
        Ok(PhoneNumber {
            pure_phone_number: number,
            country_code,
        })
    }

    /// Sends a request to WeChat's `api` and reads its JSON answer, and
    /// counts the call by app, API and outcome, with its duration.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        api: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WechatError> {
        let started = std::time::Instant::now();
        let answer = self.answer(request).await;
        if crate::telemetry::prometheus::is_installed() {
            let outcome = match &answer {
                Ok(_) => "ok".into(),
                Err(e) => e.outcome(),
            };
            metrics::counter!(
                "wxlogin_wechat_requests_total",
                "app" => self.appid.clone(),
                "api" => api,
                "outcome" => outcome,
            )
            .increment(1);
            metrics::histogram!(
                "wxlogin_wechat_request_duration_seconds",
                "app" => self.appid.clone(),
                "api" => api,
            )
            .record(started.elapsed().as_secs_f64());
        }
        answer
    }

    /// Sends a request and reads a JSON answer, mapping every failure to a
    /// [`WechatError`]. reqwest's errors name the URL, whose query holds the
    /// secret, so the URL is always stripped from them.
    async fn answer<T: serde::de::DeserializeOwned>(
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
        let not_json = |_| WechatError::BadAnswer("the answer is not JSON");
        // Any answer may be an error, even with HTTP 200: checked here, once.
        let status: AnswerStatus = serde_json::from_slice(&body).map_err(not_json)?;
        if status.errcode != 0 {
            return Err(WechatError::Api {
                errcode: status.errcode,
                errmsg: status.errmsg,
            });
        }
        serde_json::from_slice(&body).map_err(not_json)
    }
}

/// The `errcode` and `errmsg` that any WeChat answer may carry; 0 or absent
/// means success.
#[derive(Deserialize)]
struct AnswerStatus {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Both shapes of a `jscode2session` answer: success (sometimes with
/// `"errcode": 0`) and `{"errcode": N, "errmsg": "..."}`.
#[derive(Deserialize)]
struct Code2SessionAnswer {
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct StableTokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TextCheckAnswer {
    result: Option<TextCheckResult>,
}

#[derive(Deserialize)]
struct TextCheckResult {
    suggest: String,
    label: Option<i64>,
}

#[derive(Deserialize)]
struct MediaCheckAnswer {
    trace_id: Option<String>,
}

#[derive(Deserialize)]
struct RiskAnswer {
    risk_rank: Option<i64>,
}

#[derive(Deserialize)]
struct PhoneAnswer {
    phone_info: Option<PhoneInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    pure_phone_number: Option<String>,
    /// Documented as a string, seen as a number.
    country_code: Option<serde_json::Value>,
}

#[async_trait::async_trait]
impl TokenSource for HttpWechat {
    async fn fetch(&self, force_refresh: bool) -> Result<FetchedToken, WechatError> {
        let request = self
            .client()?
            .post(format!("{}/cgi-bin/stable_token", self.api_base))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret.expose_secret(),
                "force_refresh": force_refresh,
            }));
        let answer: StableTokenAnswer = self.get_json("stable_token", request).await?;
        let token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(WechatError::BadAnswer("no access_token"))?;
        Ok(FetchedToken {
            token: SecretString::from(token),
            expires_in: Duration::from_secs(answer.expires_in.unwrap_or(0)),
        })
    }
}

#[async_trait::async_trait]
impl WechatApi for HttpWechat {
    async fn phone_number(&self, code: &str, openid: &str) -> Result<PhoneNumber, WechatError> {
        self.with_access_token(
            |token| async move { self.get_phone_number(&token, code, openid).await },
        )
        .await
    }

    async fn check_session_key(
        &self,
        openid: &str,
        session_key: &SessionKey,
    ) -> Result<KeyCheck, WechatError> {
        let signature = crypto::session_key_signature(session_key);
        let signature = signature.as_str();
        let answer = self
            .with_access_token(|token| async move {
                let request = self
                    .client()?
                    .get(format!("{}/wxa/checksession", self.api_base))
                    .query(&[
                        ("access_token", token.expose_secret()),
                        ("openid", openid),
                        ("signature", signature),
                        ("sig_method", "hmac_sha256"),
                    ]);
                self.get_json::<serde_json::Value>("checksession", request)
                    .await
            })
            .await;
        match answer {
            Ok(_) => Ok(KeyCheck::Current),
            Err(WechatError::Api {
                errcode: errcode::INVALID_SIGNATURE,
                ..
            }) => Ok(KeyCheck::Replaced),
            Err(e) => Err(e),
        }
    }

    async fn check_text(&self, openid: &str, content: &str) -> Result<CheckResult, WechatError> {
        let body = serde_json::json!({
            "content": content,
            "version": 2,
            "scene": 1,
            "openid": openid,
        });
        let answer: TextCheckAnswer = self
            .post_with_token("msg_sec_check", "/wxa/msg_sec_check", &body)
            .await?;
        let result = answer.result.ok_or(WechatError::BadAnswer("no result"))?;
        let suggest = result
            .suggest
            .parse::<Suggest>()
            .map_err(|_| WechatError::BadAnswer("an unknown suggest"))?;
        Ok(CheckResult {
            suggest,
            label: result.label.unwrap_or(0),
        })
    }

    async fn submit_image(&self, openid: &str, media_url: &str) -> Result<String, WechatError> {
        let body = serde_json::json!({
            "media_url": media_url,
            "media_type": 2,
            "version": 2,
            "scene": 1,
            "openid": openid,
        });
        let answer: MediaCheckAnswer = self
            .post_with_token("media_check_async", "/wxa/media_check_async", &body)
            .await?;
        answer
            .trace_id
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(WechatError::BadAnswer("no trace_id"))
    }

    async fn user_risk_rank(&self, openid: &str, client_ip: &str) -> Result<u8, WechatError> {
        let body = serde_json::json!({
            "appid": self.appid,
            "openid": openid,
            "scene": 0,
            "client_ip": client_ip,
        });
        let answer: RiskAnswer = self
            .post_with_token("getuserriskrank", "/wxa/getuserriskrank", &body)
            .await?;
        answer
            .risk_rank
            .and_then(|rank| u8::try_from(rank).ok())
            .filter(|rank| *rank <= crate::config::MAX_RISK_RANK)
            .ok_or(WechatError::BadAnswer("no risk_rank from 0 to 4"))
    }

    async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError> {
        let request = self
            .client()?
            .get(format!("{}/sns/jscode2session", self.api_base))
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ]);
        let answer: Code2SessionAnswer = self.get_json("jscode2session", request).await?;
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
