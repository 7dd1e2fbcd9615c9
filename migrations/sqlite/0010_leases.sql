-- Leases (issue 13): which node reads a buzón or runs a timer when several share one database.
-- expires_ms is the database's clock in milliseconds since the epoch; token grows with every new
-- holder, so a write fenced by an older token is refused.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
