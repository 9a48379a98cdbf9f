-- Alerts for the tenant's webhook, written in the same transaction as the turn that raised them and
-- delivered by the server's outbox worker (a restart resumes what was not delivered).
CREATE TABLE alert_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    alert TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    done_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX alert_outbox_pending ON alert_outbox (done_at, next_attempt_at);
CREATE INDEX alert_outbox_conversation ON alert_outbox (conversation_id);
-- The webhook secret sealed under the master key (the plaintext column is emptied at start).
ALTER TABLE tenants ADD COLUMN webhook_secret_key_id TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret_sealed BYTEA;
-- Keys can be listed and revoked.
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
-- A retried create with the same Idempotency-Key returns the conversation it made.
ALTER TABLE conversations ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX conversations_idempotency ON conversations (tenant_id, idempotency_key);
-- What appending a turn decides from the conversation as it was, in the same UPDATE (SET expressions
-- read the row before it): the latest customer distress, whether this turn made the conversation
-- discreet, and the alert it raised (each alert once: on the change it names).
ALTER TABLE conversations ADD COLUMN distress DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN became_discreet BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_alert TEXT;
