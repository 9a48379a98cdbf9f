//! Live events (server-sent events on `/v1/events`) and webhooks for alerts.
//!
//! Alerts (distress spike, handoff, self-harm risk) are written to an outbox table in the same
//! transaction as what raised them, once per alert, and the outbox worker POSTs them to the tenant's
//! webhook URL with an HMAC-SHA256 signature of the body (`X-Rapport-Signature: sha256=<hex>`, keyed by
//! the tenant's webhook secret), three attempts with backoff; every attempt is logged in
//! `webhook_deliveries`. The worker delivers a bounded batch at a time, so a receiver that is down never
//! slows ingestion nor grows memory, and a restart resumes what was not delivered. Other events (turns,
//! derived state) go to live subscribers only.
//!
//! Webhooks never reach loopback, private, link-local or metadata addresses (however the address is
//! written, or whatever a host name resolves to) unless `RAPPORT_ALLOW_PRIVATE_WEBHOOKS=1`, and
//! redirects are not followed.

use crate::server::AppState;
use crate::store::OutboxAlert;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// One event. `tenant` scopes who may see it and is not sent.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(skip)]
    pub tenant: String,
    /// `turn`, `state`, `alert`, `handoff` or `status` (assigned, resolved, reopened by a person).
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

/// Delays before the second and third attempts at a webhook.
const BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];
/// Alerts delivered at once, at most.
const BATCH: i64 = 16;
/// How long a claimed alert is held before another worker may try it (an instance died mid-delivery).
const LEASE: Duration = Duration::from_secs(30);

/// Publishes an event to the tenant's live subscribers, on this instance and (with NATS configured) on
/// the others.
pub fn publish(state: &Arc<AppState>, event: Event) {
    if let Some(fleet) = &state.fleet {
        fleet.forward(&event);
    }
    // No subscriber is not an error.
    let _ = state.events.send(event);
    metrics::gauge!("rapport_event_subscribers").set(state.events.receiver_count() as f64);
}

/// Whether an address is one a webhook must not reach: loopback, private, link-local (cloud metadata
/// services included), carrier-grade NAT, unspecified, multicast or broadcast.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [first, second, ..] = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || first == 0
                || (first == 100 && (second & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Checks a webhook URL: http(s), at most 2,048 characters, and (unless `allow_private`) not aimed at a
/// private address, written any way the URL standard allows (`0x7f000001`, `[::1]`, `localhost`).
pub fn check_webhook_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    if url.len() > 2048 || url.chars().any(char::is_control) {
        return Err(
            "`webhook_url` must be at most 2048 characters without control characters".into(),
        );
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("`webhook_url` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("`webhook_url` must be an http(s) URL".into());
    }
    let private = match parsed.host() {
        None => return Err("`webhook_url` has no host".into()),
        Some(url::Host::Ipv4(a)) => is_private(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => is_private(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err("`webhook_url` points at a loopback, private or link-local address; webhooks go to public addresses only (RAPPORT_ALLOW_PRIVATE_WEBHOOKS=1 on the server allows private ones)".into());
    }
    Ok(parsed)
}

/// Resolves host names for webhooks to public addresses only (a name that resolves to a private
/// address is refused at connection time, so DNS cannot steer a webhook inside).
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for webhooks: 5 s per attempt, no redirects, no proxies from the environment, and
/// public addresses only unless `allow_private`.
pub fn webhook_client(allow_private: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().unwrap_or_default()
}

/// Delivers queued alerts until the task is stopped: wakes when an alert is queued, and every second
/// for retries and for alerts another instance (or the run before a restart) left.
pub fn spawn_outbox(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let _ = tokio::time::timeout(Duration::from_secs(1), state.outbox.notified()).await;
            loop {
                let batch = match state
                    .store
                    .claim_alerts(BATCH, LEASE.as_millis() as i64)
                    .await
                {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the alert outbox");
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                let mut deliveries = tokio::task::JoinSet::new();
                for alert in batch {
                    let state = state.clone();
                    deliveries.spawn(async move { attempt(&state, alert).await });
                }
                while deliveries.join_next().await.is_some() {}
            }
        }
    })
}

/// One attempt at one alert; schedules the next attempt or ends it.
async fn attempt(state: &Arc<AppState>, alert: OutboxAlert) {
    let attempt = alert.attempts + 1;
    let outcome = post(state, &alert).await;
    let result = match outcome {
        // No webhook (or none any more): nothing to deliver.
        None => state.store.finish_alert(alert.id, alert.attempts).await,
        Some((status, error)) => {
            let _ = state
                .store
                .log_delivery(
                    &alert.tenant,
                    &alert.conversation_id,
                    &alert.alert,
                    attempt,
                    status,
                    &error,
                )
                .await;
            match BACKOFF.get(alert.attempts as usize) {
                Some(delay) if !(200..300).contains(&status) => {
                    let at = crate::store::now_ms() + delay.as_millis() as i64;
                    state.store.retry_alert(alert.id, attempt, at).await
                }
                _ => state.store.finish_alert(alert.id, attempt).await,
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record a webhook delivery");
    }
}

/// POSTs an alert to its tenant's webhook: `None` when the tenant has none, else (HTTP status or 0,
/// error).
async fn post(state: &Arc<AppState>, alert: &OutboxAlert) -> Option<(i64, String)> {
    let settings = match state.store.tenant(&alert.tenant).await {
        Ok(s) => s,
        Err(e) => return Some((0, e.to_string())),
    };
    let (Some(url), Some((key_id, sealed))) = (settings.webhook_url, settings.webhook_secret)
    else {
        return None;
    };
    let secret = match state
        .keyring
        .open(&key_id, &sealed, &secret_context(&alert.tenant))
    {
        Ok(s) => String::from_utf8_lossy(&s).into_owned(),
        Err(e) => return Some((0, format!("webhook secret: {e}"))),
    };
    let url = match check_webhook_url(&url, state.settings.allow_private_webhooks) {
        Ok(u) => u,
        Err(e) => return Some((0, e)),
    };
    let signature = format!(
        "sha256={}",
        crate::crypto::sign(&secret, alert.body.as_bytes())
    );
    metrics::gauge!("rapport_webhooks_in_flight").increment(1.0);
    let result = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-rapport-signature", &signature)
        .header("x-rapport-event", &alert.alert)
        .body(alert.body.clone())
        .send()
        .await;
    metrics::gauge!("rapport_webhooks_in_flight").decrement(1.0);
    Some(match result {
        Ok(r) => (i64::from(r.status().as_u16()), String::new()),
        Err(e) => (0, e.to_string()),
    })
}

/// What a tenant's sealed webhook secret is bound to.
pub fn secret_context(tenant: &str) -> String {
    format!("webhook-secret\u{0}{tenant}")
}

/// Seals webhook secrets left in plain text by an earlier release (run at start).
pub async fn seal_plain_secrets(state: &AppState) -> Result<usize, crate::store::StoreError> {
    let plain = state.store.plain_webhook_secrets().await?;
    for (tenant, secret) in &plain {
        let (key_id, sealed) = state
            .keyring
            .seal(secret.as_bytes(), &secret_context(tenant));
        state
            .store
            .seal_webhook_secret(tenant, &key_id, &sealed)
            .await?;
    }
    Ok(plain.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    #[test]
    fn private_addresses_are_refused_however_written() {
        for url in [
            "http://127.0.0.1/x",
            "http://0x7f000001/x",
            "http://017700000001/x",
            "http://2130706433/x",
            "http://[::1]/x",
            "http://[::ffff:7f00:1]/x",
            "http://[fe80::1]/x",
            "http://[fd00::1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/x",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
        ] {
            assert!(check_webhook_url(url, false).is_err(), "{url}");
            assert!(
                check_webhook_url(url, true).is_ok(),
                "{url} is allowed when private is"
            );
        }
        for url in [
            "https://hooks.example.com/rapport",
            "http://93.184.215.14:8080/x",
        ] {
            assert!(check_webhook_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "ftp://example.com/x",
            "http://",
            "not a url",
            "http://exa\u{0}mple.com/",
        ] {
            assert!(check_webhook_url(url, true).is_err(), "{url:?}");
        }
    }

    #[tokio::test]
    async fn a_host_name_that_resolves_to_a_private_address_is_refused() {
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let resolved = PublicOnly.resolve(name).await;
        assert!(resolved.is_err(), "localhost resolved to a public address");
    }
}
