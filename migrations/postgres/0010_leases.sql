-- PostgreSQL translation of migrations/sqlite/0010_leases.sql.
-- Leases (issue 13): which node reads a buzón or runs a timer when several share one database.
-- expires_ms is the database's clock in milliseconds since the epoch; token grows with every new
-- holder, so a write fenced by an older token is refused.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    token BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
