//! Live events (server-sent events on `/v1/events`) and webhooks for alerts.
//!
//! Alerts (distress spike, handoff, self-harm risk) go to the tenant's webhook URL with an HMAC-SHA256
//! signature of the body (`X-Rapport-Signature: sha256=<hex>`, keyed by the tenant's webhook secret),
//! retried with backoff; every attempt is logged in `webhook_deliveries`. Delivery runs in its own task:
//! a receiver that is down never slows ingestion.

use crate::server::AppState;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// One event. `tenant` scopes who may see it and is not sent.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(skip)]
    pub tenant: String,
    /// `turn`, `alert` or `handoff`.
    pub kind: &'static str,
    /// For alerts: `distress_spike`, `handoff` or `self_harm_risk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<&'static str>,
    pub conversation_id: String,
    pub priority: i64,
    pub status: String,
    pub signals: Vec<String>,
    pub at: i64,
}

/// Delays between webhook attempts (three attempts in all).
const BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// Publishes an event to live subscribers and, for alerts, to the tenant's webhook.
pub fn publish(state: &Arc<AppState>, event: Event) {
    if event.kind != "turn" {
        let state = state.clone();
        let alert = event.clone();
        tokio::spawn(async move { deliver(&state, &alert).await });
    }
    // No subscriber is not an error.
    let _ = state.events.send(event);
    metrics::gauge!("rapport_event_subscribers").set(state.events.receiver_count() as f64);
}

async fn deliver(state: &Arc<AppState>, event: &Event) {
    let Ok(settings) = state.store.tenant(&event.tenant).await else {
        return;
    };
    let (Some(url), Some(secret)) = (settings.webhook_url, settings.webhook_secret) else {
        return;
    };
    let Ok(body) = serde_json::to_vec(event) else {
        return;
    };
    let signature = format!("sha256={}", crate::crypto::sign(&secret, &body));
    let name = event.alert.unwrap_or(event.kind);
    metrics::gauge!("rapport_webhooks_in_flight").increment(1.0);
    for attempt in 1..=(BACKOFF.len() + 1) {
        let result = state
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-rapport-signature", &signature)
            .header("x-rapport-event", name)
            .body(body.clone())
            .send()
            .await;
        let (status, error) = match &result {
            Ok(r) => (i64::from(r.status().as_u16()), String::new()),
            Err(e) => (0, e.to_string()),
        };
        let _ = state
            .store
            .log_delivery(
                &event.tenant,
                &event.conversation_id,
                name,
                attempt as i64,
                status,
                &error,
            )
            .await;
        if (200..300).contains(&status) {
            break;
        }
        if let Some(delay) = BACKOFF.get(attempt - 1) {
            tokio::time::sleep(*delay).await;
        }
    }
    metrics::gauge!("rapport_webhooks_in_flight").decrement(1.0);
}
