//! The thread that delivers the outbox's events (see the module above).

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{signature, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER};
use crate::background::Periodic;
use crate::config::WebhookSettings;
use crate::db::outbox::{self, DueEvent};
use crate::db::DbPool;

/// How often the deliverer looks for due events.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// Events taken at once; they are sent concurrently.
const BATCH: i64 = 32;

/// The delivery thread. Stopping it waits for the deliveries under way.
pub struct Deliverer {
    thread: Periodic,
}

enum Outcome {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

impl Deliverer {
    pub fn start(settings: WebhookSettings, pool: DbPool) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxlogin-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        let round = move || {
            if let Err(e) = runtime.block_on(deliver_due(&settings, &client, &pool)) {
                tracing::warn!(error = %e, "webhook events cannot be read or marked yet");
            }
        };
        Ok(Self {
            thread: Periodic::start("webhooks", POLL_EVERY, round, || {})?,
        })
    }

    pub fn stop(&self) {
        self.thread.stop();
    }
}

/// Delivers what is due, batch after batch, until nothing is.
/// Counts one delivery attempt by result: `delivered`, `failed` (to be
/// tried again) or `given_up`.
fn count_delivery(result: &'static str) {
    if crate::telemetry::prometheus::is_installed() {
        metrics::counter!("wxlogin_webhook_deliveries_total", "result" => result).increment(1);
    }
}

async fn deliver_due(
    settings: &WebhookSettings,
    client: &reqwest::Client,
    pool: &DbPool,
) -> Result<(), crate::db::DbError> {
    loop {
        let now = crate::clock::now();
        // A node that dies while delivering leaves its events to another
        // after the lease: they are sent again (at least once).
        let lease = chrono::Duration::from_std(settings.timeout * 2 + Duration::from_secs(5))
            .unwrap_or(chrono::Duration::minutes(1));
        let due = crate::db::run(pool, move |conn| {
            outbox::take_due(conn, now, now + lease, BATCH)
        })
        .await?;
        let taken = due.len() as i64;
        let sent = futures_util::future::join_all(
            due.iter().map(|event| deliver(settings, client, event)),
        )
        .await;
        let results: Vec<(DueEvent, Outcome)> = due.into_iter().zip(sent).collect();
        let settings = settings.clone();
        crate::db::run(pool, move |conn| {
            let now = crate::clock::now();
            for (event, outcome) in &results {
                match outcome {
                    Outcome::Delivered(status) => {
                        count_delivery("delivered");
                        outbox::delivered(conn, event.id, i32::from(*status), now)?
                    }
                    Outcome::Failed { status, error } => {
                        let attempts = event.attempts + 1;
                        let retry_at = (attempts < settings.max_attempts).then(|| {
                            now + chrono::Duration::from_std(settings.backoff(attempts))
                                .unwrap_or(chrono::Duration::hours(1))
                        });
                        count_delivery(if retry_at.is_some() { "failed" } else { "given_up" });
                        if retry_at.is_none() {
                            tracing::warn!(event = %event.event_id, kind = %event.kind, attempts, "a webhook event is given up");
                        }
                        outbox::attempt_failed(
                            conn,
                            event.id,
                            status.map(i32::from),
                            error,
                            retry_at,
                            now,
                        )?
                    }
                }
            }
            Ok(())
        })
        .await?;
        if taken < BATCH {
            return Ok(());
        }
    }
}

async fn deliver(
    settings: &WebhookSettings,
    client: &reqwest::Client,
    event: &DueEvent,
) -> Outcome {
    let t = chrono::Utc::now().timestamp();
    let signed = signature(
        settings.secret.expose_secret().as_bytes(),
        t,
        &event.payload,
    );
    let sent = client
        .post(settings.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signed)
        .header(EVENT_HEADER, &event.kind)
        .header(EVENT_ID_HEADER, &event.event_id)
        .body(event.payload.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            Outcome::Delivered(response.status().as_u16())
        }
        Ok(response) => Outcome::Failed {
            status: Some(response.status().as_u16()),
            error: format!("the receiver answered {}", response.status()),
        },
        // The URL may hold a credential: the error is told without it.
        Err(e) if e.is_timeout() => Outcome::Failed {
            status: None,
            error: format!("no answer within {:?}", settings.timeout),
        },
        Err(e) if e.is_connect() => Outcome::Failed {
            status: None,
            error: "the receiver cannot be reached".into(),
        },
        Err(e) => Outcome::Failed {
            status: None,
            error: format!("the delivery failed: {}", e.without_url()),
        },
    }
}
