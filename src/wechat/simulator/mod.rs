//! The WeChat simulator of `--dev`: lets a newcomer try the whole login flow
//! with no WeChat account.
//!
//! Codes are `NAME-N[-ANYTHING]`. `NAME-N` names the fake user, so `demo-1`,
//! `demo-1-again` and `demo-1-x7` all log in the same user; `demo-2` is
//! another. A code with fewer hyphens names a user by itself. The same name
//! always gives the same openid and unionid, on any machine. Like WeChat,
//! the simulator gives a name one unionid in every app and a different
//! openid in each (the first dev app keeps the openids of the days when
//! there was one).
//!
//! `fail-ERRCODE` makes the simulator answer that WeChat errcode (for example
//! `fail-40029`, `fail-45011`, `fail--1`), and `fail-timeout` simulates a
//! WeChat that does not answer in time.
//!
//! Phone codes (`POST /api/me/phone`) follow the same `fail-…` rule. Any
//! other phone code gives the user a fake mainland number, `1380013` and four
//! digits taken from the openid, so one user always gets the same number.
//!
//! Content checks: text holding `违禁` or `risky` is risky (label 20006),
//! text holding `待审` or `review` goes to review (label 21000), text
//! holding `超时` or `timeout` gets no answer in time; anything else passes.
//! An image is fetched from its URL, as WeChat does, and judged the same
//! way by the words in its bytes (`risky`, `review`); its verdict comes as
//! a signed, encrypted message push to the server's own push endpoint, as
//! WeChat's would, with the dev push keys [`DEV_PUSH_TOKEN`] and
//! [`DEV_PUSH_AES_KEY`].
//!
//! Like WeChat, it answers 45011 (minute quota) past 100 logins of one user
//! within a minute. With `--dev-strict-codes` it also refuses a code it
//! exchanged before (40163); otherwise, unlike WeChat, it takes a code again.
//!
//! Phone numbers need an access token, as with WeChat: the simulator has
//! its own, which wxlogin fetches, shares with its fleet and refreshes like
//! WeChat's. The phone code `stale-token` first replaces the simulator's
//! current token, as if another client had forced a refresh, so that the
//! call sees WeChat's 40001 and wxlogin's forced refresh runs (within
//! WeChat's limits: one per 30 s, 20 a day).
//!
//! A user whose name is `riskR-…` with R from 0 to 4 (e.g. the code
//! `risk4-1`) has WeChat's risk rank R; every other user has rank 0.
//!
//! Each code gives its own session_key, derived from the appid and the code
//! (see [`Simulator::session_key_of`]), so that a developer can make signed
//! and encrypted user data for the dev apps. Like WeChat, the simulator
//! holds one current key per user, the one of the last code it exchanged:
//! `checksession` says an older one has been replaced.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use rand::TryRngCore;

use secrecy::{ExposeSecret, SecretString};

use super::access_token::{FetchedToken, SharedAccessToken, TokenSource};
use super::{
    CheckResult, Code2Session, KeyCheck, PhoneNumber, TokenSharing, WechatApi, WechatError,
};
use crate::domain::profile::SessionKey;

mod content;

pub use content::{DEV_PUSH_AES_KEY, DEV_PUSH_TOKEN};

/// Users whose current session_key the simulator remembers; past it, it
/// forgets them all (a dev server, not a store).
const REMEMBERED_KEYS: usize = 100_000;

/// Logins of one user a minute before the simulator answers 45011.
const LOGINS_PER_MINUTE: u32 = 100;

pub struct Simulator {
    appid: String,
    /// Where the server's push endpoints are (its public URL): image
    /// verdicts are pushed there. `None`: no push comes, as from a WeChat
    /// whose message push is not set up.
    push_base: Option<String>,
    /// What the simulator knows of each openid since it started: its
    /// current session_key (that of its last exchange) and its name.
    current_keys: Mutex<HashMap<String, KnownUser>>,
    /// Codes exchanged, refused when seen again; `None`: codes are taken
    /// again.
    used_codes: Option<Mutex<std::collections::HashSet<String>>>,
    /// Each user's logins in the current minute: when it began, how many.
    minute_logins: Mutex<HashMap<String, (std::time::Instant, u32)>>,
    /// The access token the simulator takes now; it changes at each
    /// forced refresh, and at a `stale-token` phone code.
    current_access_token: Mutex<u64>,
    /// wxlogin's copy of it, shared and refreshed as WeChat's is.
    access_token: SharedAccessToken,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("appid", &self.appid)
            .field("push_base", &self.push_base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct KnownUser {
    session_key: String,
    name: String,
}

impl Simulator {
    /// The simulator of the app `appid`.
    pub fn new(appid: &str) -> Self {
        Self {
            appid: appid.to_owned(),
            push_base: None,
            current_keys: Mutex::new(HashMap::new()),
            used_codes: None,
            minute_logins: Mutex::new(HashMap::new()),
            current_access_token: Mutex::new(1),
            access_token: SharedAccessToken::new(
                appid.to_owned(),
                None,
                "simulator".into(),
                std::time::Duration::from_secs(5),
            ),
        }
    }

    /// The simulator of `appid`, pushing image verdicts to the server at
    /// `public_url`.
    pub fn pushing_to(appid: &str, public_url: Option<&str>) -> Self {
        Self {
            push_base: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            ..Self::new(appid)
        }
    }

    /// Keeps wxlogin's copy of the simulator's access token as `sharing`
    /// says: in the fleet's store, as a real app's.
    pub fn with_token_sharing(
        mut self,
        sharing: TokenSharing,
        timeout: std::time::Duration,
    ) -> Self {
        self.access_token =
            SharedAccessToken::new(self.appid.clone(), sharing.store, sharing.holder, timeout);
        self
    }

    fn access_token_text(generation: u64) -> String {
        format!("simulated-access-token-{generation}")
    }

    /// Refuses codes it exchanged before, as WeChat does.
    pub fn with_strict_codes(mut self, strict: bool) -> Self {
        self.used_codes = strict.then(|| Mutex::new(std::collections::HashSet::new()));
        self
    }

    /// WeChat's answer to a code that cannot be exchanged now: one used
    /// before (strict mode), or a user past their minute quota.
    fn refusal(&self, code: &str, name: &str) -> Option<WechatError> {
        let refuse = |errcode: i64| {
            Some(WechatError::Api {
                errcode,
                errmsg: "simulated error".into(),
            })
        };
        if let Some(used) = &self.used_codes {
            let mut used = used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if used.len() >= REMEMBERED_KEYS {
                used.clear();
            }
            if !used.insert(code.to_owned()) {
                return refuse(super::errcode::CODE_USED);
            }
        }
        let mut logins = self
            .minute_logins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logins.len() >= REMEMBERED_KEYS {
            logins.clear();
        }
        let now = std::time::Instant::now();
        let (since, count) = logins.entry(name.to_owned()).or_insert((now, 0));
        if now.duration_since(*since) >= std::time::Duration::from_secs(60) {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        (*count > LOGINS_PER_MINUTE)
            .then_some(())
            .and_then(|()| refuse(super::errcode::MINUTE_QUOTA))
    }

    /// The session_key that a login code gives in this app:
    /// `base64(sha256("wxlogin-simulator/session_key/APPID/CODE")[..16])`.
    pub fn session_key_of(&self, code: &str) -> String {
        let digest = Sha256::digest(format!(
            "wxlogin-simulator/session_key/{}/{code}",
            self.appid
        ));
        STANDARD.encode(&digest[..16])
    }

    fn current_access_token(&self) -> std::sync::MutexGuard<'_, u64> {
        self.current_access_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, KnownUser>> {
        // The map holds no invariant a panic could break.
        self.current_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The openid that the name gets in this app.
    pub fn openid_of(&self, name: &str) -> String {
        if self.appid == crate::config::DEV_APPID {
            Self::stable_id("openid", name)
        } else {
            Self::stable_id("openid", &format!("{}/{name}", self.appid))
        }
    }

    /// The unionid that the name gets, the same in every app.
    pub fn unionid_of(name: &str) -> String {
        Self::stable_id("unionid", name)
    }

    /// The risk rank of a user name: R for `riskR-…` (R from 0 to 4), else 0.
    pub fn risk_rank_of(name: &str) -> u8 {
        name.strip_prefix("risk")
            .and_then(|rest| rest.split('-').next())
            .and_then(|digit| digit.parse::<u8>().ok())
            .filter(|rank| *rank <= crate::config::MAX_RISK_RANK)
            .unwrap_or(0)
    }

    /// The fake user that a code names.
    pub fn user_name(code: &str) -> &str {
        match code.match_indices('-').nth(1) {
            Some((i, _)) => &code[..i],
            None => code,
        }
    }

    /// A stable 28-character id in WeChat's shape (`o` and 27 URL-safe characters).
    fn stable_id(kind: &str, name: &str) -> String {
        let digest = Sha256::digest(format!("wxlogin-simulator/{kind}/{name}"));
        let mut id = String::from("o");
        id.push_str(&URL_SAFE_NO_PAD.encode(digest)[..27]);
        id
    }

    /// Answers a `fail-…` code with the error it names.
    fn simulated_failure(code: &str) -> Option<WechatError> {
        let what = code.strip_prefix("fail-")?;
        if what == "timeout" {
            return Some(WechatError::Timeout);
        }
        Some(WechatError::Api {
            errcode: what.parse().unwrap_or(super::errcode::INVALID_CODE),
            errmsg: "simulated error".into(),
        })
    }

    /// The fake phone number of a user: `1380013` and four digits from the openid.
    pub fn phone_of(openid: &str) -> String {
        let digest = Sha256::digest(format!("wxlogin-simulator/phone/{openid}"));
        let n = u16::from_be_bytes([digest[0], digest[1]]) % 10_000;
        format!("1380013{n:04}")
    }
}

#[async_trait::async_trait]
impl WechatApi for Simulator {
    async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError> {
        if let Some(e) = Self::simulated_failure(code) {
            return Err(e);
        }
        let name = Self::user_name(code);
        if let Some(refused) = self.refusal(code, name) {
            return Err(refused);
        }
        let openid = self.openid_of(name);
        let session_key = self.session_key_of(code);
        let mut keys = self.current_keys();
        if keys.len() >= REMEMBERED_KEYS {
            keys.clear();
        }
        keys.insert(
            openid.clone(),
            KnownUser {
                session_key: session_key.clone(),
                name: name.to_owned(),
            },
        );
        drop(keys);
        Ok(Code2Session {
            openid,
            session_key: SessionKey::new(session_key),
            unionid: Some(Self::unionid_of(name)),
        })
    }

    async fn check_text(&self, _openid: &str, content: &str) -> Result<CheckResult, WechatError> {
        content::verdict_of(content.as_bytes())
    }

    async fn submit_image(&self, openid: &str, media_url: &str) -> Result<String, WechatError> {
        let mut id = [0u8; 12];
        rand::rngs::OsRng
            .try_fill_bytes(&mut id)
            .map_err(|_| WechatError::BadAnswer("no randomness for a trace id"))?;
        let trace_id = format!("sim-{}", hex::encode(id));
        if let Some(base) = &self.push_base {
            tokio::spawn(content::push_image_verdict(
                self.appid.clone(),
                openid.to_owned(),
                base.clone(),
                media_url.to_owned(),
                trace_id.clone(),
            ));
        }
        Ok(trace_id)
    }

    async fn user_risk_rank(&self, openid: &str, _client_ip: &str) -> Result<u8, WechatError> {
        let name = self.current_keys().get(openid).map(|k| k.name.clone());
        Ok(name.as_deref().map_or(0, Self::risk_rank_of))
    }

    async fn check_session_key(
        &self,
        openid: &str,
        session_key: &SessionKey,
    ) -> Result<KeyCheck, WechatError> {
        // A user it does not remember (the server restarted since) is
        // taken to hold the key it shows.
        Ok(match self.current_keys().get(openid) {
            Some(known) if known.session_key != session_key.expose() => KeyCheck::Replaced,
            _ => KeyCheck::Current,
        })
    }

    async fn phone_number(&self, code: &str, openid: &str) -> Result<PhoneNumber, WechatError> {
        if let Some(e) = Self::simulated_failure(code) {
            return Err(e);
        }
        if code == "stale-token" {
            *self.current_access_token() += 1;
        }
        self.access_token
            .call(self, |token| async move {
                let current = Self::access_token_text(*self.current_access_token());
                if token.expose_secret() != current {
                    return Err(WechatError::Api {
                        errcode: 40001,
                        errmsg:
                            "simulated: invalid credential, access_token is invalid or not latest"
                                .into(),
                    });
                }
                Ok(PhoneNumber {
                    pure_phone_number: Self::phone_of(openid),
                    country_code: "86".into(),
                })
            })
            .await
    }
}

#[async_trait::async_trait]
impl TokenSource for Simulator {
    /// `stable_token`: the current token, or with `force_refresh` a new one
    /// that replaces it.
    async fn fetch(&self, force_refresh: bool) -> Result<FetchedToken, WechatError> {
        let mut current = self.current_access_token();
        if force_refresh {
            *current += 1;
        }
        Ok(FetchedToken {
            token: SecretString::from(Self::access_token_text(*current)),
            expires_in: std::time::Duration::from_secs(7200),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_users_by_their_first_two_parts() {
        assert_eq!(Simulator::user_name("demo-1"), "demo-1");
        assert_eq!(Simulator::user_name("demo-1-again"), "demo-1");
        assert_eq!(Simulator::user_name("demo-1-again-and-again"), "demo-1");
        assert_eq!(Simulator::user_name("alice"), "alice");
    }

    #[tokio::test]
    async fn same_name_same_user_and_errors_on_request() {
        let sim = Simulator::new(crate::config::DEV_APPID);
        let a = sim.code2session("demo-1").await.unwrap();
        let b = sim.code2session("demo-1-again").await.unwrap();
        let c = sim.code2session("demo-2").await.unwrap();
        assert_eq!(a.openid, b.openid);
        assert_ne!(a.openid, c.openid);
        assert_eq!(a.openid.len(), 28);
        assert_ne!(a.session_key, b.session_key);
        match sim.code2session("fail-45011").await {
            Err(WechatError::Api { errcode: 45011, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            sim.code2session("fail-timeout").await,
            Err(WechatError::Timeout)
        ));
    }

    #[tokio::test]
    async fn one_unionid_across_apps_and_an_openid_per_app() {
        let first = Simulator::new(crate::config::DEV_APPID);
        let second = Simulator::new(crate::config::DEV_APPID_2);
        let a = first.code2session("demo-1").await.unwrap();
        let b = second.code2session("demo-1-x").await.unwrap();
        assert_eq!(a.unionid, b.unionid);
        assert_ne!(a.openid, b.openid);
        // The first dev app's openids are those of the single-app simulator.
        assert_eq!(a.openid, Simulator::stable_id("openid", "demo-1"));
    }

    #[tokio::test]
    async fn each_code_gives_its_key_and_replaces_the_users_last() {
        let sim = Simulator::new(crate::config::DEV_APPID);
        let first = sim.code2session("demo-1-a").await.unwrap();
        assert_eq!(first.session_key.expose(), sim.session_key_of("demo-1-a"));
        assert_eq!(
            STANDARD.decode(first.session_key.expose()).unwrap().len(),
            16
        );
        assert_eq!(
            sim.check_session_key(&first.openid, &first.session_key)
                .await
                .unwrap(),
            KeyCheck::Current
        );
        let second = sim.code2session("demo-1-b").await.unwrap();
        assert_ne!(first.session_key, second.session_key);
        assert_eq!(
            sim.check_session_key(&first.openid, &first.session_key)
                .await
                .unwrap(),
            KeyCheck::Replaced
        );
        assert_eq!(
            sim.check_session_key(&second.openid, &second.session_key)
                .await
                .unwrap(),
            KeyCheck::Current
        );
        // Another app derives other keys from the same code.
        let other = Simulator::new(crate::config::DEV_APPID_2);
        assert_ne!(
            other.session_key_of("demo-1-a"),
            sim.session_key_of("demo-1-a")
        );
    }

    #[tokio::test]
    async fn strict_codes_are_taken_once_and_a_user_100_times_a_minute() {
        let lenient = Simulator::new(crate::config::DEV_APPID);
        assert!(lenient.code2session("twice-1").await.is_ok());
        assert!(lenient.code2session("twice-1").await.is_ok());
        let strict = Simulator::new(crate::config::DEV_APPID).with_strict_codes(true);
        assert!(strict.code2session("once-1").await.is_ok());
        assert!(matches!(
            strict.code2session("once-1").await,
            Err(WechatError::Api { errcode: 40163, .. })
        ));
        for n in 0..100 {
            assert!(
                lenient.code2session(&format!("busy-1-{n}")).await.is_ok(),
                "{n}"
            );
        }
        assert!(matches!(
            lenient.code2session("busy-1-100").await,
            Err(WechatError::Api { errcode: 45011, .. })
        ));
        assert!(lenient.code2session("calm-1").await.is_ok(), "another user");
    }

    #[tokio::test]
    async fn risk_ranks_come_from_the_name() {
        let sim = Simulator::new(crate::config::DEV_APPID);
        for (code, rank) in [
            ("risk4-1", 4),
            ("risk2-7-x", 2),
            ("risk9-1", 0),
            ("demo-1", 0),
        ] {
            let user = sim.code2session(code).await.unwrap();
            assert_eq!(
                sim.user_risk_rank(&user.openid, "127.0.0.1").await.unwrap(),
                rank,
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn phone_numbers_are_stable_per_user() {
        let sim = Simulator::new(crate::config::DEV_APPID);
        let a = sim.phone_number("any", "oA").await.unwrap();
        assert_eq!(a, sim.phone_number("other", "oA").await.unwrap());
        assert_eq!(a.country_code, "86");
        assert_eq!(a.pure_phone_number.len(), 11);
        assert!(a.pure_phone_number.starts_with("1380013"));
        assert!(matches!(
            sim.phone_number("fail-40029", "oA").await,
            Err(WechatError::Api { errcode: 40029, .. })
        ));
    }

    #[tokio::test]
    async fn a_stale_access_token_is_refreshed_once() {
        let sim = Simulator::new(crate::config::DEV_APPID);
        assert!(sim.phone_number("any", "oA").await.is_ok());
        // Another client forced a refresh: ours is stale, WeChat says
        // 40001, and one forced refresh heals it.
        assert!(sim.phone_number("stale-token", "oA").await.is_ok());
        assert_eq!(*sim.current_access_token(), 3, "rotated, then forced");
        assert!(sim.phone_number("any", "oA").await.is_ok());
        assert_eq!(*sim.current_access_token(), 3, "no refresh needed");
    }
}
