-- mesa-fe: floods and near-misses (issue 11). PostgreSQL translation of
-- migrations/sqlite/0008_floods.sql (rules in 0001_init.sql).
-- A Message-ID is the sender's promise, not ours: dedupe takes it together with a hash of the
-- content (the body and the headers its author wrote), so a reused Message-ID with other content
-- is another message. NULL on rows stored before this column: those are compared by their body.
ALTER TABLE raw_messages ADD COLUMN content_key TEXT COLLATE "C";
-- The cap of cases one address may open per hour counts that address's cases of the last hour.
CREATE INDEX cases_requester_created ON cases (requester, created_at);
-- An agent notification folded into a digest points at the digest's own row (sent with it).
ALTER TABLE outbox ADD COLUMN digest_id BIGINT REFERENCES outbox(id) DEFERRABLE INITIALLY IMMEDIATE;
