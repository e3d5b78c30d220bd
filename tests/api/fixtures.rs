//! User data as WeChat makes it, made here with known keys, and small
//! request helpers for the profile endpoints.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::common::{TestApp, APPID};

/// Session keys as WeChat gives them: base64 of 16 bytes.
pub const KEY_1: &str = "c2l4dGVlbiBieXRlIGtleQ=="; // "sixteen byte key"
pub const KEY_2: &str = "YW5vdGhlciBrZXkgMTZieQ=="; // "another key 16by"
pub const IV: [u8; 16] = *b"initialvector-16";

/// WeChat's grey default avatar.
pub const GREY_AVATAR: &str = "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132";

/// AES-128-CBC/PKCS#7 of `plain` under the base64 `session_key`, as
/// `(encryptedData, iv)`.
pub fn encrypt(session_key: &str, plain: &str) -> (String, String) {
    let key: [u8; 16] = STANDARD.decode(session_key).unwrap().try_into().unwrap();
    let data = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &IV.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    (STANDARD.encode(data), STANDARD.encode(IV))
}

/// `lowercase_hex(sha1(raw_data + session_key))`.
pub fn sign(raw_data: &str, session_key: &str) -> String {
    hex::encode(Sha1::digest(format!("{raw_data}{session_key}").as_bytes()))
}

/// A real (non-anonymous) user-info plaintext.
pub fn real_user(openid: &str, unionid: &str) -> Value {
    json!({
        "openId": openid,
        "unionId": unionid,
        "nickName": "小明",
        "gender": 1,
        "language": "zh_CN",
        "city": "Shenzhen",
        "province": "Guangdong",
        "country": "China",
        "avatarUrl": "https://thirdwx.qlogo.cn/mmopen/vi_32/real-avatar/132",
        "watermark": {"appid": APPID, "timestamp": 1_700_000_000}
    })
}

/// What apps published after 2022 get: placeholders, but the real ids.
pub fn anonymous_user(openid: &str, unionid: &str) -> Value {
    json!({
        "openId": openid,
        "unionId": unionid,
        "nickName": "微信用户",
        "gender": 0,
        "language": "",
        "city": "",
        "province": "",
        "country": "",
        "avatarUrl": GREY_AVATAR,
        "watermark": {"appid": APPID, "timestamp": 1_700_000_000}
    })
}

/// The `rawData` WeChat sends beside the encrypted data: the profile
/// fields, without ids and watermark.
pub fn raw_data_of(info: &Value) -> String {
    let mut raw = info.clone();
    let map = raw.as_object_mut().unwrap();
    for k in ["openId", "unionId", "watermark"] {
        map.remove(k);
    }
    raw.to_string()
}

/// The four user-data fields for `info`, all made with `session_key`.
pub fn user_data(session_key: &str, info: &Value) -> Value {
    let raw = raw_data_of(info);
    let (encrypted, iv) = encrypt(session_key, &info.to_string());
    json!({
        "rawData": raw,
        "signature": sign(&raw, session_key),
        "encryptedData": encrypted,
        "iv": iv,
    })
}

/// `{"code": code}` plus the user data.
pub fn login_body(code: &str, data: &Value) -> Value {
    let mut body = data.clone();
    body["code"] = code.into();
    body
}

impl TestApp {
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn patch_me(&self, token: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::PATCH, "/api/me", Some(token), body)
            .await
    }

    pub async fn post_userinfo(&self, token: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, "/api/me/userinfo", Some(token), body)
            .await
    }

    pub async fn post_phone(&self, token: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, "/api/me/phone", Some(token), body)
            .await
    }

    /// `GET /api/me`'s user, asserting success.
    pub async fn me(&self, token: &str) -> Value {
        let response = self.get_me(token).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["user"].clone()
    }
}

/// Asserts a 200 `{"user": {...}}` answer and returns the user.
/// WeChat's answers for a phone-number exchange that gives `number` (a
/// mainland number, country code 86): the access token and the number.
pub async fn wechat_gives_phone(app: &TestApp, number: &str) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "AT", "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0, "errmsg": "ok",
            "phone_info": {"phoneNumber": format!("+86 {number}"), "purePhoneNumber": number, "countryCode": "86",
                           "watermark": {"timestamp": 1_637_744_274, "appid": APPID}}
        })))
        .mount(&app.wechat)
        .await;
}

pub async fn user_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `user`: {body}");
    body["user"].clone()
}

/// The fake WeChat hands out `access_token` (`/cgi-bin/stable_token`).
pub async fn mount_access_token(app: &TestApp, access_token: &str) {
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/cgi-bin/stable_token"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": access_token, "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
}
