//! Load test of `POST /v1/conversations/{id}/messages` against a real server on 127.0.0.1 (SQLite in a
//! temporary data directory), with a Rust load generator in the same process.
//!
//! `cargo run --release -p rapport-service --example load -- [SECONDS] [CONCURRENCY] [CONVERSATIONS]`
//! (defaults 10 s, 32 connections, 200 conversations). Prints requests/s, latency percentiles and whether
//! every acknowledged message is in the database.
//!
//! Against running instances instead (a fleet behind no load balancer: connections are spread over
//! them): `RAPPORT_LOAD_URLS=http://127.0.0.1:8081,http://127.0.0.1:8082 RAPPORT_LOAD_KEY=KEY
//! RAPPORT_LOAD_DATABASE_URL=postgres://...` (the database they share, to count what was stored).

use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::Policy;
use rapport_engine::respond::Responder;
use rapport_engine::Engine;
use rapport_service::crypto::{hash_api_key, new_api_key, Keyring, MasterKey};
use rapport_service::server::{self, AppState, Settings};
use rapport_service::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: [&str; 6] = [
    "My parcel for order 48213 still hasn't arrived and nobody answers my emails!",
    "I was charged twice for the same order, please refund the second payment.",
    "Thanks, that's sorted now.",
    "I can't log in, the password reset email never arrives.",
    "This is the third time I'm writing. I want to speak to a manager.",
    "Where is my refund? It's been ten days.",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let concurrency = args.get(1).copied().unwrap_or(32) as usize;
    let conversations = args.get(2).copied().unwrap_or(200) as usize;

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(urls), Some(key), Some(database)) = (
        env("RAPPORT_LOAD_URLS"),
        env("RAPPORT_LOAD_KEY"),
        env("RAPPORT_LOAD_DATABASE_URL"),
    ) {
        let urls: Vec<String> = urls.split(',').map(|u| u.trim().to_string()).collect();
        let store = Store::connect(&database).await?;
        return drive(&urls, &key, &store, seconds, concurrency, conversations).await;
    }

    let dir = std::env::temp_dir().join(format!("rapport-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::connect(&format!("sqlite://{}", dir.join("rapport.db").display())).await?;
    let key = new_api_key();
    store
        .create_key("load", "service", &hash_api_key(&key))
        .await?;
    let engine = Arc::new(Engine::builtin()?);
    let responder = Arc::new(Responder::new(
        engine.clone(),
        Policy::default(),
        Some(KnowledgeBase::example()?),
    ));
    let keyring = Keyring::new(
        MasterKey::from_hex("RAPPORT_MASTER_KEY", &"7".repeat(64))?,
        Vec::new(),
    );
    let state = Arc::new(AppState::new(
        store.clone(),
        keyring,
        responder,
        engine,
        Settings {
            rate_limit_per_second: 1_000_000,
            ..Settings::default()
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    let result = drive(&[url], &key, &store, seconds, concurrency, conversations).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Runs the load against `urls` (worker `w` writes through `urls[w % len]`) and checks in `store` that
/// every acknowledged message was stored; exits 1 when not.
async fn drive(
    urls: &[String],
    key: &str,
    store: &Store,
    seconds: u64,
    concurrency: usize,
    conversations: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let before = store.count("messages").await?;
    let url = &urls[0];

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let mut ids = Vec::with_capacity(conversations);
    for i in 0..conversations {
        let r: serde_json::Value = client
            .post(format!("{url}/v1/conversations"))
            .bearer_auth(key)
            .json(&serde_json::json!({"customer_id": format!("load-{i}"), "channel": "chat"}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(r["id"].as_str().unwrap_or_default().to_string());
    }
    let ids = Arc::new(ids);
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, url, key, ids, acked, errors) = (
            client.clone(),
            urls[w % urls.len()].clone(),
            key.to_string(),
            ids.clone(),
            acked.clone(),
            errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let conv = &ids[(w + n * concurrency) % ids.len()];
                let body = serde_json::json!({"client_message_id": format!("w{w}-{n}"), "role": "customer", "text": MESSAGES[n % MESSAGES.len()]});
                let t = Instant::now();
                let r = client.post(format!("{url}/v1/conversations/{conv}/messages")).bearer_auth(&key).json(&body).send().await;
                latencies.push(t.elapsed());
                match r {
                    Ok(r) if r.status().is_success() => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    let acked = acked.load(Ordering::Relaxed);
    let stored = store.count("messages").await? - before;
    println!(
        "{} requests in {elapsed:.1} s: {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} errors",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        at(1.0),
        errors.load(Ordering::Relaxed)
    );
    println!(
        "acknowledged {acked}, stored {stored}: {}",
        if stored as u64 == acked {
            "none lost"
        } else {
            "MISMATCH"
        }
    );
    if stored as u64 != acked {
        std::process::exit(1);
    }
    Ok(())
}
