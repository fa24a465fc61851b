//! `--rebase-time`: moves every timestamp of a run by one offset, so that the earliest
//! span starts at a chosen instant and every duration stays as captured. Useful when a
//! backend hides or refuses old data, or to line a capture up with other telemetry.

use opentelemetry_proto::tonic::trace::v1::Span;

/// Where the earliest span should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebaseTo {
    /// The moment kapture computes the offset (after reading every capture).
    Now,
    /// A fixed instant, in nanoseconds since the Unix epoch.
    At(u64),
}

impl RebaseTo {
    /// Parses `now` or an RFC 3339 timestamp.
    pub fn parse(text: &str) -> Result<RebaseTo, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("now") {
            return Ok(RebaseTo::Now);
        }
        parse_rfc3339(text).map(RebaseTo::At).map_err(|e| {
            format!(
                "--rebase-time '{text}': {e} (use 'now' or RFC 3339, such as 2025-01-31T09:00:00Z)"
            )
        })
    }

    /// The target instant in Unix nanoseconds.
    pub fn instant(self) -> u64 {
        match self {
            RebaseTo::At(ns) => ns,
            RebaseTo::Now => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// The offset that moves `earliest` to the target instant.
    pub fn offset_from(self, earliest: u64) -> i128 {
        i128::from(self.instant()) - i128::from(earliest)
    }
}

/// Parses an RFC 3339 date-time (`2025-01-31T09:00:00Z`, `2025-01-31 09:00:00.5+01:00`)
/// to nanoseconds since the Unix epoch. Fractions keep up to nanosecond precision.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Result<i64, String> {
        let part = b.get(from..from + n).ok_or("too short")?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(format!("expected {n} digits at position {}", from + 1));
        }
        Ok(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, options: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if options.contains(&c.to_ascii_uppercase()) => Ok(()),
            _ => Err(format!(
                "expected '{}' at position {}",
                options[0] as char,
                at + 1
            )),
        }
    };
    let year = digits(0, 4)?;
    expect(4, b"-")?;
    let month = digits(5, 2)?;
    expect(7, b"-")?;
    let day = digits(8, 2)?;
    expect(10, b"T ")?;
    let hour = digits(11, 2)?;
    expect(13, b":")?;
    let minute = digits(14, 2)?;
    expect(16, b":")?;
    let second = digits(17, 2)?;
    let mut at = 19;
    let mut nanos = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err("expected digits after '.'".into());
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset_s = match b.get(at).map(u8::to_ascii_uppercase) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let h = digits(at + 1, 2)?;
            expect(at + 3, b":")?;
            let m = digits(at + 4, 2)?;
            at += 6;
            if h > 23 || m > 59 {
                return Err("the UTC offset is out of range".into());
            }
            let s = h * 3600 + m * 60;
            if sign == b'+' { s } else { -s }
        }
        _ => return Err("expected a time zone: 'Z' or an offset such as +02:00".into()),
    };
    if at != b.len() {
        return Err(format!("unexpected text at position {}", at + 1));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date".into());
    }
    // 60 allows a leap second; it lands on the next second, as in most systems.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day".into());
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    if secs < 0 {
        return Err("before 1970-01-01T00:00:00Z".into());
    }
    u64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|ns| ns.checked_add(nanos as u64))
        .ok_or_else(|| "too far in the future".into())
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn shift(ts: &mut u64, offset: i128) {
    if *ts == 0 {
        return; // unset stays unset
    }
    let moved = i128::from(*ts) + offset;
    *ts = u64::try_from(moved.max(1)).unwrap_or(u64::MAX);
}

/// Moves the span's start, end and event times by `offset` nanoseconds.
pub fn shift_span(span: &mut Span, offset: i128) {
    shift(&mut span.start_time_unix_nano, offset);
    shift(&mut span.end_time_unix_nano, offset);
    for event in &mut span.events {
        shift(&mut event.time_unix_nano, offset);
    }
}

/// The start time of a span serialised by [`super::span_json`], read without parsing
/// the whole span. The key cannot occur inside a JSON string (its quotes would be
/// escaped there), so the first match is the span's own field.
pub fn start_of(json: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"startTimeUnixNano\":";
    let at = json.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &json[at..];
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Re-serialises one span with its times moved by `offset`.
pub fn shift_json(json: &[u8], offset: i128) -> Result<Vec<u8>, serde_json::Error> {
    let mut span: Span = serde_json::from_slice(json)?;
    shift_span(&mut span, offset);
    Ok(super::span_json(&span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339("2025-01-31T09:00:00Z"),
            Ok(1_738_314_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2025-01-31T10:00:00+01:00"),
            Ok(1_738_314_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2025-01-31 08:30:00.5-00:30"),
            Ok(1_738_314_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2025-01-31t09:00:00.123456789123z"),
            Ok(1_738_314_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Ok(1_709_164_800_000_000_000)
        );
        for bad in [
            "",
            "2025-01-31",
            "2025-01-31T09:00:00",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-31T24:00:00Z",
            "2025-01-31T09:00:00.Z",
            "2025-01-31T09:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "2025-01-31T09:00:00+2:00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(RebaseTo::parse("NOW"), Ok(RebaseTo::Now));
        assert!(
            RebaseTo::parse("yesterday")
                .unwrap_err()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn days_match_the_calendar() {
        // Every day from 1970 to 2100 follows the one before it.
        let mut expected = 0;
        for year in 1970..2100 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected);
                    expected += 1;
                }
            }
        }
    }

    #[test]
    fn shifting_keeps_durations_and_reads_the_start() {
        let mut span = Span {
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_500,
            events: vec![Event {
                time_unix_nano: 1_200,
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = super::super::span_json(&span);
        assert_eq!(start_of(&json), Some(1_000));
        let moved = shift_json(&json, 10_000).unwrap();
        shift_span(&mut span, 10_000);
        assert_eq!(moved, super::super::span_json(&span));
        assert_eq!(
            (span.start_time_unix_nano, span.end_time_unix_nano),
            (11_000, 11_500)
        );
        assert_eq!(span.events[0].time_unix_nano, 11_200);
        assert_eq!(start_of(&moved), Some(11_000));
        // Backwards, never below 1 ns (0 means unset in OTLP).
        shift_span(&mut span, -20_000);
        assert_eq!(span.start_time_unix_nano, 1);
    }
}
