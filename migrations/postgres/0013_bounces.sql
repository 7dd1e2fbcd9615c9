-- mesa-fe: bounces (issue 14, point 4). PostgreSQL translation of
-- migrations/sqlite/0013_bounces.sql (rules in 0001_init.sql).
-- A mail the remote server returned is `rebotado`: the row keeps who bounced it, the enhanced
-- status code and the remote server's words, and when the bounce arrived, for `outbox show` and
-- the agents. NULL on every row that never bounced.
ALTER TABLE outbox ADD COLUMN bounced_at TEXT COLLATE "C";
ALTER TABLE outbox ADD COLUMN bounce_recipient TEXT COLLATE "C";
ALTER TABLE outbox ADD COLUMN bounce_status TEXT COLLATE "C";
ALTER TABLE outbox ADD COLUMN bounce_diagnostic TEXT COLLATE "C";
