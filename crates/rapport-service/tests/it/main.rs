//! The storage suite, run against SQLite always and against PostgreSQL when `RAPPORT_TEST_POSTGRES_URL`
//! is set (CI sets it and fails if it is missing).

use rapport_service::store::{
    ListFilter, MessageRow, NewMessage, Store, TenantSettings, TurnChange,
};
use sqlx::Row;

mod lifecycle;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// Appends a message in its own turn transaction the way the API does: a retry writes nothing and
/// returns the stored message. Returns the message, whether it is new, and the conversation's
/// (priority, status, turn count) after it.
async fn append(
    store: &Store,
    tenant: &str,
    m: &NewMessage<'_>,
    change: &TurnChange<'_>,
) -> Option<(MessageRow, bool, (i64, String, i64))> {
    let (mut tx, counted) = store
        .begin_turn(tenant, m.conversation_id, change, 1_000)
        .await
        .expect("begin")?;
    let after = (counted.priority, counted.status.clone(), counted.turn_count);
    let Some(row) = tx.insert(m).await.expect("insert") else {
        tx.rollback().await.expect("rollback");
        let stored = store
            .stored_message(m.conversation_id, m.client_message_id)
            .await
            .expect("stored")
            .expect("a retry finds the stored message");
        return Some((stored, false, after));
    };
    tx.commit().await.expect("commit");
    Some((row, true, after))
}

async fn suite(store: &Store) {
    let tenant = unique("t");
    let other = unique("u");
    store.ensure_tenant(&tenant).await.expect("tenant");
    store
        .ensure_tenant(&tenant)
        .await
        .expect("ensure is idempotent");
    let hash = rapport_service::crypto::hash_api_key(&unique("key"));
    let id = store
        .create_key(&tenant, "agent", &hash)
        .await
        .expect("key");
    let found = store
        .find_key(&hash)
        .await
        .expect("find")
        .expect("key exists");
    assert_eq!(
        (
            found.id.as_str(),
            found.tenant.as_str(),
            found.role.as_str()
        ),
        (id.as_str(), tenant.as_str(), "agent")
    );
    assert!(store
        .find_key(&"f".repeat(64))
        .await
        .expect("find")
        .is_none());
    store
        .touch_key(&id, rapport_service::store::now_ms())
        .await
        .expect("touch");
    let listed = store.list_keys(Some(&tenant)).await.expect("list keys");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some() && listed[0].revoked_at.is_none());
    assert!(store
        .list_keys(Some(&other))
        .await
        .expect("list")
        .is_empty());
    assert!(
        !store.revoke_key(&id, Some(&other)).await.expect("revoke"),
        "another tenant cannot revoke it"
    );
    assert!(store.revoke_key(&id, Some(&tenant)).await.expect("revoke"));
    assert!(store.find_key(&hash).await.expect("find").is_none());
    assert!(!store.revoke_key(&id, None).await.expect("twice"));

    let conv = unique("c");
    let customer = unique("cust");
    store
        .create_conversation(&conv, &tenant, &customer, "chat", None)
        .await
        .expect("conversation");
    // An idempotency key makes one conversation however often the create is retried.
    let keyed = unique("k");
    let (first_create, created) = store
        .create_conversation(&keyed, &tenant, "idem", "chat", Some("create-1"))
        .await
        .expect("keyed");
    assert!(created);
    let (again_create, created_again) = store
        .create_conversation(&unique("k"), &tenant, "idem", "chat", Some("create-1"))
        .await
        .expect("keyed retry");
    assert!(!created_again);
    assert_eq!(again_create.id, first_create.id);
    store
        .erase_customer(&tenant, "idem")
        .await
        .expect("erase the keyed one");
    assert!(
        store
            .conversation(&other, &conv)
            .await
            .expect("get")
            .is_none(),
        "another tenant sees nothing"
    );
    let row = store
        .conversation(&tenant, &conv)
        .await
        .expect("get")
        .expect("found");
    assert_eq!((row.status.as_str(), row.turn_count), ("open", 0));

    let message = |client: &'static str| NewMessage {
        conversation_id: &conv,
        client_message_id: client,
        role: "customer",
        key_id: "k1",
        text: b"sealed bytes",
        redacted: false,
        analysis: "null",
    };
    let (first, new, counted) = append(
        store,
        &tenant,
        &message("m1"),
        &TurnChange {
            handoff: true,
            priority: 90,
            discreet: true,
            summary: Some("{\"signals\":[]}"),
            human_request: true,
            ..TurnChange::default()
        },
    )
    .await
    .expect("conversation exists");
    assert!(new);
    assert_eq!(counted, (90, "handoff".to_string(), 1));
    assert!(
        store
            .begin_turn(&other, &conv, &TurnChange::default(), 1_000)
            .await
            .expect("begin")
            .is_none(),
        "another tenant cannot append"
    );
    assert!(
        store
            .begin_turn(&tenant, &conv, &TurnChange::default(), 1)
            .await
            .expect("begin")
            .is_none(),
        "a conversation at the limit takes no turn"
    );

    // Derived state for the dashboard: saved per conversation, read back by range and channel.
    assert_eq!(row.state, "{}", "no state until the refresher computes one");
    store
        .set_states(&[(&conv, r#"{"metrics":{"turns":0}}"#)])
        .await
        .expect("state");
    store
        .set_states(&[
            (&conv, r#"{"metrics":{"turns":1}}"#),
            ("no-such-conversation", "{}"),
        ])
        .await
        .expect("a second save replaces the first; unknown ids are skipped");
    let in_range = store
        .states(&tenant, 0, i64::MAX, "")
        .await
        .expect("states");
    assert_eq!(in_range.len(), 1);
    assert_eq!(in_range[0].3, r#"{"metrics":{"turns":1}}"#);
    assert!(store
        .states(&tenant, 0, i64::MAX, "email")
        .await
        .expect("states")
        .is_empty());
    assert!(store
        .states(&tenant, 0, row.created_at, "")
        .await
        .expect("states")
        .is_empty());
    assert!(store
        .states(&other, 0, i64::MAX, "")
        .await
        .expect("states")
        .is_empty());
    assert_eq!(store.channels(&tenant).await.expect("channels"), ["chat"]);
    let (again, new_again, _) = append(store, &tenant, &message("m1"), &TurnChange::default())
        .await
        .expect("retry");
    assert!(!new_again, "a retry writes nothing");
    assert_eq!(first.id, again.id);
    let (_, _, counted) = append(
        store,
        &tenant,
        &message("m2"),
        &TurnChange {
            priority: -1,
            ..TurnChange::default()
        },
    )
    .await
    .expect("append");
    assert_eq!(
        counted,
        (90, "handoff".to_string(), 2),
        "handoff and priority stay"
    );
    let messages = store.messages(&conv).await.expect("messages");
    assert_eq!(
        messages
            .iter()
            .map(|m| m.client_message_id.as_str())
            .collect::<Vec<_>>(),
        ["m1", "m2"]
    );
    assert_eq!(messages[0].text, b"sealed bytes");

    // Entering the handoff queue queues one alert; being in it already queues none.
    assert!(!store
        .mark_handoff(&tenant, &conv, 95, "{}")
        .await
        .expect("handoff"));
    let low = unique("c");
    store
        .create_conversation(&low, &tenant, &unique("cust"), "email", None)
        .await
        .expect("second");
    assert!(store
        .mark_handoff(&tenant, &low, 10, r#"{"alert":"handoff"}"#)
        .await
        .expect("handoff"));
    let claimed = store.claim_alerts(16, 30_000).await.expect("claim");
    let mine: Vec<_> = claimed
        .iter()
        .filter(|a| a.conversation_id == low)
        .collect();
    assert_eq!(mine.len(), 1, "{claimed:?}");
    assert!(
        store
            .claim_alerts(16, 30_000)
            .await
            .expect("claim")
            .iter()
            .all(|a| a.conversation_id != low),
        "a claimed alert is leased"
    );
    store.retry_alert(mine[0].id, 1, 0).await.expect("retry");
    let again = store.claim_alerts(16, 30_000).await.expect("claim");
    assert!(again.iter().any(|a| a.id == mine[0].id && a.attempts == 1));
    store.finish_alert(mine[0].id, 2).await.expect("finish");
    sqlx::query("UPDATE alert_outbox SET next_attempt_at = 0 WHERE id = $1")
        .bind(mine[0].id)
        .execute(store.pool())
        .await
        .expect("due");
    assert!(
        store
            .claim_alerts(16, 30_000)
            .await
            .expect("claim")
            .iter()
            .all(|a| a.id != mine[0].id),
        "a finished alert is not delivered again"
    );
    sqlx::query("UPDATE conversations SET status = 'open', priority = 0 WHERE id = $1")
        .bind(&low)
        .execute(store.pool())
        .await
        .expect("reopen");
    let listed = store
        .list(&tenant, &ListFilter::default(), 10, 0)
        .await
        .expect("list");
    assert_eq!(
        listed.first().map(|c| c.id.as_str()),
        Some(conv.as_str()),
        "highest priority first"
    );
    assert_eq!(
        store
            .list(
                &tenant,
                &ListFilter {
                    status: Some("handoff"),
                    ..ListFilter::default()
                },
                10,
                0,
            )
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        store
            .list(
                &tenant,
                &ListFilter {
                    min_priority: Some(50),
                    ..ListFilter::default()
                },
                10,
                0,
            )
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        store
            .list(&tenant, &ListFilter::default(), 1, 1)
            .await
            .expect("page")
            .len(),
        1
    );

    store
        .save_vault(&conv, "k1", b"sealed vault")
        .await
        .expect("vault");
    store
        .log_delivery(&tenant, &conv, "handoff", 1, 500, "down")
        .await
        .expect("delivery");
    let counts = store
        .erase_customer(&tenant, &customer)
        .await
        .expect("erase");
    assert_eq!(
        (
            counts.conversations,
            counts.messages,
            counts.vaults,
            counts.webhook_deliveries
        ),
        (1, 2, 1, 1)
    );
    for (table, column) in [
        ("conversations", "id"),
        ("messages", "conversation_id"),
        ("webhook_deliveries", "conversation_id"),
    ] {
        let n: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1"
        ))
        .bind(&conv)
        .fetch_one(store.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
        assert_eq!(n, 0, "{table} still holds the erased conversation");
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM conversations WHERE customer_id = $1")
        .bind(&customer)
        .fetch_one(store.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
    assert_eq!(n, 0);

    store
        .audit(&tenant, "key1", "erase_customer", "hash", "{}")
        .await
        .expect("audit");
    let log = store.audit_log(&tenant, 10, 0).await.expect("log");
    assert_eq!(log.len(), 1);
    assert!(store
        .audit_log(&other, 10, 0)
        .await
        .expect("log")
        .is_empty());

    // Retention: with 1 day, a conversation idle for two days goes.
    store
        .set_tenant(
            &tenant,
            &TenantSettings {
                retention_days: 1,
                webhook_url: Some("https://hooks.example.com/x".into()),
                webhook_secret: Some(("k1".into(), b"sealed secret".to_vec())),
            },
        )
        .await
        .expect("settings");
    let settings = store.tenant(&tenant).await.expect("tenant");
    assert_eq!(
        settings.webhook_secret,
        Some(("k1".to_string(), b"sealed secret".to_vec()))
    );
    assert_eq!(
        store
            .webhook_secrets_not_under("k2")
            .await
            .expect("secrets")[0]
            .0,
        tenant
    );
    let swept = store
        .sweep_retention(rapport_service::store::now_ms() + 2 * 86_400_000)
        .await
        .expect("sweep");
    assert!(
        swept.iter().any(|(t, n)| *t == tenant && *n == 1),
        "{swept:?}"
    );
    assert!(store
        .conversation(&tenant, &low)
        .await
        .expect("get")
        .is_none());
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn storage_suite_on_sqlite() {
    let dir = std::env::temp_dir().join(unique("rapport-store"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("r.db").display()))
        .await
        .expect("sqlite");
    suite(&store).await;
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .expect("integrity")
        .try_get(0)
        .expect("result");
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn team_lifecycle_through_the_api_on_sqlite() {
    let dir = std::env::temp_dir().join(unique("rapport-team"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("r.db").display()))
        .await
        .expect("sqlite");
    lifecycle::lifecycle(store).await;
}

#[tokio::test]
async fn storage_suite_on_postgres() {
    let Some(url) = std::env::var("RAPPORT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the PostgreSQL suite: set RAPPORT_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: RAPPORT_TEST_POSTGRES_URL is not set");
        return;
    };
    let store = Store::connect(&url).await.expect("postgres");
    suite(&store).await;
    claims(&store).await;
    lifecycle::lifecycle(store).await;
}

/// The refresher's claims on PostgreSQL: a stale conversation is claimed by one instance at a time,
/// stays stale when a turn arrives during the work, and is claimed again when a claim's lease ends
/// without being settled (the instance died).
async fn claims(store: &Store) {
    let tenant = unique("claims");
    store.ensure_tenant(&tenant).await.expect("tenant");
    let conv = unique("c");
    store
        .create_conversation(&conv, &tenant, "cust", "chat", None)
        .await
        .expect("conversation");
    let turn = |client: &'static str| NewMessage {
        conversation_id: &conv,
        client_message_id: client,
        role: "customer",
        key_id: "k1",
        text: b"sealed bytes",
        redacted: false,
        analysis: "null",
    };
    let claimed = |ids: Vec<(String, String)>| ids.iter().any(|(id, _)| *id == conv);
    append(store, &tenant, &turn("m1"), &TurnChange::default())
        .await
        .expect("appended");
    let now = rapport_service::store::now_ms() + 1_000;
    let lease = now + 30_000;
    assert!(claimed(
        store.claim_stale(now, lease, 10_000).await.expect("claim")
    ));
    assert!(
        !claimed(
            store
                .claim_stale(now, now + 60_000, 10_000)
                .await
                .expect("claim")
        ),
        "a claimed conversation is not claimed twice"
    );
    // A turn arrives while the state is computed: settling does not clear the mark.
    append(store, &tenant, &turn("m2"), &TurnChange::default())
        .await
        .expect("appended");
    store
        .settle_state(&conv, "{}", lease)
        .await
        .expect("settle");
    let later = now + 1_000;
    let second = later + 30_000;
    assert!(claimed(
        store
            .claim_stale(later, second, 10_000)
            .await
            .expect("claim")
    ));
    store
        .settle_state(&conv, "{}", second)
        .await
        .expect("settle");
    assert!(
        !claimed(
            store
                .claim_stale(later + 100_000, later + 130_000, 10_000)
                .await
                .expect("claim")
        ),
        "a settled conversation is no longer stale"
    );
    // Claimed and never settled: claimed again once the lease has passed.
    append(store, &tenant, &turn("m3"), &TurnChange::default())
        .await
        .expect("appended");
    let third = later + 2_000;
    assert!(claimed(
        store
            .claim_stale(third - 500, third + 30_000, 10_000)
            .await
            .expect("claim")
    ));
    assert!(!claimed(
        store
            .claim_stale(third, third + 60_000, 10_000)
            .await
            .expect("claim")
    ));
    assert!(claimed(
        store
            .claim_stale(third + 30_001, third + 60_000, 10_000)
            .await
            .expect("claim")
    ));
}

#[tokio::test]
async fn bad_database_urls_are_explained() {
    let err = Store::connect("mysql://x").await.expect_err("unsupported");
    assert!(
        err.to_string().contains("sqlite:// or postgres://"),
        "{err}"
    );
}
