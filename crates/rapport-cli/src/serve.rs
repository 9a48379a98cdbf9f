//! `rapport serve` and `rapport keys`: the service and its API keys.

use anyhow::{bail, Context, Result};
use rapport_service::crypto::{hash_api_key, new_api_key, Keyring, MasterKey, MASTER_KEY_ENV};
use rapport_service::server::{self, AppState, Role, Settings};
use rapport_service::store::Store;
use serde::Deserialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Where the service keeps its data and how it listens. File < environment < flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Settings file (TOML: listen, data_dir, database_url, nats_url, policy, kb, rate_limit_per_second,
    /// retention_interval_secs, header_timeout_secs, body_timeout_secs, idle_timeout_secs,
    /// allow_private_webhooks).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env RAPPORT_LISTEN; default 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Data directory [env RAPPORT_DATA_DIR; default ./rapport-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://... [env RAPPORT_DATABASE_URL; default a SQLite file in the data dir].
    #[arg(long)]
    database_url: Option<String>,
    /// nats://HOST:PORT: share live events with the other instances of a fleet [env RAPPORT_NATS_URL;
    /// default none, one instance alone].
    #[arg(long)]
    nats_url: Option<String>,
    /// Development mode: without RAPPORT_MASTER_KEY, use (and create) a key file in the data directory.
    /// Never in production: the key sits beside the data it protects.
    #[arg(long)]
    dev: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    nats_url: Option<String>,
    policy: Option<PathBuf>,
    kb: Option<PathBuf>,
    rate_limit_per_second: Option<u32>,
    retention_interval_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    allow_private_webhooks: Option<bool>,
    dev: Option<bool>,
}

/// Resolved settings.
#[derive(Debug)]
struct Resolved {
    listen: String,
    data_dir: PathBuf,
    database_url: String,
    nats_url: Option<String>,
    policy: Option<PathBuf>,
    kb: Option<PathBuf>,
    settings: Settings,
    dev: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    fn resolve(&self) -> Result<Resolved> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("{}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .clone()
            .or_else(|| env("RAPPORT_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let data_dir = self
            .data_dir
            .clone()
            .or_else(|| env("RAPPORT_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("rapport-data"));
        let database_url = self
            .database_url
            .clone()
            .or_else(|| env("RAPPORT_DATABASE_URL"))
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("rapport.db").display()));
        let nats_url = self
            .nats_url
            .clone()
            .or_else(|| env("RAPPORT_NATS_URL"))
            .or(file.nats_url);
        let defaults = Settings::default();
        let secs = |name: &str, file: Option<u64>, default: Duration| -> Result<Duration> {
            let value = match env(name) {
                Some(v) => Some(
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| (1..=3600).contains(&n))
                        .with_context(|| format!("{name} must be 1-3600 seconds, got {v:?}"))?,
                ),
                None => file,
            };
            Ok(value.map_or(default, Duration::from_secs))
        };
        Ok(Resolved {
            listen,
            data_dir,
            database_url,
            nats_url,
            policy: env("RAPPORT_POLICY").map(PathBuf::from).or(file.policy),
            kb: env("RAPPORT_KB").map(PathBuf::from).or(file.kb),
            settings: Settings {
                rate_limit_per_second: match env("RAPPORT_RATE_LIMIT_PER_SECOND") {
                    Some(v) => v
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n >= 1)
                        .with_context(|| {
                            format!("RAPPORT_RATE_LIMIT_PER_SECOND must be a whole number >= 1, got {v:?}")
                        })?,
                    None => file
                        .rate_limit_per_second
                        .unwrap_or(defaults.rate_limit_per_second),
                },
                retention_interval: file
                    .retention_interval_secs
                    .map_or(defaults.retention_interval, Duration::from_secs),
                header_timeout: secs(
                    "RAPPORT_HEADER_TIMEOUT_SECS",
                    file.header_timeout_secs,
                    defaults.header_timeout,
                )?,
                body_timeout: secs(
                    "RAPPORT_BODY_TIMEOUT_SECS",
                    file.body_timeout_secs,
                    defaults.body_timeout,
                )?,
                idle_timeout: secs(
                    "RAPPORT_IDLE_TIMEOUT_SECS",
                    file.idle_timeout_secs,
                    defaults.idle_timeout,
                )?,
                allow_private_webhooks: env("RAPPORT_ALLOW_PRIVATE_WEBHOOKS")
                    .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
                    .or(file.allow_private_webhooks)
                    .unwrap_or(false),
                ..defaults
            },
            dev: self.dev || file.dev.unwrap_or(false),
        })
    }
}

impl Resolved {
    async fn store(&self) -> Result<Store> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data directory {}", self.data_dir.display()))?;
        Store::connect(&self.database_url)
            .await
            .with_context(|| format!("opening {}", redact_url(&self.database_url)))
    }

    fn keyring(&self) -> Result<Keyring> {
        match Keyring::from_env() {
            Ok(k) => Ok(k),
            Err(e) if self.dev && std::env::var(MASTER_KEY_ENV).is_err() => {
                let path = self.data_dir.join("dev-master.key");
                let hex_key = match std::fs::read_to_string(&path) {
                    Ok(k) => k,
                    Err(_) => {
                        let key = new_api_key()[4..].to_string();
                        // A fresh folder: the data directory does not exist before the first start.
                        std::fs::create_dir_all(&self.data_dir)
                            .with_context(|| format!("creating {}", self.data_dir.display()))?;
                        std::fs::write(&path, &key)
                            .with_context(|| format!("writing {}", path.display()))?;
                        key
                    }
                };
                eprintln!(
                    "rapport: development mode: master key from {} ({e})",
                    path.display()
                );
                Ok(Keyring::new(
                    MasterKey::from_hex(MASTER_KEY_ENV, &hex_key)?,
                    Vec::new(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn serve(config: Config) -> Result<ExitCode> {
    let resolved = config.resolve()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let keyring = resolved.keyring()?;
    let setup = crate::reply::Setup {
        policy: resolved.policy.clone(),
        kb: resolved.kb.clone(),
    };
    let responder = setup.responder()?;
    for problem in responder.problems() {
        eprintln!("rapport: warning: {problem}");
    }
    let upstream = rapport_service::openai::Upstream::from_config(&responder.policy().llm)
        .map_err(anyhow::Error::msg)
        .context("the OpenAI-compatible endpoint's upstream")?;
    let responder = Arc::new(responder);
    let engine = responder.engine().clone();
    runtime()?.block_on(async move {
        let store = resolved.store().await?;
        let listener = tokio::net::TcpListener::bind(&resolved.listen)
            .await
            .with_context(|| format!("listening on {}", resolved.listen))?;
        let address = listener.local_addr()?;
        let mut state = AppState::new(store, keyring, responder, engine, resolved.settings)
            .with_upstream(upstream);
        if let Some(url) = &resolved.nats_url {
            let fleet = rapport_service::fleet::Fleet::connect(url)
                .await
                .map_err(anyhow::Error::msg)
                .context("RAPPORT_NATS_URL")?;
            state = state.with_fleet(fleet);
        }
        let state = Arc::new(state);
        eprintln!(
            "rapport: listening on http://{address} (database {})",
            redact_url(&resolved.database_url)
        );
        match &state.upstream {
            Some(up) => eprintln!(
                "rapport: OpenAI-compatible endpoint at http://{address}/openai/v1, upstream {}",
                redact_url(&up.base_url)
            ),
            None => eprintln!(
                "rapport: OpenAI-compatible endpoint at http://{address}/openai/v1 answers with the built-in composer (set RAPPORT_LLM_BASE_URL for an upstream model)"
            ),
        }
        server::serve(listener, state, server::shutdown_signal()).await?;
        eprintln!("rapport: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key; prints it once (the last word of the output). Only its hash is stored.
    Create {
        #[arg(long)]
        tenant: String,
        /// admin, agent, analyst or service.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        config: Config,
    },
    /// List a tenant's keys, one per line, tab-separated: id, role, created, last used, revoked (UTC;
    /// `-` for never). Never the key itself.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        config: Config,
    },
    /// Revoke a key by its id (from `keys list`): running servers refuse it within 2 seconds.
    Revoke {
        /// The key id.
        id: String,
        #[command(flatten)]
        config: Config,
    },
    /// Re-encrypt every stored message, vault and webhook secret under the current RAPPORT_MASTER_KEY
    /// (earlier keys in RAPPORT_MASTER_KEY_PREVIOUS, comma-separated).
    Rotate {
        #[command(flatten)]
        config: Config,
    },
}

pub fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Create {
            tenant,
            role,
            config,
        } => {
            if Role::parse(&role).is_none() {
                bail!("--role must be admin, agent, analyst or service, got {role:?}");
            }
            check_tenant(&tenant)?;
            let resolved = config.resolve()?;
            runtime()?.block_on(async {
                let store = resolved.store().await?;
                let key = new_api_key();
                let id = store.create_key(&tenant, &role, &hash_api_key(&key)).await?;
                println!("created {role} key {id} for tenant {tenant}; store it now, it is not shown again:");
                println!("{key}");
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::List { tenant, config } => {
            check_tenant(&tenant)?;
            let resolved = config.resolve()?;
            runtime()?.block_on(async {
                let store = resolved.store().await?;
                let keys = store.list_keys(Some(&tenant)).await?;
                if keys.is_empty() {
                    eprintln!("rapport: tenant {tenant} has no keys");
                }
                let time =
                    |ms: Option<i64>| ms.map_or_else(|| "-".to_string(), rapport_text::utc_time);
                // The column names go to stderr: stdout is one key per line, for scripts.
                eprintln!("id\trole\tcreated\tlast_used\trevoked");
                for k in keys {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        k.id,
                        k.role,
                        time(Some(k.created_at)),
                        time(k.last_used_at),
                        time(k.revoked_at)
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::Revoke { id, config } => {
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                bail!("the key id is the first column of `rapport keys list`, got {id:?}");
            }
            let resolved = config.resolve()?;
            runtime()?.block_on(async {
                let store = resolved.store().await?;
                if !store.revoke_key(&id, None).await? {
                    bail!("no key {id} that is not revoked already (see `rapport keys list --tenant T`)");
                }
                println!("revoked key {id}; running servers refuse it within 2 seconds");
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::Rotate { config } => {
            let resolved = config.resolve()?;
            let keyring = resolved.keyring()?;
            runtime()?.block_on(async {
                let store = resolved.store().await?;
                let rotated = rapport_service::rotate(&store, &keyring).await?;
                println!(
                    "re-encrypted {} messages, {} vaults and {} webhook secrets under key {}",
                    rotated.messages,
                    rotated.vaults,
                    rotated.secrets,
                    keyring.current_id()
                );
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

fn check_tenant(tenant: &str) -> Result<()> {
    if tenant.is_empty()
        || tenant.len() > 64
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("--tenant must be 1-64 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}
