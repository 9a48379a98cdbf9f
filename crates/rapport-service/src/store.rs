//! Durable storage through `sqlx`: SQLite (a file in the data directory, WAL; the embedded default) or
//! PostgreSQL when the database URL starts with `postgres://`. One code path for both (`sqlx::Any`, `$n`
//! parameters, which both accept); migrations per database in `migrations/`.
//!
//! The store holds ciphertext only: callers seal text before it comes here.

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
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
    pub webhook_secret: Option<String>,
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

const CONVERSATION_COLUMNS: &str = "c.id, c.tenant_id, c.customer_id, c.channel, c.status, c.priority, c.discreet, c.turn_count, c.summary, COALESCE(s.state, '{}') AS state, c.vault_key_id, c.vault, c.created_at, c.updated_at";
/// The conversations with their derived state, for `CONVERSATION_COLUMNS`.
const CONVERSATIONS: &str =
    "conversations c LEFT JOIN conversation_states s ON s.conversation_id = c.id";
const MESSAGE_COLUMNS: &str =
    "id, conversation_id, client_message_id, role, key_id, text, redacted, analysis, created_at";

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
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .max_connections(16)
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
            "SELECT retention_days, webhook_url, webhook_secret FROM tenants WHERE id = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => TenantSettings {
                retention_days: r.try_get("retention_days")?,
                webhook_url: r.try_get("webhook_url")?,
                webhook_secret: r.try_get("webhook_secret")?,
            },
            None => TenantSettings::default(),
        })
    }

    pub async fn set_tenant(&self, tenant: &str, settings: &TenantSettings) -> Result<()> {
        sqlx::query(
            "UPDATE tenants SET retention_days = $1, webhook_url = $2, webhook_secret = $3 WHERE id = $4",
        )
        .bind(settings.retention_days)
        .bind(settings.webhook_url.clone())
        .bind(settings.webhook_secret.clone())
        .bind(tenant)
        .execute(&self.writer)
        .await?;
        Ok(())
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

    pub async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>> {
        let row = sqlx::query("SELECT id, tenant_id, role FROM api_keys WHERE key_hash = $1")
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

    pub async fn create_conversation(
        &self,
        id: &str,
        tenant: &str,
        customer_id: &str,
        channel: &str,
    ) -> Result<ConversationRow> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO conversations (id, tenant_id, customer_id, channel, status, priority, discreet, turn_count, summary, created_at, updated_at) VALUES ($1, $2, $3, $4, 'open', 0, 0, 0, '{}', $5, $5)",
        )
        .bind(id)
        .bind(tenant)
        .bind(customer_id)
        .bind(channel)
        .bind(now)
        .execute(&self.writer)
        .await?;
        self.conversation(tenant, id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
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
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY id"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    /// The message with this client id, if it was stored before.
    pub async fn message_by_client_id(
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

    /// Appends a message unless one with the same client id exists; returns the stored message and
    /// whether it is new. The insert is committed before this returns.
    pub async fn append(&self, m: &NewMessage<'_>) -> Result<(MessageRow, bool)> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO messages (conversation_id, client_message_id, role, key_id, text, redacted, analysis, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (conversation_id, client_message_id) DO NOTHING RETURNING id",
        )
        .bind(m.conversation_id)
        .bind(m.client_message_id)
        .bind(m.role)
        .bind(m.key_id)
        .bind(m.text.to_vec())
        .bind(i64::from(m.redacted))
        .bind(m.analysis)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        match inserted {
            Some(row) => Ok((
                MessageRow {
                    id: row.try_get("id")?,
                    conversation_id: m.conversation_id.to_string(),
                    client_message_id: m.client_message_id.to_string(),
                    role: m.role.to_string(),
                    key_id: m.key_id.to_string(),
                    text: m.text.to_vec(),
                    redacted: m.redacted,
                    analysis: m.analysis.to_string(),
                    created_at: now,
                },
                true,
            )),
            None => {
                let stored = self
                    .message_by_client_id(m.conversation_id, m.client_message_id)
                    .await?
                    .ok_or(StoreError::Db(sqlx::Error::RowNotFound))?;
                Ok((stored, false))
            }
        }
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

    /// Records one more turn: counts it, raises the status to `handoff` when asked (never back), keeps a
    /// priority of 100 (an open self-harm alarm) and otherwise sets `priority` (negative: unchanged),
    /// makes the conversation discreet when asked (never back), and replaces the summary when given.
    /// Returns the new (priority, status, turn count); `None` if the conversation is gone.
    pub async fn record_turn(
        &self,
        id: &str,
        handoff: bool,
        priority: i64,
        discreet: bool,
        summary: Option<&str>,
    ) -> Result<Option<(i64, String, i64)>> {
        let row = sqlx::query(
            "UPDATE conversations SET status = CASE WHEN $1 = 1 THEN 'handoff' ELSE status END, priority = CASE WHEN priority >= 100 OR $2 < 0 THEN priority ELSE $2 END, discreet = CASE WHEN discreet = 1 OR $3 = 1 THEN 1 ELSE 0 END, turn_count = turn_count + 1, summary = CASE WHEN $4 = '' THEN summary ELSE $4 END, updated_at = $5 WHERE id = $6 RETURNING priority, status, turn_count",
        )
        .bind(i64::from(handoff))
        .bind(priority)
        .bind(i64::from(discreet))
        .bind(summary.unwrap_or(""))
        .bind(now_ms())
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("priority")?,
                r.try_get("status")?,
                r.try_get("turn_count")?,
            ))
        })
        .transpose()
    }

    /// Saves conversations' derived states (metrics and strategy, JSON) in one transaction; a
    /// conversation erased meanwhile is skipped.
    pub async fn set_states(&self, states: &[(&str, &str)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for (id, state) in states {
            sqlx::query(
                "INSERT INTO conversation_states (conversation_id, state) SELECT id, $1 FROM conversations WHERE id = $2 ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state",
            )
            .bind(*state)
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }
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

    /// Puts a conversation in the handoff queue with at least `priority`.
    pub async fn mark_handoff(&self, id: &str, priority: i64) -> Result<()> {
        sqlx::query(
            "UPDATE conversations SET status = 'handoff', priority = CASE WHEN priority > $1 THEN priority ELSE $1 END, updated_at = $2 WHERE id = $3",
        )
        .bind(priority)
        .bind(now_ms())
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
        status: Option<&str>,
        min_priority: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM {CONVERSATIONS} WHERE c.tenant_id = $1 AND ($2 = '' OR c.status = $2) AND c.priority >= $3 ORDER BY c.priority DESC, c.updated_at DESC, c.id LIMIT $4 OFFSET $5"
        ))
        .bind(tenant)
        .bind(status.unwrap_or(""))
        .bind(min_priority.unwrap_or(0))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
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
            counts.webhook_deliveries +=
                sqlx::query("DELETE FROM webhook_deliveries WHERE conversation_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
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
            for table in ["messages", "webhook_deliveries", "conversation_states"] {
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
        let rows = sqlx::query(
            "SELECT id, vault_key_id, vault FROM conversations WHERE vault IS NOT NULL AND vault_key_id <> $1",
        )
        .bind(current)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("vault_key_id")?,
                    r.try_get("vault")?,
                ))
            })
            .collect()
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
