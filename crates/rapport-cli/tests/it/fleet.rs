//! Three `rapport serve` instances over one PostgreSQL and NATS behave as one service: a message
//! through one appears in another's live events, the derived state is readable through the third, an
//! alert reaches the webhook once, and a NATS restart loses no acknowledged message while live events
//! resume.

use crate::hardening::{
    check_writes, fresh_conversations, wait_until, write_until, PrivatePostgres, Writes,
};
use crate::serve::{
    client, command, data_dir, follow, json_of, key_with, new_conversation, post_message, send,
    start_with, webhook_receiver, Server,
};
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A NATS server of the test's own (JetStream on, its own port and store), which the test may stop.
struct PrivateNats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl PrivateNats {
    fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rapport-nats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("nats dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut nats = Self {
            child: None,
            port,
            dir,
        };
        nats.up();
        nats
    }

    fn up(&mut self) {
        let child = Command::new(nats_server())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (it must be installed for the fleet tests)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server listens");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nats_server() -> String {
    [
        "/usr/sbin/nats-server",
        "/usr/local/bin/nats-server",
        "/usr/bin/nats-server",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("nats-server")
    .to_string()
}

/// PostgreSQL, NATS and three instances over them, with an admin key of tenant `acme`.
struct Fleet {
    servers: Vec<Server>,
    admin: String,
    nats: PrivateNats,
    // Dropped last: the instances stop before their database.
    _pg: PrivatePostgres,
}

impl Fleet {
    fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    fn start_with(name: &str, env: &[(&str, &str)]) -> Self {
        let pg = PrivatePostgres::start(name);
        let nats = PrivateNats::start(name);
        let cmd = |dir: &Path| {
            let mut c = command(dir);
            c.env("RAPPORT_DATABASE_URL", pg.url())
                .env("RAPPORT_NATS_URL", nats.url())
                .envs(env.iter().copied());
            c
        };
        let dirs: Vec<PathBuf> = ["a", "b", "c"]
            .iter()
            .map(|n| data_dir(&format!("{name}-{n}")))
            .collect();
        let admin = key_with(cmd(&dirs[0]), "acme", "admin");
        let servers = dirs.iter().map(|d| start_with(cmd(d), d)).collect();
        Self {
            servers,
            admin,
            nats,
            _pg: pg,
        }
    }
}

#[test]
fn three_instances_over_postgres_and_nats_behave_as_one_service() {
    let mut fleet = Fleet::start("fleet");
    let admin = fleet.admin.clone();
    let servers = std::mem::take(&mut fleet.servers);
    let nats = &mut fleet.nats;
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let http = client();
    for s in &servers {
        let ready = send(&http, "GET", &format!("{}/readyz", s.url), None, None);
        assert_eq!(ready.status(), StatusCode::OK);
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            send(&http, "GET", &format!("{}/readyz", a.url), None, None)
                .text()
                .is_ok_and(|t| t == "ready; nats: connected, 3 instances")
        }),
        "readyz names NATS"
    );

    let (hook, received) = webhook_receiver("204 No Content");
    let (status, body) = json_of(send(
        &http,
        "PUT",
        &format!("{}/v1/tenant", b.url),
        Some(&admin),
        Some(
            json!({"retention_days": 30, "webhook_url": hook, "webhook_secret": "a-webhook-secret-of-some-length"}),
        ),
    ));
    assert_eq!(status, StatusCode::OK, "{body}");

    // A message through A is live on B within 2 s.
    let on_b = follow(b, &admin);
    std::thread::sleep(Duration::from_millis(300));
    let conv = new_conversation(&http, a, &admin, "cust-fleet");
    let (status, body) = post_message(
        &http,
        a,
        &admin,
        &conv,
        "m1",
        "customer",
        "Get me a human agent now, this is useless.",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        wait_until(Duration::from_secs(2), || {
            let seen = on_b.lock().expect("seen");
            seen.contains("event: turn") && seen.contains(&conv)
        }),
        "B's events: {}",
        on_b.lock().expect("seen")
    );

    // The derived strategy is readable through C within 3 s.
    let url = format!("{}/v1/conversations/{conv}", c.url);
    let mut last = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(3), || {
            let (status, body) = json_of(send(&http, "GET", &url, Some(&admin), None));
            last = body;
            status == StatusCode::OK
                && last["state"]["strategy"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
        }),
        "strategy through C: {}",
        last.to_string().chars().take(1500).collect::<String>()
    );

    // The handoff alert reaches the webhook exactly once, though three outbox workers could send it.
    assert!(wait_until(Duration::from_secs(5), || !received
        .lock()
        .expect("hook")
        .is_empty()));
    std::thread::sleep(Duration::from_secs(2));
    let alerts = received
        .lock()
        .expect("hook")
        .iter()
        .filter(|(_, body, _)| body.contains(&conv) && body.contains("\"alert\":\"handoff\""))
        .count();
    assert_eq!(alerts, 1, "one handoff alert across the fleet");

    // NATS restarts under load: every acknowledged message is stored once; live events resume within 5 s.
    let loaded = fresh_conversations(b, &admin, 6);
    let urls = Arc::new(Mutex::new(
        servers.iter().map(|s| s.url.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = write_until(
        urls,
        admin.clone(),
        loaded.clone(),
        stop.clone(),
        Arc::new(AtomicBool::new(false)),
    );
    std::thread::sleep(Duration::from_millis(500));
    nats.stop();
    let (status, body) = post_message(
        &http,
        a,
        &admin,
        &conv,
        "m2",
        "customer",
        "Still waiting for someone to pick this up.",
    );
    assert_eq!(
        status,
        StatusCode::CREATED,
        "acknowledged during the outage: {body}"
    );
    let ready = send(&http, "GET", &format!("{}/readyz", a.url), None, None);
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "ingestion stays in rotation"
    );
    nats.up();
    let restarted = Instant::now();
    // What B saw of this conversation (posted through A only) before NATS came back.
    let seen_before = on_b.lock().expect("seen").matches(conv.as_str()).count();
    let resumed = wait_until(Duration::from_secs(5), || {
        let id = format!("m-{}", restarted.elapsed().as_millis());
        let (status, _) = post_message(&http, a, &admin, &conv, &id, "customer", "Hello?");
        assert_eq!(status, StatusCode::CREATED);
        std::thread::sleep(Duration::from_millis(200));
        on_b.lock().expect("seen").matches(conv.as_str()).count() > seen_before
    });
    assert!(
        resumed,
        "live events resumed within 5 s: {}",
        on_b.lock().expect("seen")
    );
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<Writes> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    check_writes(&c.url, &admin, &loaded, &writes);
    let (status, body) = json_of(send(
        &http,
        "GET",
        &format!("{}/v1/conversations/{conv}?turns_limit=100", b.url),
        Some(&admin),
        None,
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    let texts: Vec<&str> = body["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("Still waiting")),
        "the message acknowledged during the outage is stored: {texts:?}"
    );
}

#[test]
fn sigkill_of_one_instance_under_writes_spread_over_three_loses_and_duplicates_nothing() {
    let mut fleet = Fleet::start("fleet-kill");
    let admin = fleet.admin.clone();
    let conversations = fresh_conversations(&fleet.servers[1], &admin, 6);
    let urls = Arc::new(Mutex::new(
        fleet
            .servers
            .iter()
            .map(|s| s.url.clone())
            .collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = write_until(
        urls.clone(),
        admin.clone(),
        conversations.clone(),
        stop.clone(),
        Arc::new(AtomicBool::new(false)),
    );
    std::thread::sleep(Duration::from_millis(1_500));
    let killed = &mut fleet.servers[0];
    killed.child.kill().expect("SIGKILL");
    let _ = killed.child.wait();
    // The load balancer takes the dead instance out of rotation; clients retry elsewhere meanwhile.
    let dead = killed.url.clone();
    urls.lock().expect("urls").retain(|u| *u != dead);
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<Writes> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    check_writes(&fleet.servers[2].url, &admin, &conversations, &writes);
}

/// A key's rate limit holds across the fleet: each of three instances allows about a third of it.
#[test]
fn a_keys_rate_limit_holds_across_three_instances() {
    let fleet = Fleet::start_with("fleet-rate", &[("RAPPORT_RATE_LIMIT_PER_SECOND", "20")]);
    let http = client();
    let a = &fleet.servers[0];
    assert!(
        wait_until(Duration::from_secs(5), || {
            send(&http, "GET", &format!("{}/readyz", a.url), None, None)
                .text()
                .is_ok_and(|t| t.ends_with("3 instances"))
        }),
        "every instance heard from"
    );
    // Alone, an instance would allow a burst of 40 (twice the rate); a third of it here.
    let limited = (0..30)
        .filter(|_| {
            send(
                &http,
                "GET",
                &format!("{}/v1/me", a.url),
                Some(&fleet.admin),
                None,
            )
            .status()
                == StatusCode::TOO_MANY_REQUESTS
        })
        .count();
    assert!(limited >= 10, "{limited} of 30 requests limited");
}
