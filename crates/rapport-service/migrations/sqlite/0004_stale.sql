-- Conversations whose derived state (metrics, strategy) needs recomputing, since when. On PostgreSQL the
-- refresher of any instance claims them (FOR UPDATE SKIP LOCKED, with a lease in the future), so the work
-- is done once across a fleet and resumes when an instance dies mid-work.
ALTER TABLE conversations ADD COLUMN stale_since BIGINT;
CREATE INDEX conversations_stale ON conversations (stale_since) WHERE stale_since IS NOT NULL;
