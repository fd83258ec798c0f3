//! RFC 3339 timestamps (`2026-12-01T20:00:00Z`), the `Expiration` format of STS, the
//! container endpoint and IMDS. Strict: a date, `T`, a time, optional fraction, and
//! `Z` or a numeric offset; anything else is an error, because a misread expiry
//! means signing with dead keys or refreshing in a loop. Pure std.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 date-time (RFC 3339 §5.6) into wall time. Leap seconds (`:60`)
/// are rejected; AWS never sends them. Times before 1970 are rejected as meaningless
/// for an expiry.
pub(crate) fn parse_rfc3339(s: &str) -> Result<SystemTime, &'static str> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err("too short for an RFC 3339 date-time");
    }
    let sep = |i: usize, c: u8| {
        if b[i] == c {
            Ok(())
        } else {
            Err("not in the form YYYY-MM-DDTHH:MM:SSZ")
        }
    };
    let year = digits(&b[0..4])?;
    sep(4, b'-')?;
    let month = digits(&b[5..7])?;
    sep(7, b'-')?;
    let day = digits(&b[8..10])?;
    if !matches!(b[10], b'T' | b't') {
        return Err("not in the form YYYY-MM-DDTHH:MM:SSZ");
    }
    let hour = digits(&b[11..13])?;
    sep(13, b':')?;
    let minute = digits(&b[14..16])?;
    sep(16, b':')?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("date out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time out of range");
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err("empty fraction of a second");
        }
        // Digits past nanoseconds carry no meaning for an expiry.
        for (i, c) in frac[..n].iter().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return Err("offset out of range");
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err("missing or malformed zone (Z or ±HH:MM)"),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let utc = u64::try_from(local - offset_secs).map_err(|_| "before 1970")?;
    Ok(UNIX_EPOCH + Duration::new(utc, nanos))
}

fn digits(b: &[u8]) -> Result<u32, &'static str> {
    b.iter().try_fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err("expected a digit")
        }
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn parses_what_aws_sends() {
        let table: &[(&str, SystemTime)] = &[
            ("1970-01-01T00:00:00Z", at(0, 0)),
            ("2026-12-01T20:00:00Z", at(1_796_155_200, 0)),
            ("2026-12-01t20:00:00z", at(1_796_155_200, 0)),
            ("2026-12-01T20:00:00.5Z", at(1_796_155_200, 500_000_000)),
            (
                "2026-12-01T20:00:00.123456789123Z",
                at(1_796_155_200, 123_456_789),
            ),
            ("2026-12-01T21:30:00+01:30", at(1_796_155_200, 0)),
            ("2026-12-01T18:00:00-02:00", at(1_796_155_200, 0)),
            ("2024-02-29T00:00:00Z", at(1_709_164_800, 0)),
            ("2000-03-01T00:00:00Z", at(951_868_800, 0)),
            ("2100-01-01T00:00:00Z", at(4_102_444_800, 0)),
        ];
        for (text, want) in table {
            assert_eq!(parse_rfc3339(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn rejects_anything_loose() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01 20:00:00Z",
            "2026-12-01T20:00:00",
            "2026-12-01T20:00:00+0100",
            "2026-12-01T20:00:00.Z",
            "2026-13-01T20:00:00Z",
            "2026-02-29T20:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-12-00T20:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T20:60:00Z",
            "2026-12-01T20:00:60Z",
            "2026-12-01T20:00:00ZZ",
            "1969-12-31T23:59:59Z",
            "+026-12-01T20:00:00Z",
            "Tue, 01 Dec 2026 20:00:00 GMT",
        ] {
            assert!(parse_rfc3339(text).is_err(), "{text:?} accepted");
        }
    }
}
