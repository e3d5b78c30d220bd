//! Verifying and reading WeChat "message push" (消息推送) requests, for the
//! `wxa_media_check` event (the asynchronous verdict on an image check).
//!
//! WeChat authenticates a push in two layers:
//!
//! * `signature` = SHA-1 over the sorted `[Token, timestamp, nonce]`. It does
//!   **not** cover the body, so in plaintext mode anyone who has seen one
//!   valid query string can replay it with a body of their own. That is why
//!   [`open`] refuses an unencrypted body once an EncodingAESKey is
//!   configured: with a key, only compatible and safe mode are in use, and
//!   both always carry `Encrypt`.
//! * In safe (and compatible) mode, `msg_signature` = SHA-1 over the sorted
//!   `[Token, timestamp, nonce, Encrypt]`, which does bind the body, and the
//!   message travels AES-256-CBC encrypted with the appid inside, so a push
//!   meant for another mini-program is refused.
//!
//! Nothing here checks the timestamp's age or remembers nonces; a caller that
//! wants replay protection does that on top (WeChat retries a push it got no
//! answer to, so a replay window must allow for retries).
//!
//! Error values never carry the token, the key, the ciphertext or the
//! plaintext: parser errors (which quote input) are replaced by fixed texts.

use std::fmt;
use std::str::FromStr;

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Largest push body accepted. A `wxa_media_check` push is well under 2 KiB;
/// the cap keeps a forged request from making us hash, decode or parse much.
pub const MAX_PUSH_BYTES: usize = 64 * 1024;

/// Length of an EncodingAESKey as the WeChat console shows it.
const ENCODING_AES_KEY_LEN: usize = 43;
/// WeChat pads to 32-byte blocks (not AES's 16), so a pad byte is 1..=32.
const PAD_BLOCK: usize = 32;
/// Random prefix before the length field in the plaintext.
const RANDOM_LEN: usize = 16;

/// Base64 that tolerates non-zero trailing bits. The console draws the 43
/// key characters at random, so the last one usually has bits set that a
/// strict decoder rejects; WeChat's own SDKs decode leniently.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a push or URL check was refused. The texts are safe to log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("push signature does not match")]
    BadSignature,
    #[error("push msg_signature does not match")]
    BadMsgSignature,
    #[error("encrypted push without msg_signature")]
    MissingMsgSignature,
    #[error("push body larger than {MAX_PUSH_BYTES} bytes")]
    TooLarge,
    #[error("push body is neither XML nor JSON")]
    NotXmlOrJson,
    #[error("malformed push: {0}")]
    Malformed(&'static str),
    #[error("push token is empty")]
    BadToken,
    #[error("EncodingAESKey must be 43 base64 characters")]
    BadAesKey,
    #[error("push could not be decrypted")]
    DecryptFailed,
    #[error("push is for another appid")]
    WrongAppid,
    #[error("encrypted push but no EncodingAESKey is configured")]
    NoAesKey,
    #[error("unencrypted push refused: an EncodingAESKey is configured")]
    NotEncrypted,
    #[error("unknown suggest value")]
    UnknownSuggest,
}

/// The secrets from the mini-program's push settings.
pub struct PushKeys {
    /// The Token; the only secret behind `signature` and `msg_signature`.
    pub token: SecretString,
    /// The decoded EncodingAESKey; `None` for plaintext mode.
    pub aes_key: Option<[u8; 32]>,
}

impl PushKeys {
    /// Checks and decodes the settings. The EncodingAESKey is the 43-character
    /// base64 text from the console, decoded with `=` appended.
    pub fn new(token: &str, encoding_aes_key: Option<&str>) -> Result<Self, PushError> {
        if token.is_empty() {
            // An empty token would make every signature computable by anyone.
            return Err(PushError::BadToken);
        }
        let aes_key = match encoding_aes_key {
            None => None,
            Some(k) => {
                if k.len() != ENCODING_AES_KEY_LEN {
                    return Err(PushError::BadAesKey);
                }
                let mut bytes = LENIENT_B64
                    .decode(format!("{k}="))
                    .map_err(|_| PushError::BadAesKey)?;
                let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| PushError::BadAesKey);
                bytes.zeroize();
                Some(key?)
            }
        };
        Ok(Self {
            token: SecretString::from(token),
            aes_key,
        })
    }
}

impl fmt::Debug for PushKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushKeys")
            .field("token", &"[REDACTED]")
            .field("aes_key", &self.aes_key.map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Drop for PushKeys {
    fn drop(&mut self) {
        if let Some(k) = self.aes_key.as_mut() {
            k.zeroize();
        }
    }
}

/// The query-string fields WeChat adds to a URL check or a push.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushQuery<'a> {
    pub signature: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Present in safe and compatible mode only.
    pub msg_signature: Option<&'a str>,
}

/// The verdict of an image check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suggest {
    Pass,
    Review,
    Risky,
}

impl FromStr for Suggest {
    type Err = PushError;
    fn from_str(s: &str) -> Result<Self, PushError> {
        match s {
            "pass" => Ok(Self::Pass),
            "review" => Ok(Self::Review),
            "risky" => Ok(Self::Risky),
            _ => Err(PushError::UnknownSuggest),
        }
    }
}

/// The overall `result` of a `wxa_media_check` push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckResult {
    pub suggest: Suggest,
    /// WeChat's label for the content class (100 = normal).
    pub label: i64,
}

/// A verified push, reduced to the fields this server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// `Event`; empty for a push that is not an event (`MsgType` other than
    /// `event`), so such pushes can still be acknowledged.
    pub event: String,
    pub msg_type: String,
    pub to_user_name: String,
    pub from_user_name: String,
    pub create_time: i64,
    /// The `trace_id` that `mediaCheckAsync` returned, to find the image.
    pub trace_id: Option<String>,
    /// Top-level `errcode`; non-zero means the check itself failed.
    pub errcode: Option<i64>,
    pub result: Option<CheckResult>,
}

/// SHA-1 (lowercase hex) over `token` and `parts`, sorted bytewise and
/// concatenated: the `signature` (parts = timestamp, nonce) and the
/// `msg_signature` (parts = timestamp, nonce, Encrypt).
pub fn signature(token: &str, parts: &[&str]) -> String {
    let mut all: Vec<&str> = Vec::with_capacity(parts.len() + 1);
    all.push(token);
    all.extend_from_slice(parts);
    all.sort_unstable();
    let mut h = Sha1::new();
    for p in all {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Constant-time comparison, so response timing does not reveal how much of
/// a guessed signature was right. WeChat sends lowercase hex; so do we.
fn same(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn check_signature(keys: &PushKeys, q: &PushQuery) -> Result<(), PushError> {
    let expected = signature(keys.token.expose_secret(), &[q.timestamp, q.nonce]);
    if same(&expected, q.signature) {
        Ok(())
    } else {
        Err(PushError::BadSignature)
    }
}

/// Verifies the `GET` WeChat sends when the push URL is saved, and returns
/// the `echostr` to answer with (as `text/plain`). `echostr` is not covered
/// by the signature, so it is limited to a short run of letters, digits, `-`
/// and `_`: a replayed query then cannot make us reflect markup.
pub fn check_url<'e>(
    keys: &PushKeys,
    query: &PushQuery,
    echostr: &'e str,
) -> Result<&'e str, PushError> {
    check_signature(keys, query)?;
    let ok = !echostr.is_empty()
        && echostr.len() <= 256
        && echostr
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(echostr)
    } else {
        Err(PushError::Malformed("echostr"))
    }
}

/// Verifies a push `POST` and returns its message.
///
/// Order: size cap, `signature` (always), then, if the body has `Encrypt`,
/// `msg_signature`, decryption and the appid inside the ciphertext; plain
/// fields beside `Encrypt` (compatible mode) are ignored, being unsigned.
/// Finally the message's own `appid` field, when present, must be `appid`.
pub fn open(
    keys: &PushKeys,
    appid: &str,
    query: &PushQuery,
    body: &[u8],
) -> Result<PushMessage, PushError> {
    if body.len() > MAX_PUSH_BYTES {
        return Err(PushError::TooLarge);
    }
    check_signature(keys, query)?;
    let body = std::str::from_utf8(body).map_err(|_| PushError::Malformed("body is not UTF-8"))?;
    let format = Format::detect(body)?;
    let envelope: Envelope = format.parse(body)?;
    let raw: RawMessage = match envelope.encrypt {
        Some(encrypt) => {
            let given = query.msg_signature.ok_or(PushError::MissingMsgSignature)?;
            let token = keys.token.expose_secret();
            let expected = signature(token, &[query.timestamp, query.nonce, &encrypt]);
            if !same(&expected, given) {
                return Err(PushError::BadMsgSignature);
            }
            let key = keys.aes_key.as_ref().ok_or(PushError::NoAesKey)?;
            let mut plain = decrypt(key, appid, &encrypt)?;
            let parsed = Format::detect(&plain).and_then(|f| f.parse(&plain));
            plain.zeroize();
            parsed?
        }
        None if keys.aes_key.is_some() => return Err(PushError::NotEncrypted),
        None => format.parse(body)?,
    };
    raw.into_message(appid)
}

/// Builds the `Encrypt` value WeChat would send for `message`: for tests and
/// for a simulator that fakes pushes. `random16` is WeChat's random prefix.
pub fn seal(
    keys: &PushKeys,
    appid: &str,
    message: &str,
    random16: [u8; 16],
) -> Result<String, PushError> {
    let key = keys.aes_key.as_ref().ok_or(PushError::NoAesKey)?;
    let len = u32::try_from(message.len()).map_err(|_| PushError::TooLarge)?;
    let mut buf = Vec::with_capacity(RANDOM_LEN + 4 + message.len() + appid.len() + PAD_BLOCK);
    buf.extend_from_slice(&random16);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(message.as_bytes());
    buf.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - buf.len() % PAD_BLOCK; // 1..=32, a full block if aligned
    buf.resize(buf.len() + pad, pad as u8);
    let cipher = cbc::Encryptor::<Aes256>::new(key.into(), key[..16].into());
    let ct = cipher.encrypt_padded_vec_mut::<NoPadding>(&buf);
    buf.zeroize();
    Ok(STANDARD.encode(ct))
}

/// Decrypts `Encrypt` and returns the message text after checking the appid
/// that follows it. Every failure before the appid check is the same
/// [`PushError::DecryptFailed`], so callers cannot tell padding from layout
/// errors apart (a padding oracle needs that distinction).
fn decrypt(key: &[u8; 32], appid: &str, encrypt: &str) -> Result<String, PushError> {
    let ct = STANDARD
        .decode(encrypt.trim())
        .map_err(|_| PushError::DecryptFailed)?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(PushError::DecryptFailed);
    }
    let cipher = cbc::Decryptor::<Aes256>::new(key.into(), key[..16].into());
    let mut plain = cipher
        .decrypt_padded_vec_mut::<NoPadding>(&ct)
        .map_err(|_| PushError::DecryptFailed)?;
    let result = split_plain(&plain, appid);
    plain.zeroize();
    result
}

/// Unpads and splits `random(16) | len(4, BE) | message | appid`.
fn split_plain(plain: &[u8], appid: &str) -> Result<String, PushError> {
    let pad = *plain.last().ok_or(PushError::DecryptFailed)? as usize;
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(PushError::DecryptFailed);
    }
    let (data, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| b as usize != pad) {
        return Err(PushError::DecryptFailed);
    }
    if data.len() < RANDOM_LEN + 4 {
        return Err(PushError::DecryptFailed);
    }
    let len_bytes: [u8; 4] = data[RANDOM_LEN..RANDOM_LEN + 4]
        .try_into()
        .expect("4 bytes");
    let end = (RANDOM_LEN + 4)
        .checked_add(u32::from_be_bytes(len_bytes) as usize)
        .filter(|&end| end <= data.len())
        .ok_or(PushError::DecryptFailed)?;
    let message =
        std::str::from_utf8(&data[RANDOM_LEN + 4..end]).map_err(|_| PushError::DecryptFailed)?;
    if &data[end..] != appid.as_bytes() {
        return Err(PushError::WrongAppid);
    }
    Ok(message.to_owned())
}

/// The two body formats the push settings offer.
#[derive(Clone, Copy)]
enum Format {
    Xml,
    Json,
}

impl Format {
    /// Chooses by the first non-whitespace character rather than by
    /// Content-Type, which WeChat does not set consistently.
    fn detect(text: &str) -> Result<Self, PushError> {
        match text.trim_start().as_bytes().first() {
            Some(b'<') => Ok(Self::Xml),
            Some(b'{') => Ok(Self::Json),
            _ => Err(PushError::NotXmlOrJson),
        }
    }

    /// Parses with serde; the parser's error text quotes the input, so it is
    /// dropped for a fixed one.
    fn parse<T: for<'de> Deserialize<'de>>(self, text: &str) -> Result<T, PushError> {
        match self {
            Self::Xml => quick_xml::de::from_str(text).map_err(|_| PushError::Malformed("bad XML")),
            Self::Json => serde_json::from_str(text).map_err(|_| PushError::Malformed("bad JSON")),
        }
    }
}

/// Only `Encrypt`, so compatible mode's plain fields (unsigned, and ignored)
/// cannot make the parse fail.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

/// The message as sent; `detail`, `version`, `errmsg` and the rest are
/// skipped. Fields are optional here so a missing one gets a clear error.
#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<i64>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    appid: Option<String>,
    trace_id: Option<String>,
    errcode: Option<i64>,
    result: Option<RawResult>,
}

/// `suggest` stays a string until [`Suggest::from_str`] so an unknown word
/// gets its own error instead of a generic parse failure.
#[derive(Deserialize)]
struct RawResult {
    suggest: String,
    label: i64,
}

impl RawMessage {
    fn into_message(self, appid: &str) -> Result<PushMessage, PushError> {
        if self.appid.as_deref().is_some_and(|a| a != appid) {
            return Err(PushError::WrongAppid);
        }
        let result = match self.result {
            Some(r) => Some(CheckResult {
                suggest: r.suggest.parse()?,
                label: r.label,
            }),
            None => None,
        };
        Ok(PushMessage {
            event: self.event.unwrap_or_default(),
            msg_type: self
                .msg_type
                .ok_or(PushError::Malformed("missing MsgType"))?,
            to_user_name: self
                .to_user_name
                .ok_or(PushError::Malformed("missing ToUserName"))?,
            from_user_name: self
                .from_user_name
                .ok_or(PushError::Malformed("missing FromUserName"))?,
            create_time: self
                .create_time
                .ok_or(PushError::Malformed("missing CreateTime"))?,
            trace_id: self.trace_id,
            errcode: self.errcode,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "pushtoken123";
    const APPID: &str = "wx1234567890abcdef";
    /// 43 characters; decodes to 32 bytes.
    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const TS: &str = "1626959646";
    const NONCE: &str = "1592823139";

    const JSON_MSG: &str = r#"{"ToUserName":"gh_38cc2d2a7f5c","FromUserName":"oFDgT5Qz3Jx","CreateTime":1626959646,"MsgType":"event","Event":"wxa_media_check","appid":"wx1234567890abcdef","trace_id":"60f96f30-6d3a1bb9-77c3e6f9","version":2,"detail":[{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90}],"errcode":0,"errmsg":"ok","result":{"suggest":"pass","label":100}}"#;

    const XML_MSG: &str = "<xml><ToUserName><![CDATA[gh_38cc2d2a7f5c]]></ToUserName>\n  <FromUserName><![CDATA[oFDgT5Qz3Jx]]></FromUserName><CreateTime>1626959646</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxa_media_check]]></Event><appid><![CDATA[wx1234567890abcdef]]></appid><trace_id><![CDATA[60f96f30-6d3a1bb9-77c3e6f9]]></trace_id><version>2</version><detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode><suggest><![CDATA[pass]]></suggest><label>100</label><prob>90</prob></detail><errcode>0</errcode><errmsg><![CDATA[ok]]></errmsg><result><suggest><![CDATA[pass]]></suggest><label>100</label></result></xml>";

    fn expected() -> PushMessage {
        PushMessage {
            event: "wxa_media_check".into(),
            msg_type: "event".into(),
            to_user_name: "gh_38cc2d2a7f5c".into(),
            from_user_name: "oFDgT5Qz3Jx".into(),
            create_time: 1626959646,
            trace_id: Some("60f96f30-6d3a1bb9-77c3e6f9".into()),
            errcode: Some(0),
            result: Some(CheckResult {
                suggest: Suggest::Pass,
                label: 100,
            }),
        }
    }

    fn plain_keys() -> PushKeys {
        PushKeys::new(TOKEN, None).unwrap()
    }

    fn safe_keys() -> PushKeys {
        PushKeys::new(TOKEN, Some(AES_KEY)).unwrap()
    }

    fn sig() -> String {
        signature(TOKEN, &[TS, NONCE])
    }

    fn query<'a>(sig: &'a str, msg_sig: Option<&'a str>) -> PushQuery<'a> {
        PushQuery {
            signature: sig,
            timestamp: TS,
            nonce: NONCE,
            msg_signature: msg_sig,
        }
    }

    fn sha1_hex(s: &str) -> String {
        hex::encode(Sha1::digest(s.as_bytes()))
    }

    /// Opens a safe-mode body built around `encrypt`, signing it properly.
    fn open_encrypted(
        keys: &PushKeys,
        appid: &str,
        encrypt: &str,
    ) -> Result<PushMessage, PushError> {
        let body = format!(r#"{{"ToUserName":"gh_x","Encrypt":"{encrypt}"}}"#);
        let s = sig();
        let ms = signature(TOKEN, &[TS, NONCE, encrypt]);
        open(keys, appid, &query(&s, Some(&ms)), body.as_bytes())
    }

    /// Encrypts already padded plaintext without `seal`, as WeChat would.
    fn encrypt_raw(padded: &[u8]) -> String {
        let key = safe_keys().aes_key.unwrap();
        let enc = cbc::Encryptor::<Aes256>::new((&key).into(), key[..16].into());
        STANDARD.encode(enc.encrypt_padded_vec_mut::<NoPadding>(padded))
    }

    fn layout(msg: &[u8], declared_len: u32, appid: &[u8]) -> Vec<u8> {
        let mut p = vec![7u8; 16];
        p.extend_from_slice(&declared_len.to_be_bytes());
        p.extend_from_slice(msg);
        p.extend_from_slice(appid);
        p
    }

    fn pkcs7_32(mut p: Vec<u8>) -> Vec<u8> {
        let pad = 32 - p.len() % 32;
        p.resize(p.len() + pad, pad as u8);
        p
    }

    #[test]
    fn signature_sorts_parts() {
        // Sorted by hand: "1592823139" < "1626959646" < "pushtoken123".
        let want = sha1_hex("15928231391626959646pushtoken123");
        assert_eq!(signature(TOKEN, &[TS, NONCE]), want);
        assert_eq!(signature(TOKEN, &[NONCE, TS]), want);
        // With Encrypt: "ZZ" < "pushtoken123" as 'Z' < 'p' bytewise.
        let want = sha1_hex("15928231391626959646ZZpushtoken123");
        assert_eq!(signature(TOKEN, &[TS, NONCE, "ZZ"]), want);
    }

    #[test]
    fn url_check() {
        let keys = plain_keys();
        let s = sig();
        assert_eq!(
            check_url(&keys, &query(&s, None), "5837397749"),
            Ok("5837397749")
        );
        let bad = signature("other", &[TS, NONCE]);
        assert_eq!(
            check_url(&keys, &query(&bad, None), "1"),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            check_url(&keys, &query(&s, None), "<script>"),
            Err(PushError::Malformed("echostr"))
        );
        assert_eq!(
            check_url(&keys, &query(&s, None), ""),
            Err(PushError::Malformed("echostr"))
        );
    }

    #[test]
    fn plaintext_json_and_xml_agree() {
        let keys = plain_keys();
        let s = sig();
        let q = query(&s, None);
        let from_json = open(&keys, APPID, &q, JSON_MSG.as_bytes()).unwrap();
        let from_xml = open(&keys, APPID, &q, XML_MSG.as_bytes()).unwrap();
        assert_eq!(from_json, expected());
        assert_eq!(from_xml, expected());
        let spaced = format!("\n  <?xml version=\"1.0\"?>\n{XML_MSG}");
        assert_eq!(
            open(&keys, APPID, &q, spaced.as_bytes()).unwrap(),
            expected()
        );
    }

    #[test]
    fn safe_json_round_trip() {
        let keys = safe_keys();
        let encrypt = seal(&keys, APPID, JSON_MSG, [1; 16]).unwrap();
        assert_eq!(open_encrypted(&keys, APPID, &encrypt).unwrap(), expected());
    }

    #[test]
    fn safe_xml_round_trip() {
        let keys = safe_keys();
        let encrypt = seal(&keys, APPID, XML_MSG, [2; 16]).unwrap();
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        let s = sig();
        let ms = signature(TOKEN, &[TS, NONCE, &encrypt]);
        let got = open(&keys, APPID, &query(&s, Some(&ms)), body.as_bytes()).unwrap();
        assert_eq!(got, expected());
    }

    #[test]
    fn compatible_mode_ignores_plain_fields() {
        let keys = safe_keys();
        let encrypt = seal(&keys, APPID, JSON_MSG, [3; 16]).unwrap();
        // Plain fields that disagree with the sealed message, and odd types.
        let body = format!(
            r#"{{"ToUserName":"gh_fake","CreateTime":"soon","result":7,"Encrypt":"{encrypt}"}}"#
        );
        let s = sig();
        let ms = signature(TOKEN, &[TS, NONCE, &encrypt]);
        let got = open(&keys, APPID, &query(&s, Some(&ms)), body.as_bytes()).unwrap();
        assert_eq!(got, expected());
    }

    #[test]
    fn known_answer_decryption() {
        let message = r#"{"ToUserName":"gh_k","FromUserName":"o_k","CreateTime":1,"MsgType":"event","Event":"wxa_media_check","trace_id":"t-1","result":{"suggest":"risky","label":20001}}"#;
        let padded = pkcs7_32(layout(
            message.as_bytes(),
            message.len() as u32,
            APPID.as_bytes(),
        ));
        assert_eq!(padded.len() % 32, 0);
        let got = open_encrypted(&safe_keys(), APPID, &encrypt_raw(&padded)).unwrap();
        assert_eq!(got.to_user_name, "gh_k");
        assert_eq!(got.trace_id.as_deref(), Some("t-1"));
        assert_eq!(
            got.result,
            Some(CheckResult {
                suggest: Suggest::Risky,
                label: 20001
            })
        );
        assert_eq!(got.errcode, None);
    }

    #[test]
    fn refuses_bad_signatures() {
        let keys = safe_keys();
        let encrypt = seal(&keys, APPID, JSON_MSG, [4; 16]).unwrap();
        let body = format!(r#"{{"Encrypt":"{encrypt}"}}"#);
        let good = sig();
        let good_ms = signature(TOKEN, &[TS, NONCE, &encrypt]);
        let bad = signature("wrong", &[TS, NONCE]);
        let bad_ms = signature("wrong", &[TS, NONCE, &encrypt]);
        let b = body.as_bytes();
        assert_eq!(
            open(&keys, APPID, &query(&bad, Some(&good_ms)), b),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            open(&keys, APPID, &query(&good, Some(&bad_ms)), b),
            Err(PushError::BadMsgSignature)
        );
        assert_eq!(
            open(&keys, APPID, &query(&good, None), b),
            Err(PushError::MissingMsgSignature)
        );
        // Uppercase hex is not what WeChat sends.
        let upper = good.to_uppercase();
        assert_eq!(
            open(&keys, APPID, &query(&upper, Some(&good_ms)), b),
            Err(PushError::BadSignature)
        );
        // Plaintext mode checks `signature` too.
        let plain = plain_keys();
        let r = open(&plain, APPID, &query(&bad, None), JSON_MSG.as_bytes());
        assert_eq!(r, Err(PushError::BadSignature));
    }

    #[test]
    fn refuses_wrong_appids() {
        let keys = safe_keys();
        let encrypt = seal(&keys, "wxother", JSON_MSG, [5; 16]).unwrap();
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt),
            Err(PushError::WrongAppid)
        );
        // Right appid in the ciphertext, another in the message's own field.
        let other = JSON_MSG.replace(APPID, "wxother");
        let encrypt = seal(&keys, APPID, &other, [5; 16]).unwrap();
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt),
            Err(PushError::WrongAppid)
        );
        let s = sig();
        let r = open(&plain_keys(), APPID, &query(&s, None), other.as_bytes());
        assert_eq!(r, Err(PushError::WrongAppid));
    }

    #[test]
    fn refuses_bad_padding_and_layout() {
        let keys = safe_keys();
        let msg = b"{}";
        let base = layout(msg, 2, APPID.as_bytes());
        // Last byte 0 or 33: outside 1..=32 (the rest of the block is 1s).
        for pad in [0u8, 33] {
            let mut p = base.clone();
            p.resize(64, 1);
            p[63] = pad;
            let r = open_encrypted(&keys, APPID, &encrypt_raw(&p));
            assert_eq!(r, Err(PushError::DecryptFailed), "pad {pad}");
        }
        // Inconsistent pad bytes: last says 4, one before it differs.
        let mut p = pkcs7_32(base.clone());
        let n = p.len();
        p[n - 1] = 4;
        p[n - 2] = 4;
        p[n - 3] = 9;
        p[n - 4] = 4;
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt_raw(&p)),
            Err(PushError::DecryptFailed)
        );
        // Declared length beyond the plaintext.
        let p = pkcs7_32(layout(msg, 10_000, APPID.as_bytes()));
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt_raw(&p)),
            Err(PushError::DecryptFailed)
        );
        let p = pkcs7_32(layout(msg, u32::MAX, APPID.as_bytes()));
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt_raw(&p)),
            Err(PushError::DecryptFailed)
        );
        // Not base64, and not whole blocks.
        assert_eq!(
            open_encrypted(&keys, APPID, "!!!"),
            Err(PushError::DecryptFailed)
        );
        assert_eq!(
            open_encrypted(&keys, APPID, "AAAA"),
            Err(PushError::DecryptFailed)
        );
    }

    #[test]
    fn refuses_other_bodies() {
        let s = sig();
        let q = query(&s, None);
        let keys = plain_keys();
        assert_eq!(
            open(&keys, APPID, &q, b"hello"),
            Err(PushError::NotXmlOrJson)
        );
        assert_eq!(open(&keys, APPID, &q, b""), Err(PushError::NotXmlOrJson));
        let big = vec![b' '; MAX_PUSH_BYTES + 1];
        assert_eq!(open(&keys, APPID, &q, &big), Err(PushError::TooLarge));
        assert_eq!(
            open(&keys, APPID, &q, b"{\"MsgType\":"),
            Err(PushError::Malformed("bad JSON"))
        );
        assert_eq!(
            open(&keys, APPID, &q, b"{}"),
            Err(PushError::Malformed("missing MsgType"))
        );
        // Safe-mode body without a key configured.
        let encrypt = seal(&safe_keys(), APPID, JSON_MSG, [6; 16]).unwrap();
        assert_eq!(
            open_encrypted(&keys, APPID, &encrypt),
            Err(PushError::NoAesKey)
        );
        // Plain body while a key is configured.
        let r = open(&safe_keys(), APPID, &q, JSON_MSG.as_bytes());
        assert_eq!(r, Err(PushError::NotEncrypted));
    }

    #[test]
    fn unknown_suggest() {
        let s = sig();
        let body = JSON_MSG.replace(
            r#""result":{"suggest":"pass""#,
            r#""result":{"suggest":"maybe""#,
        );
        assert_ne!(body, JSON_MSG);
        let r = open(&plain_keys(), APPID, &query(&s, None), body.as_bytes());
        assert_eq!(r, Err(PushError::UnknownSuggest));
        assert_eq!("maybe".parse::<Suggest>(), Err(PushError::UnknownSuggest));
        assert_eq!("review".parse::<Suggest>(), Ok(Suggest::Review));
        assert!(serde_json::from_str::<Suggest>("\"maybe\"").is_err());
        assert_eq!(
            serde_json::from_str::<Suggest>("\"risky\"").unwrap(),
            Suggest::Risky
        );
    }

    #[test]
    fn aes_key_checks() {
        assert_eq!(
            PushKeys::new(TOKEN, Some("short")).unwrap_err(),
            PushError::BadAesKey
        );
        let not_b64 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!";
        assert_eq!(
            PushKeys::new(TOKEN, Some(not_b64)).unwrap_err(),
            PushError::BadAesKey
        );
        assert_eq!(PushKeys::new("", None).unwrap_err(), PushError::BadToken);
        // The last character's spare bits are ignored, as WeChat's SDKs do:
        // 'b' (011011) and 'Y' (011000) differ only in them.
        let a = PushKeys::new(TOKEN, Some(&format!("{}b", "a".repeat(42)))).unwrap();
        let b = PushKeys::new(TOKEN, Some(&format!("{}Y", "a".repeat(42)))).unwrap();
        assert_eq!(a.aes_key, b.aes_key);
    }

    #[test]
    fn debug_and_errors_hide_secrets() {
        let keys = safe_keys();
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains(TOKEN) && !dbg.contains("abcdefg"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
        let s = sig();
        let body = JSON_MSG.replace("1626959646", "\"secret-ish\"");
        let err = open(&plain_keys(), APPID, &query(&s, None), body.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("secret-ish"));
    }
}
