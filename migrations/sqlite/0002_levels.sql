-- mesa-fe: levels N2 → N3 → Administración Técnica, agent actions, control posterior, mass
-- incidents and the first-contact guide (issue 5).

-- When the solution was delivered and until when the requester may answer before it closes
-- (activity 12). Both NULL while the case is not solucionado.
ALTER TABLE cases ADD COLUMN solved_at TEXT;
ALTER TABLE cases ADD COLUMN follow_up_until TEXT;
CREATE INDEX cases_follow_up ON cases (status, follow_up_until);
CREATE INDEX cases_parent ON cases (parent_id);
CREATE INDEX cases_external_ref ON cases (external_ref);

-- What people did on a case, by e-mail or CLI: notes (at N2, the diagnosis), solutions,
-- escalations, questions, assignments, links, closings. Refused commands are kept too.
CREATE TABLE case_actions (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases(id),
    -- the e-mail that carried it (NULL when given by CLI)
    raw_message_id   INTEGER REFERENCES raw_messages(id),
    actor            TEXT NOT NULL,
    -- correo | cli
    via              TEXT NOT NULL,
    -- level of the case when the action was taken
    level            TEXT NOT NULL,
    -- nota | solucion | escalar | info | asignar | padre | cerrar | reabrir | desconocido | validacion
    command          TEXT NOT NULL,
    argument         TEXT,
    text             TEXT NOT NULL,
    -- 1 when the engine refused it (the reason is in the event log)
    refused          INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);
CREATE INDEX case_actions_case ON case_actions (case_id);

-- Solutions an agent marked for first contact (`#solucion primer-contacto`): with the known
-- errors, the CT-CAC-0127 guide that `kb export` writes for the Contact Center.
CREATE TABLE first_contact_solutions (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    tema        TEXT NOT NULL,
    -- DIAN rule codes seen on the case, comma-separated (may be empty)
    codes       TEXT NOT NULL,
    question    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Suggestions of a mass incident sent to a coordinator: one per rule code and window.
CREATE TABLE mass_suggestions (
    id           INTEGER PRIMARY KEY,
    code         TEXT NOT NULL,
    case_count   INTEGER NOT NULL,
    coordinator  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX mass_suggestions_code ON mass_suggestions (code, created_at);
