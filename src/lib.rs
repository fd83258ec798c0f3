//! corsgate: a CORS gateway in front of S3 and S3-compatible stores.
//!
//! # Layout
//! - [`cors`]: the CORS engine. Pure (std + `http`): S3's rule model and validation,
//!   compiled policies, the match decision with its reasons, and the headers and S3
//!   error bodies that follow from a decision. No I/O, no async.
//! - [`config`]: the TOML file schema and S3's three CORS formats (XML, `put-bucket-cors`
//!   JSON, console JSON array), turned into a validated runtime [`config::Config`] whose
//!   errors name file, line and reason.
//! - [`proxy`]: the request pipeline: route by Host (pure) → preflight answer → enforce
//!   gate → forward → decorate; plus pure header surgery (hop-by-hop, forwarding headers).
//! - [`upstream`]: where forwarded requests go: an HTTP(S) bucket through hyper-util's
//!   pooled client, or a local folder served like a bucket (`file:`); SigV4 signing.
//! - [`server`]: accept loops over hyper-util's auto builder (HTTP/1.1 + h2c, and h2 or
//!   HTTP/1.1 over TLS by ALPN), connection limits, SNI certificates reloadable in place,
//!   the https redirect, graceful stop.
//! - [`app`]: wiring: config → shared state → listeners; reload triggers; the drain
//!   sequence on stop.
//! - [`admin`]: the admin listener: health, readiness, `/metrics`, `/config`, purge.
//! - [`access`]: who may use a private-bucket site and for which S3 operations
//!   (public, JWT, presigned; method and operation allow-lists). Pure checks.
//! - [`credentials`]: the AWS credential chain, resolved and refreshed in the
//!   background, never on the request path.
//! - [`clock`]: the injectable wall clock (cache ages, credential expiry, signing time).
//! - [`metrics`]: Prometheus names and labels, and the one place a request is counted.
//! - [`reload`]: re-read, validate and swap the config (API, SIGHUP, directory watch).
//!
//! Dependency direction: `cors` ← `config` ← `proxy` → `upstream`; `config` and
//! `proxy` → `access`, `credentials`; `server` knows only a service; nothing depends on
//! `app`.
#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod app;
pub mod cache;
pub mod clock;
pub mod config;
pub mod cors;
pub mod credentials;
pub mod metrics;
pub mod proxy;
pub mod reload;
pub mod representation;
pub mod server;
pub mod upstream;
