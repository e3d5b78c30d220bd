//! Randomness from the operating system, for tokens, names and keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;

/// `N` bytes from the operating system's random generator.
///
/// # Panics
/// If the operating system cannot give random bytes, which leaves nothing
/// safe to do.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng
        .try_fill_bytes(&mut out)
        .expect("the operating system's random generator failed");
    out
}

/// `prefix` followed by `N` random bytes as unpadded URL-safe base64: the
/// shape of session tokens, service secrets and client ids.
pub fn prefixed_text<const N: usize>(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes::<N>()))
}

/// Whether `s` has the shape [`prefixed_text::<N>`](prefixed_text) makes,
/// so that anything else can be refused without a look-up.
pub fn is_prefixed_text<const N: usize>(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|body| {
        body.len() == (N * 8).div_ceil(6)
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_texts_have_the_shape_they_are_checked_for() {
        let text = prefixed_text::<32>("wxl_");
        assert_eq!(text.len(), 4 + 43);
        assert!(is_prefixed_text::<32>(&text, "wxl_"));
        assert!(!is_prefixed_text::<32>(&text, "wxs_"));
        assert!(!is_prefixed_text::<16>(&text, "wxl_"));
        // Standard base64's `/` and `+` are not URL-safe.
        assert!(!is_prefixed_text::<32>(
            &format!("{}/", &text[..46]),
            "wxl_"
        ));
        assert!(!is_prefixed_text::<32>(
            &format!("{}+", &text[..46]),
            "wxl_"
        ));
        assert!(!is_prefixed_text::<32>(
            &format!("{}!", &text[..46]),
            "wxl_"
        ));
    }
}
