//! End-to-end: a real `rapport serve` on 127.0.0.1 (random port) with a SQLite file, driven over HTTP.

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const MASTER_KEY: &str =
    "5f2c3e8a9b7d6c4e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rapport-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

pub(crate) fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rapport"));
    c.env("RAPPORT_DATA_DIR", dir)
        .env("RAPPORT_MASTER_KEY", MASTER_KEY)
        .env("RAPPORT_LISTEN", "127.0.0.1:0")
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_POLICY")
        .env_remove("RAPPORT_KB")
        // The tests' webhook receivers listen on 127.0.0.1 (the refusal of private addresses has its own
        // test, which removes this).
        .env("RAPPORT_ALLOW_PRIVATE_WEBHOOKS", "1")
        .env("RAPPORT_LOG", "warn");
    c
}

pub(crate) fn start(dir: &Path) -> Server {
    start_with(command(dir), dir)
}

/// Starts `rapport serve` from `command` and waits for the address it listens on.
pub(crate) fn start_with(mut command: Command, dir: &Path) -> Server {
    let mut child = command
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rapport serve starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let url = loop {
        line.clear();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("rapport serve exited before listening");
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    Server {
        child,
        url,
        dir: dir.to_path_buf(),
    }
}

pub(crate) fn key(dir: &Path, tenant: &str, role: &str) -> String {
    key_with(command(dir), tenant, role)
}

/// Creates a key with `command` (its database settings); returns the key.
pub(crate) fn key_with(mut command: Command, tenant: &str, role: &str) -> String {
    let out = command
        .args(["keys", "create", "--tenant", tenant, "--role", role])
        .output()
        .expect("keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .expect("key is the last word")
        .to_string()
}

pub(crate) fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub(crate) fn send(
    c: &Client,
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = c.request(method.parse().expect("method"), url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

pub(crate) fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let body: Value = r.json().expect("JSON body");
    (status, body)
}

pub(crate) fn new_conversation(c: &Client, s: &Server, key: &str, customer: &str) -> String {
    let (status, body) = json_of(send(
        c,
        "POST",
        &format!("{}/v1/conversations", s.url),
        Some(key),
        Some(json!({"customer_id": customer, "channel": "chat"})),
    ));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

pub(crate) fn post_message(
    c: &Client,
    s: &Server,
    key: &str,
    conv: &str,
    id: &str,
    role: &str,
    text: &str,
) -> (StatusCode, Value) {
    json_of(send(
        c,
        "POST",
        &format!("{}/v1/conversations/{conv}/messages", s.url),
        Some(key),
        Some(json!({"client_message_id": id, "role": role, "text": text})),
    ))
}

#[test]
fn a_conversation_runs_to_handoff_and_survives_a_restart() {
    let dir = data_dir("restart");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-42");
    let turns = [
        (
            "m1",
            "customer",
            "My parcel for order 48213 is a week late and nobody answers!",
        ),
        (
            "m2",
            "bot",
            "Here's what we'll do: we open a trace with the courier within 48 hours.",
        ),
        ("m3", "customer", "I want to speak to a real person now."),
    ];
    for (id, role, text) in turns {
        let (status, body) = post_message(&c, &server, &admin, &conv, id, role, text);
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, reply) = json_of(send(
        &c,
        "POST",
        &format!("{}/v1/conversations/{conv}/reply", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["handoff"].is_object(), "{reply}");
    assert!(
        reply["reply"]
            .as_str()
            .is_some_and(|r| r.contains("colleague")),
        "{reply}"
    );
    let (_, list) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations?status=handoff", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(list["items"][0]["id"], conv.as_str());

    // Restart: everything acknowledged is still there.
    let dir = server.dir.clone();
    drop(server);
    let server = start(&dir);
    let (status, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    let texts: Vec<&str> = body["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .map(|t| t["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, turns.iter().map(|t| t.2).collect::<Vec<_>>());
    assert_eq!(body["status"], "handoff");
    assert_eq!(body["memory"]["facts"][0]["value"], "48213");
    assert!(
        body["turns"][0]["analysis"]["signals"].is_object(),
        "{body}"
    );
}

#[test]
fn retries_with_the_same_client_message_id_never_duplicate() {
    let dir = data_dir("idempotent");
    let admin = key(&dir, "acme", "service");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-7");
    let (first, body) = post_message(
        &c,
        &server,
        &admin,
        &conv,
        "retry-1",
        "customer",
        "Where is my refund?",
    );
    assert_eq!(first, StatusCode::CREATED, "{body}");
    let (again, body) = post_message(
        &c,
        &server,
        &admin,
        &conv,
        "retry-1",
        "customer",
        "Where is my refund?",
    );
    assert_eq!(again, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    // Concurrent retries of one new message: exactly one is stored.
    let url = server.url.clone();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (url, key, conv) = (url.clone(), admin.clone(), conv.clone());
            std::thread::spawn(move || {
                let c = client();
                send(&c, "POST", &format!("{url}/v1/conversations/{conv}/messages"), Some(&key), Some(json!({"client_message_id": "race", "role": "customer", "text": "still nothing"}))).status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK));
    let (_, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&key(&dir, "acme", "admin")),
        None,
    ));
    assert_eq!(body["turns"].as_array().expect("turns").len(), 2);
}

/// A webhook receiver on 127.0.0.1 that answers every POST with `status` and records (signature,
/// body, path) of each.
pub(crate) type Received = Arc<Mutex<Vec<(String, String, String)>>>;

pub(crate) fn webhook_receiver(status: &str) -> (String, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let received: Received = Arc::default();
    let log = received.clone();
    let response = format!("HTTP/1.1 {status}\r\nLocation: {hook}/redirected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut length, mut signature, mut line) = (0usize, String::new(), String::new());
            let mut path = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                let lower = line.to_ascii_lowercase();
                if path.is_empty() {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("x-rapport-signature:") {
                    signature = v.trim().to_string();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().expect("log").push((
                signature,
                String::from_utf8_lossy(&body).into_owned(),
                path,
            ));
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (hook, received)
}

pub(crate) fn count(db: &Path, sql: &str, bind: &str) -> i64 {
    let url = format!("sqlite://{}", db.display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(async {
            use sqlx::Row;
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.expect("db");
            sqlx::query(sql)
                .bind(bind)
                .fetch_one(&pool)
                .await
                .expect("query")
                .try_get::<i64, _>(0)
                .expect("count")
        })
}

#[test]
fn erasure_leaves_no_trace_of_the_customer() {
    let dir = data_dir("erase");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let customer = "cust-erase-me";
    let mut ids = Vec::new();
    for n in 0..2 {
        let conv = new_conversation(&c, &server, &admin, customer);
        post_message(
            &c,
            &server,
            &admin,
            &conv,
            "a",
            "customer",
            "Hi, I'm Dana Whitfield, dana@example.com. I need a human please.",
        );
        post_message(
            &c,
            &server,
            &admin,
            &conv,
            "b",
            "agent",
            &format!("Thanks Dana, looking now ({n})."),
        );
        send(
            &c,
            "POST",
            &format!("{}/v1/conversations/{conv}/reply", server.url),
            Some(&admin),
            None,
        );
        ids.push(conv);
    }
    let keep = new_conversation(&c, &server, &admin, "cust-keep");
    post_message(
        &c,
        &server,
        &admin,
        &keep,
        "a",
        "customer",
        "My order is late.",
    );
    let (status, receipt) = json_of(send(
        &c,
        "DELETE",
        &format!("{}/v1/customers/{customer}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["counts"]["conversations"], 2);
    assert_eq!(receipt["counts"]["messages"], 4);
    assert_eq!(
        receipt["counts"]["vaults"], 0,
        "replies keep their pseudonym vault in memory only"
    );
    for conv in &ids {
        let r = send(
            &c,
            "GET",
            &format!("{}/v1/conversations/{conv}", server.url),
            Some(&admin),
            None,
        );
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let db = dir.join("rapport.db");
    for conv in &ids {
        for sql in [
            "SELECT COUNT(*) FROM conversations WHERE id = $1",
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1",
            "SELECT COUNT(*) FROM webhook_deliveries WHERE conversation_id = $1",
            "SELECT COUNT(*) FROM alert_outbox WHERE conversation_id = $1",
            "SELECT COUNT(*) FROM audit_log WHERE target = $1 OR detail LIKE '%' || $1 || '%'",
        ] {
            assert_eq!(count(&db, sql, conv), 0, "{sql}");
        }
    }
    for sql in [
        "SELECT COUNT(*) FROM conversations WHERE customer_id = $1",
        "SELECT COUNT(*) FROM audit_log WHERE target = $1 OR detail LIKE '%' || $1 || '%'",
    ] {
        assert_eq!(count(&db, sql, customer), 0, "{sql}");
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM conversations WHERE customer_id = $1",
            "cust-keep"
        ),
        1
    );
    let (_, log) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/audit-log", server.url),
        Some(&admin),
        None,
    ));
    assert!(log["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|e| e["action"] == "erase_customer"));
    // Text at rest is ciphertext: the e-mail of the kept customer is not in the file in clear.
    post_message(
        &c,
        &server,
        &admin,
        &keep,
        "secret",
        "customer",
        "my email is zed.unique.marker@example.com",
    );
    let bytes = std::fs::read(&db).unwrap_or_default();
    let wal = std::fs::read(dir.join("rapport.db-wal")).unwrap_or_default();
    let needle = b"zed.unique.marker";
    assert!(!bytes
        .windows(needle.len())
        .chain(wal.windows(needle.len()))
        .any(|w| w == needle));
}

#[test]
fn keys_roles_and_tenants_are_enforced_on_every_route() {
    let dir = data_dir("auth");
    let admin = key(&dir, "acme", "admin");
    let analyst = key(&dir, "acme", "analyst");
    let stranger = key(&dir, "globex", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-1");
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "I'm Sam Rivers, sam.rivers@example.com, my refund is late",
    );
    let u = &server.url;
    let routes = [
        ("POST", format!("{u}/v1/analyze")),
        ("POST", format!("{u}/v1/redact")),
        ("POST", format!("{u}/v1/audit")),
        ("POST", format!("{u}/v1/conversations")),
        ("GET", format!("{u}/v1/conversations")),
        ("GET", format!("{u}/v1/conversations/{conv}")),
        ("POST", format!("{u}/v1/conversations/{conv}/messages")),
        ("POST", format!("{u}/v1/conversations/{conv}/reply")),
        ("GET", format!("{u}/v1/events")),
        ("DELETE", format!("{u}/v1/customers/cust-1")),
        ("GET", format!("{u}/v1/audit-log")),
        ("PUT", format!("{u}/v1/tenant")),
    ];
    for (method, url) in &routes {
        let (status, body) = json_of(send(&c, method, url, None, Some(json!({}))));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
        assert_eq!(body["error"]["code"], "missing_key");
        let (status, _) = json_of(send(
            &c,
            method,
            url,
            Some("rpk_not_a_key"),
            Some(json!({})),
        ));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
    }
    // Another tenant's key sees nothing of acme.
    for (method, path) in [("GET", ""), ("POST", "/reply")] {
        let r = send(
            &c,
            method,
            &format!("{u}/v1/conversations/{conv}{path}"),
            Some(&stranger),
            None,
        );
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let (_, list) = json_of(send(
        &c,
        "GET",
        &format!("{u}/v1/conversations"),
        Some(&stranger),
        None,
    ));
    assert!(list["items"].as_array().expect("items").is_empty());
    // Analysts read, redacted, and change nothing.
    let (status, body) = json_of(send(
        &c,
        "GET",
        &format!("{u}/v1/conversations/{conv}"),
        Some(&analyst),
        None,
    ));
    assert_eq!(status, StatusCode::OK);
    let text = body["turns"][0]["text"].as_str().expect("text");
    assert!(
        !text.contains("sam.rivers@example.com") && text.contains("[EMAIL]"),
        "{text}"
    );
    for (method, url, body) in [
        (
            "POST",
            format!("{u}/v1/conversations"),
            json!({"customer_id": "x"}),
        ),
        (
            "POST",
            format!("{u}/v1/conversations/{conv}/messages"),
            json!({"client_message_id": "z", "role": "customer", "text": "hi"}),
        ),
        ("DELETE", format!("{u}/v1/customers/cust-1"), json!({})),
        ("GET", format!("{u}/v1/audit-log"), json!({})),
    ] {
        let (status, err) = json_of(send(&c, method, &url, Some(&analyst), Some(body)));
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {url}: {err}");
        assert_eq!(err["error"]["code"], "forbidden");
    }
}

#[test]
fn bad_input_gets_a_json_4xx_never_a_500() {
    let dir = data_dir("errors");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let u = &server.url;
    let raw = |method: &str, path: &str, body: &str| {
        let r = c
            .request(method.parse().expect("method"), format!("{u}{path}"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        json_of(r)
    };
    let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
        (
            "POST",
            "/v1/analyze",
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "POST",
            "/v1/analyze",
            "{\"txt\": \"x\"}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/v1/analyze",
            "{\"text\": \"\"}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/v1/analyze",
            json!({"text": "x".repeat(20_000)}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/v1/analyze",
            json!({"text": "x".repeat(300_000)}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "GET",
            "/v1/conversations/nope",
            String::new(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/v1/conversations/nope/messages",
            json!({"client_message_id": "a", "role": "customer", "text": "hi"}).to_string(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/v1/conversations",
            json!({"customer_id": "a", "channel": "chat", "extra": 1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/v1/conversations?limit=0",
            String::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/v1/conversations?limit=abc",
            String::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "POST",
            "/v1/redact",
            json!({"text": "a", "operator": "shred"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/v1/nothing-here",
            String::new(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/v1/analyze",
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, err) = raw(method, path, &body);
        assert_eq!(
            (got, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {err}"
        );
    }
    // The service endpoints work.
    let (status, analysis) = raw(
        "POST",
        "/v1/analyze",
        "{\"text\": \"I want to talk to a human\"}",
    );
    assert_eq!(status, StatusCode::OK);
    assert!(analysis["signals"]["human_request"]["score"]
        .as_f64()
        .is_some_and(|s| s >= 0.5));
    let (status, redacted) = raw(
        "POST",
        "/v1/redact",
        "{\"text\": \"mail me at a.b@example.com\"}",
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(redacted["text"], "mail me at [EMAIL]");
    let (status, audit) = raw(
        "POST",
        "/v1/audit",
        "{\"customer\": \"Where is my order?\", \"reply\": \"I understand your frustration.\"}",
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit["hollow_sympathy"], true);
    for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        let r = c.get(format!("{u}{path}")).send().expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let metrics = c
        .get(format!("{u}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("rapport_http_requests_total")
            && metrics.contains("rapport_analysis_seconds"),
        "{metrics}"
    );
    let doc: Value = c
        .get(format!("{u}/v1/openapi.json"))
        .send()
        .expect("doc")
        .json()
        .expect("json");
    assert!(doc["paths"]["/v1/conversations/{id}/messages"]["post"].is_object());
}

#[test]
fn events_stream_new_turns_and_alerts_reach_a_signed_webhook() {
    let dir = data_dir("events");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let (hook, received) = webhook_receiver("204 No Content");
    let secret = "a-webhook-secret-of-some-length";
    let (status, body) = json_of(send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(json!({"retention_days": 30, "webhook_url": hook, "webhook_secret": secret})),
    ));
    assert_eq!(status, StatusCode::OK, "{body}");

    let seen = follow(&server, &admin);
    std::thread::sleep(Duration::from_millis(200));
    let conv = new_conversation(&c, &server, &admin, "cust-live");
    let started = Instant::now();
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "Get me a human agent now, this is useless.",
    );
    while !seen.lock().expect("seen").contains("event: alert")
        && started.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stream = seen.lock().expect("seen").clone();
    assert!(
        stream.contains("event: turn") && stream.contains(&conv),
        "{stream}"
    );
    assert!(stream.contains("event: alert"), "{stream}");
    while received.lock().expect("hook").is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let hooks = received.lock().expect("hook").clone();
    let (signature, body, _) = hooks.first().expect("a webhook arrived");
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("mac");
    mac.update(body.as_bytes());
    assert_eq!(
        signature,
        &format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    assert!(
        body.contains("\"alert\":\"handoff\"") && body.contains(&conv),
        "{body}"
    );
}

#[test]
fn discreet_conversations_store_only_redacted_text() {
    let dir = data_dir("discreet");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-d");
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "Hi, I'm Jo Marsh, jo.marsh@example.com.",
    );
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m2",
        "customer",
        "The chlamydia test kit I ordered was left with my neighbour.",
    );
    let (_, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(body["discreet"], true, "{body}");
    for turn in body["turns"].as_array().expect("turns") {
        let text = turn["text"].as_str().expect("text");
        assert_eq!(turn["redacted"], true);
        assert!(
            !text.contains("chlamydia") && !text.contains("jo.marsh@example.com"),
            "{text}"
        );
    }
    assert!(
        body["turns"][1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("[SENSITIVE]")),
        "{body}"
    );
}

#[test]
fn a_webhook_receiver_that_is_down_never_slows_ingestion() {
    let dir = data_dir("hookdown");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (status, _) = json_of(send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(
            json!({"retention_days": 30, "webhook_url": format!("http://127.0.0.1:{port}/down"), "webhook_secret": "0123456789abcdef0123"}),
        ),
    ));
    assert_eq!(status, StatusCode::OK);
    let conv = new_conversation(&c, &server, &admin, "cust-h");
    let started = Instant::now();
    for n in 0..5 {
        let (status, _) = post_message(
            &c,
            &server,
            &admin,
            &conv,
            &format!("m{n}"),
            "customer",
            "I need a human, get me a person now.",
        );
        assert_eq!(status, StatusCode::CREATED);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "ingestion waited for the webhook: {:?}",
        started.elapsed()
    );
    // Every attempt is logged, failures included (three attempts per alert, with backoff).
    let db = dir.join("rapport.db");
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(
        &db,
        "SELECT COUNT(*) FROM webhook_deliveries WHERE conversation_id = $1",
        &conv,
    ) < 3
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE conversation_id = $1 AND status = 0",
            &conv
        ) >= 3
    );
}

#[test]
fn keys_rotate_re_encrypts_everything_under_the_new_master_key() {
    let dir = data_dir("rotate");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-r");
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "My name is Ada Stone and my refund is late.",
    );
    send(
        &c,
        "POST",
        &format!("{}/v1/conversations/{conv}/reply", server.url),
        Some(&admin),
        None,
    );
    let (status, body) = json_of(send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(
            json!({"retention_days": 30, "webhook_url": "https://hooks.example.com/rapport", "webhook_secret": "a-secret-of-20-chars"}),
        ),
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(server);
    // The webhook secret is sealed at rest: not in the database file in plain text.
    let db = std::fs::read(dir.join("rapport.db")).expect("database file");
    let wal = std::fs::read(dir.join("rapport.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(20).any(|w| w == b"a-secret-of-20-chars"),
            "the webhook secret is stored in plain text"
        );
    }
    let new_key = "b".repeat(64);
    let rotate = command(&dir)
        .env("RAPPORT_MASTER_KEY", &new_key)
        .env("RAPPORT_MASTER_KEY_PREVIOUS", MASTER_KEY)
        .args(["keys", "rotate"])
        .output()
        .expect("rotate");
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    let said = String::from_utf8_lossy(&rotate.stdout);
    assert!(
        said.contains("re-encrypted 1 messages, 0 vaults and 1 webhook secrets"),
        "{said}"
    );
    // Only the new key now: everything still reads.
    let mut only_new = command(&dir);
    only_new.env("RAPPORT_MASTER_KEY", &new_key);
    let server = start_with(only_new, &dir);
    let (status, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["turns"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Ada Stone")),
        "{body}"
    );
}

#[test]
fn serve_dev_starts_in_an_empty_folder_as_the_readme_says() {
    // The README's first command, from an empty folder: no data directory, no key, no environment.
    let folder = data_dir("fresh");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
    command
        .current_dir(&folder)
        .env_remove("RAPPORT_DATA_DIR")
        .env_remove("RAPPORT_MASTER_KEY")
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_POLICY")
        .env_remove("RAPPORT_KB")
        .env("RAPPORT_LISTEN", "127.0.0.1:0")
        .env("RAPPORT_LOG", "warn")
        .args(["serve", "--dev"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("rapport serve starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            let _ = child.wait();
            panic!("rapport serve --dev exited in an empty folder: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    let server = Server {
        child,
        url,
        dir: folder.clone(),
    };
    let c = client();
    let health = send(&c, "GET", &format!("{}/healthz", server.url), None, None);
    assert_eq!(health.status(), StatusCode::OK);
    assert!(folder.join("rapport-data/dev-master.key").is_file());
    assert!(folder.join("rapport-data/rapport.db").is_file());
    drop(server);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn serve_refuses_to_start_without_a_master_key() {
    let dir = data_dir("nokey");
    let out = command(&dir)
        .env_remove("RAPPORT_MASTER_KEY")
        .arg("serve")
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RAPPORT_MASTER_KEY") && stderr.contains("--dev"),
        "{stderr}"
    );
}

/// Polls `url` until `done` holds for its JSON body (the refresher runs every 500 ms).
/// Follows an instance's `/v1/events` stream into a shared string.
pub(crate) fn follow(server: &Server, key: &str) -> Arc<Mutex<String>> {
    let events = client()
        .get(format!("{}/v1/events", server.url))
        .bearer_auth(key)
        .send()
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(events);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().expect("seen").push_str(&line);
            line.clear();
        }
    });
    seen
}

pub(crate) fn wait_for(c: &Client, url: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = json_of(send(c, "GET", url, Some(key), None));
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting on {url}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_dashboard_is_served_and_its_data_is_derived_after_each_turn() {
    let dir = data_dir("dashboard");
    let agent = key(&dir, "acme", "agent");
    let analyst = key(&dir, "acme", "analyst");
    let service = key(&dir, "acme", "service");
    let server = start(&dir);
    let c = client();

    // The page and its assets are embedded and served without a key, same-origin only.
    let page = send(&c, "GET", &format!("{}/", server.url), None, None);
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().expect("html");
    for asset in [
        "app.js",
        "charts.js",
        "app.css",
        "uPlot.iife.min.js",
        "uPlot.min.css",
    ] {
        assert!(html.contains(&format!("/assets/{asset}")), "{asset}");
        let r = send(
            &c,
            "GET",
            &format!("{}/assets/{asset}", server.url),
            None,
            None,
        );
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    let missing = send(
        &c,
        "GET",
        &format!("{}/assets/nope.js", server.url),
        None,
        None,
    );
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let (status, me) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/me", server.url),
        Some(&analyst),
        None,
    ));
    assert_eq!(
        (status, me["role"].as_str(), me["tenant"].as_str()),
        (StatusCode::OK, Some("analyst"), Some("acme"))
    );

    // Evidence offsets are UTF-16 code units of the text as shown (emoji take two).
    let conv = new_conversation(&c, &server, &agent, "cust-dash");
    let text =
        "😡😡 I'm desperate, my parcel is lost and I can't cope. Email me at jo.bloggs@example.com";
    post_message(&c, &server, &agent, &conv, "1", "customer", text);
    post_message(
        &c,
        &server,
        &agent,
        &conv,
        "2",
        "agent",
        "I'm sorry it's lost. I've sent a replacement today by express; it arrives tomorrow.",
    );
    let detail_url = format!("{}/v1/conversations/{conv}", server.url);
    let (_, detail) = json_of(send(&c, "GET", &detail_url, Some(&agent), None));
    let shown: Vec<u16> = detail["turns"][0]["text"]
        .as_str()
        .expect("text")
        .encode_utf16()
        .collect();
    let marks = detail["turns"][0]["highlights"]
        .as_array()
        .expect("highlights");
    assert!(!marks.is_empty(), "{detail}");
    let marked: Vec<String> = marks
        .iter()
        .map(|m| {
            let (a, b) = (
                m["start"].as_u64().expect("start") as usize,
                m["end"].as_u64().expect("end") as usize,
            );
            String::from_utf16(&shown[a..b]).expect("whole characters")
        })
        .collect();
    assert!(
        marked
            .iter()
            .any(|m| m.contains("desperate") || m.contains("can't cope")),
        "{marked:?}"
    );
    let audit = &detail["turns"][1]["audit"];
    assert!(
        audit["score"].as_u64().is_some_and(|s| s <= 100),
        "{detail}"
    );
    assert!(detail["strategy"].as_array().is_some_and(|m| !m.is_empty()));

    // The analyst's view is redacted, and its evidence points into the redacted text.
    let (_, redacted) = json_of(send(&c, "GET", &detail_url, Some(&analyst), None));
    let body = redacted.to_string();
    assert!(!body.contains("jo.bloggs@example.com"), "{body}");
    assert!(redacted["turns"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("[EMAIL]")));

    // The refresher derives metrics and the strategy in force for the queue.
    let list_url = format!("{}/v1/conversations", server.url);
    let list = wait_for(&c, &list_url, &agent, |b| {
        b["items"][0]["state"]["metrics"]["turns"] == 2
    });
    let state = &list["items"][0]["state"];
    assert!(
        state["strategy"].as_array().is_some_and(|m| !m.is_empty()),
        "{state}"
    );
    assert_eq!(state["last_role"], "agent");
    assert!(state["waiting_since"].is_null(), "answered: nobody waits");
    assert!(
        state["metrics"]["distress_peak"]
            .as_f64()
            .is_some_and(|d| d >= 0.5),
        "{state}"
    );

    // The overview aggregates it; the CSV export has one row per conversation and no message text.
    let overview_url = format!("{}/v1/overview", server.url);
    let overview = wait_for(&c, &overview_url, &analyst, |b| {
        b["overview"]["conversations"] == 1
    });
    assert_eq!(overview["channels"], json!(["chat"]));
    assert_eq!(overview["overview"]["empathy"]["count"], 1);
    assert_eq!(
        overview["sentiment_by_day"].as_array().map(Vec::len),
        Some(1)
    );
    let csv = send(
        &c,
        "GET",
        &format!("{}/v1/overview.csv?channel=chat", server.url),
        Some(&analyst),
        None,
    );
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("channel,created_at,id,turns"));
    assert!(lines[1].contains(&conv) && !csv.contains("parcel"));
    let (status, _) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/overview?channel=email", server.url),
        Some(&analyst),
        None,
    ));
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/overview?from=10&to=5", server.url),
        Some(&analyst),
        None,
    ));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = json_of(send(&c, "GET", &overview_url, Some(&service), None));
    assert_eq!(status, StatusCode::FORBIDDEN);
}
