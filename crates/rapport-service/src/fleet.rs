//! Several `rapport serve` instances behaving as one service: every instance publishes its live events
//! (turn, state, alert, handoff) to NATS (batched under load: a JSON array per message), and relays the events of the other instances to its own
//! `/v1/events` subscribers and dashboard, per tenant as always. Configured by `RAPPORT_NATS_URL` (or
//! `nats_url` in the settings file); without it an instance works alone, exactly as before.
//!
//! Live events are best-effort by design: a NATS outage degrades live updates from other instances,
//! never ingestion. Publishing goes through a bounded queue (when NATS is unreachable and the queue is
//! full, events are dropped and counted in `rapport_fleet_events_dropped_total`); an instance's own
//! events always reach its own subscribers directly. The client reconnects by itself and resubscribes;
//! a dashboard that missed events re-syncs from the API, which reads the database.
//!
//! An instance listens to the others' events only while someone here follows `/v1/events` (a dashboard,
//! an SSE client): the first subscriber makes the relay subscribe to NATS before its stream starts, and
//! the relay unsubscribes once nobody has listened for `IDLE_RELAY`. A fleet whose dashboards are closed
//! so pays for publishing only, not for decoding every other instance's events on each instance.
//!
//! Instances also say they are alive on `rapport.presence` every second; the number heard from in the
//! last three seconds divides each instance's share of a key's rate limit.
//!
//! Not for durable work: alerts to webhooks go through the database outbox (claimed with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), which is what makes them exactly-once across the fleet.

use crate::events::Event;
use crate::server::AppState;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::StreamExt;

/// The subject every instance publishes its events on and listens to.
pub const SUBJECT: &str = "rapport.events";

/// The subject on which instances say they are alive (the fleet's size divides per-key rate limits).
pub const PRESENCE: &str = "rapport.presence";

/// How often an instance says it is alive, and how long a silent one still counts.
const PRESENCE_EVERY: Duration = Duration::from_secs(1);
const PRESENCE_FOR: Duration = Duration::from_secs(3);

/// How long the relay stays subscribed with nobody listening here.
const IDLE_RELAY: Duration = Duration::from_secs(10);

/// How long a new `/v1/events` subscriber waits for the relay's subscription (NATS down: not at all
/// longer than this; its own instance's events flow regardless).
const RELAY_READY: Duration = Duration::from_secs(2);

/// Events in one NATS message, at most.
const BATCH: usize = 256;

/// Events waiting to be published, at most (the queue that absorbs a NATS outage).
const QUEUE: usize = 4_096;

/// An event as it travels between instances: the tenant (which scopes who may see it) and the instance
/// it came from travel with it.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    origin: String,
    tenant: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    conversation_id: String,
    priority: i64,
    status: String,
    signals: Vec<String>,
    at: i64,
}

impl Wire {
    fn of(origin: &str, event: &Event) -> Self {
        Self {
            origin: origin.to_string(),
            tenant: event.tenant.clone(),
            kind: event.kind.to_string(),
            alert: event.alert.map(str::to_string),
            conversation_id: event.conversation_id.clone(),
            priority: event.priority,
            status: event.status.clone(),
            signals: event.signals.clone(),
            at: event.at,
        }
    }
}

/// This instance's link to the others.
#[derive(Debug)]
pub struct Fleet {
    client: async_nats::Client,
    /// A random id of this instance, so that it skips its own events coming back.
    instance: String,
    outgoing: mpsc::Sender<Vec<u8>>,
    /// The queue's receiving end until [`spawn`] takes it.
    pending: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    /// The other instances heard from, and when.
    peers: Mutex<HashMap<String, Instant>>,
    /// Live instances, recounted every `PRESENCE_EVERY` (read on every request by the rate limiter).
    size: AtomicU32,
    /// Wakes the relay when the first `/v1/events` subscriber arrives.
    wanted: Notify,
    /// Whether the relay is subscribed to the other instances' events now.
    relaying: watch::Sender<bool>,
}

impl Fleet {
    /// Connects to NATS at `url`. The connection is made in the background and retried until it
    /// succeeds, so an instance starts (and ingests) while NATS is still down.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = async_nats::ConnectOptions::new()
            .name("rapport")
            .retry_on_initial_connect()
            // The server does not send an instance its own messages back (they were delivered locally).
            .no_echo()
            .connection_timeout(Duration::from_secs(2))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(
                            "disconnected from NATS: live events from other instances paused"
                        )
                    }
                    other => tracing::debug!(event = %other, "NATS"),
                }
            })
            .connect(url)
            .await
            .map_err(|e| format!("NATS at {url}: {e}"))?;
        let (outgoing, pending) = mpsc::channel(QUEUE);
        Ok(Self {
            client,
            instance: random_id(),
            outgoing,
            pending: Mutex::new(Some(pending)),
            peers: Mutex::new(HashMap::new()),
            size: AtomicU32::new(1),
            wanted: Notify::new(),
            relaying: watch::Sender::new(false),
        })
    }

    /// Live instances: this one and those heard from in the last few seconds (1 while NATS is down).
    pub fn size(&self) -> u32 {
        self.size.load(Ordering::Relaxed)
    }

    /// Forgets the instances not heard from lately and recounts.
    fn recount(&self) {
        let peers = self.peers.lock().map_or(0, |mut p| {
            p.retain(|_, seen| seen.elapsed() < PRESENCE_FOR);
            p.len()
        });
        self.size.store(
            u32::try_from(peers + 1).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
    }

    /// Whether the connection to NATS is up now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Called by a new `/v1/events` subscriber (after it subscribed to the local channel): returns once
    /// the relay is subscribed to the other instances' events, or after `RELAY_READY` when NATS is down.
    pub async fn listen(&self) {
        let mut relaying = self.relaying.subscribe();
        if *relaying.borrow() {
            return;
        }
        self.wanted.notify_one();
        let _ = tokio::time::timeout(RELAY_READY, relaying.wait_for(|r| *r)).await;
    }

    /// Queues `event` for the other instances; never waits.
    pub fn forward(&self, event: &Event) {
        let Ok(bytes) = serde_json::to_vec(&Wire::of(&self.instance, event)) else {
            return;
        };
        if self.outgoing.try_send(bytes).is_err() {
            metrics::counter!("rapport_fleet_events_dropped_total").increment(1);
        }
    }
}

/// Starts the publisher (the queue to NATS) and the relay (NATS to this instance's subscribers).
pub fn spawn(state: Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(fleet) = state.fleet.as_ref() else {
        return Vec::new();
    };
    let mut tasks = Vec::new();
    if let Some(mut pending) = fleet.pending.lock().ok().and_then(|mut p| p.take()) {
        let client = fleet.client.clone();
        tasks.push(tokio::spawn(async move {
            // Under load, the events queued meanwhile travel together: one NATS message carries a JSON
            // array of up to BATCH events, so the cost per event stays small.
            let mut batch = Vec::with_capacity(BATCH);
            while pending.recv_many(&mut batch, BATCH).await > 0 {
                let mut bytes =
                    Vec::with_capacity(batch.iter().map(Vec::len).sum::<usize>() + batch.len() + 1);
                bytes.push(b'[');
                for (i, event) in batch.drain(..).enumerate() {
                    if i > 0 {
                        bytes.push(b',');
                    }
                    bytes.extend_from_slice(&event);
                }
                bytes.push(b']');
                if let Err(e) = client.publish(SUBJECT, bytes.into()).await {
                    metrics::counter!("rapport_fleet_events_dropped_total").increment(1);
                    tracing::debug!(error = %e, "could not publish events to NATS");
                }
            }
        }));
    }
    let heartbeat = state.clone();
    tasks.push(tokio::spawn(async move {
        let Some(fleet) = heartbeat.fleet.as_ref() else {
            return;
        };
        let mut tick = tokio::time::interval(PRESENCE_EVERY);
        loop {
            tick.tick().await;
            let _ = fleet
                .client
                .publish(PRESENCE, fleet.instance.clone().into())
                .await;
            fleet.recount();
        }
    }));
    let listener = state.clone();
    tasks.push(tokio::spawn(async move { presence(listener).await }));
    tasks.push(tokio::spawn(async move { relay(state).await }));
    tasks
}

/// Records the other instances' presence.
async fn presence(state: Arc<AppState>) {
    let Some(fleet) = state.fleet.as_ref() else {
        return;
    };
    loop {
        if let Ok(mut subscriber) = fleet.client.subscribe(PRESENCE).await {
            while let Some(message) = subscriber.next().await {
                let Ok(id) = std::str::from_utf8(&message.payload) else {
                    continue;
                };
                if id != fleet.instance {
                    if let Ok(mut peers) = fleet.peers.lock() {
                        peers.insert(id.to_string(), Instant::now());
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Relays the other instances' events to this instance's subscribers while there are any, resubscribing
/// if the subscription ends.
async fn relay(state: Arc<AppState>) {
    let Some(fleet) = state.fleet.as_ref() else {
        return;
    };
    loop {
        // Nobody follows the events here: nothing to relay.
        while state.events.receiver_count() == 0 {
            let _ = tokio::time::timeout(PRESENCE_EVERY, fleet.wanted.notified()).await;
        }
        let mut subscriber = match fleet.client.subscribe(SUBJECT).await {
            Ok(subscriber) => subscriber,
            Err(e) => {
                tracing::warn!(error = %e, "could not subscribe to NATS events");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // The subscription is on its way to the server before a waiting subscriber's stream starts.
        let _ = tokio::time::timeout(RELAY_READY, fleet.client.flush()).await;
        fleet.relaying.send_replace(true);
        let mut idle_since: Option<Instant> = None;
        let mut check = tokio::time::interval(PRESENCE_EVERY);
        loop {
            tokio::select! {
                message = subscriber.next() => {
                    let Some(message) = message else { break };
                    relay_batch(&state, fleet, &message.payload);
                }
                _ = check.tick() => {
                    if state.events.receiver_count() > 0 {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= IDLE_RELAY {
                        break;
                    }
                }
            }
        }
        fleet.relaying.send_replace(false);
        let _ = subscriber.unsubscribe().await;
    }
}

/// Hands one NATS message's events (a JSON array) from the other instances to this instance's
/// subscribers.
fn relay_batch(state: &AppState, fleet: &Fleet, payload: &[u8]) {
    let Ok(batch) = serde_json::from_slice::<Vec<Wire>>(payload) else {
        tracing::debug!("ignored a malformed message from NATS");
        return;
    };
    for wire in batch {
        if wire.origin == fleet.instance {
            continue;
        }
        if let Some(event) = event_of(wire) {
            // No subscriber is not an error.
            let _ = state.events.send(event);
        }
    }
}

/// The event a wire message carries, when its kind is one this version knows.
fn event_of(wire: Wire) -> Option<Event> {
    let kind = ["turn", "state", "alert", "handoff", "status"]
        .into_iter()
        .find(|k| *k == wire.kind)?;
    let alert = match wire.alert {
        None => None,
        Some(a) => Some(
            ["distress_spike", "handoff", "self_harm_risk"]
                .into_iter()
                .find(|k| *k == a)?,
        ),
    };
    Some(Event {
        tenant: wire.tenant,
        kind,
        alert,
        conversation_id: wire.conversation_id,
        priority: wire.priority,
        status: wire.status,
        signals: wire.signals,
        at: wire.at,
    })
}

fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_the_wire_unchanged_and_unknown_kinds_are_dropped() {
        let event = Event {
            tenant: "acme".into(),
            kind: "alert",
            alert: Some("handoff"),
            conversation_id: "c_1".into(),
            priority: 90,
            status: "handoff".into(),
            signals: vec!["human_request".into()],
            at: 1_700_000_000,
        };
        let wire = Wire::of("a", &event);
        let bytes = serde_json::to_vec(&wire).expect("serialises");
        let back = event_of(serde_json::from_slice(&bytes).expect("parses")).expect("known kind");
        assert_eq!(
            (back.tenant.as_str(), back.kind, back.alert, back.priority),
            ("acme", "alert", Some("handoff"), 90)
        );
        let unknown = Wire {
            kind: "something_new".into(),
            ..serde_json::from_slice(&bytes).expect("parses")
        };
        assert!(event_of(unknown).is_none());
    }
}
