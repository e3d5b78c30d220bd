//! Randomness from the operating system, for tokens, names and keys.

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
