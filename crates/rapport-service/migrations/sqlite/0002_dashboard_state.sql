-- Derived state of each conversation for the dashboard: its metrics and the strategy in force (JSON),
-- recomputed in the background after new turns. A table of its own: appending a turn updates the
-- conversation row, which must stay small.
CREATE TABLE conversation_states (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    state TEXT NOT NULL
);
CREATE INDEX conversations_tenant_created ON conversations (tenant_id, created_at);
