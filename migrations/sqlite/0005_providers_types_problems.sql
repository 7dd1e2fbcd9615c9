-- mesa-fe: who writes to which buzón, case types, problems to known errors (issue 7).

-- The registry of technology providers imported from CSV (`mesa-fe proveedores importar`),
-- replaced whole in one transaction. Providers from the configuration are added at load time.
CREATE TABLE providers (
    nit          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- ';'-separated, lower-case
    domains      TEXT NOT NULL DEFAULT '',
    addresses    TEXT NOT NULL DEFAULT '',
    active       INTEGER NOT NULL DEFAULT 1,
    imported_at  TEXT NOT NULL
);

-- incidente | requerimiento | cambio | problema ("Crear Relacionado a" of the procedure)
ALTER TABLE cases ADD COLUMN case_type TEXT NOT NULL DEFAULT 'incidente';
-- The registered provider the requester is (NIT), when recognised.
ALTER TABLE cases ADD COLUMN provider_nit TEXT;
-- Root cause of a problema (`#causa`).
ALTER TABLE cases ADD COLUMN root_cause TEXT;
CREATE INDEX cases_type ON cases (case_type);
CREATE INDEX cases_channel ON cases (channel);

-- Known-error entries proposed when a problema is solved; approved ones answer at first contact.
CREATE TABLE known_error_proposals (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL REFERENCES cases(id),
    -- DIAN rule codes it matches, comma-separated
    codes         TEXT NOT NULL,
    -- the error text it matches when there is no code
    error_text    TEXT NOT NULL DEFAULT '',
    root_cause    TEXT NOT NULL,
    answer        TEXT NOT NULL,
    -- propuesta | aprobada | rechazada
    status        TEXT NOT NULL DEFAULT 'propuesta',
    proposed_at   TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    TEXT
);
CREATE INDEX known_error_proposals_status ON known_error_proposals (status);
