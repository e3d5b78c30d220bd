//! TOTP two-factor sign-in for the admin site (RFC 6238) and its one-time
//! recovery codes.
//!
//! SHA-1, 6 digits and a 30-second period are fixed: they are what every
//! authenticator app expects, and some apps ignore the URL's parameters.

use std::fmt;

use qrcode::render::svg;
use qrcode::QrCode;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

/// Bytes in a secret: 160 bits, RFC 4226's recommendation.
pub const SECRET_LEN: usize = 20;
const DIGITS: usize = 6;
const PERIOD: u64 = 30;

/// A TOTP secret. It is wiped from memory when dropped, and its `Debug`
/// shows nothing of it.
pub struct TotpSecret(TOTP);

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the code must be 6 digits")]
    Malformed,
    #[error("the code is wrong or has expired")]
    Wrong,
    #[error("this code has already been used; wait for the next one")]
    Replayed,
}

impl TotpSecret {
    /// A new secret from the operating system's random generator.
    ///
    /// # Panics
    /// If the operating system cannot give random bytes.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random generator failed");
        Self::new(bytes)
    }

    /// The secret from its stored bytes, or `None` unless there are exactly
    /// [`SECRET_LEN`] of them: [`generate`](Self::generate) makes nothing
    /// else, so another length means the stored value is damaged.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        if bytes.len() != SECRET_LEN {
            drop(Zeroizing::new(bytes));
            return None;
        }
        Some(Self::new(bytes))
    }

    fn new(bytes: Vec<u8>) -> Self {
        // `new_unchecked` because `new` refuses colons in the account name,
        // and the label is built per URL anyway.
        Self(TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            PERIOD,
            bytes,
            None,
            String::new(),
        ))
    }

    /// The raw secret, for the caller to encrypt and store.
    /// A secret from its base32 text, as [`TotpSecret::base32`] writes it.
    pub fn from_base32(text: &str) -> Option<Self> {
        let bytes = totp_rs::Secret::Encoded(text.trim().to_owned())
            .to_bytes()
            .ok()?;
        Self::from_bytes(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0.secret
    }

    /// The secret as base32 without padding (32 letters and digits), for an
    /// admin to type into an authenticator app whose camera cannot be used.
    pub fn base32(&self) -> String {
        self.0.get_secret_base32()
    }

    /// The `otpauth://totp/…` URL that authenticator apps read from a QR
    /// code. The issuer and account are percent-encoded (spaces as `%20`,
    /// colons as `%3A`, other text as UTF-8). Apps split the label at its
    /// first colon, some after decoding `%3A`, so the account may contain
    /// colons but the issuer must not.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let mut totp = self.0.clone();
        totp.issuer = Some(issuer.to_owned());
        totp.account_name = account.to_owned();
        // totp-rs leaves out parameters that have their default values;
        // they are written anyway so that no app has to guess.
        format!("{}&algorithm=SHA1&digits=6&period=30", totp.get_url())
    }

    /// The QR code of [`otpauth_url`](Self::otpauth_url) as an `<svg>`
    /// element to put straight into HTML: no XML declaration, a `viewBox`,
    /// `role="img"` and the given `aria-label`, and colours as `fill`
    /// attributes because the admin site's CSP forbids inline styles.
    ///
    /// `None` if the URL is too long for a QR code (about 2,300 bytes), in
    /// which case the page can offer only [`base32`](Self::base32).
    pub fn qr_svg(&self, issuer: &str, account: &str, aria_label: &str) -> Option<String> {
        let code = QrCode::new(self.otpauth_url(issuer, account).as_bytes()).ok()?;
        let svg = code
            .render::<svg::Color>()
            .min_dimensions(200, 200)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build();
        let element = &svg[svg.find("<svg")?..];
        let attributes = format!(
            r#"<svg role="img" aria-label="{}""#,
            super::text::escape_xml(aria_label)
        );
        Some(element.replacen("<svg", &attributes, 1))
    }

    /// The code an authenticator app shows at unix time `now`: for tests,
    /// and for nothing that is sent to a browser.
    pub fn code(&self, now: u64) -> String {
        self.0.generate(now)
    }

    /// Checks a code typed at unix time `now`, accepting the codes of one
    /// step before and after the current one for clock skew (RFC 6238 §5.2).
    ///
    /// Returns the time step (`unix_time / 30`) that matched. The caller
    /// stores it and passes it back as `after_step`, so that a code is never
    /// accepted twice (RFC 6238 §5.2): a right code of that step or an
    /// earlier one gives [`TotpError::Replayed`].
    ///
    /// Surrounding whitespace and single spaces between digits ("123 456")
    /// are allowed; anything but 6 ASCII digits is [`TotpError::Malformed`].
    pub fn verify(&self, code: &str, now: u64, after_step: Option<u64>) -> Result<u64, TotpError> {
        let code = normalise_code(code).ok_or(TotpError::Malformed)?;
        let current = now / PERIOD;
        let mut accepted = None;
        let mut replayed = false;
        // Constant-time comparisons and no early return: the time taken
        // says nothing about how much of a guess was right.
        for step in [
            current.checked_sub(1),
            Some(current),
            current.checked_add(1),
        ]
        .into_iter()
        .flatten()
        {
            let Some(time) = step.checked_mul(PERIOD) else {
                continue;
            };
            let expected = self.0.generate(time);
            if bool::from(code.as_bytes().ct_eq(expected.as_bytes())) {
                if after_step.is_some_and(|last| step <= last) {
                    replayed = true;
                } else if accepted.is_none() {
                    // The earliest step, so that the next code is not
                    // refused as a replay when two steps' codes collide.
                    accepted = Some(step);
                }
            }
        }
        match (accepted, replayed) {
            (Some(step), _) => Ok(step),
            (None, true) => Err(TotpError::Replayed),
            (None, false) => Err(TotpError::Wrong),
        }
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// The 6 digits of a typed code, or `None`.
fn normalise_code(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let mut digits = String::with_capacity(DIGITS);
    let mut after_space = true;
    for c in trimmed.chars() {
        match c {
            '0'..='9' if digits.len() < DIGITS => {
                digits.push(c);
                after_space = false;
            }
            ' ' if !after_space => after_space = true,
            _ => return None,
        }
    }
    (digits.len() == DIGITS).then_some(digits)
}

/// Recovery codes given to an admin at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters in a recovery code, not counting the dash.
pub const RECOVERY_CODE_LEN: usize = 10;
/// Digits and capitals without 0, O, 1, I and L, which are read one for
/// another: 31 symbols, so a code holds 10 × log2(31) ≈ 49.5 bits.
const RECOVERY_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Ten different one-time recovery codes, shown as `XXXXX-XXXXX`.
///
/// # Panics
/// If the operating system cannot give random bytes.
pub fn generate_recovery_codes() -> Vec<String> {
    let mut rng = OsRng.unwrap_err();
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let mut code = String::with_capacity(RECOVERY_CODE_LEN + 1);
        for i in 0..RECOVERY_CODE_LEN {
            if i == RECOVERY_CODE_LEN / 2 {
                code.push('-');
            }
            // `random_range` samples uniformly; `byte % 31` would not.
            let index = rng.random_range(0..RECOVERY_ALPHABET.len());
            code.push(char::from(RECOVERY_ALPHABET[index]));
        }
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// What an admin typed, trimmed, without spaces or dashes and in capitals;
/// `None` unless that is 10 characters of the recovery alphabet.
pub fn normalise_recovery_code(input: &str) -> Option<String> {
    let code = clean_recovery_code(input);
    (code.len() == RECOVERY_CODE_LEN && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(code)
}

fn clean_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The key of the recovery codes' hashes, derived from the server key.
#[derive(Clone)]
pub struct RecoveryKey([u8; 32]);

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(..)")
    }
}

impl RecoveryKey {
    pub fn derive(server_key: &[u8]) -> Self {
        Self(super::sealed::derive_key(
            server_key,
            "admin recovery codes",
        ))
    }

    /// The stored form of a recovery code: HMAC-SHA256 of the admin's id and
    /// the code's normalised form, so `ABCDE-FGHJK` and `abcde fghjk` hash
    /// alike. Refuse input that [`normalise_recovery_code`] refuses first.
    ///
    /// The codes are uniformly random (about 49.5 bits), so a slow password
    /// hash would add little, and a keyed hash keeps an indexed look-up: a
    /// copy of the table without the server key cannot be searched at all,
    /// and the admin's id makes each admin's codes a search of their own.
    pub fn hash(&self, admin_id: i64, code: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(&admin_id.to_be_bytes());
        mac.update(clean_recovery_code(code).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(RFC_SECRET.to_vec()).unwrap()
    }

    #[test]
    fn rfc_6238_sha1_vectors_truncated_to_six_digits() {
        // RFC 6238 Appendix B publishes 8 digits. The code is
        // (dynamic truncation) mod 10^digits, and 10^6 divides 10^8, so the
        // 6-digit code is the last 6 of the published 8.
        let secret = rfc_secret();
        let mut eight = secret.0.clone();
        eight.digits = 8;
        for (time, published) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(eight.generate(time), published);
            assert_eq!(secret.code(time), &published[2..]);
            assert_eq!(secret.verify(&published[2..], time, None), Ok(time / 30));
        }
    }

    #[test]
    fn one_step_of_skew_either_way_is_accepted_and_two_are_not() {
        // A fixed secret and time, so that no two of these steps' codes
        // collide by chance.
        let secret = rfc_secret();
        let now: u64 = 1_700_000_015;
        let step = now / 30;
        for (other, expected) in [
            (step - 2, Err(TotpError::Wrong)),
            (step - 1, Ok(step - 1)),
            (step, Ok(step)),
            (step + 1, Ok(step + 1)),
            (step + 2, Err(TotpError::Wrong)),
        ] {
            assert_eq!(secret.verify(&secret.code(other * 30), now, None), expected);
        }
        // Near the epoch there is no step before the first.
        assert_eq!(secret.verify(&secret.code(0), 5, None), Ok(0));
        // Nor one after the last.
        assert!(secret
            .verify(&secret.code(u64::MAX), u64::MAX, None)
            .is_ok());
    }

    #[test]
    fn an_accepted_step_is_not_accepted_again() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = secret.code(now);
        let step = secret.verify(&code, now, None).unwrap();
        let replayed = Err(TotpError::Replayed);
        assert_eq!(secret.verify(&code, now, Some(step)), replayed);
        assert_eq!(secret.verify(&code, now + 20, Some(step + 1)), replayed);
        let next = secret.code(now + 30);
        assert_eq!(secret.verify(&next, now, Some(step)), Ok(step + 1));
        assert_eq!(
            secret.verify("000000", now, Some(step)),
            Err(TotpError::Wrong)
        );
    }

    #[test]
    fn codes_must_be_six_ascii_digits() {
        let secret = rfc_secret();
        let malformed = [
            "",
            "12345",
            "1234567",
            "12a456",
            "１２３４５６",
            "123  456",
            "123\t456",
        ];
        for input in malformed {
            let result = secret.verify(input, 59, None);
            assert_eq!(result, Err(TotpError::Malformed), "{input:?}");
        }
        assert_eq!(secret.verify("287 082", 59, None), Ok(1));
        assert_eq!(secret.verify(" 287082\n", 59, None), Ok(1));
        assert_eq!(secret.verify("28 70 82", 59, None), Ok(1));
    }

    #[test]
    fn the_secret_round_trips_and_is_not_shown() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), SECRET_LEN);
        assert_ne!(secret.as_bytes(), TotpSecret::generate().as_bytes());
        let again = TotpSecret::from_bytes(secret.as_bytes().to_vec()).unwrap();
        assert_eq!(again.code(1_000), secret.code(1_000));
        assert!(TotpSecret::from_bytes(vec![7; 16]).is_none());
        assert_eq!(format!("{secret:?}"), "TotpSecret(..)");
        assert_eq!(rfc_secret().base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_otpauth_url_is_percent_encoded_and_parses_back() {
        let secret = rfc_secret();
        let url = secret.otpauth_url("wxlogin 管理", "ops:li");
        assert_eq!(
            url,
            "otpauth://totp/wxlogin%20%E7%AE%A1%E7%90%86:ops%3Ali\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=wxlogin%20%E7%AE%A1%E7%90%86\
             &algorithm=SHA1&digits=6&period=30"
        );
        let parsed = TOTP::from_url_unchecked(&url).unwrap();
        assert_eq!(parsed.issuer.as_deref(), Some("wxlogin 管理"));
        assert_eq!(parsed.account_name, "ops:li");
        assert_eq!(parsed.secret, RFC_SECRET);
        assert_eq!(
            (parsed.algorithm, parsed.digits, parsed.step),
            (Algorithm::SHA1, 6, 30)
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_element_without_inline_styles() {
        let svg = rfc_secret()
            .qr_svg("wxlogin 管理", "ops:li", "QR code for \"ops\" & co")
            .unwrap();
        assert!(
            svg.starts_with(r#"<svg role="img" aria-label="QR code for &quot;ops&quot; &amp; co""#)
        );
        assert!(svg.contains("viewBox=\"0 0 "));
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("style="));
        assert!(!svg.contains("<?xml"));
        assert!(rfc_secret().qr_svg("x", &"a".repeat(3000), "QR").is_none());
    }

    #[test]
    fn recovery_codes_are_unique_readable_and_hash_by_their_normal_form() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let key = RecoveryKey::derive(&[7; 64]);
        let hash = |code: &str| key.hash(1, code);
        let mut hashes: Vec<String> = codes.iter().map(|c| hash(c)).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            let (left, right) = code.split_once('-').unwrap();
            assert_eq!((left.len(), right.len()), (5, 5));
            let normal = format!("{left}{right}");
            assert!(normal.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)));
            let n = Some(normal.as_str());
            assert_eq!(normalise_recovery_code(code).as_deref(), n);
            assert_eq!(normalise_recovery_code(&code.to_lowercase()).as_deref(), n);
            assert_eq!(
                normalise_recovery_code(&format!(" {left} {right}\n")).as_deref(),
                n
            );
            let lower = normal.to_lowercase();
            assert_eq!(hash(code), hash(&lower));
        }
        assert_ne!(hash("ABCDE-FGHJK"), key.hash(2, "ABCDE-FGHJK"), "per admin");
        let other = RecoveryKey::derive(&[8; 64]);
        assert_ne!(
            hash("ABCDE-FGHJK"),
            other.hash(1, "ABCDE-FGHJK"),
            "per server key"
        );
        // 0, O, 1, I and l; too short; too long; another separator.
        let bad = "ABCDE-FGHJ0 ABCDE-FGHJO ABCDE-FGHJ1 abcde-fghji ABCDE-FGHJl ABCDE-FGHJ \
                   ABCDE-FGHJKM ABCDE_FGHJK";
        for bad in bad.split(' ').chain([""]) {
            assert_eq!(normalise_recovery_code(bad), None, "{bad:?}");
        }
    }
}
