-- The caller's own id for a conversation (a bot's `X-Rapport-Conversation` through the OpenAI-compatible
-- endpoint): shown in lists and the dashboard. Lookups go through `idempotency_key` ("external:" + id),
-- whose unique index per tenant makes a find-or-create race-free.
ALTER TABLE conversations ADD COLUMN external_id TEXT;
