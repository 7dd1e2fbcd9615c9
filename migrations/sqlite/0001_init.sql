-- mesa-fe: initial schema. Portable SQL (SQLite now, PostgreSQL later): TEXT timestamps in
-- RFC 3339 UTC, INTEGER booleans, JSON kept as TEXT.

-- Every message as received, stored and committed before the mail server is told anything.
CREATE TABLE raw_messages (
    id                INTEGER PRIMARY KEY,
    buzon             TEXT NOT NULL,
    uidvalidity       INTEGER,
    uid               INTEGER,
    message_id        TEXT,
    content_sha256    TEXT NOT NULL,
    size_bytes        INTEGER NOT NULL,
    -- RFC822.SIZE declared by the server when only the headers were kept (over the size limit)
    declared_size     INTEGER,
    received_at       TEXT NOT NULL,
    -- pendiente | procesado | cuarentena | duplicado | ignorado
    status            TEXT NOT NULL DEFAULT 'pendiente',
    status_reason     TEXT,
    duplicate_of      INTEGER REFERENCES raw_messages(id),
    processed_at      TEXT,
    UNIQUE (buzon, uidvalidity, uid)
);
CREATE INDEX raw_messages_message_id ON raw_messages (message_id);
CREATE INDEX raw_messages_sha ON raw_messages (content_sha256);
CREATE INDEX raw_messages_status ON raw_messages (status);

-- The bytes, apart: a status change must not rewrite a 50 KB row (SQLite rewrites whole rows).
CREATE TABLE raw_bodies (
    raw_message_id  INTEGER PRIMARY KEY REFERENCES raw_messages(id),
    raw             BLOB NOT NULL
);

-- Where each buzón's reading stands: the server's UIDVALIDITY and the highest UID stored.
CREATE TABLE buzon_state (
    buzon        TEXT PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

-- Gap-free case numbers per year: incremented inside the transaction that opens the case.
CREATE TABLE case_counters (
    year  INTEGER PRIMARY KEY,
    last  INTEGER NOT NULL
);

CREATE TABLE cases (
    id                     INTEGER PRIMARY KEY,
    number                 TEXT NOT NULL UNIQUE,
    year                   INTEGER NOT NULL,
    status                 TEXT NOT NULL,
    level                  TEXT NOT NULL,
    tema                   TEXT NOT NULL,
    channel                TEXT NOT NULL,
    buzon                  TEXT NOT NULL,
    requester              TEXT NOT NULL,
    requester_name         TEXT,
    subject                TEXT NOT NULL,
    security_category      TEXT,
    group_name             TEXT,
    agent                  TEXT,
    parent_id              INTEGER REFERENCES cases(id),
    external_ref           TEXT,
    first_contact          INTEGER NOT NULL DEFAULT 0,
    -- the engine's accumulated state (requirements supplied, required, rejection reported)
    engine_state           TEXT NOT NULL,
    missing_requirements   TEXT NOT NULL DEFAULT '',
    -- optimistic concurrency: every update checks and bumps it
    version                INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_agent_status ON cases (agent, status);

CREATE TABLE case_messages (
    id                   INTEGER PRIMARY KEY,
    case_id              INTEGER NOT NULL REFERENCES cases(id),
    raw_message_id       INTEGER REFERENCES raw_messages(id),
    -- entrante | saliente
    direction            TEXT NOT NULL,
    message_id           TEXT,
    in_reply_to          TEXT,
    from_addr            TEXT NOT NULL,
    subject              TEXT NOT NULL,
    own_words            TEXT NOT NULL,
    auto_generated       INTEGER NOT NULL DEFAULT 0,
    attachment_problems  TEXT NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id);
CREATE INDEX case_messages_message_id ON case_messages (message_id);
CREATE INDEX case_messages_raw ON case_messages (raw_message_id);

-- Attachment metadata; the bytes stay in raw_messages (no second copy).
CREATE TABLE attachments (
    id               INTEGER PRIMARY KEY,
    case_message_id  INTEGER NOT NULL REFERENCES case_messages(id),
    source           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    sha256           TEXT NOT NULL
);
CREATE INDEX attachments_message ON attachments (case_message_id);

CREATE TABLE documents (
    id                     INTEGER PRIMARY KEY,
    case_message_id        INTEGER NOT NULL REFERENCES case_messages(id),
    case_id                INTEGER NOT NULL REFERENCES cases(id),
    kind                   TEXT NOT NULL,
    type_code              TEXT,
    uuid                   TEXT,
    uuid_scheme            TEXT,
    number                 TEXT,
    issue_date             TEXT,
    environment            TEXT,
    supplier_nit           TEXT,
    customer_nit           TEXT,
    software_provider_nit  TEXT,
    software_id            TEXT,
    payable_amount         TEXT,
    currency               TEXT,
    response_code          TEXT,
    referenced_uuid        TEXT,
    source                 TEXT NOT NULL,
    findings               TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX documents_case ON documents (case_id);
CREATE INDEX documents_uuid ON documents (uuid);

CREATE TABLE rejections (
    id           INTEGER PRIMARY KEY,
    document_id  INTEGER REFERENCES documents(id),
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    code         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX rejections_code ON rejections (code, created_at);
CREATE INDEX rejections_case ON rejections (case_id);

-- The procedure's record: one row per activity (1-12) a case goes through.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    activity     INTEGER NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    from_level   TEXT,
    to_level     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    detail       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX events_case ON events (case_id);

-- Mail to send, written in the same transaction as the state change it reports.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases(id),
    kind             TEXT NOT NULL,
    buzon            TEXT NOT NULL,
    to_addr          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    in_reply_to      TEXT,
    refs             TEXT,
    context          TEXT NOT NULL,
    -- pendiente | enviado | fallo_temporal | fallo_permanente
    status           TEXT NOT NULL DEFAULT 'pendiente',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_case ON outbox (case_id);
CREATE INDEX outbox_recipient ON outbox (to_addr, created_at);

-- The known-error base as loaded (synced from the TOML file at start).
CREATE TABLE known_errors (
    code                   TEXT PRIMARY KEY,
    equivalents            TEXT NOT NULL,
    -- rechazo | notificacion (the usual severity; each DIAN message states its own)
    severity               TEXT NOT NULL,
    official_message       TEXT NOT NULL,
    meaning                TEXT NOT NULL,
    first_contact_answer   TEXT,
    updated_at             TEXT NOT NULL
);
