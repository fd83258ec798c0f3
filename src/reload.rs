//! Hot reload: read the config file again, validate it, build a new [`Gateway`] and
//! swap it into [`Shared::current`]. Requests in flight keep the snapshot they loaded;
//! the next request sees the new one. A file that fails validation changes nothing:
//! every error is logged with file:line:column and the failure counter goes up.
//!
//! Three triggers share one entry point, serialised so two reloads never race:
//! [`Reloader::reload`] (tests and the API call it directly), SIGHUP
//! ([`Reloader::spawn_sighup`]) and a directory watcher ([`Reloader::spawn_watcher`]).
//! The watcher watches *directories*, not files: editors save by writing a temporary
//! file and renaming it, and Kubernetes updates a ConfigMap volume by re-pointing the
//! `..data` symlink, so the watched file's inode is replaced and a file watch would go
//! deaf after the first update. Events are debounced and a reload whose content
//! fingerprint did not change is skipped (our own reads raise events too).
//!
//! Settings bound at startup (listen addresses, workers, server limits, log format,
//! cache bounds) cannot change in place: a reload keeps their running values, logs a
//! warning naming them, and `/config` keeps showing what is really in force.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::file::FileConfig;
use crate::config::{self, Config, Diagnostic, Diagnostics};
use crate::proxy::private::Keyring;
use crate::proxy::{Gateway, Shared};

/// Quiet time after the last file event before reloading: long enough to cover an
/// editor's write + rename or a ConfigMap's symlink dance, short enough to feel instant.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Extra work done on every reload, after the config step (whatever its result).
pub type ReloadHook = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Adjusts every config the reloader loads, e.g. command-line overrides that must
/// keep winning over the file.
pub type Overrides = Arc<dyn Fn(&mut Config) + Send + Sync>;

/// What asked for a reload; for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Api,
    Signal,
    FileChange,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Signal => "SIGHUP",
            Trigger::FileChange => "file-change",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the new config has {n} error(s); the previous config stays in force:\n{0}", n = .0.0.len())]
    Invalid(Diagnostics),
    #[error("cannot build the new config ({0}); the previous config stays in force")]
    Build(String),
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The new config's fingerprint (see [`fingerprint`]).
    pub hash: String,
    /// Settings the file changed that need a restart; their running values were kept.
    pub restart_needed: Vec<&'static str>,
}

/// Reloads one config file into one gateway.
pub struct Reloader {
    shared: Arc<Shared>,
    path: PathBuf,
    overrides: RwLock<Option<Overrides>>,
    /// HOOK: TLS certificate stores (and anything else read from files) register
    /// their own reload here, so SIGHUP and file changes reload them too.
    hooks: RwLock<Vec<(String, ReloadHook)>>,
    /// Directories to watch besides the config's and its rules files' (certificates).
    extra_dirs: RwLock<Vec<PathBuf>>,
    /// The referenced `cors_rules` files, as of the last attempt that parsed.
    rules_files: RwLock<Vec<PathBuf>>,
    /// Serialises reloads. Holds the fingerprint of the last content attempted, good or
    /// bad, so the watcher neither reloads unchanged content nor logs the same broken
    /// file again for every unrelated event in its directory.
    last_attempt: tokio::sync::Mutex<Option<String>>,
    /// Bumped after each successful swap, so the watcher re-reads its directory set.
    swapped: watch::Sender<u64>,
}

impl Reloader {
    /// A reloader for `path`, whose content is what `shared` currently runs. Reads the
    /// file (and its rules files) once to fingerprint it.
    pub fn new(shared: Arc<Shared>, path: impl Into<PathBuf>) -> std::io::Result<Reloader> {
        let path = path.into();
        let text = std::fs::read_to_string(&path)?;
        let rules = rules_files(&path, &text);
        let hash = fingerprint(&text, &rules);
        shared.metrics.set_config_hash(&hash);
        Ok(Reloader {
            shared,
            path,
            overrides: RwLock::new(None),
            hooks: RwLock::new(Vec::new()),
            extra_dirs: RwLock::new(Vec::new()),
            rules_files: RwLock::new(rules),
            last_attempt: tokio::sync::Mutex::new(Some(hash)),
            swapped: watch::Sender::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `f` to every config loaded from now on.
    pub fn set_overrides(&self, f: Overrides) {
        *self.overrides.write().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// HOOK for the TLS certificate store (and later credential files): `hook` runs on
    /// every reload, after the config step and whatever its outcome, since certificates
    /// renew independently of the config. An `Err` is logged; the config stays swapped.
    pub fn add_hook(&self, name: impl Into<String>, hook: ReloadHook) {
        self.hooks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.into(), hook));
    }

    /// Also watch `dir` (e.g. a certificate directory); a change there runs the hooks.
    pub fn watch_dir(&self, dir: impl Into<PathBuf>) {
        self.extra_dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir.into());
        self.swapped.send_modify(|_| {});
    }

    /// Reloads now, unconditionally: the entry point for tests and SIGHUP.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        self.reload_by(Trigger::Api).await
    }

    /// As [`Reloader::reload`], naming the trigger in the logs.
    pub async fn reload_by(&self, trigger: Trigger) -> Result<Reloaded, ReloadError> {
        // Without `only_if_changed` nothing is skipped, so `None` cannot come back.
        self.attempt(trigger, false)
            .await
            .unwrap_or_else(|| Err(ReloadError::Build("reload skipped".into())))
    }

    /// Reloads only if the file's fingerprint differs from the last attempt's; `None`
    /// when it did not (the hooks still run).
    pub async fn reload_if_changed(&self) -> Option<Result<Reloaded, ReloadError>> {
        self.attempt(Trigger::FileChange, true).await
    }

    async fn attempt(
        &self,
        trigger: Trigger,
        only_if_changed: bool,
    ) -> Option<Result<Reloaded, ReloadError>> {
        let mut last = self.last_attempt.lock().await;
        let old = self.shared.current.load_full().config.clone();
        let path = self.path.clone();
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let skip_if = only_if_changed.then(|| last.clone()).flatten();
        let keyring = self.shared.keyring.clone();
        // File reads and building upstream clients block; keep them off the reactor.
        let job = tokio::task::spawn_blocking(move || {
            prepare(
                &path,
                &old,
                overrides.as_deref(),
                skip_if.as_deref(),
                &keyring,
            )
        });
        let prepared = job.await.unwrap_or_else(|e| Prepared {
            rules: None,
            hash: None,
            result: Some(Err(ReloadError::Build(format!("reload task: {e}")))),
        });
        if let Some(rules) = prepared.rules {
            *self.rules_files.write().unwrap_or_else(|p| p.into_inner()) = rules;
        }
        if prepared.hash.is_some() {
            last.clone_from(&prepared.hash);
        }
        let outcome = prepared.result.map(|r| self.finish(trigger, r));
        drop(last);
        self.run_hooks();
        outcome
    }

    /// Swaps in a prepared gateway, or reports why not; counts either way.
    fn finish(
        &self,
        trigger: Trigger,
        result: Result<(Gateway, Reloaded), ReloadError>,
    ) -> Result<Reloaded, ReloadError> {
        let t = trigger.as_str();
        match result {
            Ok((gateway, done)) => {
                let sites: Vec<String> = gateway
                    .config
                    .sites
                    .iter()
                    .map(|s| s.name.clone())
                    .collect();
                self.shared.current.store(Arc::new(gateway));
                self.shared.metrics.reload_finished(true);
                self.shared.metrics.set_config_hash(&done.hash);
                self.swapped.send_modify(|g| *g += 1);
                if !done.restart_needed.is_empty() {
                    tracing::warn!(
                        trigger = t,
                        settings = ?done.restart_needed,
                        "config reloaded, but these settings apply only after a restart; \
                         their running values stay"
                    );
                }
                tracing::info!(trigger = t, hash = %done.hash, ?sites, "config reloaded");
                Ok(done)
            }
            Err(e) => {
                self.shared.metrics.reload_finished(false);
                if let ReloadError::Invalid(ds) = &e {
                    for d in &ds.0 {
                        tracing::error!(trigger = t, "config reload: {d}");
                    }
                }
                tracing::error!(trigger = t, "config reload failed: {}", first_line(&e));
                Err(e)
            }
        }
    }

    fn run_hooks(&self) {
        let hooks = self.hooks.read().unwrap_or_else(|p| p.into_inner());
        for (name, hook) in hooks.iter() {
            if let Err(e) = hook() {
                tracing::error!(hook = %name, "reload hook failed: {e}");
            }
        }
    }

    /// The directories whose changes trigger a reload: the config file's, each
    /// referenced rules file's, and any added with [`Reloader::watch_dir`].
    pub fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        dirs.insert(dir_of(&self.path));
        for f in self
            .rules_files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            dirs.insert(dir_of(f));
        }
        for d in self
            .extra_dirs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            dirs.insert(d.clone());
        }
        dirs
    }

    /// Reloads on every SIGHUP until the task is aborted. Registers the handler now, so
    /// a SIGHUP that arrives before the task first runs is not fatal (the default
    /// action would end the process).
    #[cfg(unix)]
    pub fn spawn_sighup(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let me = self.clone();
        Ok(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config");
                let _ = me.reload_by(Trigger::Signal).await;
            }
        }))
    }

    /// Watches the config's directories until the task is aborted. The watches are in
    /// place when this returns.
    pub fn spawn_watcher(self: &Arc<Self>) -> notify::Result<JoinHandle<()>> {
        // Capacity 1: a pending "something changed" is all the loop needs to know.
        let (tx, rx) = mpsc::channel::<()>(1);
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if is_change(&ev.kind) => {
                    let _ = tx.try_send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("config watcher: {e}"),
            })?;
        let mut watched = BTreeSet::new();
        self.update_watches(&mut watcher, &mut watched);
        let me = self.clone();
        Ok(tokio::spawn(async move {
            me.watch_loop(watcher, watched, rx).await;
        }))
    }

    async fn watch_loop(
        &self,
        mut watcher: RecommendedWatcher,
        mut watched: BTreeSet<PathBuf>,
        mut rx: mpsc::Receiver<()>,
    ) {
        let mut swapped = self.swapped.subscribe();
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    if ev.is_none() {
                        return;
                    }
                    // A save or a ConfigMap update is a burst of events: act once quiet.
                    loop {
                        match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                            Ok(Some(())) => {}
                            Ok(None) => return,
                            Err(_) => break,
                        }
                    }
                    let _ = self.reload_if_changed().await;
                }
                changed = swapped.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            self.update_watches(&mut watcher, &mut watched);
        }
    }

    fn update_watches(&self, watcher: &mut RecommendedWatcher, watched: &mut BTreeSet<PathBuf>) {
        let want = self.watched_dirs();
        for gone in watched.difference(&want).cloned().collect::<Vec<_>>() {
            let _ = watcher.unwatch(&gone);
            watched.remove(&gone);
        }
        for dir in want.difference(watched).cloned().collect::<Vec<_>>() {
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), "watching for config changes");
                    watched.insert(dir);
                }
                // Retried after the next reload; SIGHUP still works meanwhile.
                Err(e) => tracing::warn!(dir = %dir.display(), "cannot watch: {e}"),
            }
        }
    }
}

/// What the blocking part of a reload produced.
struct Prepared {
    /// The rules files the new text references, when it parsed as TOML.
    rules: Option<Vec<PathBuf>>,
    /// Fingerprint of the content read, when it could be read.
    hash: Option<String>,
    /// `None`: unchanged, skipped.
    result: Option<Result<(Gateway, Reloaded), ReloadError>>,
}

fn prepare(
    path: &Path,
    old: &Config,
    overrides: Option<&(dyn Fn(&mut Config) + Send + Sync)>,
    skip_if: Option<&str>,
    keyring: &Keyring,
) -> Prepared {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let d = Diagnostic::whole(path, format!("cannot read: {e}"));
            return Prepared {
                rules: None,
                hash: None,
                result: Some(Err(ReloadError::Invalid(Diagnostics(vec![d])))),
            };
        }
    };
    let rules = rules_files(path, &text);
    let hash = fingerprint(&text, &rules);
    if skip_if == Some(hash.as_str()) {
        return Prepared {
            rules: Some(rules),
            hash: Some(hash),
            result: None,
        };
    }
    let result = config::parse(path, &text)
        .map_err(ReloadError::Invalid)
        .and_then(|mut new| {
            if let Some(f) = overrides {
                f(&mut new);
            }
            let restart_needed = keep_restart_only(old, &mut new);
            // This runs on a blocking thread, where waiting on the runtime is allowed: a
            // JWKS URL is fetched before the new snapshot can be swapped in.
            let verifiers = tokio::runtime::Handle::current()
                .block_on(keyring.verifiers(&new))
                .map_err(ReloadError::Build)?;
            let gateway = Gateway::new(Arc::new(new), keyring, verifiers)
                .map_err(|e| ReloadError::Build(e.to_string()))?;
            Ok((
                gateway,
                Reloaded {
                    hash: hash.clone(),
                    restart_needed,
                },
            ))
        });
    Prepared {
        rules: Some(rules),
        hash: Some(hash),
        result: Some(result),
    }
}

/// Puts back the running values of settings bound at startup, naming those the file
/// changed.
fn keep_restart_only(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $name:expr) => {
            if new.$($field).+ != old.$($field).+ {
                changed.push($name);
                new.$($field).+ = old.$($field).+;
            }
        };
    }
    keep!(listen, "listen");
    keep!(admin, "admin.listen");
    keep!(workers, "server.workers");
    keep!(header_read_timeout, "server.header_read_timeout");
    keep!(max_header_bytes, "server.max_header_bytes");
    keep!(shutdown.timeout, "server.shutdown_timeout");
    keep!(log.format, "log.format");
    // The cache is built once and outlives snapshots (entries are origin-neutral).
    let same_cache = match (&old.cache, &new.cache) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.max_bytes == b.max_bytes
                && a.max_object_bytes == b.max_object_bytes
                && a.status_header == b.status_header
        }
        _ => false,
    };
    if !same_cache {
        changed.push("cache");
        new.cache.clone_from(&old.cache);
    }
    changed
}

/// The `cors_rules` files a config text references, resolved as the loader does
/// (relative to the config's directory). Best effort: text that does not parse
/// references nothing.
pub fn rules_files(path: &Path, text: &str) -> Vec<PathBuf> {
    let base = dir_of(path);
    toml::from_str::<FileConfig>(text)
        .map(|f| {
            f.site
                .iter()
                .filter_map(|s| s.cors_rules.as_ref())
                .map(|r| base.join(r.get_ref()))
                .collect()
        })
        .unwrap_or_default()
}

/// The config fingerprint shown as `corsgate_config_info{hash}` and in `/config`:
/// SHA-256, lowercase hex, of the TOML bytes followed by each referenced rules file's
/// bytes in order. For a config without `cors_rules` files it equals
/// `sha256sum corsgate.toml`.
pub fn fingerprint(text: &str, rules: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    for f in rules {
        // An unreadable rules file fails validation anyway; hash what there is.
        if let Ok(bytes) = std::fs::read(f) {
            h.update(&bytes);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The directory to watch for `path`: its parent, `.` for a bare file name.
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Events that may mean new content. Opens and reads are not (our own reload reads the
/// file and would otherwise trigger itself).
fn is_change(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)
        )
    )
}

fn first_line(e: &ReloadError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_of_a_plain_file_is_its_sha256() {
        // echo -n 'listen = "x"' | sha256sum
        let mut h = Sha256::new();
        h.update(b"listen = \"x\"");
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(fingerprint("listen = \"x\"", &[]), want);
        assert_eq!(want.len(), 64);
    }

    #[test]
    fn rules_files_resolve_against_the_config_dir() {
        let text = "listen = \"127.0.0.1:1\"\n[[site]]\nname = \"a\"\ndefault = true\n\
                    upstream = \"http://x\"\ncors_rules = \"rules/cors.json\"\n";
        assert_eq!(
            rules_files(Path::new("/etc/cg/corsgate.toml"), text),
            vec![PathBuf::from("/etc/cg/rules/cors.json")]
        );
        assert_eq!(
            rules_files(Path::new("corsgate.toml"), text),
            vec![PathBuf::from("./rules/cors.json")]
        );
        assert!(rules_files(Path::new("/x.toml"), "not toml [").is_empty());
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{CreateKind, ModifyKind, RenameMode};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::Any)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
    }

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let a = "listen = \"127.0.0.1:1000\"\n[[site]]\nname = \"a\"\ndefault = true\n\
                 upstream = \"http://x\"\n";
        let b = "listen = \"127.0.0.1:2000\"\n[log]\nformat = \"json\"\n[server]\n\
                 drain_delay = \"1s\"\n[[site]]\nname = \"a\"\ndefault = true\n\
                 upstream = \"http://y\"\n";
        let old = config::parse(Path::new("/c.toml"), a).unwrap();
        let mut new = config::parse(Path::new("/c.toml"), b).unwrap();
        let changed = keep_restart_only(&old, &mut new);
        assert_eq!(changed, vec!["listen", "log.format"]);
        assert_eq!(new.listen, old.listen);
        assert_eq!(new.log.format, old.log.format);
        // Live settings are taken from the new file.
        assert_eq!(new.shutdown.drain_delay, Duration::from_secs(1));
    }
}
