//! End-to-end hardening of `rapport serve`: side effects committed with the message, alerts once and
//! to public addresses only, bounded memory for anonymous requests, connection timeouts, conversation
//! views off the async workers, revocable keys, limits under concurrency, a database outage answered
//! fast, and faults (SIGKILL, PostgreSQL stopped under load) that lose and duplicate nothing.

use crate::serve::{
    client, command, count, data_dir, json_of, key, key_with, new_conversation, post_message, send,
    start, start_with, webhook_receiver, Server,
};
use reqwest::StatusCode;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

fn sqlite(db: &Path, sql: &str) {
    let url = format!("sqlite://{}", db.display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.expect("db");
            sqlx::query(sql).execute(&pool).await.expect("sql");
        });
}

#[test]
fn a_retried_message_gets_every_side_effect_after_a_failure_past_the_insert() {
    let dir = data_dir("retry-effects");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let (hook, received) = webhook_receiver("204 No Content");
    let (status, body) = json_of(send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(
            json!({"retention_days": 30, "webhook_url": hook, "webhook_secret": "a-webhook-secret-of-some-length"}),
        ),
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    let conv = new_conversation(&c, &server, &admin, "cust-retry");
    let db = dir.join("rapport.db");
    // Anything after the message insert fails: the conversation row cannot be updated.
    sqlite(
        &db,
        "CREATE TRIGGER fail_turns BEFORE UPDATE ON conversations BEGIN SELECT RAISE(ABORT, 'forced failure'); END",
    );
    let text = "I can't go on, I want to end my life tonight.";
    let (status, body) = post_message(&c, &server, &admin, &conv, "m1", "customer", text);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    sqlite(&db, "DROP TRIGGER fail_turns");
    let (status, body) = post_message(&c, &server, &admin, &conv, "m1", "customer", text);
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the retry is stored now, not answered as a duplicate of nothing: {body}"
    );
    assert_eq!(body["duplicate"], false);
    let (status, again) = post_message(&c, &server, &admin, &conv, "m1", "customer", text);
    assert_eq!(
        (status, again["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (_, detail) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(detail["turn_count"], 1, "{detail}");
    assert_eq!(detail["priority"], 100);
    assert_eq!(detail["status"], "handoff");
    assert!(
        wait_until(Duration::from_secs(5), || {
            received
                .lock()
                .expect("hooks")
                .iter()
                .any(|(_, b, _)| b.contains("self_harm_risk"))
        }),
        "the self-harm alert reached the webhook"
    );
}

#[test]
fn alerts_reach_the_webhook_once_and_nothing_else_does() {
    let dir = data_dir("alerts-once");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let (hook, received) = webhook_receiver("204 No Content");
    send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(
            json!({"retention_days": 30, "webhook_url": hook, "webhook_secret": "a-webhook-secret-of-some-length"}),
        ),
    );
    let conv = new_conversation(&c, &server, &admin, "cust-once");
    for (i, text) in [
        "I want to talk to a human agent now.",
        "Still waiting, get me a real person please.",
        "Hello? A human, please. This bot is useless.",
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = post_message(
            &c,
            &server,
            &admin,
            &conv,
            &format!("m{i}"),
            "customer",
            text,
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    send(
        &c,
        "POST",
        &format!("{}/v1/conversations/{conv}/reply", server.url),
        Some(&admin),
        None,
    );
    // The derived state is recomputed meanwhile (a `state` event); wait for deliveries to settle.
    std::thread::sleep(Duration::from_secs(3));
    let hooks = received.lock().expect("hooks").clone();
    let handoffs = hooks
        .iter()
        .filter(|(_, b, _)| b.contains("\"alert\":\"handoff\""))
        .count();
    assert_eq!(handoffs, 1, "{hooks:?}");
    assert!(
        hooks.iter().all(|(_, b, _)| b.contains("\"alert\":")),
        "only alerts go to the webhook: {hooks:?}"
    );
}

#[test]
fn webhooks_never_reach_private_addresses_nor_follow_redirects() {
    let dir = data_dir("ssrf");
    let admin = key(&dir, "acme", "admin");
    let mut strict = command(&dir);
    strict.env_remove("RAPPORT_ALLOW_PRIVATE_WEBHOOKS");
    let server = start_with(strict, &dir);
    let c = client();
    let put = |url: &str, secret: &str| {
        json_of(send(
            &c,
            "PUT",
            &format!("{}/v1/tenant", server.url),
            Some(&admin),
            Some(json!({"retention_days": 30, "webhook_url": url, "webhook_secret": secret})),
        ))
    };
    let secret = "a-webhook-secret-of-some-length";
    for url in [
        "http://127.0.0.1:9/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://localhost:8080/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
    ] {
        let (status, body) = put(url, secret);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    let (status, body) = put("https://hooks.example.com/rapport", &"s".repeat(257));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = put("https://hooks.example.com/rapport", &"s".repeat(256));
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(server);

    // Allowed to reach 127.0.0.1 (development), a redirect is still not followed.
    let server = start(&dir);
    let (hook, received) = webhook_receiver("302 Found");
    let (status, body) = json_of(send(
        &c,
        "PUT",
        &format!("{}/v1/tenant", server.url),
        Some(&admin),
        Some(json!({"retention_days": 30, "webhook_url": hook, "webhook_secret": secret})),
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    let conv = new_conversation(&c, &server, &admin, "cust-redirect");
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "Put me through to a human agent please.",
    );
    assert!(wait_until(Duration::from_secs(5), || received
        .lock()
        .expect("hooks")
        .len()
        >= 3));
    std::thread::sleep(Duration::from_millis(500));
    let hooks = received.lock().expect("hooks").clone();
    assert!(
        hooks.iter().all(|(_, _, path)| path == "/hook"),
        "the redirect was followed: {hooks:?}"
    );
}

#[test]
fn anonymous_requests_cannot_grow_the_metrics() {
    let dir = data_dir("metrics-labels");
    let server = start(&dir);
    let c = client();
    let size = || {
        c.get(format!("{}/metrics", server.url))
            .send()
            .expect("metrics")
            .text()
            .expect("text")
            .len()
    };
    for i in 0..20 {
        let method = format!("M{i}{}", "X".repeat(200));
        let _ = c
            .request(
                method.parse().expect("method"),
                format!("{}/v1/x{i}", server.url),
            )
            .send();
    }
    let before = size();
    for i in 20..220 {
        let method = format!("M{i}{}", "X".repeat(2_000));
        let _ = c
            .request(
                method.parse().expect("method"),
                format!("{}/v1/x{i}", server.url),
            )
            .send();
    }
    let after = size();
    assert!(
        after < before + 2_000,
        "/metrics grew from {before} to {after} bytes"
    );
    assert!(!c
        .get(format!("{}/metrics", server.url))
        .send()
        .expect("metrics")
        .text()
        .expect("text")
        .contains("XXXX"));
}

#[test]
fn silent_stalled_and_idle_connections_are_closed() {
    let dir = data_dir("timeouts");
    let mut cmd = command(&dir);
    cmd.env("RAPPORT_HEADER_TIMEOUT_SECS", "1")
        .env("RAPPORT_BODY_TIMEOUT_SECS", "1")
        .env("RAPPORT_IDLE_TIMEOUT_SECS", "2");
    let server = start_with(cmd, &dir);
    let address = server.url.trim_start_matches("http://").to_string();
    let closed_within = |stream: &mut TcpStream, limit: Duration| {
        stream.set_read_timeout(Some(limit)).expect("read timeout");
        let mut sink = Vec::new();
        let started = Instant::now();
        // EOF (or a reset) within the limit: the server closed it.
        let _ = stream.read_to_end(&mut sink);
        started.elapsed() < limit
    };
    // Connections that never send anything.
    let mut silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&address).expect("connect"))
        .collect();
    let started = Instant::now();
    for s in &mut silent {
        assert!(closed_within(s, Duration::from_secs(4)));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Half a header.
    let mut half = TcpStream::connect(&address).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    assert!(closed_within(&mut half, Duration::from_secs(4)));
    // A body that stops arriving.
    let mut stalled = TcpStream::connect(&address).expect("connect");
    stalled
        .write_all(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rpk_x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":")
        .expect("write");
    assert!(closed_within(&mut stalled, Duration::from_secs(5)));
    // A keep-alive connection left idle after its request.
    let mut idle = TcpStream::connect(&address).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut first = [0u8; 64];
    let n = idle.read(&mut first).expect("response");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
    // The server still serves.
    assert_eq!(
        client()
            .get(format!("{}/healthz", server.url))
            .send()
            .expect("health")
            .status(),
        StatusCode::OK
    );
}

#[test]
fn long_conversation_views_never_stall_other_requests() {
    let dir = data_dir("views");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-long");
    for i in 0..300 {
        let (role, text) = if i % 2 == 0 {
            (
                "customer",
                format!(
                    "My order {i} still has not arrived and I am getting really worried about it."
                ),
            )
        } else {
            (
                "agent",
                format!(
                    "I am sorry about order {i}; I have opened a trace and will update you today."
                ),
            )
        };
        let (status, body) =
            post_message(&c, &server, &admin, &conv, &format!("m{i}"), role, &text);
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let url = format!("{}/v1/conversations/{conv}", server.url);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            let admin = admin.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = client().get(&url).bearer_auth(&admin).send().expect("view");
                (r.status(), started.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut worst = Duration::ZERO;
    while !readers.iter().all(std::thread::JoinHandle::is_finished) {
        let started = Instant::now();
        let health = c
            .get(format!("{}/healthz", server.url))
            .send()
            .expect("health");
        assert_eq!(health.status(), StatusCode::OK);
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    for r in readers {
        let (status, _) = r.join().expect("reader");
        assert_eq!(status, StatusCode::OK);
    }
    assert!(
        worst < Duration::from_millis(500),
        "/healthz took {worst:?} while conversations were being read"
    );
    // Turns can be paged; a reread of the unchanged conversation is served from the view cache.
    let started = Instant::now();
    let (status, page) = json_of(send(
        &c,
        "GET",
        &format!("{url}?turns_limit=10&turns_offset=290"),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(started.elapsed() < Duration::from_secs(1));
    let turns = page["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 10);
    assert_eq!(turns[0]["client_message_id"], "m290");
    assert_eq!(page["turn_count"], 300);
    let (status, _) = json_of(send(
        &c,
        "GET",
        &format!("{url}?turns_limit=0"),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn keys_are_listed_and_a_revoked_key_stops_working_within_two_seconds() {
    let dir = data_dir("revoke");
    let admin = key(&dir, "acme", "admin");
    let agent = key(&dir, "acme", "agent");
    let other_admin = key(&dir, "globex", "admin");
    let server = start(&dir);
    let c = client();
    let me = |k: &str| send(&c, "GET", &format!("{}/v1/me", server.url), Some(k), None).status();
    assert_eq!(me(&agent), StatusCode::OK);
    let list = command(&dir)
        .args(["keys", "list", "--tenant", "acme"])
        .output()
        .expect("list");
    assert!(list.status.success());
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        !listed.contains(&admin) && !listed.contains(&agent),
        "keys list shows a key: {listed}"
    );
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    let agent_id = rows
        .iter()
        .find(|r| r[1] == "agent")
        .map(|r| r[0].to_string())
        .expect("the agent key is listed");
    let used = |role: &str| rows.iter().find(|r| r[1] == role).map(|r| r[3] != "-");
    assert_eq!(
        (used("agent"), used("admin")),
        (Some(true), Some(false)),
        "last use is recorded: {listed}"
    );
    // Another tenant's admin cannot revoke it.
    let status = send(
        &c,
        "DELETE",
        &format!("{}/v1/keys/{agent_id}", server.url),
        Some(&other_admin),
        None,
    )
    .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Revoked from the command line while the server runs.
    let revoke = command(&dir)
        .args(["keys", "revoke", &agent_id])
        .output()
        .expect("revoke");
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let started = Instant::now();
    assert!(wait_until(Duration::from_secs(2), || me(&agent)
        == StatusCode::UNAUTHORIZED));
    assert!(started.elapsed() <= Duration::from_secs(2));
    // And through the admin route.
    let second = key(&dir, "acme", "agent");
    assert_eq!(me(&second), StatusCode::OK);
    let list = command(&dir)
        .args(["keys", "list", "--tenant", "acme"])
        .output()
        .expect("list");
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    let second_id = listed
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|r| r[1] == "agent" && r[4] == "-")
        .map(|r| r[0].to_string())
        .expect("the second agent key");
    let status = send(
        &c,
        "DELETE",
        &format!("{}/v1/keys/{second_id}", server.url),
        Some(&admin),
        None,
    )
    .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me(&second), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_turn_limit_holds_under_concurrent_appends_and_creates_are_idempotent() {
    let dir = data_dir("limits");
    let admin = key(&dir, "acme", "admin");
    let server = start(&dir);
    let c = client();
    let conv = new_conversation(&c, &server, &admin, "cust-limit");
    for i in 0..990 {
        let (status, body) = post_message(
            &c,
            &server,
            &admin,
            &conv,
            &format!("a{i}"),
            "agent",
            "Noted.",
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let writers: Vec<_> = (0..60)
        .map(|i| {
            let url = format!("{}/v1/conversations/{conv}/messages", server.url);
            let admin = admin.clone();
            std::thread::spawn(move || {
                client()
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&json!({"client_message_id": format!("b{i}"), "role": "agent", "text": "Noted."}))
                    .send()
                    .expect("append")
                    .status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let stored = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(stored, 10, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY));
    let db = dir.join("rapport.db");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1",
            &conv
        ),
        1000
    );
    assert_eq!(
        count(
            &db,
            "SELECT turn_count FROM conversations WHERE id = $1",
            &conv
        ),
        1000
    );
    let (status, _) = json_of(send(
        &c,
        "POST",
        &format!("{}/v1/conversations/{conv}/reply", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(
        status,
        StatusCode::OK,
        "a conversation at the limit can still be replied to"
    );

    // A retried create with the same Idempotency-Key makes no second conversation.
    let create = |idem: &str, customer: &str| {
        let r = c
            .post(format!("{}/v1/conversations", server.url))
            .bearer_auth(&admin)
            .header("Idempotency-Key", idem)
            .json(&json!({"customer_id": customer, "channel": "chat"}))
            .send()
            .expect("create");
        json_of(r)
    };
    let (first, a) = create("create-7", "cust-idem");
    let (second, b) = create("create-7", "cust-idem");
    assert_eq!((first, second), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(a["id"], b["id"]);
    let (third, _) = create("create-7", "someone-else");
    assert_eq!(third, StatusCode::CONFLICT);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM conversations WHERE customer_id = $1",
            "cust-idem"
        ),
        1
    );
}

#[test]
fn small_defects_are_fixed() {
    let dir = data_dir("small");
    let admin = key(&dir, "acme", "admin");
    let mut cmd = command(&dir);
    cmd.env_remove("RAPPORT_HASH_KEY");
    let server = start_with(cmd, &dir);
    let c = client();
    // NUL bytes in path ids are the caller's mistake.
    for path in [
        "/v1/conversations/c%00x",
        "/v1/conversations/c%00x/messages",
    ] {
        let method = if path.ends_with("messages") {
            "POST"
        } else {
            "GET"
        };
        let body = (method == "POST")
            .then(|| json!({"client_message_id": "m", "role": "customer", "text": "hi"}));
        let (status, b) = json_of(send(
            &c,
            method,
            &format!("{}{path}", server.url),
            Some(&admin),
            body,
        ));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
    }
    // A missing hash key is the server's configuration error, not the caller's.
    let (status, body) = json_of(send(
        &c,
        "POST",
        &format!("{}/v1/redact", server.url),
        Some(&admin),
        Some(json!({"text": "mail me at ada@example.com", "operator": "hash"})),
    ));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // Discreet conversations scrub the sensitive words from agent replies too.
    let conv = new_conversation(&c, &server, &admin, "ada@example.com");
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m1",
        "customer",
        "I was just diagnosed with HIV and I can't pay this bill right now.",
    );
    post_message(
        &c,
        &server,
        &admin,
        &conv,
        "m2",
        "agent",
        "I'm so sorry about your HIV diagnosis; let's pause the bill.",
    );
    let (_, detail) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/{conv}", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(detail["discreet"], true, "{detail}");
    for turn in detail["turns"].as_array().expect("turns") {
        let text = turn["text"].as_str().expect("text");
        assert!(!text.contains("HIV"), "{text}");
    }
    // /reply does not store the pseudonym vault, which nothing reads.
    send(
        &c,
        "POST",
        &format!("{}/v1/conversations/{conv}/reply", server.url),
        Some(&admin),
        None,
    );
    let db = dir.join("rapport.db");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM conversations WHERE id = $1 AND vault IS NOT NULL",
            &conv
        ),
        0
    );
    // The erasure receipt is keyed: not the plain SHA-256 of tenant and customer id.
    let (status, receipt) = json_of(send(
        &c,
        "DELETE",
        &format!("{}/v1/customers/ada@example.com", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{receipt}");
    use sha2::Digest;
    let plain = hex::encode(sha2::Sha256::digest(b"acme\0ada@example.com"));
    let hash = receipt["customer_hash"].as_str().expect("hash");
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, plain);
}

/// A private PostgreSQL server on its own port (the machine's server is never touched), for the
/// outage tests. Started with `initdb` and `pg_ctl`, as the `postgres` user when run as root.
pub(crate) struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn pg_ctl(&self, args: &[&str]) -> bool {
        as_postgres("pg_ctl")
            .args(["-D", &self.dir.display().to_string()])
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    pub(crate) fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rapport-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres", &dir.display().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the PostgreSQL data directory");
        }
        let init = as_postgres("initdb")
            .args([
                "-D",
                &dir.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ])
            .output()
            .expect("initdb runs (PostgreSQL's binaries must be installed for the outage tests)");
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let pg = Self { dir, port };
        assert!(pg.up(), "the private PostgreSQL server starts");
        pg
    }

    fn up(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "-w", "start"])
    }

    /// A crash: the server stops at once, connections are cut.
    fn crash(&self) {
        assert!(
            self.pg_ctl(&["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop"
        );
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL tool, from PATH or the Debian layout, run as `postgres` when we are root.
fn as_postgres(tool: &str) -> Command {
    let path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(tool))
                .find(|p| p.exists())
        })
        .and_then(|p| p)
        .or_else(|| {
            let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("bin").join(tool))
                .filter(|p| p.exists())
                .collect();
            found.sort();
            found.pop()
        })
        .unwrap_or_else(|| PathBuf::from(tool));
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// What the writers saw: every acknowledged (conversation, client id) and the slowest answer while
/// the fault lasted.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    acknowledged: Vec<(String, String)>,
    slowest_during_fault: Duration,
    refused: usize,
}

/// Writers append customer and agent turns to `conversations` until `stop`, spread over the instances in
/// `urls`; a message that is not acknowledged is retried with the same client id on the next instance in
/// the list (whichever instances are current), as a client behind a load balancer would.
pub(crate) fn write_until(
    urls: Arc<Mutex<Vec<String>>>,
    key: String,
    conversations: Vec<String>,
    stop: Arc<AtomicBool>,
    fault: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Writes>> {
    (0..4)
        .map(|w| {
            let (urls, key, conversations, stop, fault) = (
                urls.clone(),
                key.clone(),
                conversations.clone(),
                stop.clone(),
                fault.clone(),
            );
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut writes = Writes::default();
                let mut n = 0usize;
                let mut tries = 0usize;
                let mut pending: Option<(String, String, &str, String)> = None;
                while !stop.load(Ordering::Relaxed) || pending.is_some() {
                    let (conv, id, role, text) = pending.take().unwrap_or_else(|| {
                        n += 1;
                        let conv = conversations[(w + n) % conversations.len()].clone();
                        let (role, text) = match n % 3 {
                            0 => ("agent", "I have escalated this for you.".to_string()),
                            1 => (
                                "customer",
                                format!("Order {n} is late again and I want a human agent."),
                            ),
                            _ => (
                                "customer",
                                format!("Still nothing for order {n}, this is the third time!"),
                            ),
                        };
                        (conv, format!("w{w}-{n}"), role, text)
                    });
                    let url = {
                        let urls = urls.lock().expect("urls");
                        urls[(w + n + tries) % urls.len()].clone()
                    };
                    let started = Instant::now();
                    let result = c
                        .post(format!("{url}/v1/conversations/{conv}/messages"))
                        .bearer_auth(&key)
                        .json(&json!({"client_message_id": id, "role": role, "text": text}))
                        .send();
                    let took = started.elapsed();
                    if fault.load(Ordering::Relaxed) {
                        writes.slowest_during_fault = writes.slowest_during_fault.max(took);
                    }
                    match result.map(|r| r.status()) {
                        Ok(s) if s == StatusCode::CREATED || s == StatusCode::OK => {
                            writes.acknowledged.push((conv, id));
                        }
                        _ => {
                            writes.refused += 1;
                            tries += 1;
                            pending = Some((conv, id, role, text));
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    if stop.load(Ordering::Relaxed) && writes.refused > 10_000 {
                        break;
                    }
                }
                writes
            })
        })
        .collect()
}

/// Every acknowledged message is stored exactly once, and its conversation counted every stored turn
/// (the side effects were committed with it).
pub(crate) fn check_writes(url: &str, key: &str, conversations: &[String], writes: &[Writes]) {
    let c = client();
    let mut acknowledged: Vec<&(String, String)> =
        writes.iter().flat_map(|w| &w.acknowledged).collect();
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );
    acknowledged.sort();
    acknowledged.dedup();
    for conv in conversations {
        let (status, detail) = json_of(send(
            &c,
            "GET",
            &format!("{url}/v1/conversations/{conv}"),
            Some(key),
            None,
        ));
        assert_eq!(status, StatusCode::OK, "{detail}");
        let turns: Vec<&str> = detail["turns"]
            .as_array()
            .expect("turns")
            .iter()
            .filter_map(|t| t["client_message_id"].as_str())
            .collect();
        let mut unique = turns.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            turns.len(),
            "a message was stored twice in {conv}"
        );
        assert_eq!(
            detail["turn_count"].as_u64(),
            Some(turns.len() as u64),
            "{conv}: the turn count lost a side effect"
        );
        for (_, id) in acknowledged.iter().filter(|(c, _)| c == conv) {
            assert!(
                turns.contains(&id.as_str()),
                "acknowledged {id} of {conv} is missing"
            );
        }
        if turns.len() > 1 {
            assert_eq!(detail["status"], "handoff", "{conv}: the handoff was lost");
        }
    }
}

pub(crate) fn fresh_conversations(server: &Server, key: &str, n: usize) -> Vec<String> {
    let c = client();
    (0..n)
        .map(|i| new_conversation(&c, server, key, &format!("cust-fault-{i}")))
        .collect()
}

/// SIGKILL under concurrent writers, then a restart: clients retry what was not acknowledged.
fn sigkill_under_writes(mut cmd: impl FnMut() -> Command, dir: &Path, key: &str) {
    let server = start_with(cmd(), dir);
    let conversations = fresh_conversations(&server, key, 6);
    let url = Arc::new(Mutex::new(vec![server.url.clone()]));
    let (stop, fault) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let writers = write_until(
        url.clone(),
        key.to_string(),
        conversations.clone(),
        stop.clone(),
        fault,
    );
    std::thread::sleep(Duration::from_millis(1_500));
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    let restarted = start_with(cmd(), dir);
    *url.lock().expect("url") = vec![restarted.url.clone()];
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<Writes> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    check_writes(&restarted.url, key, &conversations, &writes);
}

#[test]
fn sigkill_under_concurrent_writers_loses_and_duplicates_nothing_on_sqlite() {
    let dir = data_dir("fault-sqlite");
    let admin = key(&dir, "acme", "admin");
    sigkill_under_writes(|| command(&dir), &dir, &admin);
}

#[test]
fn postgres_faults_lose_nothing_and_are_answered_fast() {
    let pg = PrivatePostgres::start("fault");
    let dir = data_dir("fault-postgres");
    let cmd = || {
        let mut c = command(&dir);
        c.env("RAPPORT_DATABASE_URL", pg.url());
        c
    };
    let admin = key_with(cmd(), "acme", "admin");

    // The database stops under load and comes back.
    let server = start_with(cmd(), &dir);
    let c = client();
    let conversations = fresh_conversations(&server, &admin, 6);
    let url = Arc::new(Mutex::new(vec![server.url.clone()]));
    let (stop, fault) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let writers = write_until(
        url,
        admin.clone(),
        conversations.clone(),
        stop.clone(),
        fault.clone(),
    );
    std::thread::sleep(Duration::from_millis(1_500));
    fault.store(true, Ordering::Relaxed);
    pg.crash();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let ready = send(&c, "GET", &format!("{}/readyz", server.url), None, None).status();
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "/readyz took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let (status, body) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "storage_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(pg.up(), "PostgreSQL restarts");
    fault.store(false, Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(10), || send(
        &c,
        "GET",
        &format!("{}/readyz", server.url),
        None,
        None
    )
    .status()
        == StatusCode::OK));
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<Writes> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let slowest = writes
        .iter()
        .map(|w| w.slowest_during_fault)
        .max()
        .unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(3),
        "a request took {slowest:?} while the database was down"
    );
    assert!(
        writes.iter().map(|w| w.refused).sum::<usize>() > 0,
        "the outage was not felt"
    );
    check_writes(&server.url, &admin, &conversations, &writes);
    // NUL bytes are refused before they reach PostgreSQL.
    let (status, _) = json_of(send(
        &c,
        "GET",
        &format!("{}/v1/conversations/c%00x", server.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    drop(server);

    // SIGKILL under writes, on PostgreSQL.
    sigkill_under_writes(cmd, &dir, &admin);
}
