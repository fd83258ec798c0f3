//! The `corsgate` command line. The CLI contract (subcommands and flags) is fixed:
//! outside tools drive the binary through it.
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use corsgate::app::{self, App};
use corsgate::config::private::AccessKind;
use corsgate::config::{self, Config, LogFormat, OneSite};
use corsgate::cors::Mode;
use corsgate::reload::Overrides;

/// mimalloc rather than glibc malloc: a cache hit allocates and frees a dozen small
/// buffers, and glibc's free path was a tenth of the hit's userland time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  corsgate                                   serve config/corsgate.toml (the demo)
  corsgate serve --config /etc/corsgate.toml
  corsgate serve --listen 127.0.0.1:8080 --upstream https://my-bucket.s3.eu-west-1.amazonaws.com \\
                 --cors-rules cors.json
  corsgate serve --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000/bucket --mode s3
  corsgate serve --listen 127.0.0.1:8080 --upstream https://dxxxx.cloudfront.net --cache 256MiB
  corsgate serve --listen 127.0.0.1:8080 --upstream https://private.s3.eu-west-1.amazonaws.com \
                 --sign-region eu-west-1 --access public          sign reads (GET, HEAD) for anyone
  corsgate serve --listen 127.0.0.1:8080 --upstream https://private.s3.eu-west-1.amazonaws.com \
                 --access presigned --allow-methods GET,HEAD,PUT   only presigned URLs pass
  corsgate check config/corsgate.toml        print every error with file:line:column
  corsgate check cors.xml                    validate an S3 CORS file (XML or JSON)
  corsgate purge --admin 127.0.0.1:9901 --prefix /img/   drop cached responses";

/// A CORS gateway for S3 and S3-compatible stores: answers preflights itself from S3's
/// rule model, forwards the rest and injects the right CORS headers and Vary.
#[derive(Parser)]
#[command(version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `corsgate` alone means `corsgate serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve(ServeArgs),
    /// Validate a TOML config or a CORS rules file; prints every error, exits non-zero.
    Check {
        /// A corsgate TOML file, or S3 CORS rules (XML, put-bucket-cors JSON, console JSON).
        file: PathBuf,
    },
    /// Remove cached responses from a running gateway, through its admin listener.
    Purge {
        /// The admin listener (`[admin] listen`, or `--admin` on serve).
        #[arg(long)]
        admin: SocketAddr,
        /// Only this site's entries (default: every site).
        #[arg(long)]
        site: Option<String>,
        /// Purge this exact path (all queries and variants).
        #[arg(long, conflicts_with = "prefix", required_unless_present = "prefix")]
        path: Option<String>,
        /// Purge every path starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// TOML config file. Ignored with --upstream.
    #[arg(long, default_value = "config/corsgate.toml")]
    config: PathBuf,
    /// One-site mode: listen address, e.g. 127.0.0.1:8080.
    #[arg(long, requires = "upstream")]
    listen: Option<SocketAddr>,
    /// One-site mode: upstream base URL (`https://bucket.s3.region.amazonaws.com`,
    /// `http://127.0.0.1:9000/bucket`, `file:PATH`). Every Host is served.
    #[arg(long, requires = "listen")]
    upstream: Option<String>,
    /// One-site mode: CORS rules file in any S3 format. Without it the site has no
    /// CORS configuration.
    #[arg(long, requires = "upstream")]
    cors_rules: Option<PathBuf>,
    /// One-site mode: CORS mode.
    #[arg(long, value_enum, requires = "upstream")]
    mode: Option<ModeArg>,
    /// One-site mode with a `file:` upstream: accept PUT and DELETE.
    #[arg(long, requires = "upstream")]
    writable: bool,
    /// One-site mode: admin listener (health, cache purge), e.g. 127.0.0.1:9901.
    #[arg(long, requires = "upstream")]
    admin: Option<SocketAddr>,
    /// One-site mode: cache responses in memory, bounded to SIZE (e.g. 256MiB).
    #[arg(long, value_name = "SIZE", requires = "upstream", value_parser = parse_size)]
    cache: Option<u64>,
    /// One-site mode: sign upstream requests with SigV4 for this region (private
    /// bucket). Credentials come from the chain: environment, profile, web identity,
    /// container endpoint, IMDS. Needs --access.
    #[arg(long, value_name = "REGION", requires = "access")]
    sign_region: Option<String>,
    /// One-site mode: who may use the site: `public` (anyone, for the allowed methods)
    /// or `presigned` (only requests carrying a presigned query; nothing is signed).
    #[arg(long, value_enum, requires = "upstream")]
    access: Option<AccessArg>,
    /// One-site mode with --access: the only methods forwarded (default GET,HEAD).
    #[arg(
        long,
        value_name = "METHODS",
        requires = "access",
        value_delimiter = ','
    )]
    allow_methods: Option<Vec<String>>,
    /// Runtime worker threads (default: one per core), like nginx's worker_processes.
    #[arg(long)]
    workers: Option<usize>,
    /// Log format (overrides the config file).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Per-request access log (overrides the config file).
    #[arg(long, value_enum)]
    access_log: Option<Switch>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Enforce,
    S3,
}

#[derive(Clone, Copy, ValueEnum)]
enum AccessArg {
    Public,
    Presigned,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { file }) => check(&file),
        Some(Command::Purge {
            admin,
            site,
            path,
            prefix,
        }) => purge(
            admin,
            site.as_deref(),
            path.or(prefix.clone()).unwrap_or_default(),
            prefix.is_some(),
        ),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn check(file: &Path) -> ExitCode {
    let is_toml = file.extension().is_some_and(|e| e == "toml");
    let result = if is_toml {
        config::load(file).and_then(|c| {
            // The PEM files too, so a bad certificate fails here and not at startup.
            if let Some(tls) = &c.tls {
                corsgate::server::tls::CertStore::load(tls)?;
            }
            Ok(format!("{} site(s)", c.sites.len()))
        })
    } else {
        config::load_rules_file(file).map(|p| format!("{} CORS rule(s)", p.rules().len()))
    };
    match result {
        Ok(summary) => {
            println!("{}: ok ({summary})", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", file.display(), errors.0.len());
            ExitCode::FAILURE
        }
    }
}

fn purge(admin: SocketAddr, site: Option<&str>, path: String, prefix: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(corsgate::admin::request_purge(admin, site, &path, prefix)) {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("purge failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Command-line flags win over the file, on every reload too.
    let (log_format, access_log) = (args.log_format, args.access_log);
    let overrides: Overrides = Arc::new(move |config: &mut Config| {
        if let Some(f) = log_format {
            config.log.format = match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            };
        }
        if let Some(s) = access_log {
            config.log.access_log = matches!(s, Switch::On);
        }
    });
    overrides(&mut config);
    // One-site mode has no file to reload.
    let reload_from = args.upstream.is_none().then(|| args.config.clone());
    init_logging(config.log.format);
    match run(config, args.workers, reload_from, overrides) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    if let (Some(listen), Some(upstream)) = (args.listen, &args.upstream) {
        let mode = match args.mode {
            Some(ModeArg::S3) => Mode::S3,
            _ => Mode::Enforce,
        };
        return Ok(Config::try_from(OneSite {
            listen,
            upstream: upstream.clone(),
            cors_rules: args.cors_rules.clone(),
            mode,
            writable: args.writable,
            cache_bytes: args.cache,
            admin: args.admin,
            sign_region: args.sign_region.clone(),
            access: args.access.map(|a| match a {
                AccessArg::Public => AccessKind::Public,
                AccessArg::Presigned => AccessKind::Presigned,
            }),
            allow_methods: args.allow_methods.clone(),
        })?);
    }
    Ok(config::load(&args.config)?)
}

fn parse_size(s: &str) -> Result<u64, String> {
    config::units::parse_size(s)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn run(
    config: Config,
    workers: Option<usize>,
    reload_from: Option<PathBuf>,
    overrides: Overrides,
) -> anyhow::Result<()> {
    let workers = workers.or(config.workers);
    // One worker means one thread serving everything, like one nginx worker: the
    // current-thread scheduler does that without the work-stealing machinery.
    let mut rt = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all();
    if let Some(n) = workers.filter(|n| *n > 1) {
        rt.worker_threads(n);
    }
    let rt = rt.build().context("starting the runtime")?;
    rt.block_on(async move {
        let sites: Vec<String> = config.sites.iter().map(|s| s.name.clone()).collect();
        // Signal handlers go in before "listening" is announced: a SIGTERM or SIGHUP
        // sent right after must not hit the default action (exit).
        let stop = app::shutdown_signal();
        let mut app = App::bind(config).await.context("binding the listener")?;
        if let Some(path) = reload_from {
            app = app
                .with_config_path(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .with_overrides(overrides);
        }
        let addr = app.local_addr()?;
        let admin = app.admin_addr().map(|a| a.to_string());
        let tls = app.tls_addr().map(|a| a.to_string());
        tracing::info!(%addr, admin, tls, ?sites, "corsgate listening");
        app.run_with_drain(stop).await;
        tracing::info!("stopped");
        Ok(())
    })
}
