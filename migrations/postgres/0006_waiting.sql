-- mesa-fe: since when a case waits for the requester's information (its SLA solution clock
-- pauses meanwhile). PostgreSQL translation of migrations/sqlite/0006_waiting.sql.
ALTER TABLE cases ADD COLUMN waiting_since TEXT COLLATE "C";
