-- mesa-fe: bounces (issue 14, point 4). A mail the remote server returned is `rebotado`: the row
-- keeps who bounced it, the enhanced status code and the remote server's words, and when the
-- bounce arrived, for `outbox show` and the agents. NULL on every row that never bounced.
ALTER TABLE outbox ADD COLUMN bounced_at TEXT;
ALTER TABLE outbox ADD COLUMN bounce_recipient TEXT;
ALTER TABLE outbox ADD COLUMN bounce_status TEXT;
ALTER TABLE outbox ADD COLUMN bounce_diagnostic TEXT;
