//! Times as people read them: instants are stored in UTC (naive), and shown
//! and asked for in a display time zone (the admin site's
//! `--admin-timezone`). One format everywhere, with the offset written out,
//! so that no shown time is ambiguous.

use chrono::{Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// The admin site's zone unless told otherwise: its operators are in China.
pub const DEFAULT_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// An IANA zone name, such as `Asia/Shanghai` or `UTC`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone {:?}; give an IANA name such as Asia/Shanghai, Europe/Berlin or UTC",
            name.chars().take(64).collect::<String>()
        )
    })
}

/// A stored (UTC) instant in `zone`: `2026-01-02 04:00:00 (UTC+08:00)`. The
/// offset is the instant's own, so it is right on both sides of a
/// daylight-saving change.
pub fn format(t: NaiveDateTime, zone: Tz) -> String {
    let local = zone.from_utc_datetime(&t);
    format!(
        "{} (UTC{})",
        local.format("%Y-%m-%d %H:%M:%S"),
        local.format("%:z")
    )
}

/// The calendar day in `zone` of a stored (UTC) instant.
pub fn day_of(t: NaiveDateTime, zone: Tz) -> NaiveDate {
    zone.from_utc_datetime(&t).date_naive()
}

/// The first instant of `day` in `zone`, as a stored (UTC) instant. Where
/// a daylight-saving change skips midnight, the day starts when the skip
/// ends; where midnight happens twice, at the first.
pub fn start_of_day(day: NaiveDate, zone: Tz) -> NaiveDateTime {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match zone.from_local_datetime(&midnight).earliest() {
        Some(start) => start.naive_utc(),
        None => {
            // Midnight falls in the skipped hour: the change happens at
            // midnight by the offset in force before it.
            let before = zone.offset_from_utc_datetime(&(midnight - Duration::days(1)));
            midnight - before.fix()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn times_show_their_offset() {
        let t = at("2026-01-01 20:00:00");
        assert_eq!(format(t, DEFAULT_ZONE), "2026-01-02 04:00:00 (UTC+08:00)");
        assert_eq!(format(t, chrono_tz::UTC), "2026-01-01 20:00:00 (UTC+00:00)");
        let berlin = parse_zone("Europe/Berlin").unwrap();
        assert_eq!(
            format(at("2026-07-01 12:00:00"), berlin),
            "2026-07-01 14:00:00 (UTC+02:00)"
        );
        assert_eq!(
            format(at("2026-01-01 12:00:00"), berlin),
            "2026-01-01 13:00:00 (UTC+01:00)"
        );
    }

    #[test]
    fn zone_names_are_checked() {
        assert_eq!(parse_zone("Asia/Shanghai"), Ok(DEFAULT_ZONE));
        assert_eq!(parse_zone("UTC"), Ok(chrono_tz::UTC));
        let err = parse_zone("Mars/Olympus").unwrap_err();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
        assert!(parse_zone("").is_err());
    }

    #[test]
    fn days_start_at_the_zone_s_midnight() {
        assert_eq!(
            start_of_day(day("2026-01-02"), DEFAULT_ZONE),
            at("2026-01-01 16:00:00")
        );
        assert_eq!(
            start_of_day(day("2026-01-02"), chrono_tz::UTC),
            at("2026-01-02 00:00:00")
        );
        assert_eq!(
            day_of(at("2026-01-01 20:00:00"), DEFAULT_ZONE),
            day("2026-01-02")
        );
        assert_eq!(
            day_of(at("2026-01-01 20:00:00"), chrono_tz::UTC),
            day("2026-01-01")
        );
        // São Paulo skipped midnight on 2018-11-04 (00:00 became 01:00).
        let sao_paulo = parse_zone("America/Sao_Paulo").unwrap();
        assert_eq!(
            start_of_day(day("2018-11-04"), sao_paulo),
            at("2018-11-04 03:00:00")
        );
        assert_eq!(
            start_of_day(day("2018-11-05"), sao_paulo),
            at("2018-11-05 02:00:00")
        );
    }
}
