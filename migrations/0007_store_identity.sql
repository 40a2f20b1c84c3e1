-- Which blob store this database's rows point into. The same id is kept as
-- a marker in the blob store itself (larder-store-id beside sha256/), so
-- that a node configured with this database and another blob store (whose
-- rows' blobs it cannot find, and would treat as missing) refuses to start
-- instead of clearing the rows. One row, written once.
CREATE TABLE store_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    store_id   TEXT    NOT NULL,
    created_at BIGINT  NOT NULL -- Unix ms
);
