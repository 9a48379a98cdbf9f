//! The OpenAI-compatible endpoint: a bot that already calls an OpenAI-style chat API changes its base
//! URL to `{rapport}/openai/v1` and gets the empathy layer without other code changes.
//!
//! The path of a call (`POST /openai/v1/chat/completions`):
//! 1. Thread it: `X-Rapport-Conversation` (or the request's `user`) names a stored conversation; the
//!    request's new `user` and `assistant` messages are appended to it, idempotently (a bot that resends
//!    the whole history adds nothing twice). Without either, the call is read on its own and stores
//!    nothing.
//! 2. Read the conversation and decide the reply (`Responder::prepare`). A handoff or safety protocol is
//!    answered by Rapport itself and the upstream is not called.
//! 3. Otherwise the bot's own request goes to the upstream with every message pseudonymised and
//!    Rapport's guidance added to its system prompt; the answer is audited, repaired once, and replaced
//!    by the composer's reply when the upstream fails, times out or stays below the policy's minimum.
//!    A tool call is returned as the upstream gave it (its arguments re-hydrated).
//! 4. The answer is a standard `chat.completion`, or a `chat.completion.chunk` stream. Streams are
//!    buffered: the whole answer is audited before its first token leaves, so the customer never sees
//!    an answer that failed the audit (the time to first token is the upstream's full answer time plus
//!    Rapport's few milliseconds).
//!
//! Errors have OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`) so the SDKs raise
//! their usual exceptions.

use crate::api::{self, MessageIn, TurnRole};
use crate::error::ApiError;
use crate::server::{AppState, Principal, Role};
use crate::store::MessageRow;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use rapport_engine::respond::{Prepared, Response as Reply, Source};
use rapport_engine::{Conversation, Turn};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// The header that threads calls into one stored conversation.
pub const CONVERSATION_HEADER: &str = "x-rapport-conversation";
/// Stored turns written through this endpoint carry client ids `oai-{position}-{digest}`.
const CLIENT_ID_PREFIX: &str = "oai-";
/// The channel of conversations made through this endpoint.
const CHANNEL: &str = "bot";

/// Where completions come from: an OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Up to and including `/v1`.
    pub base_url: String,
    /// The model every call uses, when the configuration pins one; otherwise the request's.
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub timeout: Duration,
    client: reqwest::Client,
}

impl Upstream {
    /// The upstream from `RAPPORT_LLM_BASE_URL`, `RAPPORT_LLM_MODEL` and `RAPPORT_LLM_API_KEY`, or the
    /// policy's `[llm]` section when it is enabled (the environment wins). `None` when neither names a
    /// base URL: the endpoint then answers with the composer.
    pub fn from_config(llm: &rapport_engine::policy::Llm) -> Result<Option<Self>, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base_url = match env("RAPPORT_LLM_BASE_URL") {
            Some(url) => url,
            None if llm.enabled => llm.base_url.clone(),
            None => return Ok(None),
        };
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "the upstream LLM's base URL must start with http:// or https://, got {base_url:?}"
            ));
        }
        let model = env("RAPPORT_LLM_MODEL").or_else(|| llm.enabled.then(|| llm.model.clone()));
        let api_key = env("RAPPORT_LLM_API_KEY").or_else(|| env(&llm.api_key_env));
        let timeout = Duration::from_millis(llm.timeout_ms);
        // Local model servers are the common upstream: private addresses are allowed here (the URL comes
        // from the operator, never from a caller).
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("the upstream LLM client: {e}"))?;
        Ok(Some(Self {
            base_url,
            model,
            api_key,
            timeout,
            client,
        }))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.post(format!("{}{path}", self.base_url));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }
}

/// An error in OpenAI's shape.
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
}

impl OpenAiError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: "invalid_request",
            message: message.into(),
        }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        let (status, _) = e.status_and_code();
        let (status, kind, code) = match &e {
            ApiError::MissingKey | ApiError::BadKey => {
                (status, "authentication_error", "invalid_api_key")
            }
            ApiError::Forbidden { .. } => (status, "permission_error", "forbidden"),
            ApiError::RateLimited => (status, "rate_limit_error", "rate_limit_exceeded"),
            ApiError::NotFound(_) => (status, "invalid_request_error", "not_found"),
            ApiError::BadJson(_) | ApiError::Invalid(_) | ApiError::Conflict(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
            ),
            ApiError::TooLarge(_) => (status, "invalid_request_error", "request_too_large"),
            ApiError::MethodNotAllowed => (status, "invalid_request_error", "method_not_allowed"),
            ApiError::Storage(_) | ApiError::Internal(_) => (status, "api_error", "server_error"),
        };
        if let ApiError::Storage(detail) | ApiError::Internal(detail) = &e {
            tracing::error!(%detail, "OpenAI-compatible request failed");
        }
        Self {
            status,
            kind,
            code,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// An error as OpenAI's API sends it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error` or
    /// `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(nullable)]
    pub param: Option<String>,
    pub code: String,
}

/// A chat completion request as OpenAI's API takes it. Fields Rapport does not read (`tools`,
/// `response_format`, `temperature`...) go to the upstream unchanged.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    /// Passed to the upstream unless the configuration pins a model.
    pub model: Option<String>,
    /// `system`/`developer`, `user`, `assistant` and `tool` messages; the last user or assistant
    /// message is the user's.
    #[schema(value_type = Vec<Object>, min_items = 1)]
    pub messages: Vec<Value>,
    /// `chat.completion.chunk` server-sent events instead of one `chat.completion`.
    pub stream: Option<bool>,
    /// Threads the call into a stored conversation when `X-Rapport-Conversation` is absent (never sent
    /// to the upstream).
    pub user: Option<String>,
}

/// The models the endpoint serves: the pinned model, or the upstream's list.
#[utoipa::path(get, path = "/openai/v1/models", security(("bearer" = [])),
    responses((status = 200, description = "OpenAI's model list", body = Object),
        (status = 401, body = OpenAiErrorBody), (status = 429, body = OpenAiErrorBody),
        (status = 502, description = "The upstream did not list its models", body = OpenAiErrorBody)))]
pub async fn models(
    State(state): State<Arc<AppState>>,
    principal: Result<Principal, ApiError>,
) -> Result<axum::Json<Value>, OpenAiError> {
    principal?;
    let listed =
        |id: &str| json!({"id": id, "object": "model", "created": 0, "owned_by": "rapport"});
    let Some(up) = &state.upstream else {
        return Ok(axum::Json(
            json!({"object": "list", "data": [listed("rapport")]}),
        ));
    };
    if let Some(model) = &up.model {
        return Ok(axum::Json(
            json!({"object": "list", "data": [listed(model)]}),
        ));
    }
    let mut request = up.client.get(format!("{}/models", up.base_url));
    if let Some(key) = &up.api_key {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => match r.json::<Value>().await {
            Ok(list) if list.get("data").is_some_and(Value::is_array) => Ok(axum::Json(list)),
            _ => Err(upstream_unavailable()),
        },
        _ => Err(upstream_unavailable()),
    }
}

fn upstream_unavailable() -> OpenAiError {
    OpenAiError {
        status: StatusCode::BAD_GATEWAY,
        kind: "api_error",
        code: "upstream_unavailable",
        message: "the upstream model server did not list its models".into(),
    }
}

/// One message of the request as Rapport reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    role: TurnRole,
    text: String,
}

/// The text of a message's `content`: a string, or the text parts of an array.
fn text_of(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

/// Checks the request's shape and returns its messages and the customer-visible conversation in it.
fn check(request: &Map<String, Value>) -> Result<(Vec<Value>, Vec<Said>), OpenAiError> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| OpenAiError::invalid("`messages` must be a non-empty array"))?;
    if let Some(n) = request.get("n") {
        if n.as_u64() != Some(1) && !n.is_null() {
            return Err(OpenAiError::invalid(
                "`n` must be 1: Rapport answers with one choice",
            ));
        }
    }
    if request
        .get("stream")
        .is_some_and(|s| !s.is_boolean() && !s.is_null())
    {
        return Err(OpenAiError::invalid("`stream` must be a boolean"));
    }
    let mut said = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
            OpenAiError::invalid(format!("`messages[{i}].role` must be a string"))
        })?;
        let role = match role {
            "user" => TurnRole::Customer,
            "assistant" => TurnRole::Bot,
            "system" | "developer" | "tool" | "function" => continue,
            other => {
                return Err(OpenAiError::invalid(format!(
                    "`messages[{i}].role` {other:?} is not a chat role"
                )))
            }
        };
        match text_of(m.get("content")) {
            Some(text) if !text.trim().is_empty() => said.push(Said {
                role,
                text: rapport_text::truncate_on_char_boundary(text.trim(), api::MAX_TEXT_BYTES)
                    .to_string(),
            }),
            // An assistant message that only called a tool, or an empty one: nothing to read.
            _ if role == TurnRole::Bot => {}
            _ => {
                return Err(OpenAiError::invalid(format!(
                    "`messages[{i}].content` must hold text"
                )))
            }
        }
    }
    if said.last().is_none_or(|s| s.role != TurnRole::Customer) {
        return Err(OpenAiError::invalid(
            "the last user or assistant message must be the user's: Rapport answers a customer",
        ));
    }
    Ok((messages.clone(), said))
}

/// The digest that identifies a stored turn written through this endpoint (scoped to its
/// conversation, so equal messages of two conversations are not linkable).
fn digest(conversation: &str, role: TurnRole, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(conversation.as_bytes());
    h.update([0]);
    h.update(format!("{role:?}").as_bytes());
    h.update([0]);
    h.update(text.trim().as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// The stored turns as (role, digest); turns not written through this endpoint never match.
fn stored_digests(messages: &[MessageRow]) -> Vec<(TurnRole, String)> {
    messages
        .iter()
        .map(|m| {
            let d = m
                .client_message_id
                .strip_prefix(CLIENT_ID_PREFIX)
                .and_then(|rest| rest.split_once('-'))
                .map_or(String::new(), |(_, d)| d.to_string());
            (TurnRole::parse(&m.role), d)
        })
        .collect()
}

/// How many of the request's messages (from its start) are already stored, and whether the call is a
/// retry of one already answered. The request is a window on the conversation: its start matches the
/// stored turns up to their end (or up to the one answer stored after them, for a retry).
fn already_stored(request: &[(TurnRole, String)], stored: &[(TurnRole, String)]) -> (usize, bool) {
    let Some(first) = request.first() else {
        return (0, false);
    };
    let mut best = (0, false);
    for start in (0..stored.len()).rev().filter(|&j| &stored[j] == first) {
        let run = request
            .iter()
            .zip(&stored[start..])
            .take_while(|(r, s)| r == s)
            .count();
        let end = start + run;
        if end == stored.len() {
            return (run, false);
        }
        // Everything in the request is stored and only our answer follows: the same call again.
        if run == request.len() && end + 1 == stored.len() && stored[end].0 == TurnRole::Bot {
            best = (run, true);
        }
    }
    if best.1 {
        return best;
    }
    // The bot changed an answer before showing it (a signature, a link): its history no longer matches
    // ours turn for turn. The customer's messages still do: those the stored conversation ends with are
    // not new.
    let customer = |turns: &[(TurnRole, String)]| -> Vec<usize> {
        turns
            .iter()
            .enumerate()
            .filter(|(_, t)| t.0 == TurnRole::Customer)
            .map(|(i, _)| i)
            .collect()
    };
    let (ours, theirs) = (customer(stored), customer(request));
    for overlap in (1..=ours.len().min(theirs.len())).rev() {
        let same =
            (0..overlap).all(|k| stored[ours[ours.len() - overlap + k]] == request[theirs[k]]);
        if same {
            // Known up to the first new customer message (the bot's own versions of our answers
            // before it are not stored again).
            return (theirs.get(overlap).copied().unwrap_or(request.len()), false);
        }
    }
    (0, false)
}

/// A chat completion with the empathy layer: the conversation read and stored, handoff and safety
/// answered by Rapport, the upstream's answer guided, pseudonymised, audited and repaired or replaced.
/// Rapport's reading is in the extra top-level `rapport` object.
#[utoipa::path(post, path = "/openai/v1/chat/completions", request_body = ChatRequest, security(("bearer" = [])),
    params(("X-Rapport-Conversation" = Option<String>, Header, description = "Threads calls into one stored conversation with this id (1-128 characters)")),
    responses((status = 200, description = "A `chat.completion`, or `chat.completion.chunk` events when `stream` is true",
            content((Object = "application/json"), (String = "text/event-stream"))),
        (status = 400, body = OpenAiErrorBody), (status = 401, body = OpenAiErrorBody), (status = 403, body = OpenAiErrorBody),
        (status = 404, body = OpenAiErrorBody), (status = 413, body = OpenAiErrorBody), (status = 429, body = OpenAiErrorBody),
        (status = 503, body = OpenAiErrorBody)))]
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let p = principal?;
    p.require(
        &[Role::Admin, Role::Agent, Role::Service],
        "call the chat endpoint",
    )?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OpenAiError::from(ApiError::TooLarge(crate::server::BODY_LIMIT))
        } else {
            OpenAiError::invalid(e.body_text())
        }
    })?;
    let request: Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| OpenAiError::invalid(format!("the body is not a JSON object: {e}")))?;
    let (messages, said) = check(&request)?;
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let requested_model = request
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string);
    let external = match headers.get(CONVERSATION_HEADER) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    OpenAiError::invalid("`X-Rapport-Conversation` must be visible ASCII")
                })?
                .to_string(),
        ),
        None => request
            .get("user")
            .and_then(Value::as_str)
            .map(str::to_string),
    };

    // Thread the call into its stored conversation.
    let (conversation_id, row, turns, store_answer) = match &external {
        Some(ext) => {
            let (row, turns, store_answer) = thread(&state, &p, ext, &request, &said).await?;
            (row.id.clone(), Some(row), turns, store_answer)
        }
        None => {
            let id = format!("oai_{}", &crate::crypto::new_api_key()[4..20]);
            let turns = said
                .iter()
                .map(|s| Turn {
                    role: s.role.engine(),
                    text: s.text.clone(),
                })
                .collect();
            (id, None, turns, false)
        }
    };

    let turn_count = turns.len();
    // Read and decide off the async workers (conversation-sized work), and pseudonymise what goes up.
    let worker = state.clone();
    let id = conversation_id.clone();
    let (mut prepared, upstream_messages) = tokio::task::spawn_blocking(move || {
        let responder = &worker.responder;
        let mut prepared = responder.prepare(&id, &Conversation { turns })?;
        let upstream_messages = outgoing(&worker, &mut prepared, messages);
        Ok::<_, rapport_engine::Error>((prepared, upstream_messages))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Invalid(e.to_string()))?;

    let mut usage = Value::Null;
    let mut model = state
        .upstream
        .as_ref()
        .and_then(|u| u.model.clone())
        .or(requested_model.clone())
        .unwrap_or_else(|| "rapport".into());
    let (draft, source) = if prepared.takes_over() {
        (prepared.composed.clone(), prepared.fallback)
    } else if let Some(up) = &state.upstream {
        let mut body = request.clone();
        body.insert("messages".into(), Value::Array(upstream_messages));
        body.insert("stream".into(), Value::Bool(false));
        body.remove("stream_options");
        // The end-user id may be personal data (an e-mail address): it does not go up.
        body.remove("user");
        body.insert("model".into(), Value::String(model.clone()));
        match ask(&state, up, &mut prepared, body).await {
            Ok(Answer::Text {
                text,
                source,
                usage: u,
                model: m,
            }) => {
                usage = u;
                model = m.unwrap_or(model);
                (text, source)
            }
            Ok(Answer::ToolCall(completion)) => {
                return Ok(tool_call(
                    completion,
                    &prepared,
                    &conversation_id,
                    external,
                    stream,
                ));
            }
            Err(why) => {
                prepared
                    .diagnostics
                    .push(format!("{why}; the built-in composer replied"));
                (prepared.composed.clone(), Source::Composer)
            }
        }
    } else {
        prepared.diagnostics.push(
            "no upstream LLM is configured (RAPPORT_LLM_BASE_URL); the built-in composer replied"
                .into(),
        );
        (prepared.composed.clone(), prepared.fallback)
    };
    let reply = state.responder.conclude(prepared, draft, source);

    if let Some(row) = &row {
        if store_answer {
            let position = turn_count;
            let input = MessageIn {
                client_message_id: client_id(position, &row.id, TurnRole::Bot, &reply.reply),
                role: TurnRole::Bot,
                text: rapport_text::truncate_on_char_boundary(&reply.reply, api::MAX_TEXT_BYTES)
                    .to_string(),
            };
            let _stored = api::append_turn(&state, &p, &row.id, &input).await?;
        }
        api::record_handoff(&state, &p, row, &reply).await?;
    }
    let rapport = rapport_object(&reply, &conversation_id, external.as_deref());
    let id = format!("chatcmpl-{}", &crate::crypto::new_api_key()[4..28]);
    let created = crate::store::now_ms() / 1000;
    if stream {
        return Ok(stream_text(id, created, model, reply.reply, rapport));
    }
    let completion = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.reply, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": if usage.is_null() { json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}) } else { usage },
        "rapport": rapport,
    });
    Ok(axum::Json(completion).into_response())
}

fn client_id(position: usize, conversation: &str, role: TurnRole, text: &str) -> String {
    format!(
        "{CLIENT_ID_PREFIX}{position}-{}",
        digest(conversation, role, text)
    )
}

/// Finds or makes the conversation `external`, appends the request's messages it does not hold yet,
/// and returns it with its turns and whether the answer is to be stored (not for a retry of a call
/// already answered).
async fn thread(
    state: &Arc<AppState>,
    p: &Principal,
    external: &str,
    request: &Map<String, Value>,
    said: &[Said],
) -> Result<(crate::store::ConversationRow, Vec<Turn>, bool), OpenAiError> {
    api::check_id("X-Rapport-Conversation` or `user", external)?;
    let customer = request
        .get("user")
        .and_then(Value::as_str)
        .filter(|u| api::check_id("user", u).is_ok())
        .unwrap_or(external);
    let new_id = format!("c_{}", &crate::crypto::new_api_key()[4..28]);
    let (row, _) = state
        .store
        .external_conversation(&new_id, &p.tenant, external, customer, CHANNEL)
        .await
        .map_err(ApiError::from)?;
    let stored = state
        .store
        .messages(&row.id)
        .await
        .map_err(ApiError::from)?;
    let wanted: Vec<(TurnRole, String)> = said
        .iter()
        .map(|s| (s.role, digest(&row.id, s.role, &s.text)))
        .collect();
    let (known, retry) = already_stored(&wanted, &stored_digests(&stored));
    let mut turns = api::turns(state, &stored)?;
    for s in &said[known..] {
        let input = MessageIn {
            client_message_id: client_id(turns.len(), &row.id, s.role, &s.text),
            role: s.role,
            text: s.text.clone(),
        };
        let _stored = api::append_turn(state, p, &row.id, &input).await?;
        // Read as written (a discreet conversation stores it redacted; the reading is not stored).
        turns.push(Turn {
            role: s.role.engine(),
            text: s.text.clone(),
        });
    }
    let ends_with_customer = turns
        .last()
        .is_some_and(|t| t.role == rapport_engine::Role::Customer);
    Ok((row, turns, ends_with_customer && !retry))
}

/// The request's messages as the upstream gets them: every text pseudonymised with the conversation's
/// vault (the bot's own system prompt, tool results and tool-call arguments too), and Rapport's
/// guidance added to the system prompt.
fn outgoing(state: &AppState, prepared: &mut Prepared, messages: Vec<Value>) -> Vec<Value> {
    let engine = state.responder.engine().clone();
    let vault = &mut prepared.state.vault;
    let mut out: Vec<Value> = messages
        .into_iter()
        .map(|mut m| {
            match m.get_mut("content") {
                Some(Value::String(s)) => *s = engine.pseudonymise(s, vault),
                Some(Value::Array(parts)) => {
                    for part in parts {
                        if let Some(Value::String(s)) = part.get_mut("text") {
                            *s = engine.pseudonymise(s, vault);
                        }
                    }
                }
                _ => {}
            }
            if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
                for call in calls {
                    if let Some(Value::String(args)) = call
                        .get_mut("function")
                        .and_then(|f| f.get_mut("arguments"))
                    {
                        *args = engine.pseudonymise(args, vault);
                    }
                }
            }
            m
        })
        .collect();
    let guidance = format!(
        "\n\n## Guidance from Rapport for this reply\n{}",
        prepared.guidance
    );
    let system = out.first_mut().filter(|m| {
        matches!(
            m.get("role").and_then(Value::as_str),
            Some("system" | "developer")
        ) && m.get("content").is_some_and(Value::is_string)
    });
    match system.and_then(|m| m.get_mut("content")) {
        Some(Value::String(s)) => s.push_str(&guidance),
        _ => out.insert(
            0,
            json!({"role": "system", "content": guidance.trim_start()}),
        ),
    }
    out
}

/// What the upstream answered.
enum Answer {
    Text {
        text: String,
        source: Source,
        usage: Value,
        model: Option<String>,
    },
    /// A tool call: returned to the bot as the upstream gave it.
    ToolCall(Value),
}

/// Asks the upstream, audits its text answer and asks once more with the audit's suggestions when it
/// fails; an error says why the composer replies instead.
async fn ask(
    state: &AppState,
    up: &Upstream,
    prepared: &mut Prepared,
    mut body: Map<String, Value>,
) -> Result<Answer, String> {
    let first = complete(up, &body).await?;
    let (text, usage, model) = match first {
        Completed::ToolCall(v) => return Ok(Answer::ToolCall(v)),
        Completed::Text { text, usage, model } => (text, usage, model),
    };
    let (passes, audit) = state.responder.gate(prepared, &text);
    if passes {
        return Ok(Answer::Text {
            text,
            source: Source::Llm,
            usage,
            model,
        });
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        messages.push(json!({"role": "assistant", "content": text}));
        messages.push(
            json!({"role": "user", "content": rapport_engine::respond::repair_request(&audit)}),
        );
    }
    // The repair is a plain text answer.
    body.remove("tools");
    body.remove("tool_choice");
    match complete(up, &body)
        .await
        .map_err(|e| format!("repair: {e}"))?
    {
        Completed::Text { text, usage, model } => {
            let (passes, audit) = state.responder.gate(prepared, &text);
            if passes {
                Ok(Answer::Text {
                    text,
                    source: Source::LlmRepaired,
                    usage,
                    model,
                })
            } else {
                Err(format!(
                    "the upstream's reply failed the audit twice (last score {})",
                    audit.score
                ))
            }
        }
        Completed::ToolCall(_) => Err("the upstream answered the repair with a tool call".into()),
    }
}

enum Completed {
    Text {
        text: String,
        usage: Value,
        model: Option<String>,
    },
    ToolCall(Value),
}

/// One non-streamed completion from the upstream.
async fn complete(up: &Upstream, body: &Map<String, Value>) -> Result<Completed, String> {
    let response = up
        .post("/chat/completions")
        .json(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!(
                    "the upstream did not answer within {} ms",
                    up.timeout.as_millis()
                )
            } else {
                format!("the upstream could not be reached: {}", e.without_url())
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the upstream answered HTTP {}", status.as_u16()));
    }
    let completion: Value = response.json().await.map_err(|e| {
        if e.is_timeout() {
            format!(
                "the upstream did not answer within {} ms",
                up.timeout.as_millis()
            )
        } else {
            format!("the upstream's answer is not a chat completion: {e}")
        }
    })?;
    let message = completion
        .pointer("/choices/0/message")
        .ok_or("the upstream's answer has no choices[0].message")?;
    if message
        .get("tool_calls")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Ok(Completed::ToolCall(completion));
    }
    let text = text_of(message.get("content"))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or("the upstream's answer is empty")?;
    Ok(Completed::Text {
        text,
        usage: completion.get("usage").cloned().unwrap_or(Value::Null),
        model: completion
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The upstream's tool call, returned as it came (arguments re-hydrated, so the bot's function gets
/// the customer's real details), with Rapport's reading.
fn tool_call(
    mut completion: Value,
    prepared: &Prepared,
    conversation_id: &str,
    external: Option<String>,
    stream: bool,
) -> Response {
    let vault = &prepared.state.vault;
    if let Some(Value::Array(calls)) = completion.pointer_mut("/choices/0/message/tool_calls") {
        for call in calls {
            if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                *args = rehydrate_json(args, vault);
            }
        }
    }
    let rapport = json!({
        "conversation_id": conversation_id,
        "external_id": external,
        "signals": prepared.state.latest_signals(),
        "strategy": prepared.moves.iter().map(|m| m.kind).collect::<Vec<_>>(),
        "audit": null,
        "handoff": false,
        "source": "upstream_tool_call",
        "diagnostics": prepared.diagnostics,
    });
    if let Some(obj) = completion.as_object_mut() {
        obj.insert("rapport".into(), rapport.clone());
    }
    if !stream {
        return axum::Json(completion).into_response();
    }
    // The same answer as chunks: the role and the tool calls (with their indexes), then the finish.
    let id = completion
        .get("id")
        .cloned()
        .unwrap_or(json!("chatcmpl-rapport"));
    let model = completion.get("model").cloned().unwrap_or(json!("rapport"));
    let created = completion.get("created").cloned().unwrap_or(json!(0));
    let mut calls = completion
        .pointer("/choices/0/message/tool_calls")
        .cloned()
        .unwrap_or(json!([]));
    if let Some(list) = calls.as_array_mut() {
        for (i, call) in list.iter_mut().enumerate() {
            if let Some(obj) = call.as_object_mut() {
                obj.insert("index".into(), json!(i));
            }
        }
    }
    let chunk = |delta: Value, finish: Value, extra: Option<&Value>| {
        chunk(&id, &created, &model, delta, finish, extra)
    };
    let chunks = vec![
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": calls}),
            Value::Null,
            None,
        ),
        chunk(json!({}), json!("tool_calls"), Some(&rapport)),
    ];
    sse(chunks)
}

/// Re-hydrates the string values of a JSON text (tool-call arguments); a text that is not JSON is
/// re-hydrated as it is.
fn rehydrate_json(text: &str, vault: &rapport_privacy::Vault) -> String {
    fn walk(v: &mut Value, vault: &rapport_privacy::Vault) {
        match v {
            Value::String(s) => *s = vault.rehydrate(s),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, vault)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, vault)),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            walk(&mut v, vault);
            v.to_string()
        }
        Err(_) => vault.rehydrate(text),
    }
}

/// Rapport's reading, in the extra top-level `rapport` object that SDKs ignore.
fn rapport_object(reply: &Reply, conversation_id: &str, external: Option<&str>) -> Value {
    json!({
        "conversation_id": conversation_id,
        "external_id": external,
        "signals": reply.signals,
        "strategy": reply.strategy,
        "audit": {
            "score": reply.audit.score,
            "hollow_sympathy": reply.audit.hollow_sympathy,
            "suggestions": reply.audit.suggestions,
        },
        "handoff": reply.handoff,
        "source": reply.source,
        "article": reply.article,
        "diagnostics": reply.diagnostics,
    })
}

/// The audited answer as a `chat.completion.chunk` stream: the role, the text a few words at a time,
/// then the finish with Rapport's reading, then `[DONE]`.
fn stream_text(id: String, created: i64, model: String, text: String, rapport: Value) -> Response {
    let chunk = |delta: Value, finish: Value, extra: Option<&Value>| {
        chunk(&id, &created, &model, delta, finish, extra)
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
        None,
    )];
    for piece in pieces(&text) {
        chunks.push(chunk(json!({"content": piece}), Value::Null, None));
    }
    chunks.push(chunk(json!({}), json!("stop"), Some(&rapport)));
    sse(chunks)
}

/// `text` cut after every fourth space: pieces that join back to exactly `text`.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut spaces = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' {
            spaces += 1;
            if spaces % 4 == 0 {
                out.push(&text[start..=i]);
                start = i + 1;
            }
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// One `chat.completion.chunk`; the last carries Rapport's reading (`extra`).
fn chunk(
    id: &impl serde::Serialize,
    created: &impl serde::Serialize,
    model: &impl serde::Serialize,
    delta: Value,
    finish: Value,
    extra: Option<&Value>,
) -> Value {
    let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    if let (Some(extra), Some(obj)) = (extra, c.as_object_mut()) {
        obj.insert("rapport".into(), extra.clone());
    }
    c
}

fn sse(chunks: Vec<Value>) -> Response {
    let events = chunks
        .into_iter()
        .map(|c| SseEvent::default().data(c.to_string()))
        .chain(std::iter::once(SseEvent::default().data("[DONE]")))
        .map(Ok::<_, std::convert::Infallible>);
    Sse::new(tokio_stream::iter(events)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(role: TurnRole, d: &str) -> (TurnRole, String) {
        (role, d.to_string())
    }

    #[test]
    fn a_resent_history_adds_only_what_is_new() {
        use TurnRole::{Bot, Customer};
        let stored = [t(Customer, "u1"), t(Bot, "a1")];
        // The whole history again, with one new message.
        let full = [t(Customer, "u1"), t(Bot, "a1"), t(Customer, "u2")];
        assert_eq!(already_stored(&full, &stored), (2, false));
        // A window of the latest turns.
        let stored = [
            t(Customer, "u1"),
            t(Bot, "a1"),
            t(Customer, "u2"),
            t(Bot, "a2"),
        ];
        let window = [t(Customer, "u2"), t(Bot, "a2"), t(Customer, "u3")];
        assert_eq!(already_stored(&window, &stored), (2, false));
        // Only the latest message.
        assert_eq!(already_stored(&[t(Customer, "u3")], &stored), (0, false));
        // The same call again after it was answered: nothing new, and the answer is not stored twice.
        let again = [t(Customer, "u1"), t(Bot, "a1"), t(Customer, "u2")];
        assert_eq!(already_stored(&again, &stored), (3, true));
        // A first call.
        assert_eq!(already_stored(&[t(Customer, "u1")], &[]), (0, false));
        // The bot showed our answers with a signature added: the customer's messages still match.
        let edited = [
            t(Customer, "u1"),
            t(Bot, "a1 -- ShopBot"),
            t(Customer, "u2"),
            t(Bot, "a2 -- ShopBot"),
            t(Customer, "u3"),
        ];
        assert_eq!(already_stored(&edited, &stored), (4, false));
    }

    #[test]
    fn streamed_pieces_join_back_to_the_answer() {
        let text = "I'm sorry your parcel is late. I've opened a trace with the courier and you'll hear from us by 5pm today.";
        assert_eq!(pieces(text).concat(), text);
        assert!(pieces(text).len() > 3);
        assert_eq!(pieces("Hi").concat(), "Hi");
        assert!(pieces("").is_empty());
    }
}
