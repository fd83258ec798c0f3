//! Human units in config files: durations (`"30s"`, `"250ms"`, `"1m30s"`) and byte
//! sizes (`"64MiB"`, `"1GB"`, or a plain integer of bytes).
//!
//! It owns the grammar, the error messages (each says what was wrong and shows a good
//! value) and a `Display` that writes values back in the same grammar, so a value
//! printed in a log or `--check` output can be pasted into the file. Units are
//! case-sensitive and unambiguous on purpose: `M` could mean 10^6 or 2^20 and `mb`
//! could mean megabits, so both are refused with a suggestion rather than guessed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A duration written in human units; deserializes from a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// A byte size written in human units; deserializes from a string or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

const DURATION_EXAMPLE: &str = "e.g. \"30s\", \"250ms\" or \"1m30s\"";
const SIZE_EXAMPLE: &str = "e.g. \"64MiB\", \"1GB\" or 1048576";

/// Duration units, largest first: the order a compound value must follow.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `<integer><unit>` groups, units from `ms`, `s`, `m`, `h`, `d`, largest first
/// and each at most once (`1h30m`, `1m30s`, `0s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!(
            "empty duration: write a number with a unit, {DURATION_EXAMPLE}"
        ));
    }
    if t.starts_with('-') {
        return Err(format!(
            "negative duration \"{s}\": durations cannot be negative, {DURATION_EXAMPLE}"
        ));
    }
    let mut rest = t;
    let mut total_ms: u64 = 0;
    // Index into DURATION_UNITS of the last unit used; later units must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration \"{s}\": expected a whole number before the unit, \
                 {DURATION_EXAMPLE}"
            ));
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with('.') {
            return Err(format!(
                "invalid duration \"{s}\": fractions are not supported, use a smaller unit \
                 (\"1500ms\" rather than \"1.5s\")"
            ));
        }
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "missing unit in duration \"{s}\": write e.g. \"{number}s\" \
                 (units: ms, s, m, h, d)"
            ));
        }
        let Some(u) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit \"{unit}\" in duration \"{s}\": use ms, s, m, h or d, \
                 {DURATION_EXAMPLE}"
            ));
        };
        if last_unit.is_some_and(|l| u <= l) {
            return Err(format!(
                "invalid duration \"{s}\": write units from largest to smallest, each once, \
                 e.g. \"1h30m\" or \"1m30s\""
            ));
        }
        last_unit = Some(u);
        let too_large = || format!("duration \"{s}\" is too large");
        let n: u64 = number.parse().map_err(|_| too_large())?;
        let ms = n.checked_mul(DURATION_UNITS[u].1).ok_or_else(too_large)?;
        total_ms = total_ms.checked_add(ms).ok_or_else(too_large)?;
        rest = next;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Size units. `kB` is the SI spelling of `KB`, accepted as the same unit.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Parses `<integer>[ ][unit]`, units `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000) and
/// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024); no unit means bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!(
            "empty size: write a number of bytes or a number with a unit, {SIZE_EXAMPLE}"
        ));
    }
    if t.starts_with('-') {
        return Err(format!(
            "negative size \"{s}\": sizes cannot be negative, {SIZE_EXAMPLE}"
        ));
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!(
            "invalid size \"{s}\": expected a whole number, then an optional unit, {SIZE_EXAMPLE}"
        ));
    }
    let (number, after) = t.split_at(digits);
    if after.starts_with('.') {
        return Err(format!(
            "invalid size \"{s}\": fractions are not supported, use a smaller unit \
             (\"1536KiB\" rather than \"1.5MiB\")"
        ));
    }
    let unit = after.strip_prefix(' ').unwrap_or(after);
    let too_large = || format!("size \"{s}\" is too large (the limit is 16EiB)");
    let n: u64 = number.parse().map_err(|_| too_large())?;
    if unit.is_empty() {
        return Ok(n);
    }
    if let Some((_, factor)) = SIZE_UNITS.iter().find(|(name, _)| *name == unit) {
        return n.checked_mul(*factor).ok_or_else(too_large);
    }
    Err(size_unit_error(s, number, unit))
}

fn size_unit_error(s: &str, number: &str, unit: &str) -> String {
    let ambiguous = match unit {
        "K" | "k" | "Ki" | "ki" => Some("K"),
        "M" | "m" | "Mi" => Some("M"),
        "G" | "g" | "Gi" => Some("G"),
        "T" | "t" | "Ti" => Some("T"),
        _ => None,
    };
    if let Some(p) = ambiguous {
        return format!(
            "ambiguous unit \"{unit}\" in size \"{s}\": write \"{number}{p}iB\" \
             (powers of 1024) or \"{number}{p}B\" (powers of 1000)"
        );
    }
    if unit.starts_with(' ') || unit.ends_with(' ') {
        return format!(
            "invalid size \"{s}\": at most one space between number and unit, {SIZE_EXAMPLE}"
        );
    }
    if let Some((good, _)) = SIZE_UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
    {
        return format!(
            "unknown unit \"{unit}\" in size \"{s}\": units are case-sensitive, \
             did you mean \"{number}{good}\"?"
        );
    }
    format!(
        "unknown unit \"{unit}\" in size \"{s}\": use B, KB, MB, GB, TB, KiB, MiB, GiB or \
         TiB, {SIZE_EXAMPLE}"
    )
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(HumanDuration)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(ByteSize)
    }
}

/// Writes the largest units first (`1h30m`, `1m30s`, `250ms`, `0s`), the same grammar
/// [`parse_duration`] reads. Sub-millisecond parts, which the parser never produces,
/// fall back to `Duration`'s debug form.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{:?}", self.0);
        }
        let Ok(mut ms) = u64::try_from(self.0.as_millis()) else {
            return write!(f, "{:?}", self.0);
        };
        if ms == 0 {
            return f.write_str("0s");
        }
        for (name, factor) in DURATION_UNITS {
            if ms >= *factor {
                write!(f, "{}{name}", ms / factor)?;
                ms %= factor;
            }
        }
        Ok(())
    }
}

/// Writes the largest unit that divides the size exactly (`64MiB`, `1GB`, `1500B`),
/// preferring the binary unit when both fit since it is the larger.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, factor) = SIZE_UNITS
            .iter()
            .filter(|(name, factor)| *name != "kB" && self.0.is_multiple_of(*factor))
            .max_by_key(|(_, factor)| *factor)
            .copied()
            .unwrap_or(("B", 1));
        if self.0 == 0 {
            return f.write_str("0B");
        }
        write!(f, "{}{name}", self.0 / factor)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration string with a unit, {DURATION_EXAMPLE}")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<HumanDuration, E> {
                parse_duration(s).map(HumanDuration).map_err(E::custom)
            }

            // A bare number is refused rather than guessed: is `30` seconds or ms?
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{n}s\" or \"{n}ms\", not {n}"
                )))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<HumanDuration, E> {
                if n < 0 {
                    Err(E::custom(format!(
                        "negative duration {n}: durations cannot be negative, {DURATION_EXAMPLE}"
                    )))
                } else {
                    self.visit_u64(n.unsigned_abs())
                }
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a duration is a string with a unit, not the number {n}; {DURATION_EXAMPLE}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a size in bytes or a string with a unit, {SIZE_EXAMPLE}")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                parse_size(s).map(ByteSize).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n).map(ByteSize).map_err(|_| {
                    E::custom(format!(
                        "negative size {n}: sizes cannot be negative, {SIZE_EXAMPLE}"
                    ))
                })
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "a size must be a whole number of bytes, not {n}; {SIZE_EXAMPLE}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1000;

    #[test]
    fn durations_that_parse() {
        let cases: &[(&str, u64)] = &[
            ("0s", 0),
            ("0ms", 0),
            ("250ms", 250),
            ("30s", 30 * SEC),
            ("5m", 300 * SEC),
            ("2h", 7200 * SEC),
            ("1d", 86_400 * SEC),
            ("1m30s", 90 * SEC),
            ("1h0m5s", 3605 * SEC),
            ("1d2h3m4s5ms", ((26 * 60 + 3) * 60 + 4) * SEC + 5),
            (" 30s ", 30 * SEC),
            ("007s", 7 * SEC),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(*ms)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn durations_that_fail() {
        let cases: &[(&str, &str)] = &[
            ("", "empty duration"),
            ("   ", "empty duration"),
            ("-5s", "negative duration"),
            ("30", "missing unit in duration \"30\": write e.g. \"30s\""),
            ("1m30", "missing unit"),
            ("5sec", "unknown unit \"sec\""),
            ("5S", "unknown unit \"S\""),
            ("1.5s", "fractions are not supported"),
            ("s", "expected a whole number"),
            ("30s1m", "largest to smallest"),
            ("1s1s", "largest to smallest"),
            ("1m 30s", "expected a whole number"),
            ("99999999999999999999s", "too large"),
            ("18446744073709551615d", "too large"),
        ];
        for (text, part) in cases {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(part), "{text:?}: {err}");
            assert!(err.contains('"'), "{text:?}: message shows a value: {err}");
        }
        assert_eq!(
            parse_duration("5sec").unwrap_err(),
            "unknown unit \"sec\" in duration \"5sec\": use ms, s, m, h or d, \
             e.g. \"30s\", \"250ms\" or \"1m30s\""
        );
    }

    #[test]
    fn sizes_that_parse() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("1048576", 1 << 20),
            ("512B", 512),
            ("1KB", 1000),
            ("1kB", 1000),
            ("64MB", 64_000_000),
            ("2GB", 2_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("1KiB", 1024),
            ("64MiB", 64 << 20),
            ("1GiB", 1 << 30),
            ("2TiB", 2 << 40),
            ("64 MiB", 64 << 20),
            (" 10 B ", 10),
            ("16777215TiB", 16_777_215 << 40),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(*bytes), "{text:?}");
        }
    }

    #[test]
    fn sizes_that_fail() {
        let cases: &[(&str, &str)] = &[
            ("", "empty size"),
            ("-1", "negative size"),
            ("MiB", "expected a whole number"),
            ("1.5MiB", "fractions are not supported"),
            ("64M", "ambiguous unit \"M\""),
            ("4k", "ambiguous unit \"k\""),
            ("1G", "ambiguous unit \"G\""),
            ("64mb", "did you mean \"64MB\"?"),
            ("64mib", "did you mean \"64MiB\"?"),
            ("64  MiB", "at most one space"),
            ("64 bytes", "unknown unit \"bytes\""),
            ("16777216TiB", "too large"),
            ("18446744073709551616", "too large"),
        ];
        for (text, part) in cases {
            let err = parse_size(text).expect_err(text);
            assert!(err.contains(part), "{text:?}: {err}");
        }
        assert_eq!(
            parse_size("64M").unwrap_err(),
            "ambiguous unit \"M\" in size \"64M\": write \"64MiB\" (powers of 1024) \
             or \"64MB\" (powers of 1000)"
        );
    }

    #[test]
    fn display_round_trips() {
        let durations: &[(u64, &str)] = &[
            (0, "0s"),
            (250, "250ms"),
            (30 * SEC, "30s"),
            (90 * SEC, "1m30s"),
            (3600 * SEC, "1h"),
            (86_400 * SEC + 1, "1d1ms"),
            (1500, "1s500ms"),
        ];
        for (ms, text) in durations {
            let d = HumanDuration(Duration::from_millis(*ms));
            assert_eq!(d.to_string(), *text);
            assert_eq!(text.parse::<HumanDuration>(), Ok(d));
        }
        let sizes: &[(u64, &str)] = &[
            (0, "0B"),
            (1500, "1500B"),
            (64 << 20, "64MiB"),
            (1_000_000_000, "1GB"),
            (1024 * 1000, "1000KiB"),
            (3 << 40, "3TiB"),
        ];
        for (bytes, text) in sizes {
            assert_eq!(ByteSize(*bytes).to_string(), *text);
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(*bytes)));
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Limits {
        timeout: HumanDuration,
        body: ByteSize,
    }

    #[test]
    fn deserialize_from_toml_and_json() {
        let l: Limits = toml::from_str("timeout = \"1m30s\"\nbody = \"64MiB\"").unwrap();
        assert_eq!(l.timeout, HumanDuration(Duration::from_secs(90)));
        assert_eq!(l.body, ByteSize(64 << 20));
        let l: Limits = toml::from_str("timeout = \"0s\"\nbody = 4096").unwrap();
        assert_eq!(l.body, ByteSize(4096));
        let l: Limits = serde_json::from_str(r#"{"timeout": "5s", "body": 10}"#).unwrap();
        assert_eq!(l.timeout.0, Duration::from_secs(5));

        let bad: &[(&str, &str)] = &[
            (
                "timeout = 30\nbody = 1",
                "a duration needs a unit: write \"30s\" or \"30ms\", not 30",
            ),
            ("timeout = \"30\"\nbody = 1", "missing unit"),
            ("timeout = 1.5\nbody = 1", "not the number 1.5"),
            ("timeout = \"1s\"\nbody = -1", "negative size -1"),
            ("timeout = \"1s\"\nbody = \"8M\"", "ambiguous unit \"M\""),
            ("timeout = \"1s\"\nbody = 1.5", "whole number of bytes"),
        ];
        for (text, part) in bad {
            let err = toml::from_str::<Limits>(text).unwrap_err().to_string();
            assert!(err.contains(part), "{text:?}: {err}");
        }
    }
}
