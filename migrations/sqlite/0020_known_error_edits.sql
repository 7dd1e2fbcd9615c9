-- mesa-fe: proposals to change an entry of the known-error base, made in the console
-- (issue 15, Base de conocimiento). A coordinator approves or rejects them; the base itself is a
-- file the operator edits, so an approved change waits there to be applied.
CREATE TABLE known_error_edits (
    id            INTEGER PRIMARY KEY,
    -- the entry's rule code (FAD06…)
    code          TEXT NOT NULL,
    -- proposed `significado` and `respuesta_primer_contacto` (empty: no first-contact answer)
    meaning       TEXT NOT NULL,
    answer        TEXT NOT NULL,
    proposed_by   TEXT NOT NULL,
    proposed_at   TEXT NOT NULL,
    -- propuesta | aprobada | rechazada
    status        TEXT NOT NULL DEFAULT 'propuesta',
    decided_by    TEXT,
    decided_at    TEXT
);
CREATE INDEX known_error_edits_status ON known_error_edits (status);
