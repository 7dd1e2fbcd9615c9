-- How many times processing of a raw message has started. It is counted (and committed) before the
-- analysis runs, so a message that kills the process or runs over its time budget is known at the
-- next start: after two such attempts it goes to quarantine instead of stopping the desk again.
-- PostgreSQL translation of migrations/sqlite/0007_processing_attempts.sql.
ALTER TABLE raw_messages ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
