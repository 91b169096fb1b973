//! Wall-clock time as odd records it: Unix seconds, shown in UTC, without a time-zone
//! database.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds from `since_ms` (Unix ms) to now; 0 when the clock went back.
pub fn ms_since(since_ms: i64) -> u64 {
    u64::try_from(now_unix_ms().saturating_sub(since_ms)).unwrap_or(0)
}

/// `2026-11-20 16:01:01 UTC`. Any time reads as a date, even one from a corrupt ledger
/// line (milliseconds taken for seconds: `58861-05-16 05:01:09 UTC`).
pub fn human(unix_seconds: i64) -> String {
    civil(unix_seconds, " ", " UTC")
}

/// `2026-11-20T16:01:01Z` (RFC 3339, as `docker compose logs --since` takes it).
pub fn rfc3339(unix_seconds: i64) -> String {
    civil(unix_seconds, "T", "Z")
}

fn civil(unix_seconds: i64, between: &str, end: &str) -> String {
    let c = Civil::of(unix_seconds);
    format!(
        "{:04}-{:02}-{:02}{between}{:02}:{:02}:{:02}{end}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `YYYYMMDD`, `HHMMSS` of a Unix time, UTC (civil-from-days, no time-zone database).
pub fn utc(unix_seconds: i64) -> (String, String) {
    let c = Civil::of(unix_seconds);
    (
        format!("{:04}{:02}{:02}", c.year, c.month, c.day),
        format!("{:02}{:02}{:02}", c.hour, c.minute, c.second),
    )
}

/// A Unix time as a date and time of day, UTC.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

impl Civil {
    fn of(unix_seconds: i64) -> Self {
        let days = unix_seconds.div_euclid(86_400);
        let secs = unix_seconds.rem_euclid(86_400);
        // Howard Hinnant's algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(
            utc(951_782_400),
            ("20000229".to_owned(), "000000".to_owned())
        );
        assert_eq!(
            human(1_795_132_800 + 16 * 3600 + 61),
            "2026-11-20 16:01:01 UTC"
        );
        assert_eq!(human(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(human(-1), "1969-12-31 23:59:59 UTC");
    }

    /// Found by fuzzing the journal: a time past year 9999 (here milliseconds read as
    /// seconds) was cut at fixed offsets into `5886-10-516 05:01:09 UTC`.
    #[test]
    fn times_past_year_9999_read_as_dates() {
        assert_eq!(human(1_795_318_318_869), "58861-05-16 05:01:09 UTC");
        assert_eq!(human(253_402_300_799), "9999-12-31 23:59:59 UTC");
        assert_eq!(human(253_402_300_800), "10000-01-01 00:00:00 UTC");
        assert_eq!(human(i64::MAX), "292277026596-12-04 15:30:07 UTC");
        assert_eq!(human(i64::MIN), "-292277022657-01-27 08:29:52 UTC");
        assert_eq!(
            utc(1_795_318_318_869),
            ("588610516".to_owned(), "050109".to_owned())
        );
    }
}
