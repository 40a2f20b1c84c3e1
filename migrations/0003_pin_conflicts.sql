-- First-seen pinning: when an upstream later declares other bytes for a
-- version larder already holds, larder keeps serving what it pinned and
-- records the attempt here (and in /metrics, and in the UI).
CREATE TABLE pin_conflicts (
    registry          TEXT    NOT NULL,
    path              TEXT    NOT NULL,
    package           TEXT    NOT NULL,
    pinned_integrity  TEXT    NOT NULL,
    offered_integrity TEXT    NOT NULL,
    first_seen_at     BIGINT  NOT NULL,
    last_seen_at      BIGINT  NOT NULL,
    times             BIGINT  NOT NULL DEFAULT 1,
    PRIMARY KEY (registry, path, offered_integrity)
);
CREATE INDEX pin_conflicts_by_package ON pin_conflicts (registry, package);
