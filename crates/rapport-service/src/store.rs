//! Durable storage through `sqlx`: SQLite (a file in the data directory, WAL; the embedded default) or
//! PostgreSQL when the database URL starts with `postgres://`. One code path for both (`sqlx::Any`, `$n`
//! parameters, which both accept); migrations per database in `migrations/`.
//!
//! The store holds ciphertext only: callers seal text before it comes here.

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database URL must start with sqlite:// or postgres://, got {0:?}")]
    Url(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Saves a conversation's derived state (`$1`) for conversation `$2`, if it still exists.
const SAVE_STATE: &str = "INSERT INTO conversation_states (conversation_id, state) SELECT id, $1 FROM conversations WHERE id = $2 ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state";

/// The PostgreSQL advisory lock that makes one instance of a fleet run the retention sweep at a time.
const RETENTION_LOCK: i64 = 0x0072_6170_706f_7274; // "rapport"

#[derive(Debug, Clone)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes. For SQLite one connection: writers take turns instead of spinning on the file lock.
    writer: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub tenant: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationRow {
    pub id: String,
    pub tenant: String,
    pub customer_id: String,
    pub channel: String,
    pub status: String,
    pub priority: i64,
    pub discreet: bool,
    pub turn_count: i64,
    /// JSON: the latest derived state for the queue (signals, strategy, trend).
    pub summary: String,
    /// JSON: metrics and the strategy in force, recomputed in the background (`{}` until then).
    pub state: String,
    pub vault_key_id: Option<String>,
    pub vault: Option<Vec<u8>>,
    /// The caller's own id for the conversation (a bot's `X-Rapport-Conversation`), when it has one.
    pub external_id: Option<String>,
    /// Who has the conversation (status `assigned`, or who resolved it).
    pub assignee: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: String,
    pub client_message_id: String,
    pub role: String,
    pub key_id: String,
    pub text: Vec<u8>,
    pub redacted: bool,
    pub analysis: String,
    pub created_at: i64,
}

/// A new message, sealed.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub conversation_id: &'a str,
    pub client_message_id: &'a str,
    pub role: &'a str,
    pub key_id: &'a str,
    pub text: &'a [u8],
    pub redacted: bool,
    pub analysis: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub created_at: i64,
}

/// Which conversations a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    /// `open`, `handoff`, `assigned` or `resolved`.
    pub status: Option<&'a str>,
    pub min_priority: Option<i64>,
    pub assignee: Option<&'a str>,
    /// Only conversations nobody has.
    pub unassigned: bool,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasureCounts {
    pub conversations: i64,
    pub messages: i64,
    pub vaults: i64,
    pub webhook_deliveries: i64,
}

#[derive(Debug, Clone, Default)]
pub struct TenantSettings {
    pub retention_days: i64,
    pub webhook_url: Option<String>,
    /// The webhook secret sealed under the master key: `(key id, nonce || ciphertext)`.
    pub webhook_secret: Option<(String, Vec<u8>)>,
}

/// An API key as `rapport keys list` shows it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub tenant: String,
    pub role: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What appending a turn changes in its conversation, and the alerts it may raise.
#[derive(Debug, Clone, Default)]
pub struct TurnChange<'a> {
    /// Raise the status to `handoff` (never back).
    pub handoff: bool,
    /// The new priority; negative leaves it, and an open self-harm alarm (100) is kept.
    pub priority: i64,
    /// Make the conversation discreet (never back).
    pub discreet: bool,
    /// The new summary, when the turn is a customer's.
    pub summary: Option<&'a str>,
    /// The customer turn's distress (`None` for other roles: the conversation's stays).
    pub distress: Option<f32>,
    /// The turn shows self-harm risk: `self_harm_risk` is raised when the alarm opens (priority was
    /// below 100).
    pub self_harm: bool,
    /// The customer asks for a person: `handoff` is raised when the conversation enters the queue.
    pub human_request: bool,
    /// Distress at or above this is high: `distress_spike` is raised when it rises past it.
    pub high_distress: f32,
    /// The turn is the customer's: it reopens a resolved conversation (`open`, or `handoff` with
    /// `handoff`).
    pub customer: bool,
}

/// A conversation after a turn was counted (inside the turn's transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub priority: i64,
    pub status: String,
    pub turn_count: i64,
    pub discreet: bool,
    /// This turn made the conversation discreet: its earlier turns must be rewritten.
    pub became_discreet: bool,
    /// The alert this turn raised, once: `self_harm_risk`, `handoff` or `distress_spike`.
    pub alert: Option<String>,
}

/// An alert waiting in the outbox for the tenant's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAlert {
    pub id: i64,
    pub tenant: String,
    pub conversation_id: String,
    pub alert: String,
    /// JSON: the event as it is POSTed.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// Appending a turn: one transaction that holds the conversation's row (PostgreSQL: the row lock of its
/// first UPDATE; SQLite: the single writer connection), so that the turn limit, the counts, the status and the alerts
/// it raises are committed together with the message, or not at all.
#[derive(Debug)]
pub struct TurnTx {
    tx: Transaction<'static, Any>,
    conversation_id: String,
}

fn conversation(row: &AnyRow) -> Result<ConversationRow> {
    Ok(ConversationRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant_id")?,
        customer_id: row.try_get("customer_id")?,
        channel: row.try_get("channel")?,
        status: row.try_get("status")?,
        priority: row.try_get("priority")?,
        discreet: row.try_get::<i64, _>("discreet")? != 0,
        turn_count: row.try_get("turn_count")?,
        summary: row.try_get("summary")?,
        state: row.try_get("state")?,
        vault_key_id: row.try_get("vault_key_id")?,
        vault: row.try_get("vault")?,
        external_id: row.try_get("external_id")?,
        assignee: row.try_get("assignee")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn message(row: &AnyRow) -> Result<MessageRow> {
    Ok(MessageRow {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        client_message_id: row.try_get("client_message_id")?,
        role: row.try_get("role")?,
        key_id: row.try_get("key_id")?,
        text: row.try_get("text")?,
        redacted: row.try_get::<i64, _>("redacted")? != 0,
        analysis: row.try_get("analysis")?,
        created_at: row.try_get("created_at")?,
    })
}

const CONVERSATION_COLUMNS: &str = "c.id, c.tenant_id, c.customer_id, c.channel, c.status, c.priority, c.discreet, c.turn_count, c.summary, COALESCE(s.state, '{}') AS state, c.vault_key_id, c.vault, c.external_id, c.assignee, c.created_at, c.updated_at";
/// The conversations with their derived state, for `CONVERSATION_COLUMNS`.
const CONVERSATIONS: &str =
    "conversations c LEFT JOIN conversation_states s ON s.conversation_id = c.id";
const MESSAGE_COLUMNS: &str =
    "id, conversation_id, client_message_id, role, key_id, text, redacted, analysis, created_at";

/// A conversation's messages in order (`$1`: its id).
fn messages_of_conversation() -> String {
    format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY id")
}

/// Connections an instance keeps to PostgreSQL: `RAPPORT_DATABASE_POOL` (1-256), else 16. Instances of
/// a fleet share the database's CPU: on a small machine, fewer connections each keep PostgreSQL from
/// thrashing between more active sessions than it has cores.
fn postgres_pool_size() -> u32 {
    std::env::var("RAPPORT_DATABASE_POOL")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=256).contains(n))
        .unwrap_or(16)
}

impl Store {
    /// Connects and migrates. `sqlite://PATH` creates the file if needed.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let sqlite = |max: u32| {
            AnyPoolOptions::new()
                .acquire_timeout(Duration::from_secs(10))
                .max_connections(max)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers never block the writer; NORMAL sync: a committed write survives
                        // a crash of the process (not a power cut of the machine).
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                            // Erased rows are overwritten, not left in free pages.
                            "PRAGMA secure_delete = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let writer = sqlite(1).connect(&url).await?;
                (sqlite(4).connect(&url).await?, writer)
            }
            Backend::Postgres => {
                // Fail fast when the database is down: a request answers 503 within 2 s instead of
                // queueing for a connection that cannot come.
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_millis(1_500))
                    .max_connections(postgres_pool_size())
                    .connect(&url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let store = Self {
            pool,
            writer,
            backend,
        };
        match backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&store.writer)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&store.writer)
                    .await?
            }
        }
        Ok(store)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Storage is reachable.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Creates the tenant if it does not exist.
    pub async fn ensure_tenant(&self, tenant: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, retention_days, created_at) VALUES ($1, 365, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(tenant)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn tenant(&self, tenant: &str) -> Result<TenantSettings> {
        let row = sqlx::query(
            "SELECT retention_days, webhook_url, webhook_secret_key_id, webhook_secret_sealed FROM tenants WHERE id = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => {
                let key_id: Option<String> = r.try_get("webhook_secret_key_id")?;
                let sealed: Option<Vec<u8>> = r.try_get("webhook_secret_sealed")?;
                TenantSettings {
                    retention_days: r.try_get("retention_days")?,
                    webhook_url: r.try_get("webhook_url")?,
                    webhook_secret: key_id.zip(sealed),
                }
            }
            None => TenantSettings::default(),
        })
    }

    pub async fn set_tenant(&self, tenant: &str, settings: &TenantSettings) -> Result<()> {
        let (key_id, sealed) = settings.webhook_secret.clone().unzip();
        sqlx::query(
            "UPDATE tenants SET retention_days = $1, webhook_url = $2, webhook_secret = NULL, webhook_secret_key_id = $3, webhook_secret_sealed = $4 WHERE id = $5",
        )
        .bind(settings.retention_days)
        .bind(settings.webhook_url.clone())
        .bind(key_id)
        .bind(sealed)
        .bind(tenant)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Webhook secrets still stored in plain text (written before secrets were sealed): `(tenant, secret)`.
    pub async fn plain_webhook_secrets(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT id, webhook_secret FROM tenants WHERE webhook_secret IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("webhook_secret")?)))
            .collect()
    }

    /// Replaces a tenant's webhook secret by its sealed form (and empties the plaintext column).
    pub async fn seal_webhook_secret(
        &self,
        tenant: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tenants SET webhook_secret = NULL, webhook_secret_key_id = $1, webhook_secret_sealed = $2 WHERE id = $3",
        )
        .bind(key_id)
        .bind(sealed.to_vec())
        .bind(tenant)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Tenants whose webhook secret is sealed with a key other than `current` (for rotation).
    pub async fn webhook_secrets_not_under(
        &self,
        current: &str,
    ) -> Result<Vec<(String, String, Vec<u8>)>> {
        self.sealed_not_under(
            "SELECT id, webhook_secret_key_id AS key_id, webhook_secret_sealed AS sealed FROM tenants WHERE webhook_secret_sealed IS NOT NULL AND webhook_secret_key_id <> $1",
            current,
        )
        .await
    }

    /// `(id, key id, sealed bytes)` rows of `sql` (which selects `id`, `key_id` and `sealed` and binds
    /// the current key id as `$1`): the records a rotation re-seals.
    async fn sealed_not_under(
        &self,
        sql: &str,
        current: &str,
    ) -> Result<Vec<(String, String, Vec<u8>)>> {
        let rows = sqlx::query(sql).bind(current).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("key_id")?, r.try_get("sealed")?)))
            .collect()
    }

    /// Stores a key's hash; returns the key id.
    pub async fn create_key(&self, tenant: &str, role: &str, key_hash: &str) -> Result<String> {
        self.ensure_tenant(tenant).await?;
        let id = key_hash[..12].to_string();
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(tenant)
        .bind(role)
        .bind(key_hash)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(id)
    }

    /// The key with this hash, unless it was revoked.
    pub async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(KeyRecord {
                id: r.try_get("id")?,
                tenant: r.try_get("tenant_id")?,
                role: r.try_get("role")?,
            })
        })
        .transpose()
    }

    /// Records that a key was used (at most once a minute per key).
    pub async fn touch_key(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1 - 60000)",
        )
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A tenant's keys (all tenants' with `None`), oldest first.
    pub async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyInfo>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, role, created_at, last_used_at, revoked_at FROM api_keys WHERE ($1 = '' OR tenant_id = $1) ORDER BY created_at, id",
        )
        .bind(tenant.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant_id")?,
                    role: r.try_get("role")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a key (of `tenant` only, when given); false when there is no such key that is not revoked
    /// already.
    pub async fn revoke_key(&self, id: &str, tenant: Option<&str>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND ($3 = '' OR tenant_id = $3) AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .bind(tenant.unwrap_or(""))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates a conversation; with an idempotency key, a second create with the same key makes nothing
    /// and returns the first one. Returns the row and whether it is new.
    pub async fn create_conversation(
        &self,
        id: &str,
        tenant: &str,
        customer_id: &str,
        channel: &str,
        idempotency_key: Option<&str>,
    ) -> Result<(ConversationRow, bool)> {
        self.create_conversation_with(id, tenant, customer_id, channel, idempotency_key, None)
            .await
    }

    /// The conversation a caller knows by its own id (`external_id`), created on first use. Returns the
    /// row and whether it is new.
    pub async fn external_conversation(
        &self,
        new_id: &str,
        tenant: &str,
        external_id: &str,
        customer_id: &str,
        channel: &str,
    ) -> Result<(ConversationRow, bool)> {
        let key = format!("external:{external_id}");
        // Known already (every call but a conversation's first): a read, no write.
        if let Some(row) = self.conversation_by_key(tenant, &key).await? {
            return Ok((row, false));
        }
        self.create_conversation_with(
            new_id,
            tenant,
            customer_id,
            channel,
            Some(&key),
            Some(external_id),
        )
        .await
    }

    async fn create_conversation_with(
        &self,
        id: &str,
        tenant: &str,
        customer_id: &str,
        channel: &str,
        idempotency_key: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<(ConversationRow, bool)> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, tenant_id, customer_id, channel, status, priority, discreet, turn_count, summary, created_at, updated_at, idempotency_key, external_id) VALUES ($1, $2, $3, $4, 'open', 0, 0, 0, '{}', $5, $5, $6, $7) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        )
        .bind(id)
        .bind(tenant)
        .bind(customer_id)
        .bind(channel)
        .bind(now)
        .bind(idempotency_key)
        .bind(external_id)
        .execute(&self.writer)
        .await?
        .rows_affected()
            > 0;
        let row = if inserted {
            self.conversation(tenant, id).await?
        } else {
            match idempotency_key {
                Some(key) => self.conversation_by_key(tenant, key).await?,
                None => None,
            }
        };
        Ok((
            row.ok_or(StoreError::Db(sqlx::Error::RowNotFound))?,
            inserted,
        ))
    }

    /// The conversation of `tenant` made with this idempotency key, if any.
    async fn conversation_by_key(
        &self,
        tenant: &str,
        key: &str,
    ) -> Result<Option<ConversationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATIONS} WHERE c.tenant_id = $1 AND c.idempotency_key = $2"
        ))
        .bind(tenant)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation).transpose()
    }

    /// A conversation of `tenant` (another tenant's is `None`).
    pub async fn conversation(&self, tenant: &str, id: &str) -> Result<Option<ConversationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATIONS} WHERE c.id = $1 AND c.tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation).transpose()
    }

    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&messages_of_conversation())
            .bind(conversation_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message).collect()
    }

    /// The message stored with this client id, if any (what a retry is answered with).
    pub async fn stored_message(
        &self,
        conversation_id: &str,
        client_message_id: &str,
    ) -> Result<Option<MessageRow>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND client_message_id = $2"
        ))
        .bind(conversation_id)
        .bind(client_message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message).transpose()
    }

    /// Starts appending a turn to a conversation of `tenant`: counts it and applies `change` in one
    /// statement, which holds the conversation's row until the transaction ends (PostgreSQL: the row
    /// lock; SQLite: the single writer). Every decision that depends on what the conversation was (the
    /// turn limit, the alerts raised once, becoming discreet) is taken by that statement from the row's
    /// values before it. `None` when there is no such conversation or it already has `max_turns` turns.
    pub async fn begin_turn(
        &self,
        tenant: &str,
        id: &str,
        change: &TurnChange<'_>,
        max_turns: i64,
    ) -> Result<Option<(TurnTx, Counted)>> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "UPDATE conversations SET \
             last_alert = CASE WHEN $1 = 1 THEN (CASE WHEN priority < 100 THEN 'self_harm_risk' ELSE NULL END) \
                 WHEN $2 = 1 THEN (CASE WHEN status NOT IN ('handoff', 'assigned') THEN 'handoff' ELSE NULL END) \
                 WHEN $3 >= $4 AND $9 = 1 AND distress < $4 THEN 'distress_spike' ELSE NULL END, \
             became_discreet = CASE WHEN discreet = 0 AND $5 = 1 THEN 1 ELSE 0 END, \
             distress = CASE WHEN $9 = 1 THEN $3 ELSE distress END, \
             assignee = CASE WHEN $14 = 1 AND status = 'resolved' THEN NULL ELSE assignee END, \
             status = CASE WHEN $6 = 1 AND status <> 'assigned' THEN 'handoff' \
                 WHEN $14 = 1 AND status = 'resolved' THEN 'open' ELSE status END, \
             priority = CASE WHEN priority >= 100 OR $7 < 0 THEN priority ELSE $7 END, \
             discreet = CASE WHEN discreet = 1 OR $5 = 1 THEN 1 ELSE 0 END, \
             turn_count = turn_count + 1, \
             summary = CASE WHEN $8 = '' THEN summary ELSE $8 END, \
             stale_since = CASE WHEN stale_since IS NULL OR stale_since > $10 THEN $10 ELSE stale_since END, \
             updated_at = $10 \
             WHERE id = $11 AND tenant_id = $12 AND turn_count < $13 \
             RETURNING priority, status, turn_count, discreet, became_discreet, last_alert",
        )
        .bind(i64::from(change.self_harm))
        .bind(i64::from(change.human_request))
        .bind(f64::from(change.distress.unwrap_or(0.0)))
        .bind(f64::from(change.high_distress))
        .bind(i64::from(change.discreet))
        .bind(i64::from(change.handoff))
        .bind(change.priority)
        .bind(change.summary.unwrap_or(""))
        .bind(i64::from(change.distress.is_some()))
        .bind(now_ms())
        .bind(id)
        .bind(tenant)
        .bind(max_turns)
        .bind(i64::from(change.customer))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let counted = Counted {
            priority: row.try_get("priority")?,
            status: row.try_get("status")?,
            turn_count: row.try_get("turn_count")?,
            discreet: row.try_get::<i64, _>("discreet")? != 0,
            became_discreet: row.try_get::<i64, _>("became_discreet")? != 0,
            alert: row.try_get("last_alert")?,
        };
        Ok(Some((
            TurnTx {
                tx,
                conversation_id: id.to_string(),
            },
            counted,
        )))
    }

    /// Rewrites a message's text (discreet mode redacting earlier turns; key rotation).
    pub async fn rewrite_message(
        &self,
        id: i64,
        key_id: &str,
        text: &[u8],
        redacted: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE messages SET key_id = $1, text = $2, redacted = $3 WHERE id = $4")
            .bind(key_id)
            .bind(text.to_vec())
            .bind(i64::from(redacted))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Saves conversations' derived states (metrics and strategy, JSON) in one transaction; a
    /// conversation erased meanwhile is skipped.
    pub async fn set_states(&self, states: &[(&str, &str)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for (id, state) in states {
            sqlx::query(SAVE_STATE)
                .bind(*state)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` conversations whose derived state is stale (PostgreSQL): their mark moves to
    /// `lease_until`, so no other instance takes them until then (nor after, once the claim is settled);
    /// an instance that dies mid-work leaves them to be claimed again when the lease ends. Returns
    /// `(id, tenant)`.
    pub async fn claim_stale(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "UPDATE conversations SET stale_since = $1 WHERE id IN (\
             SELECT id FROM conversations WHERE stale_since IS NOT NULL AND stale_since <= $2 \
             ORDER BY stale_since LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, tenant_id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("tenant_id")?)))
            .collect()
    }

    /// Saves a claimed conversation's derived state and clears its mark, unless a turn arrived since the
    /// claim (the mark then moved back to that turn's time and the conversation is claimed again).
    pub async fn settle_state(&self, id: &str, state: &str, lease_until: i64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(SAVE_STATE)
            .bind(state)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE conversations SET stale_since = NULL WHERE id = $1 AND stale_since = $2",
        )
        .bind(id)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A tenant's conversations created in `[from, to)` (Unix ms), of one channel or all (`""`), as
    /// `(id, channel, created_at, state)`, oldest first.
    pub async fn states(
        &self,
        tenant: &str,
        from: i64,
        to: i64,
        channel: &str,
    ) -> Result<Vec<(String, String, i64, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT c.id, c.channel, c.created_at, COALESCE(s.state, '{{}}') AS state FROM {CONVERSATIONS} WHERE c.tenant_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND ($4 = '' OR c.channel = $4) ORDER BY c.created_at, c.id",
        ))
        .bind(tenant)
        .bind(from)
        .bind(to)
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("channel")?,
                    r.try_get("created_at")?,
                    r.try_get("state")?,
                ))
            })
            .collect()
    }

    /// The channels a tenant's conversations came from.
    pub async fn channels(&self, tenant: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT channel FROM conversations WHERE tenant_id = $1 ORDER BY channel",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("channel")?)).collect()
    }

    /// Puts a conversation of `tenant` in the handoff queue with at least `priority`. When it was not
    /// in the queue yet, the `handoff` alert (`body`, JSON) is queued for the webhook in the same
    /// transaction. Returns whether it entered the queue now.
    pub async fn mark_handoff(
        &self,
        tenant: &str,
        id: &str,
        priority: i64,
        body: &str,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let now = now_ms();
        let entered = sqlx::query(
            "UPDATE conversations SET status = 'handoff', assignee = NULL, updated_at = $1 WHERE id = $2 AND tenant_id = $3 AND status NOT IN ('handoff', 'assigned')",
        )
        .bind(now)
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE conversations SET priority = CASE WHEN priority > $1 THEN priority ELSE $1 END, updated_at = $2, \
             stale_since = CASE WHEN stale_since IS NULL OR stale_since > $2 THEN $2 ELSE stale_since END \
             WHERE id = $3 AND tenant_id = $4",
        )
        .bind(priority)
        .bind(now)
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
        if entered {
            queue_alert(&mut tx, tenant, id, "handoff", body).await?;
        }
        tx.commit().await?;
        Ok(entered)
    }

    /// Claims up to `limit` alerts due for delivery: each is leased for `lease_ms` (an instance that dies
    /// mid-delivery leaves it to be retried after that).
    pub async fn claim_alerts(&self, limit: i64, lease_ms: i64) -> Result<Vec<OutboxAlert>> {
        let now = now_ms();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE alert_outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM alert_outbox WHERE done_at IS NULL AND next_attempt_at <= $2 ORDER BY id LIMIT $3{lock}) RETURNING id, tenant_id, conversation_id, alert, body, attempts"
        ))
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let mut alerts: Vec<OutboxAlert> = rows
            .iter()
            .map(|r| {
                Ok(OutboxAlert {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant_id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    alert: r.try_get("alert")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<_>>()?;
        alerts.sort_by_key(|a| a.id);
        Ok(alerts)
    }

    /// Ends an alert's delivery (delivered, given up, or no webhook to deliver to).
    pub async fn finish_alert(&self, id: i64, attempts: i64) -> Result<()> {
        sqlx::query("UPDATE alert_outbox SET done_at = $1, attempts = $2 WHERE id = $3")
            .bind(now_ms())
            .bind(attempts)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Schedules another attempt at an alert.
    pub async fn retry_alert(&self, id: i64, attempts: i64, at: i64) -> Result<()> {
        sqlx::query("UPDATE alert_outbox SET attempts = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(attempts)
            .bind(at)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn save_vault(&self, id: &str, key_id: &str, sealed: &[u8]) -> Result<()> {
        sqlx::query("UPDATE conversations SET vault_key_id = $1, vault = $2 WHERE id = $3")
            .bind(key_id)
            .bind(sealed.to_vec())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// A page of a tenant's conversations, highest priority and most recent first.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &ListFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATIONS} WHERE c.tenant_id = $1 AND ($2 = '' OR c.status = $2) AND c.priority >= $3 \
             AND ($4 = '' OR c.assignee = $4) AND ($5 = 0 OR c.assignee IS NULL) \
             ORDER BY c.priority DESC, c.updated_at DESC, c.id LIMIT $6 OFFSET $7"
        ))
        .bind(tenant)
        .bind(filter.status.unwrap_or(""))
        .bind(filter.min_priority.unwrap_or(0))
        .bind(filter.assignee.unwrap_or(""))
        .bind(i64::from(filter.unassigned))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
    }

    /// The latest customer message of each of the conversations `ids` (at most one each, in no order).
    pub async fn last_customer_messages(&self, ids: &[&str]) -> Result<Vec<MessageRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT MAX(id) FROM messages \
             WHERE role = 'customer' AND conversation_id IN ({}) GROUP BY conversation_id)",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(message).collect()
    }

    /// Changes who has a conversation and its status, in one statement (concurrent changes: the last
    /// one wins). `assignee`: `Some(Some(a))` assigns (status `assigned` unless `status` says otherwise),
    /// `Some(None)` unassigns (an `assigned` conversation goes back to `open`). `status` `open` or
    /// `handoff` puts it back in a queue (no assignee); `resolved` keeps who resolved it and lowers its
    /// priority to 0 (the next customer message reopens it). `None` when there is no such conversation.
    pub async fn update_lifecycle(
        &self,
        tenant: &str,
        id: &str,
        assignee: Option<Option<&str>>,
        status: Option<&str>,
    ) -> Result<Option<ConversationRow>> {
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE conversations SET \
             assignee = CASE WHEN $1 = 1 THEN $2 WHEN $3 IN ('open', 'handoff') THEN NULL ELSE assignee END, \
             status = CASE WHEN $3 <> '' THEN $3 \
                 WHEN $1 = 1 AND $2 IS NOT NULL THEN 'assigned' \
                 WHEN $1 = 1 AND status = 'assigned' THEN 'open' ELSE status END, \
             priority = CASE WHEN $3 = 'resolved' THEN 0 ELSE priority END, \
             updated_at = $4, \
             stale_since = CASE WHEN stale_since IS NULL OR stale_since > $4 THEN $4 ELSE stale_since END \
             WHERE id = $5 AND tenant_id = $6",
        )
        .bind(i64::from(assignee.is_some()))
        .bind(assignee.flatten())
        .bind(status.unwrap_or(""))
        .bind(now)
        .bind(id)
        .bind(tenant)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        self.conversation(tenant, id).await
    }

    /// Deletes every conversation, message, vault and webhook delivery of a customer, in one transaction.
    pub async fn erase_customer(&self, tenant: &str, customer_id: &str) -> Result<ErasureCounts> {
        let mut tx = self.writer.begin().await?;
        let ids: Vec<String> =
            sqlx::query("SELECT id FROM conversations WHERE tenant_id = $1 AND customer_id = $2")
                .bind(tenant)
                .bind(customer_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?;
        let mut counts = ErasureCounts::default();
        for id in &ids {
            counts.messages += sqlx::query("DELETE FROM messages WHERE conversation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
            for table in ["webhook_deliveries", "alert_outbox"] {
                counts.webhook_deliveries +=
                    sqlx::query(&format!("DELETE FROM {table} WHERE conversation_id = $1"))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected() as i64;
            }
            sqlx::query("DELETE FROM conversation_states WHERE conversation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            counts.vaults += sqlx::query(
                "SELECT COUNT(*) AS n FROM conversations WHERE id = $1 AND vault IS NOT NULL",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
            counts.conversations += sqlx::query("DELETE FROM conversations WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Deletes conversations of tenants whose retention has passed (by last activity); returns how
    /// many per tenant.
    pub async fn sweep_retention(&self, now: i64) -> Result<Vec<(String, i64)>> {
        // Several instances over one PostgreSQL: one sweeps at a time (a session advisory lock, released
        // with the connection if the instance dies), the others skip this round.
        if self.backend == Backend::Postgres {
            let mut lock = self.pool.acquire().await?;
            let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(RETENTION_LOCK)
                .fetch_one(&mut *lock)
                .await?;
            if !held {
                return Ok(Vec::new());
            }
            let swept = self.sweep(now).await;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(RETENTION_LOCK)
                .execute(&mut *lock)
                .await?;
            return swept;
        }
        self.sweep(now).await
    }

    async fn sweep(&self, now: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT c.id, c.tenant_id FROM conversations c JOIN tenants t ON t.id = c.tenant_id WHERE c.updated_at < $1 - t.retention_days * 86400000",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut per_tenant: Vec<(String, i64)> = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            let tenant: String = row.try_get("tenant_id")?;
            let mut tx = self.writer.begin().await?;
            for table in [
                "messages",
                "webhook_deliveries",
                "alert_outbox",
                "conversation_states",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE conversation_id = $1"))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM conversations WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            match per_tenant.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, n)) => *n += 1,
                None => per_tenant.push((tenant, 1)),
            }
        }
        Ok(per_tenant)
    }

    pub async fn audit(
        &self,
        tenant: &str,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn audit_log(
        &self,
        tenant: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, detail, created_at FROM audit_log WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(tenant)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn log_delivery(
        &self,
        tenant: &str,
        conversation_id: &str,
        event: &str,
        attempt: i64,
        status: i64,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (tenant_id, conversation_id, event, attempt, status, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant)
        .bind(conversation_id)
        .bind(event)
        .bind(attempt)
        .bind(status)
        .bind(error)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every message sealed with a key other than `current` (for rotation), in batches.
    pub async fn messages_not_under(&self, current: &str, limit: i64) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE key_id <> $1 ORDER BY id LIMIT $2"
        ))
        .bind(current)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    /// Conversations whose vault is sealed with a key other than `current`.
    pub async fn vaults_not_under(&self, current: &str) -> Result<Vec<(String, String, Vec<u8>)>> {
        self.sealed_not_under(
            "SELECT id, vault_key_id AS key_id, vault AS sealed FROM conversations WHERE vault IS NOT NULL AND vault_key_id <> $1",
            current,
        )
        .await
    }

    /// Counts rows of a table (tests and health reports).
    pub async fn count(&self, table: &str) -> Result<i64> {
        let allowed = [
            "tenants",
            "api_keys",
            "conversations",
            "messages",
            "audit_log",
            "webhook_deliveries",
            "alert_outbox",
        ];
        if !allowed.contains(&table) {
            return Ok(0);
        }
        Ok(sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

impl TurnTx {
    /// The conversation's messages so far.
    pub async fn messages(&mut self) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&messages_of_conversation())
            .bind(&self.conversation_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(message).collect()
    }

    /// Rewrites an earlier message's text (the conversation became discreet).
    pub async fn rewrite(&mut self, id: i64, key_id: &str, text: &[u8]) -> Result<()> {
        sqlx::query("UPDATE messages SET key_id = $1, text = $2, redacted = 1 WHERE id = $3")
            .bind(key_id)
            .bind(text.to_vec())
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Inserts the message; `None` when its client id was stored before (a retry: roll back, then read
    /// the stored one with [`Store::stored_message`]).
    pub async fn insert(&mut self, m: &NewMessage<'_>) -> Result<Option<MessageRow>> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO messages (conversation_id, client_message_id, role, key_id, text, redacted, analysis, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (conversation_id, client_message_id) DO NOTHING RETURNING id",
        )
        .bind(&self.conversation_id)
        .bind(m.client_message_id)
        .bind(m.role)
        .bind(m.key_id)
        .bind(m.text.to_vec())
        .bind(i64::from(m.redacted))
        .bind(m.analysis)
        .bind(now)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(MessageRow {
            id: row.try_get("id")?,
            conversation_id: self.conversation_id.clone(),
            client_message_id: m.client_message_id.to_string(),
            role: m.role.to_string(),
            key_id: m.key_id.to_string(),
            text: m.text.to_vec(),
            redacted: m.redacted,
            analysis: m.analysis.to_string(),
            created_at: now,
        }))
    }

    /// Queues an alert for the tenant's webhook, delivered once this transaction commits.
    pub async fn queue_alert(&mut self, tenant: &str, alert: &str, body: &str) -> Result<()> {
        queue_alert(&mut self.tx, tenant, &self.conversation_id, alert, body).await
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Gives the turn up: nothing of it is written.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

async fn queue_alert(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    conversation_id: &str,
    alert: &str,
    body: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO alert_outbox (tenant_id, conversation_id, alert, body, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
    )
    .bind(tenant)
    .bind(conversation_id)
    .bind(alert)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
