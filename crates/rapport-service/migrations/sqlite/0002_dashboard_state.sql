-- Derived state of each conversation for the dashboard: its metrics and the strategy in force (JSON),
-- recomputed in the background after new turns.
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
CREATE INDEX conversations_tenant_created ON conversations (tenant_id, created_at);
