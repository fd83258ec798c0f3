//! The `Range` header (RFC 9110 §14.1–14.2), limited to what S3 does: one byte range is
//! honoured; several ranges, other units and malformed values are ignored (the whole
//! object is served). Pure (std only).

/// What a `Range` value asks of an object of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// Serve the whole object with 200.
    Full,
    /// Serve bytes `first..=last` with 206; `last < size`.
    Part { first: u64, last: u64 },
    /// 416: the one range lies wholly past the end (or the object is empty).
    Unsatisfiable,
}

/// Interprets one `Range` header value against an object of `size` bytes.
pub fn parse(value: &str, size: u64) -> Ranged {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Ranged::Full;
    };
    // §14.1: range units are case-insensitive.
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Full;
    }
    // S3 answers a multi-range request with the whole object, not multipart/byteranges.
    if set.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Ranged::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range `-n`: the last n bytes (§14.1.2).
        let Some(n) = number(last) else {
            return Ranged::Full;
        };
        if n == 0 || size == 0 {
            return Ranged::Unsatisfiable;
        }
        return Ranged::Part {
            first: size.saturating_sub(n),
            last: size - 1,
        };
    }
    let Some(first) = number(first) else {
        return Ranged::Full;
    };
    let last = if last.is_empty() {
        None
    } else {
        match number(last) {
            // §14.1.1: last < first makes the range invalid, not unsatisfiable.
            Some(l) if l >= first => Some(l),
            _ => return Ranged::Full,
        }
    };
    if first >= size {
        return Ranged::Unsatisfiable;
    }
    let end = size - 1;
    Ranged::Part {
        first,
        last: last.map_or(end, |l| l.min(end)),
    }
}

/// `1*DIGIT`. Values too big for u64 saturate: a first position that large is past any
/// file (unsatisfiable) and a last position or suffix that large means "to the end".
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: u64, last: u64) -> Ranged {
        Ranged::Part { first, last }
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-4", 10), part(0, 4));
        assert_eq!(parse("bytes=3-3", 10), part(3, 3));
        assert_eq!(parse("bytes=5-", 10), part(5, 9));
        assert_eq!(parse("bytes=-3", 10), part(7, 9));
        assert_eq!(parse("BYTES = 2 - 4 ", 10), part(2, 4));
    }

    #[test]
    fn clamped_to_size() {
        assert_eq!(parse("bytes=5-100", 10), part(5, 9));
        assert_eq!(parse("bytes=-100", 10), part(0, 9));
        assert_eq!(parse("bytes=0-99999999999999999999999", 10), part(0, 9));
        assert_eq!(parse("bytes=-99999999999999999999999", 10), part(0, 9));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse("bytes=10-", 10), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=10-20", 10), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 10), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-5", 0), Ranged::Unsatisfiable);
        assert_eq!(
            parse("bytes=99999999999999999999999-", 10),
            Ranged::Unsatisfiable
        );
    }

    #[test]
    fn ignored() {
        for v in [
            "bytes=0-1,5-6",
            "bytes=0-1,",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=-",
            "bytes=1",
            "bytes 0-1",
            "",
            "bytes=--1",
        ] {
            assert_eq!(parse(v, 10), Ranged::Full, "{v:?}");
        }
    }
}
