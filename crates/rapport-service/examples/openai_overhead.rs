//! What Rapport's OpenAI-compatible endpoint adds to a bot's call: sequential chat completions straight
//! to a stand-in upstream that answers at once, then the same calls through Rapport (threaded
//! conversations that grow to five customer turns, the whole history resent each time, as bots do;
//! SQLite in a temporary directory), then streamed calls (time to the first content token).
//!
//! `taskset -c 0 cargo run --release -p rapport-service --example openai_overhead -- [CALLS]`
//! (default 1,000). Pinned to one core, the server, the stand-in and the client take turns on it, so
//! the difference between the two latency columns is what Rapport adds on one core.

use axum::routing::post;
use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::{Llm, Policy};
use rapport_engine::respond::Responder;
use rapport_engine::Engine;
use rapport_service::crypto::{hash_api_key, new_api_key, Keyring, MasterKey};
use rapport_service::openai::Upstream;
use rapport_service::server::{self, AppState, Settings};
use rapport_service::store::Store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stand-in's answers, one per customer turn (a model does not repeat itself word for word).
const ANSWERS: [&str; 5] = [
    "I'm sorry your order still hasn't arrived, that's really frustrating when you've been waiting. I've opened a trace with the courier today and I'll email you an update by 5pm tomorrow. If you'd rather talk it through, reply here and a colleague will pick it up.",
    "Thanks for checking with your neighbours, that rules out a misdelivery next door. I've added that to the trace so the courier checks the driver's GPS record for the drop-off, and I'll let you know what they find by tomorrow afternoon.",
    "A birthday present makes this even more pressing, I understand. If the trace hasn't found it by Thursday noon, I'll send a replacement by next-day delivery so it reaches you before Saturday.",
    "The courier has promised us an answer within 24 hours; as soon as it lands I'll forward it to you here, and you can reply any time if you'd like to speak to someone on our team.",
    "You're welcome. I have your email now and I'll send the courier's update and the replacement tracking number there as soon as I have them.",
];

const CUSTOMER: [&str; 5] = [
    "Hi, my order 48213 still hasn't arrived and it was due last week.",
    "I already checked with my neighbours, nobody has it.",
    "It's a birthday present so I really need it by Saturday.",
    "Can you tell me when the courier will be in touch?",
    "Thanks. My email is sam.taylor@example.com if you need it.",
];

async fn standin(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
    let users = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(1, |m| {
            m.iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                .count()
        });
    let answer = ANSWERS[(users.max(1) - 1).min(ANSWERS.len() - 1)];
    axum::Json(json!({
        "id": "chatcmpl-standin", "object": "chat.completion", "created": 0,
        "model": body.get("model").cloned().unwrap_or(json!("standin")),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<34} {:>6} calls  p50 {:>7.2} ms  p99 {:>7.2} ms",
        times.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    (p50, p99)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000);

    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream_url = format!("http://{}/v1", upstream_listener.local_addr()?);
    tokio::spawn(async move {
        let app = axum::Router::new().route("/v1/chat/completions", post(standin));
        let _ = axum::serve(upstream_listener, app).await;
    });

    let dir = std::env::temp_dir().join(format!("rapport-openai-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::connect(&format!("sqlite://{}", dir.join("rapport.db").display())).await?;
    let key = new_api_key();
    store
        .create_key("bench", "service", &hash_api_key(&key))
        .await?;
    let engine = Arc::new(Engine::builtin()?);
    let policy = Policy::default();
    let upstream = Upstream::from_config(&Llm {
        enabled: true,
        base_url: upstream_url.clone(),
        model: "standin".into(),
        ..Llm::default()
    })?;
    let responder = Arc::new(Responder::new(
        engine.clone(),
        policy,
        Some(KnowledgeBase::example()?),
    ));
    let keyring = Keyring::new(
        MasterKey::from_hex("RAPPORT_MASTER_KEY", &"7".repeat(64))?,
        Vec::new(),
    );
    let state = Arc::new(
        AppState::new(
            store,
            keyring,
            responder,
            engine,
            Settings {
                rate_limit_per_second: 1_000_000,
                ..Settings::default()
            },
        )
        .with_upstream(upstream),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rapport_url = format!("http://{}/openai/v1", listener.local_addr()?);
    tokio::spawn(server::serve(listener, state, std::future::pending()));

    let http = reqwest::Client::new();
    let body = |turns: usize, stream: bool| {
        let mut messages = vec![json!({"role": "system", "content": "You are ShopBot."})];
        for (i, text) in CUSTOMER.iter().take(turns).enumerate() {
            if i > 0 {
                messages.push(json!({"role": "assistant", "content": ANSWERS[i - 1]}));
            }
            messages.push(json!({"role": "user", "content": text}));
        }
        json!({"model": "standin", "messages": messages, "stream": stream})
    };

    // Warm both paths (connections, models, the database).
    for i in 0..20 {
        let _ = http
            .post(format!("{upstream_url}/chat/completions"))
            .json(&body(1, false))
            .send()
            .await?
            .bytes()
            .await?;
        let _ = http
            .post(format!("{rapport_url}/chat/completions"))
            .bearer_auth(&key)
            .header("X-Rapport-Conversation", format!("warm-{i}"))
            .json(&body(1, false))
            .send()
            .await?
            .bytes()
            .await?;
    }

    let mut direct = Vec::with_capacity(calls);
    for i in 0..calls {
        let started = Instant::now();
        let r = http
            .post(format!("{upstream_url}/chat/completions"))
            .json(&body(i % 5 + 1, false))
            .send()
            .await?;
        let _ = r.bytes().await?;
        direct.push(started.elapsed());
    }

    let mut proxied = Vec::with_capacity(calls);
    let mut by_turns: Vec<Vec<Duration>> = vec![Vec::new(); 5];
    let mut sources: HashMap<String, usize> = HashMap::new();
    for i in 0..calls {
        let started = Instant::now();
        let r = http
            .post(format!("{rapport_url}/chat/completions"))
            .bearer_auth(&key)
            .header("X-Rapport-Conversation", format!("bench-{}", i / 5))
            .json(&body(i % 5 + 1, false))
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        proxied.push(started.elapsed());
        by_turns[i % 5].push(started.elapsed());
        if !status.is_success() {
            return Err(format!("Rapport answered {status}: {v}").into());
        }
        let source = v
            .pointer("/rapport/source")
            .and_then(Value::as_str)
            .unwrap_or("?");
        if source == "composer" && !sources.contains_key("composer") {
            println!(
                "first answer by the composer (customer turn {}): {}",
                i % 5 + 1,
                v.pointer("/rapport/diagnostics").unwrap_or(&Value::Null)
            );
        }
        *sources.entry(source.to_string()).or_default() += 1;
    }

    let streamed_calls = (calls / 5).max(10);
    let mut first_token = Vec::with_capacity(streamed_calls);
    for i in 0..streamed_calls {
        let started = Instant::now();
        let mut r = http
            .post(format!("{rapport_url}/chat/completions"))
            .bearer_auth(&key)
            .header("X-Rapport-Conversation", format!("stream-{}", i / 5))
            .json(&body(i % 5 + 1, true))
            .send()
            .await?;
        let mut seen = String::new();
        let mut first = None;
        while let Some(chunk) = r.chunk().await? {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let has_text = seen
                .match_indices("\"content\":\"")
                .any(|(i, m)| !seen[i + m.len()..].starts_with('"'));
            if first.is_none() && has_text {
                first = Some(started.elapsed());
            }
        }
        first_token.push(first.ok_or("the stream carried no content")?);
    }

    println!("sequential calls, answers at once from the stand-in:");
    let (d50, d99) = report("straight to the stand-in", direct);
    let (p50, p99) = report("through Rapport", proxied);
    for (i, times) in by_turns.into_iter().enumerate() {
        report(&format!("  with {} customer turns", i + 1), times);
    }
    report("through Rapport, first streamed token", first_token);
    println!(
        "Rapport adds p50 {:.2} ms, p99 {:.2} ms; answers by source: {sources:?}",
        (p50.saturating_sub(d50)).as_secs_f64() * 1e3,
        (p99.saturating_sub(d99)).as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
