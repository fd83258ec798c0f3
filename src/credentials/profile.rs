//! The shared-files profile: a small INI parser and the lookup of static keys in
//! `~/.aws/credentials` and `~/.aws/config`, plus the file fingerprint the refresh
//! task compares to pick up rotated keys. Only static keys: SSO, `credential_process`
//! and `role_arn`/`source_profile` chaining are reported as unsupported, never run.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::error::CredentialsError;
use super::{ChainConfig, Credentials, Env, StaticKeys};

/// Settings that mean "credentials come from somewhere else" in a profile we cannot
/// follow; named in the error so nobody wonders why the keys were not found.
const UNSUPPORTED: &[&str] = &[
    "role_arn",
    "source_profile",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
];

/// One `[section]` with its properties, keys lowercased.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub props: HashMap<String, String>,
}

/// Parses the AWS INI dialect: `[section]`, `key = value`, full-line comments with
/// `#` or `;`, inline comments after whitespace, and indented continuation lines
/// (sub-properties such as `s3 =` blocks), which are skipped. Errors give the line
/// number only; the line may hold a secret.
pub(crate) fn parse_ini(text: &str) -> Result<Vec<Section>, (usize, &'static str)> {
    let mut sections: Vec<Section> = Vec::new();
    let mut in_property = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) && in_property {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (name, after) = rest.split_once(']').ok_or((line_no, "`[` without `]`"))?;
            let after = after.trim();
            if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
                return Err((line_no, "text after `]`"));
            }
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            if name.is_empty() {
                return Err((line_no, "empty section name"));
            }
            sections.push(Section {
                name,
                props: HashMap::new(),
            });
            in_property = false;
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or((line_no, "expected `[section]` or `key = value`"))?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err((line_no, "`=` without a key"));
        }
        let section = sections
            .last_mut()
            .ok_or((line_no, "property before any [section]"))?;
        section
            .props
            .insert(key, strip_inline_comment(value).to_owned());
        in_property = true;
    }
    Ok(sections)
}

fn strip_inline_comment(value: &str) -> &str {
    let cut = value
        .char_indices()
        .find(|&(i, c)| (c == '#' || c == ';') && value[..i].ends_with(|p: char| p.is_whitespace()))
        .map_or(value.len(), |(i, _)| i);
    value[..cut].trim()
}

/// The profile to read: the config's, else `AWS_PROFILE`, else `default`; and whether
/// it was asked for by name (then its absence is an error, not a fall-through).
pub(crate) fn profile_name(config: &ChainConfig, env: &Env) -> (String, bool) {
    match config.profile.as_deref().or_else(|| env.get("AWS_PROFILE")) {
        Some(name) => (name.trim().to_owned(), true),
        None => ("default".to_owned(), false),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ProfileFiles {
    credentials: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl ProfileFiles {
    pub fn from_env(env: &Env) -> ProfileFiles {
        let home = |rest: &str| env.get("HOME").map(|h| PathBuf::from(h).join(rest));
        ProfileFiles {
            credentials: env
                .path("AWS_SHARED_CREDENTIALS_FILE")
                .or_else(|| home(".aws/credentials")),
            config: env.path("AWS_CONFIG_FILE").or_else(|| home(".aws/config")),
        }
    }

    fn both(&self) -> [(Option<&PathBuf>, bool); 2] {
        [
            (self.config.as_ref(), true),
            (self.credentials.as_ref(), false),
        ]
    }
}

/// What the files say about one profile.
pub(crate) enum Lookup {
    Keys(StaticKeys),
    NotFound,
    Unusable(String),
}

/// Reads both files and looks `name` up; also returns the list of files read, for
/// error messages.
pub(crate) async fn load(
    files: &ProfileFiles,
    name: &str,
) -> Result<(Lookup, String), CredentialsError> {
    let mut merged: Option<HashMap<String, String>> = None;
    let mut read = Vec::new();
    // Config first, so the credentials file wins key by key (as in the SDKs).
    for (path, is_config) in files.both() {
        let Some(path) = path else { continue };
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                read.push(format!("{} (missing)", path.display()));
                continue;
            }
            Err(e) => {
                return Err(CredentialsError::File {
                    provider: "profile",
                    what: "shared file",
                    path: path.display().to_string(),
                    error: e.to_string(),
                })
            }
        };
        read.push(path.display().to_string());
        let sections =
            parse_ini(&text).map_err(|(line, problem)| CredentialsError::ProfileSyntax {
                file: path.display().to_string(),
                line,
                problem,
            })?;
        for section in sections {
            if section_is(&section.name, name, is_config) {
                merged
                    .get_or_insert_with(HashMap::new)
                    .extend(section.props);
            }
        }
    }
    let read = if read.is_empty() {
        "no files: neither HOME nor AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE set".to_owned()
    } else {
        read.join(", ")
    };
    Ok((lookup(merged), read))
}

/// `[name]` in the credentials file; `[profile name]` in the config file, where the
/// default profile may also be plain `[default]`.
fn section_is(section: &str, name: &str, is_config: bool) -> bool {
    if !is_config {
        return section == name;
    }
    section.strip_prefix("profile ") == Some(name) || (name == "default" && section == "default")
}

fn lookup(props: Option<HashMap<String, String>>) -> Lookup {
    let Some(props) = props else {
        return Lookup::NotFound;
    };
    let get = |k: &str| props.get(k).filter(|v| !v.is_empty()).cloned();
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret_access_key)) => Lookup::Keys(StaticKeys {
            access_key_id,
            secret_access_key,
            session_token: get("aws_session_token"),
        }),
        (Some(_), None) => {
            Lookup::Unusable("has aws_access_key_id but no aws_secret_access_key".into())
        }
        (None, Some(_)) => {
            Lookup::Unusable("has aws_secret_access_key but no aws_access_key_id".into())
        }
        (None, None) => match UNSUPPORTED.iter().find(|k| props.contains_key(**k)) {
            Some(k) => Lookup::Unusable(format!(
                "uses `{k}`, which corsgate does not support (only static keys)"
            )),
            None => Lookup::Unusable("has no aws_access_key_id / aws_secret_access_key".into()),
        },
    }
}

/// Modification time and length of each file (`None`: missing); a change in either
/// means re-read. Length catches rewrites within the mtime granularity.
pub(crate) type Fingerprint = [Option<(SystemTime, u64)>; 2];

async fn fingerprint(files: &ProfileFiles) -> Fingerprint {
    let mut out = [None, None];
    for (slot, (path, _)) in out.iter_mut().zip(files.both()) {
        if let Some(path) = path {
            if let Ok(meta) = tokio::fs::metadata(path).await {
                *slot = Some((
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                ));
            }
        }
    }
    out
}

/// The profile source: reads the files on fetch and remembers what it read.
pub(crate) struct ProfileSource {
    name: String,
    files: ProfileFiles,
    /// The files as of the last successful read; set only on success so a failed
    /// re-read is retried.
    seen: Option<Fingerprint>,
}

impl ProfileSource {
    pub fn new(name: String, files: ProfileFiles) -> ProfileSource {
        ProfileSource {
            name,
            files,
            seen: None,
        }
    }

    pub async fn fetch(&mut self) -> Result<Credentials, CredentialsError> {
        // Taken before reading: a write during the read then shows as a change later.
        let before = fingerprint(&self.files).await;
        let (found, files) = load(&self.files, &self.name).await?;
        let profile = self.name.clone();
        match found {
            Lookup::Keys(k) => {
                self.seen = Some(before);
                Ok(Credentials::new(
                    k.access_key_id,
                    k.secret_access_key,
                    k.session_token,
                    None,
                    "profile",
                ))
            }
            Lookup::NotFound => Err(CredentialsError::ProfileNotFound { profile, files }),
            Lookup::Unusable(problem) => Err(CredentialsError::ProfileUnusable {
                profile,
                problem,
                files,
            }),
        }
    }

    pub async fn changed(&self) -> bool {
        self.seen != Some(fingerprint(&self.files).await)
    }
}
