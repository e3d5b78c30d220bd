//! Parsers of the command line's values: seconds, retention periods.

use std::time::Duration;

/// A retention period: a duration such as `365d` or `12h`, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

pub(super) fn parse_retention(s: &str) -> Result<Retention, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("forever") {
        return Ok(Retention(None));
    }
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 365d, 30d or 12h, or forever"))?;
    if d < Duration::from_secs(60) {
        return Err(format!("`{s}` is shorter than a minute"));
    }
    Ok(Retention(Some(d)))
}

/// Like [`parse_seconds`], but 0 is allowed: no grace.
pub(super) fn parse_grace(s: &str) -> Result<f64, String> {
    if s.trim().parse::<f64>() == Ok(0.0) {
        return Ok(0.0);
    }
    parse_seconds(s)
}

/// The drain grace outside `--dev`: about what a load balancer needs to
/// see a failed readiness check and stop sending.
pub(super) const DEFAULT_DRAIN_GRACE_SECONDS: f64 = 5.0;

pub(super) fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err(format!(
            "`{s}` must be more than 0 and at most 3600 seconds"
        ))
    }
}
