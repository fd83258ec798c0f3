//! Wiring: a validated [`Config`] becomes shared state and a bound listener. Tests use
//! [`App::bind`] on `127.0.0.1:0` and drive the real server in process.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::cache::{Clock, ResponseCache, SystemClock};
use crate::config::Config;
use crate::proxy::{Gateway, Shared};
use crate::server::tls::{CertStore, TlsListener};
use crate::server::{self, Limits};

/// A gateway bound to its listener, ready to serve.
pub struct App {
    shared: Arc<Shared>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    limits: Limits,
    /// The https listener, when `[tls]` is configured.
    tls: Option<TlsListener>,
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
        App::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`App::bind`], with the clock the cache judges freshness by (tests move it).
    pub async fn bind_with_clock(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<App> {
        install_crypto_provider();
        let limits = Limits {
            header_read_timeout: config.header_read_timeout,
            max_header_bytes: config.max_header_bytes,
            drain_deadline: Duration::from_secs(30),
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
        let cache = config.cache.clone().map(|c| ResponseCache::new(c, clock));
        let gateway = Gateway::new(Arc::new(config))?;
        Ok(App {
            shared: Arc::new(Shared::new(gateway, cache)),
            listener,
            admin,
            limits,
            tls,
        })
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

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin = self.admin.map(|l| {
            let shared = self.shared.clone();
            tokio::spawn(crate::admin::run(l, shared, async {
                let _ = admin_stopped.await;
            }))
        });
        server::run_all(self.listener, self.tls, self.shared, self.limits, shutdown).await;
        let _ = stop_admin.send(());
        if let Some(task) = admin {
            let _ = task.await;
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("stop requested: draining");
}
