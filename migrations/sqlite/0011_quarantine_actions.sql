-- mesa-fe: what operators did to quarantined messages (issue 14, point 15): `quarantine
-- reprocess` and `quarantine discard`, with who, when, why and what came of it. The raw message's
-- status says where it stands now (a discarded one is `descartado`, its bytes kept until purge).
CREATE TABLE raw_actions (
    id              INTEGER PRIMARY KEY,
    raw_message_id  INTEGER NOT NULL REFERENCES raw_messages(id),
    -- reprocesar | descartar
    action          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT,
    result          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX raw_actions_raw ON raw_actions (raw_message_id);
