//! One log line per request, and the request-duration histogram.
//!
//! The line names the route's template (`/admin/users/{id}`), never the
//! path or the query: those carry ids, search terms and phone numbers. It
//! carries a request id, taken from the client's `X-Request-Id` when that is
//! a plain token, else made here, and echoed in the response, so that a
//! proxy's log, this log and a client's report can be joined.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// Whether a client's request id is kept: 1 to 128 characters of letters,
/// digits and `.`, `_`, `:`, `-`, so that it cannot break a log line or a
/// header.
fn is_plain(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_plain(id))
        .map_or_else(|| format!("{:032x}", rand::random::<u128>()), str::to_owned)
}

/// Methods named in logs and labels; any other is `other`, so that a client
/// cannot mint label values.
fn method_name(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: wraps every request of the public listener.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = method_name(req.method());
    let span = tracing::info_span!("request", request_id = %id);
    let result = next.call(req).instrument(span).await;
    let (status, route) = match &result {
        Ok(res) => (
            res.status(),
            res.request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(e) => (e.as_response_error().status_code(), "unmatched".to_owned()),
    };
    let elapsed = started.elapsed();
    tracing::info!(
        target: "wxlogin::http",
        request_id = %id,
        method,
        route = %route,
        status = status.as_u16(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if crate::telemetry::prometheus::is_installed() {
        metrics::histogram!(
            "wxlogin_http_request_duration_seconds",
            "method" => method,
            "route" => route,
            "status" => status.as_str().to_owned(),
        )
        .record(elapsed.as_secs_f64());
    }
    result.map(|mut res| {
        if let Ok(value) = HeaderValue::from_str(&id) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        res
    })
}

#[cfg(test)]
mod tests {
    use super::is_plain;

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(is_plain("req-42"));
        assert!(is_plain("01HZX.abc_def:9"));
        assert!(is_plain(&"a".repeat(128)));
        assert!(!is_plain(""));
        assert!(!is_plain(&"a".repeat(129)));
        assert!(!is_plain("two words"));
        assert!(!is_plain("line\nbreak"));
        assert!(!is_plain("quote\"d"));
    }
}
