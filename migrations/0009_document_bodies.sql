-- Bodies of small metadata documents, kept beside their rows: a document
-- fetched cold is then one transaction (its body, its row and the artifacts
-- it announces) instead of a blob file with its own fsyncs first. Larger
-- bodies stay in the blob store. documents.body_sha256 names a body either
-- way; a body here is dropped by gc once no document names it.
CREATE TABLE document_bodies (
    sha256     TEXT   NOT NULL PRIMARY KEY,
    body       BYTEA  NOT NULL,  -- BYTEA for PostgreSQL; SQLite keeps the bytes as given
    stored_at  BIGINT NOT NULL   -- Unix ms, renewed when a document names it again
);
