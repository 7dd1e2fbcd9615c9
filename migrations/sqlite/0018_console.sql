-- mesa-fe: the web console (issue 15). People sign in with a single-use link mailed to their
-- address; the link and the session are kept only as the SHA-256 of their random token, so a
-- copy of the database opens no session.
CREATE TABLE console_links (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    address     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    -- set on first use: a link opens one session
    used_at     TEXT
);
CREATE INDEX console_links_address ON console_links (address, created_at);

CREATE TABLE console_sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    address       TEXT NOT NULL,
    -- the token every form of this session carries (CSRF)
    csrf          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    -- `mesa-fe sesiones revocar CORREO` or signing out
    revoked_at    TEXT
);
CREATE INDEX console_sessions_address ON console_sessions (address);
