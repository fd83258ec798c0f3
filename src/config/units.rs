//! STUB (to be replaced): human units in config files: durations ("30s", "250ms") and
//! sizes ("64MiB", "1GB").
use std::time::Duration;

/// A duration written in human units; deserializes from a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// A byte size written in human units; deserializes from a string or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

pub fn parse_duration(_s: &str) -> Result<Duration, String> {
    Err("unimplemented".into())
}

pub fn parse_size(_s: &str) -> Result<u64, String> {
    Err("unimplemented".into())
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}
