//! Wiring: a validated [`Config`] becomes shared state and a bound listener. Tests use
//! [`App::bind`] on `127.0.0.1:0` and drive the real server in process.
//!
//! Operations live here too: an app built from a file ([`App::with_config_path`])
//! reloads it on SIGHUP and when its directory changes (see `reload.rs`), and
//! [`App::run_with_drain`] carries out a Kubernetes-friendly stop: not ready, still
//! accepting for `drain_delay`, then in-flight requests get `shutdown_timeout`.
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cache::{Clock, ResponseCache, SystemClock};
use crate::config::Config;
use crate::credentials::Env;
use crate::proxy::private::Keyring;
use crate::proxy::{Gateway, Shared};
use crate::reload::{Overrides, Reloader};
use crate::server::tls::{CertStore, TlsListener};
use crate::server::{self, Limits};

/// How often histogram samples are folded into buckets (the exporter leaves it to us).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// A gateway bound to its listener, ready to serve.
pub struct App {
    shared: Arc<Shared>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    limits: Limits,
    /// The https listener, when `[tls]` is configured.
    tls: Option<TlsListener>,
    /// Set by [`App::with_config_path`]: reloads from the file.
    reload: Option<ReloadSetup>,
}

struct ReloadSetup {
    reloader: Arc<Reloader>,
    /// Off in tests that drive [`Reloader::reload`] themselves and count its results.
    watch_files: bool,
    /// Started with the setup, so a SIGHUP right after startup reloads rather than
    /// killing the process (its default action).
    sighup: Option<JoinHandle<()>>,
}

impl Drop for ReloadSetup {
    fn drop(&mut self) {
        if let Some(t) = &self.sighup {
            t.abort();
        }
    }
}

/// rustls needs exactly one process-wide crypto provider; feature unification can
/// enable two, and then it refuses to pick. Idempotent.
pub fn install_crypto_provider() {
    #[cfg(feature = "tls-ring")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl App {
    /// Builds the gateway from `config` and binds `config.listen`.
    pub async fn bind(config: Config) -> std::io::Result<App> {
        App::bind_with(config, Arc::new(SystemClock), Env::from_process()).await
    }

    /// As [`App::bind`], with the clock the cache judges freshness by (tests move it).
    pub async fn bind_with_clock(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<App> {
        App::bind_with(config, clock, Env::from_process()).await
    }

    /// As [`App::bind`], with the wall clock (cache freshness, credential expiry, the
    /// signature's time) and the environment the credential chain reads.
    pub async fn bind_with(
        config: Config,
        clock: Arc<dyn Clock>,
        env: Env,
    ) -> std::io::Result<App> {
        install_crypto_provider();
        let limits = Limits {
            header_read_timeout: config.header_read_timeout,
            max_header_bytes: config.max_header_bytes,
            drain_deadline: config.shutdown.timeout,
            idle_timeout: config.limits.idle_timeout,
            max_connections: config.limits.max_connections,
            h2_max_concurrent_streams: config.limits.h2_max_concurrent_streams,
        };
        let listener = TcpListener::bind(config.listen).await?;
        let tls = match &config.tls {
            Some(t) => Some(TlsListener::bind(t).await?),
            None => None,
        };
        let admin = match config.admin {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let cache = config
            .cache
            .clone()
            .map(|c| ResponseCache::new(c, clock.clone()));
        let keyring = Arc::new(Keyring::new(env, clock));
        let verifiers = keyring
            .verifiers(&config)
            .await
            .map_err(std::io::Error::other)?;
        let gateway = Gateway::new(Arc::new(config), &keyring, verifiers)?;
        let shared = Arc::new(Shared::new(gateway, cache, keyring));
        // Judged on the snapshot in force, so a reload that drops a signing site drops
        // its condition too.
        let weak = Arc::downgrade(&shared);
        shared.health.add_check(
            "credentials",
            Box::new(move || match weak.upgrade() {
                Some(s) => s.current.load().credentials_ready(),
                None => Ok(()),
            }),
        );
        Ok(App {
            shared,
            listener,
            admin,
            limits,
            reload: None,
            tls,
        })
    }

    /// Remembers the file the config was loaded from: [`App::run`] then reloads it on
    /// SIGHUP and when its directory changes. Reads the file to fingerprint it. Call it
    /// inside the tokio runtime, as with everything after [`App::bind`].
    pub fn with_config_path(mut self, path: impl Into<PathBuf>) -> std::io::Result<App> {
        let reloader = Arc::new(Reloader::new(self.shared.clone(), path)?);
        #[cfg(unix)]
        let sighup = Some(reloader.spawn_sighup()?);
        #[cfg(not(unix))]
        let sighup = None;
        self.reload = Some(ReloadSetup {
            reloader,
            watch_files: true,
            sighup,
        });
        Ok(self)
    }

    /// Turns the directory watcher off (SIGHUP and [`Reloader::reload`] still work).
    pub fn watch_config_files(mut self, on: bool) -> App {
        if let Some(r) = &mut self.reload {
            r.watch_files = on;
        }
        self
    }

    /// Adjustments applied to every reloaded config (command-line overrides).
    pub fn with_overrides(self, f: Overrides) -> App {
        if let Some(r) = &self.reload {
            r.reloader.set_overrides(f);
        }
        self
    }

    /// The reloader, when the app was built from a file; tests call its `reload()`.
    /// The TLS certificate store plugs in with [`Reloader::add_hook`].
    pub fn reloader(&self) -> Option<Arc<Reloader>> {
        self.reload.as_ref().map(|r| r.reloader.clone())
    }

    /// The state shared by every connection (readiness, metrics, the config in force).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The response cache, when the config has one (tests inspect its size).
    pub fn cache(&self) -> Option<ResponseCache> {
        self.shared.cache.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when one is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The https listener's address, when one is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|t| t.local_addr().ok())
    }

    /// The served certificates, when TLS is configured: call
    /// [`CertStore::reload`] (same files) or [`CertStore::replace`] (a new config's
    /// list) to change them without a restart.
    pub fn certificates(&self) -> Option<Arc<CertStore>> {
        self.tls.as_ref().map(|t| t.certificates.clone())
    }

    /// Serves until `shutdown` resolves, then stops accepting and drains in-flight
    /// requests (up to `shutdown_timeout`). In-process tests stop this way.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.serve(shutdown, false).await;
    }

    /// The production stop: when `stop` resolves (SIGTERM), `/readyz` turns 503 while
    /// the listener keeps accepting for `[server] drain_delay`, since the load balancer
    /// only stops sending a few seconds later; then as [`App::run`].
    pub async fn run_with_drain(self, stop: impl Future<Output = ()>) {
        self.serve(stop, true).await;
    }

    async fn serve(self, shutdown: impl Future<Output = ()>, drain: bool) {
        let App {
            shared,
            listener,
            admin,
            limits,
            reload,
            tls,
        } = self;
        // Certificates follow every reload trigger (SIGHUP, file change, API).
        if let (Some(r), Some(t)) = (reload.as_ref(), tls.as_ref()) {
            let certs = t.certificates.clone();
            r.reloader.add_hook(
                "tls-certificates",
                Box::new(move || certs.reload().map_err(|d| d.to_string())),
            );
        }
        let mut background = vec![spawn_upkeep(shared.clone())];
        if let Some(r) = reload.as_ref().filter(|r| r.watch_files) {
            match r.reloader.spawn_watcher() {
                Ok(task) => background.push(task),
                Err(e) => {
                    tracing::warn!("cannot watch the config for changes ({e}); SIGHUP reloads")
                }
            }
        }
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin = admin.map(|l| {
            let shared = shared.clone();
            tokio::spawn(crate::admin::run(l, shared, async {
                let _ = admin_stopped.await;
            }))
        });
        let stopping = shared.clone();
        let stop = async move {
            shutdown.await;
            stopping.health.start_draining();
            if drain {
                // Read now: drain_delay is one of the settings a reload changes live.
                let delay = stopping.current.load().config.shutdown.drain_delay;
                tracing::info!(
                    ?delay,
                    "stop requested: not ready; still accepting for the drain delay"
                );
                tokio::time::sleep(delay).await;
            }
            tracing::info!("no longer accepting; finishing requests in flight");
        };
        server::run_all(listener, tls, shared, limits, stop).await;
        let _ = stop_admin.send(());
        if let Some(task) = admin {
            let _ = task.await;
        }
        for task in background {
            task.abort();
        }
        drop(reload);
    }
}

/// Folds histogram samples periodically, so memory stays flat between scrapes.
fn spawn_upkeep(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            shared.metrics.run_upkeep();
        }
    })
}

/// Resolves on SIGTERM or SIGINT. The handlers are registered when this is called, not
/// when first polled, so a stop that arrives during startup is not fatal: call it
/// inside the runtime before announcing readiness.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let recv = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = recv(int) => {}
                () = recv(term) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("stop requested");
    }
}
