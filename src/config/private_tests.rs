//! Tests for config/private.rs (written next).
