-- mesa-fe: operations (issue 6): SLA clocks and breaches, retention purge.

-- When the case reached its current level: the SLA clocks of that level start here.
ALTER TABLE cases ADD COLUMN level_since TEXT;
UPDATE cases SET level_since = updated_at;

-- A target that passed: one row per case, level and target, recorded once.
CREATE TABLE sla_breaches (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    level        TEXT NOT NULL,
    -- primera_respuesta | solucion
    target       TEXT NOT NULL,
    due_at       TEXT NOT NULL,
    detected_at  TEXT NOT NULL,
    UNIQUE (case_id, level, target)
);
CREATE INDEX sla_breaches_detected ON sla_breaches (detected_at);

-- When the bodies and attachments of a closed case were removed (retention); the case record and
-- its event log stay.
ALTER TABLE cases ADD COLUMN purged_at TEXT;
