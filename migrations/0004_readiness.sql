-- /readyz writes here: a database that answers reads but refuses writes
-- (a full disk, a file replaced or made read-only under larder) is not ready.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
