-- The team's workflow: who has a conversation (`assignee`, free text: an agent's name or key id). Status
-- is one of open, handoff, assigned, resolved.
ALTER TABLE conversations ADD COLUMN assignee TEXT;
CREATE INDEX conversations_tenant_status ON conversations (tenant_id, status);
