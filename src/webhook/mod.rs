//! The webhook: signing deliveries, and the thread that delivers the
//! outbox's events, at least once, with retries and backoff.
//!
//! Each delivery is a POST of the event's stored JSON body with
//! - `X-Wxlogin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`;
//! - `X-Wxlogin-Event` (its type) and `X-Wxlogin-Event-Id` (its id).
//!
//! A 2xx answer delivers it. Anything else (another status, a timeout, a
//! refused connection) is retried after [`WebhookSettings::backoff`], until
//! [`WebhookSettings::max_attempts`] tries have failed; the event is then
//! marked failed and shown as such in the admin site. Events wait in the
//! database, so a restart loses none.

mod deliverer;

pub use deliverer::Deliverer;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-wxlogin-signature";
pub const EVENT_HEADER: &str = "x-wxlogin-event";
pub const EVENT_ID_HEADER: &str = "x-wxlogin-event-id";

/// The `X-Wxlogin-Signature` value of `body` sent at `unix_seconds`.
pub fn signature(secret: &[u8], unix_seconds: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_time_and_the_body() {
        // Computed apart, with Python's hmac module.
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, "what do ya want for nothing?"),
            "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
    }
}
