//! A snapshot of environment variables. The chain reads only this, never the process
//! environment, so tests describe a whole environment without mutating global state
//! (which is racy across test threads).
use std::collections::HashMap;
use std::path::PathBuf;

/// A snapshot of environment variables, so tests never mutate the process env.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment now; variables that are not UTF-8 are left out (none of
    /// the AWS ones can usefully be).
    pub fn from_process() -> Env {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Env { vars }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Env { vars }
    }

    /// The value of `key`; an empty (or all-blank) value counts as unset, as in the AWS
    /// SDKs, because `FOO=` in a container spec usually means "not set".
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// `~/` expanded with HOME, since these paths are often written that way.
    pub(crate) fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(|p| self.expand_home(p))
    }

    pub(crate) fn expand_home(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), self.get("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(path),
        }
    }

    /// `true`/`false` as the SDKs read them (case-insensitive).
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// Names only: values include secrets.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        keys.sort_unstable();
        f.debug_struct("Env").field("keys", &keys).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_counts_as_unset_and_home_expands() {
        let env = Env::from_pairs([
            ("A", ""),
            ("B", "  "),
            ("C", "x"),
            ("HOME", "/home/u"),
            ("F", "~/.aws/credentials"),
            ("T", "TRUE"),
        ]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("C"), Some("x"));
        assert_eq!(env.get("missing"), None);
        assert_eq!(
            env.path("F"),
            Some(PathBuf::from("/home/u/.aws/credentials"))
        );
        assert!(env.flag("T"));
        assert!(!env.flag("C"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!shown.contains("s3cr3t-value"));
    }
}
