-- Marking a mail sent or failed also marks the notifications its digest carries
-- (`WHERE id = $1 OR digest_id = $1`): a BitmapOr over the primary key and this index instead of
-- a scan of the whole outbox (see the SQLite twin for the figures).
CREATE INDEX outbox_digest ON outbox (digest_id);
