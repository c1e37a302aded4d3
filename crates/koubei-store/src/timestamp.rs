//! Timestamp parsing for imports.
//!
//! Shops export time in many shapes. We accept, per cell:
//! - ISO 8601 / RFC 3339: `2024-03-01T08:30:00Z`, `2024-03-01 08:30:00.123+08:00`,
//!   `2024-03-01T08:30` (naive), with `-` or `/` between date parts;
//! - a date alone: `2024-03-01` or `20240301` (midnight);
//! - Unix time: seconds (`1709281800`, `1709281800.5`) or milliseconds
//!   (any integer of magnitude 10^11 or more, which as seconds would be past the year 5000).
//!
//! Naive values (no zone) are read in the import's time zone. Everything is
//! stored as microseconds since the epoch, UTC. The parser is hand-written
//! because it runs once per cell on files of tens of millions of rows.

use std::fmt;
use std::str::FromStr;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// The zone that naive timestamps are read in.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde_with::DeserializeFromStr)]
pub enum ImportTz {
    #[default]
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl fmt::Display for ImportTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportTz::Utc => f.write_str("UTC"),
            ImportTz::Fixed(o) => write!(f, "{o}"),
            ImportTz::Named(tz) => write!(f, "{}", tz.name()),
        }
    }
}

impl FromStr for ImportTz {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(ImportTz::Utc);
        }
        if t.starts_with('+') || t.starts_with('-') {
            return parse_offset(t.as_bytes())
                .and_then(|(secs, rest)| rest.is_empty().then_some(secs))
                .and_then(FixedOffset::east_opt)
                .map(ImportTz::Fixed)
                .ok_or_else(|| format!("invalid UTC offset \"{s}\": expected +HH:MM"));
        }
        t.parse::<chrono_tz::Tz>().map(ImportTz::Named).map_err(|_| {
            format!("unknown time zone \"{s}\": expected an IANA name such as Asia/Shanghai, or an offset such as +08:00")
        })
    }
}

impl ImportTz {
    fn to_utc_micros(self, naive: NaiveDateTime) -> Result<i64, String> {
        let dt = match self {
            ImportTz::Utc => return Ok(naive.and_utc().timestamp_micros()),
            ImportTz::Fixed(o) => o
                .from_local_datetime(&naive)
                .single()
                .map(|d| d.with_timezone(&Utc)),
            // In the autumn overlap take the earlier instant, as PostgreSQL does.
            ImportTz::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        };
        dt.map(|d| d.timestamp_micros()).ok_or_else(|| {
            format!(
                "{naive} does not exist in time zone {self} (skipped by a daylight-saving change)"
            )
        })
    }
}

/// Parses one cell to microseconds since the epoch, or says why not.
pub fn parse_timestamp(s: &str, tz: ImportTz) -> Result<i64, String> {
    let t = s.trim();
    let b = t.as_bytes();
    if b.is_empty() {
        return Err("empty timestamp".into());
    }
    if b.iter().all(|c| c.is_ascii_digit()) && b.len() == 8 {
        let date = ymd(&b[0..4], &b[4..6], &b[6..8]).ok_or_else(|| bad(t))?;
        return tz.to_utc_micros(date.and_time(NaiveTime::MIN));
    }
    if is_number(b) {
        return unix(t);
    }
    if b.len() < 10 || !(b[4] == b'-' || b[4] == b'/') || b[7] != b[4] {
        return Err(bad(t));
    }
    let date = ymd(&b[0..4], &b[5..7], &b[8..10]).ok_or_else(|| bad(t))?;
    let rest = &b[10..];
    if rest.is_empty() {
        return tz.to_utc_micros(date.and_time(NaiveTime::MIN));
    }
    if !(rest[0] == b'T' || rest[0] == b't' || rest[0] == b' ') {
        return Err(bad(t));
    }
    let (time, rest) = parse_time(&rest[1..]).ok_or_else(|| bad(t))?;
    let naive = date.and_time(time);
    let rest = trim_start(rest);
    if rest.is_empty() {
        return tz.to_utc_micros(naive);
    }
    if rest == b"Z" || rest == b"z" || rest.eq_ignore_ascii_case(b"utc") {
        return Ok(naive.and_utc().timestamp_micros());
    }
    match parse_offset(rest) {
        Some((secs, [])) => Ok(naive.and_utc().timestamp_micros() - secs as i64 * 1_000_000),
        _ => Err(bad(t)),
    }
}

fn bad(s: &str) -> String {
    let shown: String = s.chars().take(40).collect();
    format!(
        "cannot read \"{shown}\" as a timestamp: expected ISO 8601 (2024-03-01T08:30:00+08:00), a date (2024-03-01 or 20240301), or Unix seconds or milliseconds"
    )
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ').count();
    &b[n..]
}

fn is_number(b: &[u8]) -> bool {
    let body = b.strip_prefix(b"-").unwrap_or(b);
    let mut dots = 0;
    !body.is_empty()
        && body.iter().all(|c| {
            if *c == b'.' {
                dots += 1;
                true
            } else {
                c.is_ascii_digit()
            }
        })
        && dots <= 1
        && body[0] != b'.'
}

/// Seconds, or milliseconds when the magnitude says seconds would be absurd.
fn unix(t: &str) -> Result<i64, String> {
    const MS_THRESHOLD: f64 = 1e11;
    if let Ok(n) = t.parse::<i64>() {
        return if n.unsigned_abs() as f64 >= MS_THRESHOLD {
            n.checked_mul(1_000).ok_or_else(|| bad(t))
        } else {
            Ok(n * 1_000_000)
        };
    }
    let x: f64 = t.parse().map_err(|_| bad(t))?;
    let micros = if x.abs() >= MS_THRESHOLD {
        x * 1e3
    } else {
        x * 1e6
    };
    if micros.is_finite() && micros.abs() < 9.2e18 {
        Ok(micros.round() as i64)
    } else {
        Err(bad(t))
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, c| acc * 10 + (c - b'0') as u32))
}

fn ymd(y: &[u8], m: &[u8], d: &[u8]) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(digits(y)? as i32, digits(m)?, digits(d)?)
}

/// `HH:MM[:SS[.fraction]]`, returning what follows.
fn parse_time(b: &[u8]) -> Option<(NaiveTime, &[u8])> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let m = digits(&b[3..5])?;
    let mut rest = &b[5..];
    let mut s = 0;
    let mut micros = 0;
    if rest.len() >= 3 && rest[0] == b':' {
        s = digits(&rest[1..3])?;
        rest = &rest[3..];
        if let Some(frac) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let kept = &frac[..n.min(6)];
            micros = digits(kept)? * 10u32.pow(6 - kept.len() as u32);
            rest = &frac[n..];
        }
    }
    // A leap second is read as the last microsecond of its minute.
    let (s, micros) = if s == 60 { (59, 999_999) } else { (s, micros) };
    Some((NaiveTime::from_hms_micro_opt(h, m, s, micros)?, rest))
}

/// `+HH:MM`, `+HHMM` or `+HH`, as seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<(i32, &[u8])> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let b = &b[1..];
    let h = digits(b.get(0..2)?)? as i32;
    let (m, rest) = match b.get(2) {
        Some(b':') => (digits(b.get(3..5)?)? as i32, &b[5..]),
        Some(c) if c.is_ascii_digit() => (digits(b.get(2..4)?)? as i32, &b[4..]),
        _ => (0, &b[2..]),
    };
    (h < 24 && m < 60).then_some((sign * (h * 3600 + m * 60), rest))
}

koubei_schema::text_schema!(
    ImportTz,
    "UTC, an IANA zone such as Asia/Shanghai, or an offset such as +08:00"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        parse_timestamp(s, ImportTz::Utc).unwrap()
    }

    const T: i64 = 1_709_281_800_000_000; // 2024-03-01T08:30:00Z

    #[test]
    fn iso_forms() {
        assert_eq!(utc("2024-03-01T08:30:00Z"), T);
        assert_eq!(utc("2024-03-01 08:30:00"), T);
        assert_eq!(utc("2024-03-01T08:30"), T);
        assert_eq!(utc("2024/03/01 08:30:00"), T);
        assert_eq!(utc("2024-03-01T16:30:00+08:00"), T);
        assert_eq!(utc("2024-03-01T16:30:00+0800"), T);
        assert_eq!(utc("2024-03-01T16:30:00 +08"), T);
        assert_eq!(utc("2024-03-01T03:30:00-05:00"), T);
        assert_eq!(utc("2024-03-01T08:30:00.25Z"), T + 250_000);
        assert_eq!(utc("2024-03-01T08:30:00.1234567Z"), T + 123_456);
        assert_eq!(utc(" 2024-03-01T08:30:00Z "), T);
    }

    #[test]
    fn dates_and_unix() {
        let midnight = T - (8 * 3600 + 30 * 60) * 1_000_000;
        assert_eq!(utc("2024-03-01"), midnight);
        assert_eq!(utc("20240301"), midnight);
        assert_eq!(utc("1709281800"), T);
        assert_eq!(utc("1709281800000"), T);
        assert_eq!(utc("1709281800.5"), T + 500_000);
        assert_eq!(utc("0"), 0);
        assert_eq!(utc("-86400"), -86_400_000_000);
    }

    #[test]
    fn naive_values_take_the_import_zone() {
        let sh: ImportTz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(parse_timestamp("2024-03-01 16:30:00", sh).unwrap(), T);
        assert_eq!(parse_timestamp("2024-03-01T08:30:00Z", sh).unwrap(), T);
        let plus8: ImportTz = "+08:00".parse().unwrap();
        assert_eq!(parse_timestamp("2024-03-01 16:30", plus8).unwrap(), T);
        // Unix time has no zone.
        assert_eq!(parse_timestamp("1709281800", sh).unwrap(), T);
        // 02:30 on 2024-03-10 does not exist in New York.
        let ny: ImportTz = "America/New_York".parse().unwrap();
        let e = parse_timestamp("2024-03-10 02:30:00", ny).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn rejects_say_what_was_expected() {
        for s in [
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "2024-03-01T25:00",
            "2024-03-01X08:30",
            "",
            "2024-03-01T08:30:00+25:00",
            "1.2.3",
            "2024-03-01T08:30:00Zjunk",
        ] {
            let e = parse_timestamp(s, ImportTz::Utc).unwrap_err();
            assert!(e.contains("timestamp"), "{s}: {e}");
        }
        assert!("Mars/Olympus".parse::<ImportTz>().is_err());
    }
}
