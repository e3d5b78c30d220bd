//! Checking and opening the user data that WeChat hands to the mini-program.
//!
//! - `rawData` comes with `signature = lowercase_hex(sha1(rawData + session_key))`.
//! - `encryptedData` is AES-128-CBC with PKCS#7 padding; the key is
//!   base64-decode(session_key) and the iv is base64-decode(iv). The plaintext
//!   is JSON carrying `watermark.appid`, which must be ours.
//!
//! None of the errors here carry the data, the key or the plaintext.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::domain::profile::{
    https_avatar, ProfileUpdate, SessionKey, MAX_AVATAR_URL_CHARS, MAX_PROFILE_CHARS,
};

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The nickname WeChat sends instead of the real one.
pub const PLACEHOLDER_NICKNAME: &str = "微信用户";
/// The image id of WeChat's grey default avatar, whatever its host and size
/// suffix (`https://thirdwx.qlogo.cn/mmopen/vi_32/<id>/132`).
pub const PLACEHOLDER_AVATAR_ID: &str =
    "POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("`signature` does not match `rawData`")]
    BadSignature,
    #[error("`{0}` is not valid base64")]
    BadBase64(&'static str),
    #[error("`{0}` does not decode to {1} bytes")]
    BadLength(&'static str, usize),
    #[error("the session key is not 16 bytes of base64")]
    BadKey,
    #[error("`encryptedData` does not decrypt (bad padding)")]
    BadPadding,
    #[error("the decrypted data is not JSON user data")]
    NotJson,
    #[error("`rawData` is not JSON user data")]
    RawNotJson,
    #[error("the data has no watermark")]
    NoWatermark,
    #[error("the data's watermark is for another AppID")]
    WatermarkMismatch,
    #[error("the data belongs to another user (its openId differs)")]
    OpenIdMismatch,
}

impl CryptoError {
    /// Whether the likely cause is a session key other than the one the data
    /// was made with.
    pub fn is_key_mismatch(self) -> bool {
        matches!(
            self,
            Self::BadSignature | Self::BadKey | Self::BadPadding | Self::NotJson
        )
    }
}

/// The `signature` that proves the holding of a session_key to WeChat's
/// `checksession` (and `resetusersessionkey`):
/// `hex(hmac_sha256(key = the session_key's base64 text, message = ""))`.
pub fn session_key_signature(session_key: &SessionKey) -> String {
    hmac_sha256_hex(session_key.expose().as_bytes(), b"")
}

fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `signature == lowercase_hex(sha1(raw_data + session_key))`, in
/// constant time.
pub fn verify_signature(
    raw_data: &str,
    signature: &str,
    session_key: &SessionKey,
) -> Result<(), CryptoError> {
    let mut sha = Sha1::new();
    sha.update(raw_data.as_bytes());
    sha.update(session_key.expose().as_bytes());
    let expected = hex::encode(sha.finalize());
    let given = signature.trim().to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

fn decode_16(what: &'static str, text: &str) -> Result<[u8; 16], CryptoError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| CryptoError::BadBase64(what))?;
    bytes
        .try_into()
        .map_err(|_| CryptoError::BadLength(what, 16))
}

/// Decrypts `encryptedData` (AES-128-CBC, PKCS#7) with the session key.
pub fn decrypt(
    session_key: &SessionKey,
    encrypted_data: &str,
    iv: &str,
) -> Result<Vec<u8>, CryptoError> {
    let key = decode_16("session_key", session_key.expose()).map_err(|_| CryptoError::BadKey)?;
    let iv = decode_16("iv", iv)?;
    let data = STANDARD
        .decode(encrypted_data.trim())
        .map_err(|_| CryptoError::BadBase64("encryptedData"))?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(CryptoError::BadPadding);
    }
    Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&data)
        .map_err(|_| CryptoError::BadPadding)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Watermark {
    pub appid: String,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// The user fields of `rawData` and of decrypted user data. Everything is
/// optional: anonymous and older answers leave fields out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WechatUserInfo {
    pub open_id: Option<String>,
    pub union_id: Option<String>,
    pub nick_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_gender")]
    pub gender: Option<i16>,
    pub language: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub avatar_url: Option<String>,
    pub watermark: Option<Watermark>,
}

/// Gender as a number or a numeric string; anything else counts as unknown.
fn lenient_gender<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i16>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let n = match &value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(n.filter(|n| (0..=2).contains(n)).map(|n| n as i16))
}

impl WechatUserInfo {
    /// Parses `rawData`, after its signature has been checked.
    pub fn from_raw_data(raw_data: &str) -> Result<Self, CryptoError> {
        serde_json::from_str(raw_data).map_err(|_| CryptoError::RawNotJson)
    }

    /// Decrypts user data and checks its watermark and, when WeChat put one
    /// in, its openId.
    pub fn decrypt(
        session_key: &SessionKey,
        encrypted_data: &str,
        iv: &str,
        appid: &str,
        openid: &str,
    ) -> Result<Self, CryptoError> {
        let plain = decrypt(session_key, encrypted_data, iv)?;
        let info: Self = serde_json::from_slice(&plain).map_err(|_| CryptoError::NotJson)?;
        let watermark = info.watermark.as_ref().ok_or(CryptoError::NoWatermark)?;
        if !bool::from(watermark.appid.as_bytes().ct_eq(appid.as_bytes())) {
            return Err(CryptoError::WatermarkMismatch);
        }
        if info.open_id.as_deref().is_some_and(|o| o != openid) {
            return Err(CryptoError::OpenIdMismatch);
        }
        Ok(info)
    }

    /// The unionid, if WeChat gave a non-empty one.
    pub fn union_id(&self) -> Option<&str> {
        self.union_id
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty() && u.len() <= 128)
    }

    /// The profile fields worth storing. This is the one place that drops
    /// WeChat's anonymous placeholders (the nickname "微信用户", the grey
    /// default avatar, gender 0, an empty region), so that they never
    /// overwrite real values already stored.
    pub fn profile_update(&self) -> ProfileUpdate {
        fn text(value: &Option<String>, max: usize) -> Option<String> {
            let v = value.as_deref()?.trim();
            let ok = !v.is_empty()
                && v.chars().count() <= max
                && !v.chars().any(char::is_control)
                && !crate::domain::text::has_bidi_control(v);
            ok.then(|| v.to_owned())
        }
        ProfileUpdate {
            nickname: text(&self.nick_name, MAX_PROFILE_CHARS)
                .filter(|n| n != PLACEHOLDER_NICKNAME)
                .filter(|n| crate::domain::text::has_visible_char(n)),
            avatar_url: text(&self.avatar_url, MAX_AVATAR_URL_CHARS)
                .and_then(|u| https_avatar(&u))
                .filter(|u| !is_placeholder_avatar(u)),
            gender: self.gender.filter(|g| *g != 0),
            country: text(&self.country, MAX_PROFILE_CHARS),
            province: text(&self.province, MAX_PROFILE_CHARS),
            city: text(&self.city, MAX_PROFILE_CHARS),
            language: text(&self.language, MAX_PROFILE_CHARS),
        }
    }
}

/// Whether `url` is WeChat's grey default avatar.
pub fn is_placeholder_avatar(url: &str) -> bool {
    url.contains(PLACEHOLDER_AVATAR_ID)
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_key_signatures_follow_wechats_hmac_convention() {
        // The check vector of WeChat's documentation.
        assert_eq!(
            super::hmac_sha256_hex(b"o0q0otL8aEzpcZL/FT9WsQ==", br#"{"foo":"bar"}"#),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
        let key = super::SessionKey::new("o0q0otL8aEzpcZL/FT9WsQ==".into());
        assert_eq!(
            super::session_key_signature(&key),
            super::hmac_sha256_hex(b"o0q0otL8aEzpcZL/FT9WsQ==", b"")
        );
    }

    use super::*;
    use aes::cipher::BlockEncryptMut;

    type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

    const KEY: [u8; 16] = *b"0123456789abcdef";
    const IV: [u8; 16] = *b"fedcba9876543210";
    const APPID: &str = "wx1234567890abcdef";

    fn key() -> SessionKey {
        SessionKey::new(STANDARD.encode(KEY))
    }

    fn encrypt(plain: &[u8]) -> String {
        STANDARD.encode(
            Aes128CbcEnc::new(&KEY.into(), &IV.into()).encrypt_padded_vec_mut::<Pkcs7>(plain),
        )
    }

    fn iv() -> String {
        STANDARD.encode(IV)
    }

    #[test]
    fn public_signature_vector() {
        let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
        let key = SessionKey::new("HyVFkGl5F5OQWJZZaNzBBg==".into());
        let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
        assert_eq!(verify_signature(raw, sig, &key), Ok(()));
        // One character off anywhere fails.
        assert_eq!(
            verify_signature(raw, "75e81ceda165f4ffa64f4068af58c64b8f54b88d", &key),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            verify_signature(&raw.replace("Band", "Bend"), sig, &key),
            Err(CryptoError::BadSignature)
        );
        let other = SessionKey::new("HyVFkGl5F5OQWJZZaNzBBA==".into());
        assert_eq!(
            verify_signature(raw, sig, &other),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            verify_signature(raw, "", &key),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            verify_signature(raw, &sig[..39], &key),
            Err(CryptoError::BadSignature)
        );
        let info = WechatUserInfo::from_raw_data(raw).unwrap();
        assert_eq!(info.nick_name.as_deref(), Some("Band"));
        assert_eq!(info.gender, Some(1));
    }

    #[test]
    fn public_decryption_vector() {
        let key = SessionKey::new("lyY4HPQbaOYzZdG+JcYK9w==".into());
        let data = "Kf3TdPbzEmhWMuPKtlKxIWDkijhn402w1bxoHL4kLdcKr6jT1jNcIhvDJfjXmJcgDWLjmBiIGJ5acUuSvxLws3WgAkERmtTuiCG10CKLsJiR+AXVk7B2TUQzsq88YVilDz/YAN3647REE7glGmeBPfvUmdbfDzhL9BzvEiuRhABuCYyTMz4iaM8hFjbLB1caaeoOlykYAFMWC5pZi9P8uw==";
        let plain = decrypt(&key, data, "Cds8j3VYoGvnTp1BrjXdJg==").unwrap();
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            r#"{"phoneNumber":"18017448610","purePhoneNumber":"18017448610","countryCode":"86","watermark":{"timestamp":1558787160,"appid":"wxdaa2ab9ef87b5497"}}"#
        );
        // The watermark check accepts its own AppID and refuses another.
        assert!(WechatUserInfo::decrypt(
            &key,
            data,
            "Cds8j3VYoGvnTp1BrjXdJg==",
            "wxdaa2ab9ef87b5497",
            "o"
        )
        .is_ok());
        assert_eq!(
            WechatUserInfo::decrypt(&key, data, "Cds8j3VYoGvnTp1BrjXdJg==", APPID, "o")
                .unwrap_err(),
            CryptoError::WatermarkMismatch
        );
    }

    #[test]
    fn own_vectors_round_trip_and_check_the_watermark() {
        let plain = format!(
            r#"{{"openId":"oUSER","unionId":"oUNION","nickName":"小明","gender":2,"language":"zh_CN","city":"Chengdu","province":"Sichuan","country":"China","avatarUrl":"https://wx.qlogo.cn/mmopen/real/132","watermark":{{"appid":"{APPID}","timestamp":1700000000}}}}"#
        );
        let data = encrypt(plain.as_bytes());
        assert_eq!(decrypt(&key(), &data, &iv()).unwrap(), plain.as_bytes());
        let info = WechatUserInfo::decrypt(&key(), &data, &iv(), APPID, "oUSER").unwrap();
        assert_eq!(info.union_id(), Some("oUNION"));
        let profile = info.profile_update();
        assert_eq!(profile.nickname.as_deref(), Some("小明"));
        assert_eq!(profile.gender, Some(2));
        assert_eq!(profile.province.as_deref(), Some("Sichuan"));
        assert_eq!(profile.city.as_deref(), Some("Chengdu"));

        assert_eq!(
            WechatUserInfo::decrypt(&key(), &data, &iv(), "wxother", "oUSER").unwrap_err(),
            CryptoError::WatermarkMismatch
        );
        assert_eq!(
            WechatUserInfo::decrypt(&key(), &data, &iv(), APPID, "oSOMEONE_ELSE").unwrap_err(),
            CryptoError::OpenIdMismatch
        );
        let no_mark = encrypt(br#"{"openId":"oUSER","nickName":"x"}"#);
        assert_eq!(
            WechatUserInfo::decrypt(&key(), &no_mark, &iv(), APPID, "oUSER").unwrap_err(),
            CryptoError::NoWatermark
        );
        // No openId in the data is fine (the watermark still binds it to us).
        let anonymous = encrypt(
            format!(r#"{{"nickName":"微信用户","gender":0,"watermark":{{"appid":"{APPID}"}}}}"#)
                .as_bytes(),
        );
        assert!(WechatUserInfo::decrypt(&key(), &anonymous, &iv(), APPID, "oUSER").is_ok());
    }

    #[test]
    fn padding_base64_key_and_json_errors() {
        let data = encrypt(b"not json at all");
        assert_eq!(
            WechatUserInfo::decrypt(&key(), &data, &iv(), APPID, "o").unwrap_err(),
            CryptoError::NotJson
        );
        // A wrong key almost always breaks the padding; a ciphertext that is
        // not a whole number of blocks always does.
        let good = encrypt(br#"{"watermark":{"appid":"x"}}"#);
        let other_key = SessionKey::new(STANDARD.encode(*b"another key 16by"));
        let err = WechatUserInfo::decrypt(&other_key, &good, &iv(), APPID, "o").unwrap_err();
        assert!(err.is_key_mismatch(), "{err:?}");
        let mut raw = STANDARD.decode(&good).unwrap();
        raw.pop();
        assert_eq!(
            decrypt(&key(), &STANDARD.encode(&raw), &iv()).unwrap_err(),
            CryptoError::BadPadding
        );
        assert_eq!(
            decrypt(&key(), "", &iv()).unwrap_err(),
            CryptoError::BadPadding
        );
        // A last block whose padding bytes are wrong.
        let forged = {
            let mut block = *b"0123456789abcde\x05";
            Aes128CbcEnc::new(&KEY.into(), &IV.into())
                .encrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut block, 16)
                .unwrap();
            STANDARD.encode(block)
        };
        assert_eq!(
            decrypt(&key(), &forged, &iv()).unwrap_err(),
            CryptoError::BadPadding
        );
        assert_eq!(
            decrypt(&key(), "%%%not base64", &iv()).unwrap_err(),
            CryptoError::BadBase64("encryptedData")
        );
        assert_eq!(
            decrypt(&key(), &good, "***").unwrap_err(),
            CryptoError::BadBase64("iv")
        );
        assert_eq!(
            decrypt(&key(), &good, &STANDARD.encode([0u8; 8])).unwrap_err(),
            CryptoError::BadLength("iv", 16)
        );
        let short_key = SessionKey::new(STANDARD.encode([1u8; 8]));
        assert_eq!(
            decrypt(&short_key, &good, &iv()).unwrap_err(),
            CryptoError::BadKey
        );
    }

    #[test]
    fn placeholders_never_become_profile_changes() {
        let anonymous = WechatUserInfo {
            nick_name: Some(PLACEHOLDER_NICKNAME.into()),
            avatar_url: Some(format!(
                "https://thirdwx.qlogo.cn/mmopen/vi_32/{PLACEHOLDER_AVATAR_ID}/132"
            )),
            gender: Some(0),
            country: Some(String::new()),
            province: Some(String::new()),
            city: Some(String::new()),
            ..Default::default()
        };
        assert!(anonymous.profile_update().is_empty());
        let hostile = WechatUserInfo {
            nick_name: Some("\u{200B}\u{200B}".into()),
            avatar_url: Some("javascript:alert(10)".into()),
            city: Some("\u{202E}nehznehS".into()),
            ..Default::default()
        };
        assert!(hostile.profile_update().is_empty());
        let old = WechatUserInfo {
            avatar_url: Some("http://wx.qlogo.cn/mmopen/x/132".into()),
            ..Default::default()
        };
        assert_eq!(
            old.profile_update().avatar_url.as_deref(),
            Some("https://wx.qlogo.cn/mmopen/x/132")
        );
        let info: WechatUserInfo =
            serde_json::from_str(r#"{"gender":"7","nickName":"  ","language":"en"}"#).unwrap();
        assert_eq!(info.gender, None);
        let p = info.profile_update();
        assert_eq!(p.nickname, None);
        assert_eq!(p.language.as_deref(), Some("en"));
    }
}
