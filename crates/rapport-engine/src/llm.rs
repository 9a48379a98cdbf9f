//! LLM access: the [`Llm`] trait the engine calls, and a client for any OpenAI-compatible
//! `/v1/chat/completions` endpoint (plain JSON or server-sent-event streaming).
//!
//! The engine only ever sends pseudonymised text (see `respond`); this module sends what it is given.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// Why a completion failed. Every variant leads the engine to its built-in composer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM did not answer within {0} ms")]
    Timeout(u64),
    #[error("the LLM could not be reached: {0}")]
    Unreachable(String),
    #[error("the LLM answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the LLM answer is not a chat completion: {0}")]
    Malformed(String),
    #[error("the LLM answer is empty")]
    Empty,
    #[error("LLM configuration: {0}")]
    Config(String),
}

/// A chat model.
pub trait Llm: std::fmt::Debug + Send + Sync {
    /// The assistant's answer to `messages`.
    fn chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError>;
}

/// Settings of an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Base URL up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub model: String,
    /// Bearer token; `None` for local servers that need none.
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub stream: bool,
    pub temperature: f32,
    pub max_tokens: u32,
}

/// A client for `POST {base_url}/chat/completions`.
#[derive(Debug)]
pub struct OpenAiClient {
    http: reqwest::blocking::Client,
    url: String,
    config: ClientConfig,
}

/// Answers longer than this are cut off: a support reply is far shorter.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Error bodies are quoted up to this length.
const MAX_QUOTED: usize = 200;

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f32,
    max_tokens: u32,
    stream: bool,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Content>,
    #[serde(default)]
    delta: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    content: Option<String>,
}

impl OpenAiClient {
    pub fn new(config: ClientConfig) -> Result<Self, LlmError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "base_url must start with http:// or https://, got {base:?}"
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(Self {
            http,
            url: format!("{base}/chat/completions"),
            config,
        })
    }

    fn error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.config.timeout.as_millis() as u64)
        } else if e.is_decode() || e.is_body() {
            LlmError::Malformed(e.to_string())
        } else {
            LlmError::Unreachable(e.without_url().to_string())
        }
    }

    /// Reads a server-sent-event stream of chunks, appending each `delta.content`.
    fn read_stream(
        &self,
        response: reqwest::blocking::Response,
        started: Instant,
    ) -> Result<String, LlmError> {
        let mut answer = String::new();
        let mut done = false;
        for line in BufReader::new(response).lines() {
            let line = line.map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut
                    || started.elapsed() >= self.config.timeout
                {
                    LlmError::Timeout(self.config.timeout.as_millis() as u64)
                } else {
                    LlmError::Malformed(format!("stream: {e}"))
                }
            })?;
            if started.elapsed() >= self.config.timeout {
                return Err(LlmError::Timeout(self.config.timeout.as_millis() as u64));
            }
            let Some(data) = line.strip_prefix("data:") else {
                continue; // comments, event names, blank separators
            };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Completion = serde_json::from_str(data)
                .map_err(|e| LlmError::Malformed(format!("stream chunk: {e}")))?;
            if let Some(text) = chunk
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.delta.or(c.message))
                .and_then(|c| c.content)
            {
                answer.push_str(&text);
                if answer.len() > MAX_ANSWER_BYTES {
                    break;
                }
            }
        }
        if !done && answer.is_empty() {
            return Err(LlmError::Malformed("the stream ended without data".into()));
        }
        Ok(answer)
    }
}

impl Llm for OpenAiClient {
    fn chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let started = Instant::now();
        let body = Request {
            model: &self.config.model,
            messages,
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            stream: self.config.stream,
        };
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| self.error(e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: rapport_text::truncate_on_char_boundary(text.trim(), MAX_QUOTED).to_string(),
            });
        }
        let event_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let answer = if event_stream {
            self.read_stream(response, started)?
        } else {
            let bytes = response.bytes().map_err(|e| self.error(e))?;
            let completion: Completion = serde_json::from_slice(&bytes)
                .map_err(|e| LlmError::Malformed(format!("not JSON: {e}")))?;
            completion
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| LlmError::Malformed("no choices".into()))?
                .message
                .and_then(|m| m.content)
                .unwrap_or_default()
        };
        let answer = answer.trim();
        if answer.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(rapport_text::truncate_on_char_boundary(answer, MAX_ANSWER_BYTES).to_string())
    }
}
