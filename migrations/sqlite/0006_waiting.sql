-- mesa-fe: since when a case waits for the requester's information (its SLA solution clock
-- pauses meanwhile).
ALTER TABLE cases ADD COLUMN waiting_since TEXT;
