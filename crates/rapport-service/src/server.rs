//! The service: shared state, authentication and roles, rate limits, the router, metrics, background
//! tasks (retention) and graceful shutdown.

use crate::crypto::{hash_api_key, Keyring};
use crate::error::ApiError;
use crate::events::Event;
use crate::store::{KeyRecord, Store};
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rapport_engine::respond::Responder;
use rapport_engine::Engine;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Roles of API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Agent,
    Analyst,
    Service,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            "analyst" => Some(Role::Analyst),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
            Role::Service => "service",
        }
    }
}

/// Service settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Webhooks may go to loopback, private and link-local addresses (`RAPPORT_ALLOW_PRIVATE_WEBHOOKS=1`:
    /// development and tests only).
    pub allow_private_webhooks: bool,
    /// A connection must send a request's headers within this time (from when it opens or is idle).
    pub header_timeout: Duration,
    /// A request body must keep arriving: at most this long between two pieces of it.
    pub body_timeout: Duration,
    /// A connection with no request in flight and no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// Requests per second allowed per API key (bursts up to twice that).
    pub rate_limit_per_second: u32,
    /// How often the retention task runs.
    pub retention_interval: Duration,
    /// How often stale conversation states (metrics, strategy) are recomputed: a conversation that gets
    /// many turns in this time is recomputed once.
    pub refresh_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit_per_second: 5_000,
            retention_interval: Duration::from_secs(3_600),
            refresh_interval: Duration::from_millis(500),
            allow_private_webhooks: false,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub keyring: Keyring,
    pub responder: Arc<Responder>,
    pub engine: Arc<Engine>,
    pub detector: rapport_privacy::Detector,
    pub auditor: rapport_audit::Auditor,
    pub events: broadcast::Sender<Event>,
    pub http: reqwest::Client,
    pub metrics: PrometheusHandle,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Verified keys by hash and when they were checked, so that a request costs no key lookup in the
    /// database; each is checked again after `KEY_TTL` (a revoked key stops working within it).
    keys: RwLock<HashMap<String, (KeyRecord, Instant)>>,
    /// Wakes the outbox worker when an alert is queued.
    pub outbox: tokio::sync::Notify,
    /// Conversation views (turns, audits, memory, strategy) computed for `GET /v1/conversations/{id}`,
    /// so that rereading an unchanged conversation costs no engine work (cleared on erasure and
    /// retention).
    pub views: Mutex<crate::api::ViewCache>,
    /// Engine work for conversation views runs on blocking threads, this many at a time.
    pub view_permits: tokio::sync::Semaphore,
    /// Conversations with new turns whose derived state (metrics, strategy) is stale: id -> tenant.
    pub stale: Mutex<HashMap<String, String>>,
    /// Derived states computed but not saved yet (id -> state JSON and when it was computed): the
    /// refresher saves them when ingestion is quiet, or once they are older than `MAX_UNSAVED`. Reads
    /// prefer these to the stored ones.
    pub unsaved: Mutex<HashMap<String, (String, Instant)>>,
    /// Turns appended since start (the refresher saves states when few arrived in the last interval).
    pub appended: AtomicU64,
    pub settings: Settings,
    /// The link to the other instances (NATS), when configured.
    pub fleet: Option<crate::fleet::Fleet>,
    /// The model server behind the OpenAI-compatible endpoint, when configured.
    pub upstream: Option<crate::openai::Upstream>,
}

/// One Prometheus recorder per process (tests start several servers).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    pub fn new(
        store: Store,
        keyring: Keyring,
        responder: Arc<Responder>,
        engine: Arc<Engine>,
        settings: Settings,
    ) -> Self {
        let per_second =
            NonZeroU32::new(settings.rate_limit_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_limit_per_second.saturating_mul(2).max(1))
            .unwrap_or(NonZeroU32::MIN);
        Self {
            store,
            keyring,
            responder,
            engine,
            detector: rapport_privacy::Detector::new(),
            auditor: rapport_audit::Auditor::new(),
            events: broadcast::channel(1024).0,
            http: crate::events::webhook_client(settings.allow_private_webhooks),
            metrics: metrics_handle(),
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            keys: RwLock::new(HashMap::new()),
            outbox: tokio::sync::Notify::new(),
            views: Mutex::new(crate::api::ViewCache::default()),
            view_permits: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            ),
            stale: Mutex::new(HashMap::new()),
            unsaved: Mutex::new(HashMap::new()),
            appended: AtomicU64::new(0),
            settings,
            fleet: None,
            upstream: None,
        }
    }

    /// Sends the OpenAI-compatible endpoint's completions to `upstream`.
    pub fn with_upstream(mut self, upstream: Option<crate::openai::Upstream>) -> Self {
        self.upstream = upstream;
        self
    }

    /// Shares live events with the other instances through `fleet`.
    pub fn with_fleet(mut self, fleet: crate::fleet::Fleet) -> Self {
        self.fleet = Some(fleet);
        self
    }
}

/// How long a verified key is trusted before it is looked up again (revocation takes effect within it).
pub const KEY_TTL: Duration = Duration::from_secs(1);

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
}

impl Principal {
    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &'static str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role.as_str().to_string(),
                action,
            })
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::MissingKey)?;
        let hash = hash_api_key(key);
        let cached = state
            .keys
            .read()
            .ok()
            .and_then(|k| k.get(&hash).cloned())
            .filter(|(_, checked)| checked.elapsed() < KEY_TTL);
        let record = match cached {
            Some((r, _)) => r,
            None => {
                let Some(r) = state.store.find_key(&hash).await? else {
                    // Unknown or revoked: forget it (an unknown key never enters the map).
                    if let Ok(mut keys) = state.keys.write() {
                        keys.remove(&hash);
                    }
                    return Err(ApiError::BadKey);
                };
                if let Ok(mut keys) = state.keys.write() {
                    keys.insert(hash, (r.clone(), Instant::now()));
                }
                // When it was last used (at most one write a minute per key), off the request path.
                let store = state.store.clone();
                let id = r.id.clone();
                tokio::spawn(async move {
                    let _ = store.touch_key(&id, crate::store::now_ms()).await;
                });
                r
            }
        };
        // In a fleet, each instance allows its share of the key's rate: a request costs as many cells
        // as there are live instances (an approximation that holds when the load balancer spreads a
        // key's requests evenly).
        let burst = state
            .settings
            .rate_limit_per_second
            .saturating_mul(2)
            .max(1);
        let share = state.fleet.as_ref().map_or(1, |f| f.size()).min(burst);
        let cells = NonZeroU32::new(share).unwrap_or(NonZeroU32::MIN);
        if !matches!(state.limiter.check_key_n(&record.id, cells), Ok(Ok(()))) {
            return Err(ApiError::RateLimited);
        }
        let role = Role::parse(&record.role).ok_or(ApiError::BadKey)?;
        Ok(Principal {
            key_id: record.id,
            tenant: record.tenant,
            role,
        })
    }
}

/// Counts and times every request by route and status.
async fn record_metrics(request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // Only the methods the API knows get a label of their own: a made-up method must not grow the
    // metrics (unknown routes share `unmatched` the same way).
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("rapport_http_requests_total", "method" => method, "path" => path.clone(), "status" => status).increment(1);
    metrics::histogram!("rapport_http_request_duration_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    use crate::api;
    Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/assets/{name}", get(crate::dashboard::assets))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/v1/openapi.json", get(api::openapi))
        .route("/v1/analyze", post(api::analyze))
        .route("/v1/redact", post(api::redact))
        .route("/v1/audit", post(api::audit))
        .route(
            "/v1/conversations",
            post(api::create_conversation).get(api::list_conversations),
        )
        .route(
            "/v1/conversations/{id}",
            get(api::get_conversation).patch(api::update_conversation),
        )
        .route("/v1/conversations/{id}/messages", post(api::append_message))
        .route("/v1/conversations/{id}/reply", post(api::reply))
        .route("/v1/events", get(api::events))
        .route("/v1/customers/{customer_id}", delete(api::erase_customer))
        .route("/v1/audit-log", get(api::audit_log))
        .route("/v1/tenant", put(api::update_tenant))
        .route("/v1/me", get(api::me))
        .route("/v1/keys/{id}", delete(api::revoke_key))
        .route("/v1/overview", get(api::overview))
        .route("/v1/overview.csv", get(api::overview_csv))
        .route(
            "/openai/v1/chat/completions",
            post(crate::openai::chat_completions),
        )
        .route("/openai/v1/models", get(crate::openai::models))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.settings.body_timeout,
        ))
        .with_state(state)
}

/// Deletes conversations past their tenant's retention, every `interval`, and logs each sweep.
pub fn spawn_retention(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.settings.retention_interval);
        loop {
            tick.tick().await;
            match state.store.sweep_retention(crate::store::now_ms()).await {
                Ok(swept) => {
                    if !swept.is_empty() {
                        crate::api::forget_views(&state);
                        save_states(&state, Duration::ZERO).await;
                    }
                    for (tenant, n) in swept {
                        tracing::info!(%tenant, conversations = n, "retention: deleted expired conversations");
                        let _ = state
                            .store
                            .audit(
                                &tenant,
                                "system",
                                "retention",
                                "conversations",
                                &format!("{n} deleted"),
                            )
                            .await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
        }
    })
}

/// Saving derived states waits for a quiet interval (at most this many turns appended in it)...
const QUIET_TURNS: u64 = 20;
/// ...or until a state has waited this long.
const MAX_UNSAVED: Duration = Duration::from_secs(30);

/// Recomputes the derived state of conversations with new turns, every `refresh_interval`, and tells
/// live subscribers (`state` events). Off the request path: appending a turn only marks it stale.
///
/// Under heavy ingestion the refresher must not compete with it: it computes one conversation at a
/// time for at most a tenth of each interval (what is left stays stale for the next tick), and saves the
/// states when ingestion is quiet or they have waited `MAX_UNSAVED`, in one transaction, since SQLite's
/// single writer is the request path's too. Until saved, reads take them from memory.
pub fn spawn_refresher(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    if state.store.backend == crate::store::Backend::Postgres {
        return tokio::spawn(refresh_claimed(state));
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.settings.refresh_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut appended_before = 0;
        loop {
            tick.tick().await;
            let stale: Vec<(String, String)> = match state.stale.lock() {
                Ok(mut s) => s.drain().collect(),
                Err(_) => Vec::new(),
            };
            let budget = state.settings.refresh_interval / 10;
            let started = Instant::now();
            let mut pending = stale.into_iter();
            for (id, tenant) in pending.by_ref() {
                match crate::api::derive_state(&state, &tenant, &id).await {
                    Ok(Some(d)) => {
                        if let Ok(mut u) = state.unsaved.lock() {
                            u.insert(d.conversation_id, (d.state, Instant::now()));
                        }
                        crate::events::publish(&state, d.event);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(conversation = %id, error = %e, "could not refresh the conversation's state");
                    }
                }
                if started.elapsed() >= budget {
                    break;
                }
            }
            if let Ok(mut s) = state.stale.lock() {
                for (id, tenant) in pending {
                    s.entry(id).or_insert(tenant);
                }
            }
            let appended = state.appended.load(Ordering::Relaxed);
            let quiet = appended - appended_before <= QUIET_TURNS;
            appended_before = appended;
            save_states(&state, if quiet { Duration::ZERO } else { MAX_UNSAVED }).await;
        }
    })
}

/// How long a claimed stale conversation is held by the instance that claimed it (PostgreSQL).
const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// Stale conversations claimed at once.
const CLAIM_BATCH: i64 = 16;

/// The refresher on PostgreSQL: the stale marks are in the database (set in the turn's transaction), and
/// every instance claims from them with `FOR UPDATE SKIP LOCKED`, so each change is computed once across
/// a fleet, saved at once, and a claim of an instance that died is taken again when its lease ends.
async fn refresh_claimed(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.settings.refresh_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::store::now_ms();
        let lease_until = now + CLAIM_LEASE.as_millis() as i64;
        // The fleet shares one refresh rate: each of N instances claims its share of a batch per tick,
        // so a fleet under load recomputes as often as one instance would, not N times as often.
        let share = state
            .fleet
            .as_ref()
            .map_or(1, |f| i64::from(f.size()))
            .max(1);
        let batch = (CLAIM_BATCH / share).max(1);
        let claimed = match state.store.claim_stale(now, lease_until, batch).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim stale conversations");
                continue;
            }
        };
        for (id, tenant) in claimed {
            match crate::api::derive_state(&state, &tenant, &id).await {
                Ok(Some(d)) => match state.store.settle_state(&id, &d.state, lease_until).await {
                    Ok(()) => crate::events::publish(&state, d.event),
                    Err(e) => {
                        tracing::warn!(conversation = %id, error = %e, "could not save the conversation's state")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(conversation = %id, error = %e, "could not refresh the conversation's state");
                }
            }
        }
    }
}

/// Saves the unsaved derived states computed at least `older_than` ago; keeps any that changed meanwhile.
pub async fn save_states(state: &AppState, older_than: Duration) {
    let batch: Vec<(String, (String, Instant))> = match state.unsaved.lock() {
        Ok(u) => u
            .iter()
            .filter(|(_, (_, at))| at.elapsed() >= older_than)
            .map(|(id, v)| (id.clone(), v.clone()))
            .collect(),
        Err(_) => return,
    };
    if batch.is_empty() {
        return;
    }
    let rows: Vec<(&str, &str)> = batch
        .iter()
        .map(|(id, (json, _))| (id.as_str(), json.as_str()))
        .collect();
    match state.store.set_states(&rows).await {
        Ok(()) => {
            if let Ok(mut u) = state.unsaved.lock() {
                for (id, (_, at)) in &batch {
                    if u.get(id).is_some_and(|(_, now)| now == at) {
                        u.remove(id);
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not save conversation states"),
    }
}

/// A conversation's derived state computed but not saved yet, if there is one (fresher than the stored).
pub fn unsaved_state(state: &AppState, id: &str) -> Option<String> {
    state
        .unsaved
        .lock()
        .ok()
        .and_then(|u| u.get(id).map(|(json, _)| json.clone()))
}

/// Marks a conversation's derived state stale (the refresher recomputes it). On PostgreSQL the mark is in
/// the database, written with the turn.
pub fn mark_stale(state: &AppState, tenant: &str, id: &str) {
    if state.store.backend == crate::store::Backend::Postgres {
        return;
    }
    if let Ok(mut s) = state.stale.lock() {
        s.insert(id.to_string(), tenant.to_string());
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests (for up to 10 s).
///
/// Connections are HTTP/1.1 with timeouts: headers within `header_timeout` (a connection that opens
/// and sends nothing is closed then), request bodies that stall longer than `body_timeout` are cut, and
/// a connection idle for `idle_timeout` (no request in flight, no bytes either way) is closed, so
/// half-open connections cannot pile up.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match crate::events::seal_plain_secrets(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tenants = n, "sealed webhook secrets stored in plain text"),
        Err(e) => tracing::warn!(error = %e, "could not seal webhook secrets stored in plain text"),
    }
    let retention = spawn_retention(state.clone());
    let refresher = spawn_refresher(state.clone());
    let outbox = crate::events::spawn_outbox(state.clone());
    let fleet = crate::fleet::spawn(state.clone());
    let app = router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let watched = Watched::new(stream);
        let activity = watched.activity.clone();
        let in_flight = Arc::new(AtomicU64::new(0));
        let counter = in_flight.clone();
        let app = app.clone();
        let service = hyper::service::service_fn(move |request| {
            let app = app.clone();
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                let response = tower::ServiceExt::oneshot(app, request).await;
                counter.fetch_sub(1, Ordering::Relaxed);
                response
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(state.settings.header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(watched), service);
        let connection = graceful.watch(connection);
        let idle = state.settings.idle_timeout;
        tokio::spawn(async move {
            let watchdog = async {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    if in_flight.load(Ordering::Relaxed) == 0 && activity.quiet_for() >= idle {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = connection => {}
                // Dropping the connection closes it.
                () = watchdog => {}
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("shutting down with requests still in flight after 10 s");
        }
    }
    retention.abort();
    refresher.abort();
    outbox.abort();
    for task in &fleet {
        task.abort();
    }
    let _ = refresher.await;
    save_states(&state, Duration::ZERO).await;
    Ok(())
}

/// When a connection last moved a byte.
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// A TCP stream that records when it last read or wrote a byte.
#[derive(Debug)]
struct Watched {
    stream: tokio::net::TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn new(stream: tokio::net::TcpStream) -> Self {
        Self {
            stream,
            activity: Arc::new(Activity {
                started: Instant::now(),
                last: AtomicU64::new(0),
            }),
        }
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Makes a state's key lookups fresh (after `rapport keys create` in the same process, in tests).
pub fn forget_cached_keys(state: &AppState) {
    if let Ok(mut keys) = state.keys.write() {
        keys.clear();
    }
}
