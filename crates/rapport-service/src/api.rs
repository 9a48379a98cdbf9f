//! The `/v1` handlers and their OpenAPI document (generated from these annotations by `utoipa`).

use crate::error::{ApiError, ErrorBody};
use crate::events::{self, Event};
use crate::server::{AppState, Principal, Role};
use crate::store::{
    now_ms, ConversationRow, ErasureCounts, MessageRow, NewMessage, TenantSettings, TurnChange,
};
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rapport_engine::{Conversation, Turn};
use rapport_privacy::Operator;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio_stream::StreamExt;
use utoipa::{OpenApi, ToSchema};

/// Texts longer than this are refused (the analysis reads the first 16 KiB anyway).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// `Json` with our error body on rejection.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` with our error body on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` with our error body on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

type Shared = State<Arc<AppState>>;

fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Invalid(format!("`{field}` must not be empty")));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::Invalid(format!(
            "`{field}` is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

pub(crate) fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "`{field}` must be 1-128 characters without control characters"
        )));
    }
    Ok(())
}

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TurnRole {
    Customer,
    Agent,
    Bot,
    System,
}

impl TurnRole {
    pub(crate) fn engine(self) -> rapport_engine::Role {
        match self {
            TurnRole::Customer => rapport_engine::Role::Customer,
            TurnRole::Agent => rapport_engine::Role::Agent,
            TurnRole::Bot => rapport_engine::Role::Bot,
            TurnRole::System => rapport_engine::Role::System,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TurnRole::Customer => "customer",
            TurnRole::Agent => "agent",
            TurnRole::Bot => "bot",
            TurnRole::System => "system",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "customer" => TurnRole::Customer,
            "agent" => TurnRole::Agent,
            "bot" => TurnRole::Bot,
            _ => TurnRole::System,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextIn {
    #[schema(min_length = 1, max_length = 16384, pattern = r"\S")]
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactIn {
    #[schema(min_length = 1, max_length = 16384, pattern = r"\S")]
    pub text: String,
    /// `redact` (default), `mask` or `hash` (needs RAPPORT_HASH_KEY on the server).
    #[serde(default)]
    #[schema(pattern = "^(redact|mask|hash)$")]
    pub operator: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedactOut {
    pub text: String,
    #[schema(value_type = Vec<Object>)]
    pub entities: Vec<rapport_privacy::Entity>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnIn {
    pub role: TurnRole,
    #[schema(max_length = 16384)]
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditIn {
    #[schema(min_length = 1, max_length = 16384, pattern = r"\S")]
    pub customer: String,
    #[schema(min_length = 1, max_length = 16384, pattern = r"\S")]
    pub reply: String,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub history: Vec<TurnIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub customer_id: String,
    #[serde(default = "default_channel")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub channel: String,
}

fn default_channel() -> String {
    "chat".into()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationOut {
    pub id: String,
    /// The caller's own id for the conversation (a bot's `X-Rapport-Conversation` through the
    /// OpenAI-compatible endpoint); `null` for conversations made through `/v1/conversations`.
    #[schema(nullable)]
    pub external_id: Option<String>,
    pub customer_id: String,
    pub channel: String,
    /// `open`, `handoff` (waiting for a person), `assigned` (a person has it) or `resolved` (the next
    /// customer message reopens it).
    pub status: String,
    /// Who has the conversation (or resolved it).
    #[schema(nullable)]
    pub assignee: Option<String>,
    /// In lists: the latest customer message on one line (at most 160 characters), with personal data
    /// redacted for analysts; a discreet conversation's is stored redacted.
    #[schema(nullable)]
    pub last_message: Option<String>,
    /// 0-100: distress, vulnerability, a request for a human, self-harm risk.
    pub priority: i64,
    pub discreet: bool,
    pub turn_count: i64,
    /// The latest customer turn at a glance: signals, sentiment, distress, emotion, intent.
    #[schema(value_type = Object)]
    pub summary: Value,
    /// Recomputed shortly after each turn: `metrics` (trajectory, empathy of the replies, resolution,
    /// escalation, churn risk) and `strategy` (the moves the next reply must make). `{}` until then.
    #[schema(value_type = Object)]
    pub state: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&ConversationRow> for ConversationOut {
    fn from(c: &ConversationRow) -> Self {
        Self {
            id: c.id.clone(),
            external_id: c.external_id.clone(),
            customer_id: c.customer_id.clone(),
            channel: c.channel.clone(),
            status: c.status.clone(),
            assignee: c.assignee.clone(),
            last_message: None,
            priority: c.priority,
            discreet: c.discreet,
            turn_count: c.turn_count,
            summary: serde_json::from_str(&c.summary).unwrap_or(Value::Null),
            state: serde_json::from_str(&c.state).unwrap_or(Value::Null),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TurnOut {
    pub client_message_id: String,
    pub role: TurnRole,
    /// Redacted when the conversation is discreet or the caller's role does not see raw text.
    pub text: String,
    pub redacted: bool,
    /// The analysis of a customer turn (of the text as shown, when it is redacted).
    #[schema(value_type = Object, nullable)]
    pub analysis: Option<Value>,
    /// Evidence of the present signals in `text`, as UTF-16 offsets (what JavaScript strings index).
    pub highlights: Vec<Highlight>,
    /// The audit of an agent or bot reply, against the customer turn before it.
    #[schema(value_type = Object, nullable)]
    pub audit: Option<rapport_audit::Audit>,
    pub created_at: i64,
}

/// A span of `text` that caused a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Highlight {
    /// Signal, vulnerability or sensitive topic.
    pub label: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationOut,
    pub turns: Vec<TurnOut>,
    #[schema(value_type = Object)]
    pub memory: Value,
    #[schema(value_type = Object)]
    pub trajectory: Value,
    /// The moves the next reply must make, with reasons.
    #[schema(value_type = Vec<Object>)]
    pub strategy: Value,
    /// The packet for the person taking over, when the strategy hands off.
    #[schema(value_type = Object, nullable)]
    pub handoff: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// The caller's id for this message: a retry with the same id returns the stored message.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub client_message_id: String,
    pub role: TurnRole,
    #[schema(min_length = 1, max_length = 16384, pattern = r"\S")]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    pub conversation_id: String,
    pub client_message_id: String,
    pub role: TurnRole,
    /// True when this id was stored before (nothing new was written).
    pub duplicate: bool,
    pub created_at: i64,
    pub priority: i64,
    pub status: String,
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `open`, `handoff`, `assigned` or `resolved`.
    #[param(pattern = "^(open|handoff|assigned|resolved)$")]
    pub status: Option<String>,
    /// Only conversations this person has.
    #[param(min_length = 1, max_length = 128)]
    pub assignee: Option<String>,
    /// Only conversations nobody has.
    pub unassigned: Option<bool>,
    /// Minimum priority (0-100).
    #[param(minimum = 0, maximum = 100)]
    pub priority: Option<i64>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationOut>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    /// HMAC-SHA256 of the customer id under a key of the tenant's own (derived from the master key):
    /// proves what was erased without keeping the id, and cannot be reversed by hashing guesses.
    pub customer_hash: String,
    pub erased_at: i64,
    pub counts: ErasureCounts,
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<crate::store::AuditEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    /// Conversations idle longer than this are deleted (1-3650).
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: i64,
    /// Where alerts are POSTed (http or https, a public address); null turns webhooks off.
    #[schema(pattern = "^https?://[^\\s]+$", max_length = 2048)]
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key of the `X-Rapport-Signature` header (16-256 characters; required with a
    /// webhook). Stored sealed under the master key and never shown again.
    #[schema(min_length = 16, max_length = 256)]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    pub retention_days: i64,
    pub webhook_url: Option<String>,
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Invalid(
            "`limit` must be between 1 and 200".into(),
        ));
    }
    if !(0..=1_000_000_000).contains(&offset) {
        return Err(ApiError::Invalid(
            "`offset` must be between 0 and 10^9".into(),
        ));
    }
    Ok((limit, offset))
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is up", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Storage reachable and models loaded; with NATS configured, the body says whether live events from other instances flow (`ready`, `ready; nats: connected, N instances` or `ready; nats: disconnected, live events from other instances paused`): a NATS outage degrades live updates, never ingestion, so it does not take the instance out of rotation", body = String),
    (status = 503, description = "Not ready", body = ErrorBody)))]
pub async fn readyz(State(state): Shared) -> Result<String, ApiError> {
    // A database that does not answer is not ready: say so within a second instead of waiting on it.
    match tokio::time::timeout(std::time::Duration::from_millis(900), state.store.ping()).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ApiError::Storage(
                "no answer from the database within 900 ms".into(),
            ))
        }
    }
    Ok(match &state.fleet {
        None => "ready".to_string(),
        Some(fleet) if fleet.connected() => {
            format!("ready; nats: connected, {} instances", fleet.size())
        }
        Some(_) => "ready; nats: disconnected, live events from other instances paused".to_string(),
    })
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus metrics", body = String)))]
pub async fn metrics(State(state): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Analyses one customer message.
#[utoipa::path(post, path = "/v1/analyze", request_body = TextIn, security(("bearer" = [])),
    responses((status = 200, description = "The analysis", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn analyze(
    State(state): Shared,
    _p: Principal,
    ApiJson(input): ApiJson<TextIn>,
) -> Result<axum::Json<rapport_signals::Analysis>, ApiError> {
    check_text("text", &input.text)?;
    Ok(axum::Json(analyze_off_runtime(&state, input.text).await?))
}

/// Analyses a message on a blocking thread (engine work never runs on the async workers).
async fn analyze_off_runtime(
    state: &Arc<AppState>,
    text: String,
) -> Result<rapport_signals::Analysis, ApiError> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let analysis = engine.analyzer().analyze(&text);
        metrics::histogram!("rapport_analysis_seconds").record(started.elapsed().as_secs_f64());
        analysis
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Finds personal data and redacts, masks or hashes it.
#[utoipa::path(post, path = "/v1/redact", request_body = RedactIn, security(("bearer" = [])),
    responses((status = 200, description = "Redacted text and entities", body = RedactOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn redact(
    State(state): Shared,
    _p: Principal,
    ApiJson(input): ApiJson<RedactIn>,
) -> Result<axum::Json<RedactOut>, ApiError> {
    check_text("text", &input.text)?;
    let operator = match input.operator.as_deref().unwrap_or("redact") {
        "redact" => Operator::Redact,
        "mask" => Operator::Mask,
        "hash" => Operator::Hash,
        other => {
            return Err(ApiError::Invalid(format!(
                "`operator` must be redact, mask or hash, got {other:?}"
            )))
        }
    };
    let key = match operator {
        // A missing hash key is the server's configuration, not the caller's mistake.
        Operator::Hash => Some(
            rapport_privacy::HashKey::from_env()
                .map_err(|e| ApiError::Internal(format!("server configuration: {e}")))?,
        ),
        _ => None,
    };
    let entities = state.detector.detect(&input.text);
    let text = rapport_privacy::apply(&input.text, &entities, operator, key.as_ref(), None)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok(axum::Json(RedactOut { text, entities }))
}

/// Audits a draft reply.
#[utoipa::path(post, path = "/v1/audit", request_body = AuditIn, security(("bearer" = [])),
    responses((status = 200, description = "The audit", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn audit(
    State(state): Shared,
    _p: Principal,
    ApiJson(input): ApiJson<AuditIn>,
) -> Result<axum::Json<rapport_audit::Audit>, ApiError> {
    check_text("customer", &input.customer)?;
    check_text("reply", &input.reply)?;
    if input.history.len() > rapport_engine::MAX_TURNS {
        return Err(ApiError::Invalid(format!(
            "`history` has more than {} turns",
            rapport_engine::MAX_TURNS
        )));
    }
    let history: Vec<Turn> = input
        .history
        .into_iter()
        .map(|t| Turn {
            role: t.role.engine(),
            text: t.text,
        })
        .collect();
    // Up to 1,000 turns of history: engine work, on a blocking thread.
    let worker = state.clone();
    let audit = tokio::task::spawn_blocking(move || {
        let policy = worker.responder.policy().audit_policy(Vec::new());
        worker
            .auditor
            .audit(&input.customer, &input.reply, &history, &policy)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok(axum::Json(audit))
}

/// Starts a conversation.
#[utoipa::path(post, path = "/v1/conversations", request_body = CreateConversation, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create with the same key (1-128 characters) returns the conversation the first one made (200) instead of making another")),
    responses((status = 201, description = "Created", body = ConversationOut),
        (status = 200, description = "Made before by a request with the same Idempotency-Key", body = ConversationOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_conversation(
    State(state): Shared,
    p: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(input): ApiJson<CreateConversation>,
) -> Result<(StatusCode, axum::Json<ConversationOut>), ApiError> {
    p.require(
        &[Role::Admin, Role::Agent, Role::Service],
        "create conversations",
    )?;
    check_id("customer_id", &input.customer_id)?;
    check_id("channel", &input.channel)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| ApiError::Invalid("`Idempotency-Key` must be visible ASCII".into()))?;
            check_id("Idempotency-Key", key)?;
            Some(key)
        }
    };
    let id = format!("c_{}", &crate::crypto::new_api_key()[4..28]);
    let (row, created) = state
        .store
        .create_conversation(
            &id,
            &p.tenant,
            &input.customer_id,
            &input.channel,
            idempotency_key,
        )
        .await?;
    if !created && (row.customer_id != input.customer_id || row.channel != input.channel) {
        return Err(ApiError::Conflict(
            "this Idempotency-Key was used for a different conversation".into(),
        ));
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(ConversationOut::from(&row))))
}

/// Lists conversations, highest priority first.
#[utoipa::path(get, path = "/v1/conversations", params(ListParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of conversations", body = ConversationPage),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn list_conversations(
    State(state): Shared,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<axum::Json<ConversationPage>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset)?;
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::Invalid(
                "`status` must be open, handoff, assigned or resolved".into(),
            ));
        }
    }
    if let Some(a) = &q.assignee {
        check_id("assignee", a)?;
    }
    if q.priority.is_some_and(|p| !(0..=100).contains(&p)) {
        return Err(ApiError::Invalid(
            "`priority` must be between 0 and 100".into(),
        ));
    }
    let filter = crate::store::ListFilter {
        status: q.status.as_deref(),
        min_priority: q.priority,
        assignee: q.assignee.as_deref(),
        unassigned: q.unassigned.unwrap_or(false),
    };
    let rows = state.store.list(&p.tenant, &filter, limit, offset).await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut last: HashMap<String, String> = HashMap::new();
    for m in state.store.last_customer_messages(&ids).await? {
        let text = open_text(&state, &m)?;
        let line = one_line(&text);
        let line = if p.role == Role::Analyst {
            let entities = state.detector.detect(&line);
            rapport_privacy::apply(&line, &entities, Operator::Redact, None, None)
                .unwrap_or_else(|_| "[REDACTED]".into())
        } else {
            line
        };
        last.insert(m.conversation_id.clone(), line);
    }
    Ok(axum::Json(ConversationPage {
        items: rows
            .iter()
            .map(|r| {
                let mut out = fresh(&state, r);
                out.last_message = last.remove(&r.id);
                out
            })
            .collect(),
        limit,
        offset,
    }))
}

/// `text` on one line, cut to 160 characters (with an ellipsis when cut).
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= 160 {
        return line;
    }
    let cut: String = line.chars().take(159).collect();
    format!("{}…", cut.trim_end())
}

/// A conversation's statuses.
const STATUSES: [&str; 4] = ["open", "handoff", "assigned", "resolved"];

/// A change of who has a conversation or of its status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    /// Assigns the conversation (status `assigned`); `null` unassigns it (an assigned conversation goes
    /// back to `open`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub assignee: Option<Option<String>>,
    /// `open`, `handoff`, `assigned` (with `assignee`) or `resolved`.
    #[schema(pattern = "^(open|handoff|assigned|resolved)$")]
    pub status: Option<String>,
}

/// A field that is present, even as `null` (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Assigns, unassigns, resolves or reopens a conversation. Concurrent changes: the last one wins, and
/// each is an event on `/v1/events` and an entry in the audit log.
#[utoipa::path(patch, path = "/v1/conversations/{id}", params(("id" = String, Path)), request_body = ConversationPatch, security(("bearer" = [])),
    responses((status = 200, description = "The conversation after the change", body = ConversationOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_conversation(
    State(state): Shared,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ConversationPatch>,
) -> Result<axum::Json<ConversationOut>, ApiError> {
    p.require(
        &[Role::Admin, Role::Agent, Role::Service],
        "assign or resolve conversations",
    )?;
    check_id("id", &id)?;
    if input.assignee.is_none() && input.status.is_none() {
        return Err(ApiError::Invalid(
            "give `assignee`, `status` or both".into(),
        ));
    }
    if let Some(Some(a)) = &input.assignee {
        check_id("assignee", a)?;
    }
    if let Some(s) = &input.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::Invalid(
                "`status` must be open, handoff, assigned or resolved".into(),
            ));
        }
        if s == "assigned" && !matches!(input.assignee, Some(Some(_))) {
            return Err(ApiError::Invalid(
                "`status: assigned` needs an `assignee`".into(),
            ));
        }
        if s != "assigned" && s != "resolved" && matches!(input.assignee, Some(Some(_))) {
            return Err(ApiError::Invalid(format!(
                "a conversation with an assignee cannot be `{s}`"
            )));
        }
    }
    let assignee = input.assignee.as_ref().map(|a| a.as_deref());
    let row = state
        .store
        .update_lifecycle(&p.tenant, &id, assignee, input.status.as_deref())
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    let detail = format!(
        "status={} assignee={}",
        row.status,
        row.assignee.as_deref().unwrap_or("-")
    );
    state
        .store
        .audit(
            &p.tenant,
            &p.key_id,
            "conversation.update",
            &row.id,
            &detail,
        )
        .await?;
    crate::server::mark_stale(&state, &p.tenant, &row.id);
    events::publish(
        &state,
        Event {
            tenant: p.tenant.clone(),
            kind: "status",
            alert: None,
            conversation_id: row.id.clone(),
            priority: row.priority,
            status: row.status.clone(),
            signals: Vec::new(),
            at: now_ms(),
        },
    );
    Ok(axum::Json(fresh(&state, &row)))
}

/// A conversation as the API shows it, with its freshest derived state (saved or not yet).
fn fresh(state: &AppState, row: &ConversationRow) -> ConversationOut {
    let mut out = ConversationOut::from(row);
    if let Some(unsaved) = crate::server::unsaved_state(state, &row.id) {
        out.state = serde_json::from_str(&unsaved).unwrap_or(Value::Null);
    }
    out
}

async fn load(state: &AppState, p: &Principal, id: &str) -> Result<ConversationRow, ApiError> {
    check_id("id", id)?;
    state
        .store
        .conversation(&p.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))
}

fn open_text(state: &AppState, m: &MessageRow) -> Result<String, ApiError> {
    let plain = state.keyring.open(&m.key_id, &m.text, &m.conversation_id)?;
    String::from_utf8(plain).map_err(|_| ApiError::Internal("stored text is not UTF-8".into()))
}

/// The conversation's turns as the engine sees them.
pub(crate) fn turns(state: &AppState, messages: &[MessageRow]) -> Result<Vec<Turn>, ApiError> {
    messages
        .iter()
        .map(|m| {
            Ok(Turn {
                role: TurnRole::parse(&m.role).engine(),
                text: open_text(state, m)?,
            })
        })
        .collect()
}

/// Evidence spans of the present signals, vulnerabilities and sensitive topics of `analysis`, as UTF-16
/// offsets into `text` (the text that was analysed).
fn highlights(text: &str, analysis: &rapport_signals::Analysis) -> Vec<Highlight> {
    let utf16 = |byte: usize| text.get(..byte).map_or(0, |t| t.encode_utf16().count());
    let mut out = Vec::new();
    for set in [
        &analysis.signals,
        &analysis.vulnerability,
        &analysis.sensitive_topics,
    ] {
        for (name, score) in set.names.iter().zip(&set.scores) {
            if !score.present() {
                continue;
            }
            for span in &score.spans {
                if span.end <= text.len() && span.start < span.end {
                    out.push(Highlight {
                        label: (*name).to_string(),
                        start: utf16(span.start),
                        end: utf16(span.end),
                    });
                }
            }
        }
    }
    out.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    out
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TurnsParams {
    /// How many turns to return, 1-1000 (default all).
    #[param(minimum = 1, maximum = 1000)]
    pub turns_limit: Option<i64>,
    /// Turns to skip from the first (default 0).
    #[param(minimum = 0, maximum = 1000)]
    pub turns_offset: Option<i64>,
}

/// A conversation's turns and what is derived from them, as one viewer may see it.
#[derive(Debug)]
pub struct View {
    turns: Vec<TurnOut>,
    memory: Value,
    trajectory: Value,
    strategy: Value,
    handoff: Value,
}

/// Which view: conversation id, its last message id and count, and whether it is redacted for the
/// viewer's role.
type ViewKey = (String, i64, usize, bool);

/// The most recent conversation views (a reread of an unchanged conversation costs no engine work).
#[derive(Debug, Default)]
pub struct ViewCache {
    views: HashMap<ViewKey, Arc<View>>,
    order: VecDeque<ViewKey>,
}

/// Views kept at most.
const VIEWS_KEPT: usize = 32;

impl ViewCache {
    fn get(&self, key: &ViewKey) -> Option<Arc<View>> {
        self.views.get(key).cloned()
    }

    fn put(&mut self, key: ViewKey, view: Arc<View>) {
        if self.views.insert(key.clone(), view).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > VIEWS_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.views.remove(&old);
            }
        }
    }
}

/// Forgets every cached conversation view (after erasure and retention: nothing erased stays in memory).
pub fn forget_views(state: &AppState) {
    if let Ok(mut views) = state.views.lock() {
        *views = ViewCache::default();
    }
}

/// A conversation with its turns, signals, evidence, reply audits, memory, trajectory and derived state.
/// The engine work runs on a blocking thread (a few at a time), never on the async workers, and an
/// unchanged conversation is answered from the view cache; `turns_limit` and `turns_offset` page the turns.
#[utoipa::path(get, path = "/v1/conversations/{id}", params(("id" = String, Path), TurnsParams), security(("bearer" = [])),
    responses((status = 200, description = "The conversation", body = ConversationDetail),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_conversation(
    State(state): Shared,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TurnsParams>,
) -> Result<axum::Json<ConversationDetail>, ApiError> {
    let max = rapport_engine::MAX_TURNS as i64;
    let limit = q.turns_limit.unwrap_or(max);
    let offset = q.turns_offset.unwrap_or(0);
    if !(1..=max).contains(&limit) || !(0..=max).contains(&offset) {
        return Err(ApiError::Invalid(format!(
            "`turns_limit` must be 1-{max} and `turns_offset` 0-{max}"
        )));
    }
    let row = load(&state, &p, &id).await?;
    let messages = state.store.messages(&row.id).await?;
    // Analysts see text with personal data redacted; discreet conversations store only redacted text.
    let redact_for_role = p.role == Role::Analyst;
    let key: ViewKey = (
        row.id.clone(),
        messages.last().map_or(0, |m| m.id),
        messages.len(),
        redact_for_role,
    );
    let any_turns = !messages.is_empty();
    let cached = state.views.lock().ok().and_then(|v| v.get(&key));
    let view = match cached {
        Some(view) => view,
        None => {
            let _permit = state
                .view_permits
                .acquire()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let worker = state.clone();
            let conversation_id = row.id.clone();
            let view = tokio::task::spawn_blocking(move || {
                build_view(&worker, &conversation_id, &messages, redact_for_role)
            })
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
            let view = Arc::new(view);
            if let Ok(mut views) = state.views.lock() {
                views.put(key, view.clone());
            }
            view
        }
    };
    if !redact_for_role && !row.discreet && any_turns {
        state
            .store
            .audit(
                &p.tenant,
                &p.key_id,
                "read_raw_text",
                &row.id,
                p.role.as_str(),
            )
            .await?;
    }
    Ok(axum::Json(ConversationDetail {
        conversation: fresh(&state, &row),
        turns: view
            .turns
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect(),
        memory: view.memory.clone(),
        trajectory: view.trajectory.clone(),
        strategy: view.strategy.clone(),
        handoff: view.handoff.clone(),
    }))
}

/// Reads a conversation for one viewer: every turn with its analysis, evidence and audit, and the
/// memory, trajectory, strategy and handoff packet. Engine work: call it off the async workers.
fn build_view(
    state: &AppState,
    conversation_id: &str,
    messages: &[MessageRow],
    redact_for_role: bool,
) -> Result<View, ApiError> {
    let plain = turns(state, messages)?;
    let shown: Vec<Turn> = plain
        .iter()
        .zip(messages)
        .map(|(t, m)| {
            let text = if redact_for_role && !m.redacted {
                let entities = state.detector.detect(&t.text);
                // Redaction without a key or vault cannot fail; if it ever did, hide the whole text.
                rapport_privacy::apply(&t.text, &entities, Operator::Redact, None, None)
                    .unwrap_or_else(|_| "[REDACTED]".into())
            } else {
                t.text.clone()
            };
            Turn { role: t.role, text }
        })
        .collect();
    // Everything is derived from what the viewer may read: an analyst's evidence offsets point into the
    // redacted text, and their memory holds no raw personal data.
    let conversation = Conversation { turns: shown };
    let shown = &conversation.turns;
    let derived = if shown.is_empty() {
        None
    } else {
        Some(
            // The same reading as the refresher's derived state (priority, handoff, the queue).
            state
                .engine
                .state(conversation_id, &conversation)
                .map_err(|e| ApiError::Invalid(e.to_string()))?,
        )
    };
    let policy = state.responder.policy();
    let audit_policy = policy.audit_policy(Vec::new());
    let mut out_turns = Vec::with_capacity(messages.len());
    let mut last_customer: Option<usize> = None;
    for (i, (m, t)) in messages.iter().zip(shown).enumerate() {
        let role = TurnRole::parse(&m.role);
        // The engine analysed the text as shown (before pseudonymising it for itself).
        let analysis = derived
            .as_ref()
            .and_then(|s| s.analyses.get(i))
            .and_then(Option::as_ref);
        if analysis.is_some() {
            last_customer = Some(i);
        }
        let audit = match (role, last_customer) {
            (TurnRole::Agent | TurnRole::Bot, Some(c)) => state
                .auditor
                .audit(&shown[c].text, &t.text, &shown[..i], &audit_policy)
                .ok(),
            _ => None,
        };
        out_turns.push(TurnOut {
            client_message_id: m.client_message_id.clone(),
            role,
            text: t.text.clone(),
            redacted: m.redacted || redact_for_role,
            analysis: analysis.and_then(|a| serde_json::to_value(a).ok()),
            highlights: analysis.map_or_else(Vec::new, |a| highlights(&t.text, a)),
            audit,
            created_at: m.created_at,
        });
    }
    let (memory, trajectory, strategy, handoff) = match &derived {
        None => {
            let empty = || Value::Object(Default::default());
            (empty(), empty(), Value::Array(Vec::new()), Value::Null)
        }
        Some(s) => {
            let moves = rapport_engine::strategy::decide(s, policy);
            let handoff = rapport_engine::handoff::packet(s, &moves, policy);
            (
                serde_json::to_value(&s.memory).unwrap_or_default(),
                serde_json::to_value(&s.trajectory).unwrap_or_default(),
                serde_json::to_value(&moves).unwrap_or_default(),
                serde_json::to_value(&handoff).unwrap_or_default(),
            )
        }
    };
    Ok(View {
        turns: out_turns,
        memory,
        trajectory,
        strategy,
        handoff,
    })
}

/// Revokes one of the tenant's API keys: running servers refuse it within a second or two.
#[utoipa::path(delete, path = "/v1/keys/{id}", params(("id" = String, Path, description = "The key id (`rapport keys list`)")), security(("bearer" = [])),
    responses((status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): Shared,
    p: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    p.require(&[Role::Admin], "revoke keys")?;
    check_id("id", &id)?;
    if !state.store.revoke_key(&id, Some(&p.tenant)).await? {
        return Err(ApiError::NotFound("key"));
    }
    state
        .store
        .audit(&p.tenant, &p.key_id, "revoke_key", &id, "")
        .await?;
    crate::server::forget_cached_keys(&state);
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation's recomputed state (JSON) and the event that announces it once saved.
#[derive(Debug)]
pub struct Derived {
    pub conversation_id: String,
    pub state: String,
    pub event: Event,
}

/// Recomputes a conversation's derived state: metrics, the strategy in force, who wrote last and since
/// when the customer waits. Called by the refresher, off the request path; `None` when the
/// conversation is gone or empty.
pub async fn derive_state(
    state: &Arc<AppState>,
    tenant: &str,
    id: &str,
) -> Result<Option<Derived>, ApiError> {
    let Some(row) = state.store.conversation(tenant, id).await? else {
        return Ok(None); // erased meanwhile
    };
    let messages = state.store.messages(&row.id).await?;
    if messages.is_empty() {
        return Ok(None);
    }
    let plain = turns(state, &messages)?;
    let worker = state.clone();
    let conversation_id = row.id.clone();
    let derived = tokio::task::spawn_blocking(move || {
        let conversation = Conversation { turns: plain };
        let s = worker.engine.state(&conversation_id, &conversation)?;
        let policy = worker.responder.policy();
        let moves = rapport_engine::strategy::decide(&s, policy);
        let metrics = rapport_engine::score::score(
            &conversation_id,
            &conversation.turns,
            &s.analyses,
            &worker.auditor,
            policy,
        );
        // How the customer is now and what they need, from the conversation reading of their latest
        // turn (labels only: the stored state quotes none of their words).
        let latest = s.customer().last().map(|&(i, a)| (i, a.clone()));
        let (feeling, need) = latest.map_or((None, None), |(i, a)| {
            let need = rapport_engine::score::need_label(
                &a,
                worker.engine.names(),
                &conversation.turns[i].text,
            );
            (Some(rapport_engine::score::feeling(&a)), Some(need))
        });
        Ok::<_, rapport_engine::Error>((metrics, moves, feeling, need))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let (metrics, moves, feeling, need) = derived;
    // The customer waits from their first turn after the last agent or bot turn.
    let last_staff = messages
        .iter()
        .rposition(|m| matches!(m.role.as_str(), "agent" | "bot"));
    let waiting_since = messages
        .iter()
        .skip(last_staff.map_or(0, |i| i + 1))
        .find(|m| m.role == "customer")
        .map(|m| m.created_at);
    let derived = serde_json::json!({
        "metrics": metrics,
        "strategy": moves,
        "feeling": feeling,
        "need": need,
        "last_role": messages.last().map(|m| m.role.as_str()),
        "waiting_since": waiting_since,
    });
    let summary: Value = serde_json::from_str(&row.summary).unwrap_or(Value::Null);
    let signals = summary
        .get("signals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Derived {
        conversation_id: row.id.clone(),
        state: derived.to_string(),
        event: Event {
            tenant: row.tenant.clone(),
            kind: "state",
            alert: None,
            conversation_id: row.id,
            priority: row.priority,
            status: row.status,
            signals,
            at: now_ms(),
        },
    }))
}

/// Priority 0-100 from one customer turn.
fn priority(a: &rapport_signals::Analysis, high_distress: f32) -> i64 {
    let score = |n: &str| a.signals.get(n).map_or(0.0, |s| s.score);
    let vulnerable = a.vulnerability.present().next().is_some();
    if a.vulnerability
        .get("self_harm_risk")
        .is_some_and(|s| s.present())
    {
        return 100;
    }
    let mut p = 60.0 * score("distress") + 20.0 * score("anger").max(score("frustration"));
    if vulnerable {
        p += 20.0;
    }
    if score("human_request") >= 0.5 {
        p += 30.0;
    }
    if score("distress") >= high_distress {
        p += 10.0;
    }
    p.clamp(0.0, 99.0).round() as i64
}

/// The evidence spans of every present sensitive topic of an analysis.
fn sensitive_spans(analysis: &rapport_signals::Analysis) -> Vec<(usize, usize)> {
    analysis
        .sensitive_topics
        .scores
        .iter()
        .filter(|s| s.present())
        .flat_map(|s| &s.spans)
        .map(|span| (span.start, span.end))
        .collect()
}

/// The evidence spans of every sensitive topic in a stored analysis (JSON).
fn stored_sensitive_spans(analysis: &str) -> Vec<(usize, usize)> {
    let Ok(analysis) = serde_json::from_str::<Value>(analysis) else {
        return Vec::new();
    };
    let Some(topics) = analysis.get("sensitive_topics").and_then(Value::as_object) else {
        return Vec::new();
    };
    topics
        .values()
        .filter_map(|t| t.get("spans")?.as_array())
        .flatten()
        .filter_map(|s| {
            Some((
                s.get("start")?.as_u64()? as usize,
                s.get("end")?.as_u64()? as usize,
            ))
        })
        .collect()
}

/// Text with personal data and its sensitive phrases redacted (what discreet conversations store). The
/// phrases are `spans` (a customer turn's, from its analysis); without them the text is read for
/// sensitive topics here, so that an agent or bot reply that repeats the customer's words is scrubbed
/// too.
fn discreet_text(state: &AppState, text: &str, spans: Option<Vec<(usize, usize)>>) -> String {
    let spans = spans.unwrap_or_else(|| sensitive_spans(&state.engine.analyzer().analyze(text)));
    let mut phrases: Vec<&str> = spans
        .iter()
        .filter_map(|&(s, e)| text.get(s..e))
        .filter(|p| !p.trim().is_empty())
        .collect();
    // Longest first, so that a phrase inside a longer one does not break it up.
    phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let entities = state.detector.detect(text);
    let mut redacted = rapport_privacy::apply(text, &entities, Operator::Redact, None, None)
        .unwrap_or_else(|_| "[REDACTED]".into());
    for phrase in phrases {
        redacted = redacted.replace(phrase, "[SENSITIVE]");
    }
    redacted
}

/// Appends a turn. Idempotent: a retry with the same `client_message_id` returns the stored turn (200)
/// and writes nothing.
///
/// Everything the turn causes (the message, the turn count and the limit, priority, handoff status,
/// discreet rewriting of earlier turns, alerts for the webhook) is written in one transaction: a turn is
/// acknowledged only once all of it is committed, and a failure leaves nothing that a retry would take
/// for a duplicate.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", params(("id" = String, Path)), request_body = MessageIn, security(("bearer" = [])),
    responses((status = 201, description = "Stored", body = MessageOut), (status = 200, description = "Stored before (a retry)", body = MessageOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn append_message(
    State(state): Shared,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<MessageIn>,
) -> Result<(StatusCode, axum::Json<MessageOut>), ApiError> {
    p.require(&[Role::Admin, Role::Agent, Role::Service], "add messages")?;
    check_id("id", &id)?;
    check_id("client_message_id", &input.client_message_id)?;
    check_text("text", &input.text)?;
    append_turn(&state, &p, &id, &input).await
}

/// Appends a checked turn to conversation `id` of the caller's tenant (see [`append_message`]).
pub(crate) async fn append_turn(
    state: &Arc<AppState>,
    p: &Principal,
    id: &str,
    input: &MessageIn,
) -> Result<(StatusCode, axum::Json<MessageOut>), ApiError> {
    let id = id.to_string();
    let out = |m: &MessageRow, duplicate: bool, priority: i64, status: &str| MessageOut {
        conversation_id: id.clone(),
        client_message_id: m.client_message_id.clone(),
        role: TurnRole::parse(&m.role),
        duplicate,
        created_at: m.created_at,
        priority,
        status: status.to_string(),
    };
    // The reading is pure and comes first, outside the transaction.
    let policy = state.responder.policy();
    // One message of at most 16 KiB: tens of microseconds, read inline (a hop to a blocking thread costs
    // more than it saves here; conversation-sized work never runs on the async workers).
    let analysis = (input.role == TurnRole::Customer).then(|| {
        let started = std::time::Instant::now();
        let a = state.engine.analyzer().analyze(&input.text);
        metrics::histogram!("rapport_analysis_seconds").record(started.elapsed().as_secs_f64());
        a
    });
    let sensitive = analysis.as_ref().is_some_and(|a| {
        policy
            .discreet
            .topics
            .iter()
            .any(|t| a.sensitive_topics.get(t).is_some_and(|s| s.present()))
    });
    let analysis_json =
        serde_json::to_string(&analysis).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut signals: Vec<String> = Vec::new();
    let mut human_request = false;
    let mut self_harm = false;
    let mut new_priority = -1;
    let mut distress = None;
    if let Some(a) = &analysis {
        signals = a
            .signals
            .present()
            .chain(a.vulnerability.present())
            .chain(a.sensitive_topics.present())
            .map(str::to_string)
            .collect();
        // Priority follows the latest customer turn (the store keeps an open self-harm alarm at 100).
        new_priority = priority(a, policy.thresholds.high_distress);
        self_harm = signals.iter().any(|s| s == "self_harm_risk");
        human_request = signals.iter().any(|s| s == "human_request");
        distress = Some(a.signals.get("distress").map_or(0.0, |d| d.score));
    }
    let summary = analysis.as_ref().map(|a| {
        serde_json::json!({
            "signals": signals,
            "sentiment": a.sentiment.score,
            "distress": a.signals.get("distress").map(|d| d.score),
            "intent": a.intent.label,
            "emotion": rapport_engine::score::feeling(a),
            "last_role": input.role.as_str(),
        })
        .to_string()
    });

    // One statement counts the turn and decides, from the conversation as it was, the limit, the
    // alert raised (each once) and whether it becomes discreet; the rest follows in its transaction.
    let change = TurnChange {
        handoff: self_harm || human_request,
        priority: new_priority,
        discreet: sensitive,
        summary: summary.as_deref(),
        distress,
        self_harm,
        human_request,
        high_distress: policy.thresholds.high_distress,
        customer: input.role == TurnRole::Customer,
    };
    let begun = state
        .store
        .begin_turn(&p.tenant, &id, &change, rapport_engine::MAX_TURNS as i64)
        .await?;
    let Some((mut tx, counted)) = begun else {
        return refused_turn(state, p, &id, &input.client_message_id, out).await;
    };
    let stored_text = if counted.discreet {
        discreet_text(state, &input.text, analysis.as_ref().map(sensitive_spans))
    } else {
        input.text.clone()
    };
    let (key_id, sealed) = state.keyring.seal(stored_text.as_bytes(), &id);
    if counted.became_discreet {
        // The conversation becomes discreet: its earlier turns are rewritten redacted.
        for m in tx.messages().await? {
            if m.redacted {
                continue;
            }
            let text = open_text(state, &m)?;
            let spans = (m.role == "customer").then(|| stored_sensitive_spans(&m.analysis));
            let (k, s) = state
                .keyring
                .seal(discreet_text(state, &text, spans).as_bytes(), &id);
            tx.rewrite(m.id, &k, &s).await?;
        }
    }
    let inserted = tx
        .insert(&NewMessage {
            conversation_id: &id,
            client_message_id: &input.client_message_id,
            role: input.role.as_str(),
            key_id: &key_id,
            text: &sealed,
            redacted: counted.discreet,
            analysis: &analysis_json,
        })
        .await?;
    let Some(message) = inserted else {
        // A retry (the row lock makes it see any earlier commit): nothing of this one is written.
        tx.rollback().await?;
        return refused_turn(state, p, &id, &input.client_message_id, out).await;
    };
    let (prio, status) = (counted.priority, counted.status.clone());
    let event = |kind: &'static str, alert: Option<&'static str>| Event {
        tenant: p.tenant.clone(),
        kind,
        alert,
        conversation_id: id.clone(),
        priority: prio,
        status: status.clone(),
        signals: signals.clone(),
        at: now_ms(),
    };
    let alert = counted.alert.as_deref().and_then(|a| {
        ["self_harm_risk", "handoff", "distress_spike"]
            .into_iter()
            .find(|known| *known == a)
    });
    let alert_event = alert.map(|a| event("alert", Some(a)));
    if let Some(e) = &alert_event {
        let body = serde_json::to_string(e).map_err(|e| ApiError::Internal(e.to_string()))?;
        tx.queue_alert(&p.tenant, e.alert.unwrap_or("alert"), &body)
            .await?;
    }
    tx.commit().await?;

    crate::server::mark_stale(state, &p.tenant, &id);
    state
        .appended
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    events::publish(state, event("turn", None));
    if let Some(e) = alert_event {
        events::publish(state, e);
        state.outbox.notify_one();
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(out(&message, false, prio, &status)),
    ))
}

/// A turn the conversation did not take: a retry of a stored message (200, the stored one), a
/// conversation that is not the caller's (404), or one at the turn limit (422).
async fn refused_turn(
    state: &AppState,
    p: &Principal,
    id: &str,
    client_message_id: &str,
    out: impl Fn(&MessageRow, bool, i64, &str) -> MessageOut,
) -> Result<(StatusCode, axum::Json<MessageOut>), ApiError> {
    let row = load(state, p, id).await?;
    if let Some(stored) = state.store.stored_message(id, client_message_id).await? {
        return Ok((
            StatusCode::OK,
            axum::Json(out(&stored, true, row.priority, &row.status)),
        ));
    }
    Err(ApiError::Invalid(format!(
        "the conversation already has {} turns",
        rapport_engine::MAX_TURNS
    )))
}

/// Decides and writes the next reply: strategy, reply, audit, memory, trajectory, handoff.
#[utoipa::path(post, path = "/v1/conversations/{id}/reply", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "The reply", body = Object),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reply(
    State(state): Shared,
    p: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<rapport_engine::respond::Response>, ApiError> {
    p.require(
        &[Role::Admin, Role::Agent, Role::Service],
        "ask for replies",
    )?;
    let row = load(&state, &p, &id).await?;
    let messages = state.store.messages(&row.id).await?;
    if messages.is_empty() {
        return Err(ApiError::Invalid(
            "the conversation has no turns yet".into(),
        ));
    }
    let turns = turns(&state, &messages)?;
    let worker = state.clone();
    let conversation_id = row.id.clone();
    // The engine is synchronous and may wait on an LLM: it runs off the async workers.
    let response = tokio::task::spawn_blocking(move || {
        worker
            .responder
            .reply(&conversation_id, &Conversation { turns })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Conflict(e.to_string()))?;
    // The pseudonym vault stays in memory: nothing reads it back later, so it is not stored.
    record_handoff(&state, &p, &row, &response).await?;
    Ok(axum::Json(response))
}

/// Puts the conversation in the handoff queue when `response` hands off (once: the alert and the event
/// go out when it enters the queue).
pub(crate) async fn record_handoff(
    state: &Arc<AppState>,
    p: &Principal,
    row: &ConversationRow,
    response: &rapport_engine::respond::Response,
) -> Result<(), ApiError> {
    let Some(h) = &response.handoff else {
        return Ok(());
    };
    let status = "handoff";
    let floor = match h.priority {
        rapport_engine::handoff::Priority::Urgent => 100,
        rapport_engine::handoff::Priority::High => 80,
        rapport_engine::handoff::Priority::Normal => 0,
    };
    let event = Event {
        tenant: p.tenant.clone(),
        kind: "handoff",
        alert: Some("handoff"),
        conversation_id: row.id.clone(),
        priority: row.priority.max(floor),
        status: status.into(),
        signals: response.signals.iter().map(|s| s.to_string()).collect(),
        at: now_ms(),
    };
    let body = serde_json::to_string(&event).map_err(|e| ApiError::Internal(e.to_string()))?;
    let entered = state
        .store
        .mark_handoff(&p.tenant, &row.id, floor, &body)
        .await?;
    crate::server::mark_stale(state, &p.tenant, &row.id);
    if entered {
        events::publish(state, event);
        state.outbox.notify_one();
    }
    Ok(())
}

/// Live events of the caller's tenant (server-sent events): new turns, alerts, handoffs.
#[utoipa::path(get, path = "/v1/events", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn events(
    State(state): Shared,
    p: Principal,
) -> Result<
    Sse<impl tokio_stream::Stream<Item = Result<SseEvent, std::convert::Infallible>>>,
    ApiError,
> {
    p.require(
        &[Role::Admin, Role::Agent, Role::Analyst],
        "watch live events",
    )?;
    let tenant = p.tenant.clone();
    let receiver = state.events.subscribe();
    // In a fleet, the other instances' events are relayed here from the moment this stream starts.
    if let Some(fleet) = &state.fleet {
        fleet.listen().await;
    }
    let stream = tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |e| {
        let e = e.ok()?;
        if e.tenant != tenant {
            return None;
        }
        let data = serde_json::to_string(&e).ok()?;
        Some(Ok(SseEvent::default().event(e.kind).data(data)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Erases a customer: every conversation, turn, vault and derived record; returns a receipt.
#[utoipa::path(delete, path = "/v1/customers/{customer_id}", params(("customer_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "Erasure receipt", body = Receipt),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn erase_customer(
    State(state): Shared,
    p: Principal,
    ApiPath(customer_id): ApiPath<String>,
) -> Result<axum::Json<Receipt>, ApiError> {
    p.require(&[Role::Admin], "erase customers")?;
    check_id("customer_id", &customer_id)?;
    let counts = state.store.erase_customer(&p.tenant, &customer_id).await?;
    forget_views(&state);
    // Unsaved states of the erased conversations must go too: saving skips conversations that are gone.
    crate::server::save_states(&state, std::time::Duration::ZERO).await;
    let customer_hash = state.keyring.receipt_hash(&p.tenant, &customer_id);
    state
        .store
        .audit(
            &p.tenant,
            &p.key_id,
            "erase_customer",
            &customer_hash,
            &serde_json::to_string(&counts).unwrap_or_default(),
        )
        .await?;
    Ok(axum::Json(Receipt {
        customer_hash,
        erased_at: now_ms(),
        counts,
    }))
}

/// The tenant's audit log: erasures, reads of raw text, retention sweeps; newest first.
#[utoipa::path(get, path = "/v1/audit-log", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "Audit log entries", body = AuditLogPage),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn audit_log(
    State(state): Shared,
    p: Principal,
    ApiQuery(q): ApiQuery<PageParams>,
) -> Result<axum::Json<AuditLogPage>, ApiError> {
    p.require(&[Role::Admin], "read the audit log")?;
    let (limit, offset) = page(q.limit, q.offset)?;
    Ok(axum::Json(AuditLogPage {
        items: state.store.audit_log(&p.tenant, limit, offset).await?,
    }))
}

/// Sets the tenant's retention and alert webhook.
#[utoipa::path(put, path = "/v1/tenant", request_body = TenantIn, security(("bearer" = [])),
    responses((status = 200, description = "Saved", body = TenantOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn update_tenant(
    State(state): Shared,
    p: Principal,
    ApiJson(input): ApiJson<TenantIn>,
) -> Result<axum::Json<TenantOut>, ApiError> {
    p.require(&[Role::Admin], "change tenant settings")?;
    if !(1..=3650).contains(&input.retention_days) {
        return Err(ApiError::Invalid(
            "`retention_days` must be between 1 and 3650".into(),
        ));
    }
    let mut webhook_secret = None;
    if let Some(url) = &input.webhook_url {
        crate::events::check_webhook_url(url, state.settings.allow_private_webhooks)
            .map_err(ApiError::Invalid)?;
        let secret = input.webhook_secret.as_deref().unwrap_or("");
        if !(16..=256).contains(&secret.chars().count()) || secret.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "`webhook_secret` of 16-256 characters without control characters is required with a webhook".into(),
            ));
        }
        // Sealed at rest like message text, bound to the tenant.
        webhook_secret = Some(
            state
                .keyring
                .seal(secret.as_bytes(), &crate::events::secret_context(&p.tenant)),
        );
    }
    state
        .store
        .set_tenant(
            &p.tenant,
            &TenantSettings {
                retention_days: input.retention_days,
                webhook_url: input.webhook_url.clone(),
                webhook_secret,
            },
        )
        .await?;
    state
        .store
        .audit(&p.tenant, &p.key_id, "update_tenant", &p.tenant, "")
        .await?;
    Ok(axum::Json(TenantOut {
        retention_days: input.retention_days,
        webhook_url: input.webhook_url,
    }))
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The key's id (what the dashboard assigns to when no name is given).
    pub key_id: String,
    pub tenant: String,
    /// `admin`, `agent`, `analyst` or `service`.
    pub role: String,
}

/// The caller's tenant and role (what the dashboard shows and allows).
#[utoipa::path(get, path = "/v1/me", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn me(p: Principal) -> axum::Json<Me> {
    axum::Json(Me {
        key_id: p.key_id,
        tenant: p.tenant,
        role: p.role.as_str().to_string(),
    })
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OverviewParams {
    /// Conversations created at or after this time (Unix ms; default: 30 days before `to`).
    #[param(minimum = 0, maximum = 10000000000000_i64)]
    pub from: Option<i64>,
    /// Conversations created before this time (Unix ms; default: now).
    #[param(minimum = 0, maximum = 10000000000000_i64)]
    pub to: Option<i64>,
    /// One channel only (default: all).
    #[param(max_length = 128)]
    pub channel: Option<String>,
}

/// The mean sentiment of the customer turns of the conversations created on one day (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct DayMean {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub sum: f64,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewOut {
    pub tenant: String,
    pub from: i64,
    pub to: i64,
    pub channel: Option<String>,
    /// The channels the tenant's conversations came from (for the filter).
    pub channels: Vec<String>,
    /// Conversations in the range whose state has not been computed yet (not in the aggregate).
    pub pending: u64,
    /// The aggregate: rates, empathy distribution, sentiment by turn, drivers of distress, churn-risk list.
    #[schema(value_type = Object)]
    pub overview: rapport_engine::score::Overview,
    pub sentiment_by_day: Vec<DayMean>,
}

const DAY_MS: i64 = 86_400_000;

/// The metrics of the tenant's conversations in the requested range, with their channel and start.
async fn metrics_in_range(
    state: &AppState,
    p: &Principal,
    q: &OverviewParams,
) -> Result<
    (
        i64,
        i64,
        Vec<(String, i64, Option<rapport_engine::score::Metrics>)>,
    ),
    ApiError,
> {
    p.require(
        &[Role::Admin, Role::Agent, Role::Analyst],
        "read the overview",
    )?;
    let to = q.to.unwrap_or_else(|| now_ms() + 1);
    let from = q.from.unwrap_or(to - 30 * DAY_MS);
    if from < 0 || to < 0 || from >= to {
        return Err(ApiError::Invalid(
            "`from` must be before `to` (Unix milliseconds)".into(),
        ));
    }
    let channel = q.channel.as_deref().unwrap_or("");
    if !channel.is_empty() {
        check_id("channel", channel)?;
    }
    let rows = state.store.states(&p.tenant, from, to, channel).await?;
    let out = rows
        .into_iter()
        .map(|(id, channel, created_at, stored)| {
            let derived = crate::server::unsaved_state(state, &id).unwrap_or(stored);
            let metrics = serde_json::from_str::<Value>(&derived)
                .ok()
                .and_then(|mut v| v.get_mut("metrics").map(Value::take))
                .and_then(|m| serde_json::from_value(m).ok());
            (channel, created_at, metrics)
        })
        .collect();
    Ok((from, to, out))
}

/// Aggregates of the tenant's conversations: sentiment trend, empathy distribution, escalation and
/// resolution rates, churn-risk list, drivers of distress; by channel and time range.
#[utoipa::path(get, path = "/v1/overview", params(OverviewParams), security(("bearer" = [])),
    responses((status = 200, description = "The aggregate", body = OverviewOut),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn overview(
    State(state): Shared,
    p: Principal,
    ApiQuery(q): ApiQuery<OverviewParams>,
) -> Result<axum::Json<OverviewOut>, ApiError> {
    let (from, to, rows) = metrics_in_range(&state, &p, &q).await?;
    let mut overview = rapport_engine::score::Overview::default();
    let mut pending = 0;
    let mut days: Vec<DayMean> = Vec::new();
    for (_, created_at, metrics) in &rows {
        let Some(m) = metrics else {
            pending += 1;
            continue;
        };
        overview.add(m);
        let day = rapport_text::utc_date(*created_at);
        if days.last().is_none_or(|d| d.day != day) {
            days.push(DayMean {
                day,
                sum: 0.0,
                count: 0,
            });
        }
        if let Some(d) = days.last_mut() {
            d.sum += m.sentiment.iter().map(|&x| f64::from(x)).sum::<f64>();
            d.count += m.sentiment.len() as u64;
        }
    }
    Ok(axum::Json(OverviewOut {
        tenant: p.tenant.clone(),
        from,
        to,
        channel: q.channel.filter(|c| !c.is_empty()),
        channels: state.store.channels(&p.tenant).await?,
        pending,
        overview,
        sentiment_by_day: days,
    }))
}

/// The metrics of each conversation in the range as CSV (no message text).
#[utoipa::path(get, path = "/v1/overview.csv", params(OverviewParams), security(("bearer" = [])),
    responses((status = 200, description = "One row per conversation", content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn overview_csv(
    State(state): Shared,
    p: Principal,
    ApiQuery(q): ApiQuery<OverviewParams>,
) -> Result<Response, ApiError> {
    let (_, _, rows) = metrics_in_range(&state, &p, &q).await?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.to_string());
    let mut columns = vec!["channel", "created_at"];
    columns.extend(rapport_engine::score::Metrics::CSV_HEADER);
    csv.write_record(&columns).map_err(internal)?;
    for (channel, created_at, metrics) in &rows {
        let Some(m) = metrics else { continue };
        let mut record = vec![channel.clone(), created_at.to_string()];
        record.extend(m.csv_record());
        csv.write_record(&record).map_err(internal)?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"rapport-conversations.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Rapport", description = "The empathy layer for customer conversations: signals, memory, strategy, replies, audit, privacy."),
    paths(healthz, readyz, metrics, analyze, redact, audit, create_conversation, list_conversations, get_conversation, update_conversation,
        append_message, reply, events, erase_customer, audit_log, update_tenant, me, revoke_key, overview, overview_csv,
        crate::openai::chat_completions, crate::openai::models),
    components(schemas(ErrorBody, crate::error::ErrorDetail, TextIn, RedactIn, RedactOut, TurnIn, TurnRole, AuditIn,
        CreateConversation, ConversationPatch, ConversationOut, ConversationDetail, TurnOut, MessageIn, MessageOut, ConversationPage,
        Receipt, ErasureCounts, AuditLogPage, TenantIn, TenantOut, Highlight, Me, OverviewOut, DayMean, TurnsParams,
        crate::openai::ChatRequest, crate::openai::OpenAiErrorBody, crate::openai::OpenAiErrorDetail)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
