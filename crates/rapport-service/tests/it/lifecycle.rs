//! The team's workflow through the HTTP API, on SQLite and on PostgreSQL: take over, resolve, reopen by
//! a new customer message, filters, events, the audit log, and concurrent changes.

use rapport_engine::kb::KnowledgeBase;
use rapport_engine::policy::Policy;
use rapport_engine::respond::Responder;
use rapport_engine::Engine;
use rapport_service::crypto::{hash_api_key, new_api_key, Keyring, MasterKey};
use rapport_service::server::{self, AppState, Settings};
use rapport_service::store::Store;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::builtin_fast().expect("built-in models")))
        .clone()
}

/// A server on 127.0.0.1 over `store`, with an agent and an analyst key of a fresh tenant.
async fn start(store: Store) -> (String, String, String) {
    let tenant = super::unique("team");
    let agent = new_api_key();
    let analyst = new_api_key();
    store
        .create_key(&tenant, "agent", &hash_api_key(&agent))
        .await
        .expect("agent key");
    store
        .create_key(&tenant, "analyst", &hash_api_key(&analyst))
        .await
        .expect("analyst key");
    let engine = engine();
    let responder = Arc::new(Responder::new(
        engine.clone(),
        Policy::default(),
        Some(KnowledgeBase::example().expect("example kb")),
    ));
    let keyring = Keyring::new(
        MasterKey::from_hex("RAPPORT_MASTER_KEY", &"5".repeat(64)).expect("key"),
        Vec::new(),
    );
    let state = Arc::new(AppState::new(
        store,
        keyring,
        responder,
        engine,
        Settings::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    (url, agent, analyst)
}

async fn call(method: reqwest::Method, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn say(url: &str, key: &str, id: &str, n: usize, role: &str, text: &str) -> Value {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/conversations/{id}/messages"),
        key,
        Some(json!({"client_message_id": format!("m{n}"), "role": role, "text": text})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn patch(url: &str, key: &str, id: &str, body: Value) -> (u16, Value) {
    call(
        reqwest::Method::PATCH,
        &format!("{url}/v1/conversations/{id}"),
        key,
        Some(body),
    )
    .await
}

async fn ids(url: &str, key: &str, query: &str) -> Vec<String> {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/conversations?{query}"),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

pub async fn lifecycle(store: Store) {
    let (url, agent, analyst) = start(store.clone()).await;
    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/conversations"),
        &agent,
        Some(json!({"customer_id": "cust-1"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().expect("id").to_string();
    let mut events = reqwest::Client::new()
        .get(format!("{url}/v1/events"))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("events");

    // A request for a person puts it in the handoff queue.
    let turn = say(
        &url,
        &agent,
        &id,
        1,
        "customer",
        "This is useless, I want to speak to a real person now.",
    )
    .await;
    assert_eq!(turn["status"], "handoff");
    assert_eq!(ids(&url, &agent, "status=handoff").await, vec![id.clone()]);
    assert_eq!(ids(&url, &agent, "unassigned=true").await, vec![id.clone()]);

    // An analyst reads only.
    let (status, _) = patch(&url, &analyst, &id, json!({"assignee": "mia"})).await;
    assert_eq!(status, 403);
    // Unknown status, empty change, assigned without anyone.
    for bad in [
        json!({"status": "closed"}),
        json!({}),
        json!({"status": "assigned"}),
    ] {
        let (status, body) = patch(&url, &agent, &id, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {body}");
    }

    // Take over: the handoff queue shrinks.
    let (status, body) = patch(&url, &agent, &id, json!({"assignee": "mia"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["assignee"].as_str()),
        (Some("assigned"), Some("mia"))
    );
    assert!(ids(&url, &agent, "status=handoff").await.is_empty());
    assert_eq!(ids(&url, &agent, "assignee=mia").await, vec![id.clone()]);
    assert!(ids(&url, &agent, "unassigned=true").await.is_empty());
    // The agent replies; another request for a person does not put it back in the queue.
    say(
        &url,
        &agent,
        &id,
        2,
        "agent",
        "Hi, I'm Mia from the team and I have your case now.",
    )
    .await;
    let turn = say(
        &url,
        &agent,
        &id,
        3,
        "customer",
        "Can I talk to a human please",
    )
    .await;
    assert_eq!(turn["status"], "assigned");

    // Resolve: out of every queue but `resolved`, priority back to 0.
    let (status, body) = patch(&url, &agent, &id, json!({"status": "resolved"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["priority"].as_i64()),
        (Some("resolved"), Some(0))
    );
    assert_eq!(ids(&url, &agent, "status=resolved").await, vec![id.clone()]);
    let (_, got) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/conversations/{id}"),
        &agent,
        None,
    )
    .await;
    assert_eq!(
        (got["status"].as_str(), got["assignee"].as_str()),
        (Some("resolved"), Some("mia"))
    );

    // A new customer message reopens it.
    let turn = say(
        &url,
        &agent,
        &id,
        4,
        "customer",
        "Actually the replacement has not arrived either.",
    )
    .await;
    assert_eq!(turn["status"], "open");
    assert_eq!(ids(&url, &agent, "status=open").await, vec![id.clone()]);
    let (_, got) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/conversations/{id}"),
        &agent,
        None,
    )
    .await;
    assert!(got["assignee"].is_null(), "{got}");
    // Resolved again, then reopened straight into the handoff queue by a request for a person.
    patch(&url, &agent, &id, json!({"status": "resolved"})).await;
    let turn = say(
        &url,
        &agent,
        &id,
        5,
        "customer",
        "I want to speak to a manager now.",
    )
    .await;
    assert_eq!(turn["status"], "handoff");

    // Concurrent changes: the last write wins, and every change is an event.
    let (a, b) = tokio::join!(
        patch(&url, &agent, &id, json!({"assignee": "sam"})),
        patch(&url, &agent, &id, json!({"assignee": "lee"}))
    );
    assert_eq!((a.0, b.0), (200, 200));
    let (_, got) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/conversations/{id}"),
        &agent,
        None,
    )
    .await;
    let last = got["assignee"].as_str().expect("assignee").to_string();
    assert!(last == "sam" || last == "lee");
    assert_eq!(
        ids(&url, &agent, &format!("assignee={last}")).await,
        vec![id.clone()]
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = String::new();
    while seen.matches("\"kind\":\"status\"").count() < 5 {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("status events within 5 s")
            .expect("stream")
            .expect("open stream");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"status\":\"resolved\""));

    // The queue shows the latest customer message on one line: raw for agents, redacted for analysts.
    say(
        &url,
        &agent,
        &id,
        6,
        "customer",
        "Please write to me at jo.bloggs@example.com\nthanks",
    )
    .await;
    let page = |key: String| {
        let url = url.clone();
        async move {
            call(
                reqwest::Method::GET,
                &format!("{url}/v1/conversations"),
                &key,
                None,
            )
            .await
            .1["items"][0]["last_message"]
                .as_str()
                .map(str::to_string)
        }
    };
    assert_eq!(
        page(agent.clone()).await.as_deref(),
        Some("Please write to me at jo.bloggs@example.com thanks")
    );
    let redacted = page(analyst.clone()).await.expect("a last message");
    assert!(!redacted.contains("jo.bloggs"), "{redacted}");

    // Each change is in the audit log.
    let admin = new_api_key();
    let tenant_of_agent = store
        .find_key(&hash_api_key(&agent))
        .await
        .expect("find")
        .expect("agent")
        .tenant;
    store
        .create_key(&tenant_of_agent, "admin", &hash_api_key(&admin))
        .await
        .expect("admin");
    let (_, log) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/audit-log?limit=100"),
        &admin,
        None,
    )
    .await;
    let updates = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "conversation.update")
        .count();
    assert_eq!(updates, 5, "{log}");
}
