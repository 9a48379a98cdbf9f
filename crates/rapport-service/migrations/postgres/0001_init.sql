-- Rapport storage, PostgreSQL. Times are Unix milliseconds; flags are 0/1.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    retention_days BIGINT NOT NULL DEFAULT 365,
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    priority BIGINT NOT NULL,
    discreet BIGINT NOT NULL,
    turn_count BIGINT NOT NULL,
    summary TEXT NOT NULL,
    vault_key_id TEXT,
    vault BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_queue ON conversations (tenant_id, priority DESC, updated_at DESC);
CREATE INDEX conversations_customer ON conversations (tenant_id, customer_id);
CREATE INDEX conversations_updated ON conversations (updated_at);
CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    client_message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    key_id TEXT NOT NULL,
    text BYTEA NOT NULL,
    redacted BIGINT NOT NULL,
    analysis TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (conversation_id, client_message_id)
);
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE TABLE webhook_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    event TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status BIGINT NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries (conversation_id);
