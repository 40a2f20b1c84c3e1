-- Packages a registry has been asked for: the catalog the UI lists.
CREATE TABLE packages (
    registry        TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    first_seen_at   BIGINT  NOT NULL,          -- unix milliseconds
    last_served_at  BIGINT  NOT NULL DEFAULT 0,
    hits            BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (registry, name)
);

-- Metadata documents (npm packuments, PyPI pages), one row per variant.
-- The body lives in the blob store; the row is written after the blob, so a
-- row never points at a missing body.
CREATE TABLE documents (
    registry        TEXT    NOT NULL,
    doc_key         TEXT    NOT NULL,          -- package name, or an endpoint such as "-/npm/v1/keys"
    variant         TEXT    NOT NULL,          -- "full", "abbreviated", "json", ...
    body_sha256     TEXT    NOT NULL,
    body_size       BIGINT  NOT NULL,
    content_type    TEXT    NOT NULL,
    etag            TEXT    NOT NULL DEFAULT '', -- the upstream's validators
    last_modified   TEXT    NOT NULL DEFAULT '',
    serial          BIGINT  NOT NULL DEFAULT 0,  -- X-PyPI-Last-Serial, never goes back
    fetched_at      BIGINT  NOT NULL,            -- last time the upstream confirmed this body
    PRIMARY KEY (registry, doc_key, variant)
);

-- Artifacts (tarballs, wheels, ...) the upstream documents announced. A row
-- exists as soon as a document names the file; sha256 is set only once the
-- verified bytes are in the blob store.
CREATE TABLE artifacts (
    registry          TEXT    NOT NULL,
    path              TEXT    NOT NULL,        -- the file's path under the registry's mount
    package           TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    upstream_url      TEXT    NOT NULL,
    integrity         TEXT    NOT NULL DEFAULT '', -- what the upstream declared, e.g. "sha512-..." or "sha256=..."
    sha256            TEXT,
    size              BIGINT,
    first_fetched_at  BIGINT  NOT NULL DEFAULT 0,
    last_fetched_at   BIGINT  NOT NULL DEFAULT 0,
    last_served_at    BIGINT  NOT NULL DEFAULT 0,
    hits              BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (registry, path)
);
CREATE INDEX artifacts_by_package ON artifacts (registry, package);
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256);
