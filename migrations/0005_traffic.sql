-- Requests each registry answered, by minute: from the cache (HIT,
-- REVALIDATED, STALE) and from the upstream (MISS). The UI's hit ratios and
-- its 24-hour and 7-day charts read these, so they survive a restart; rows
-- older than about a week are pruned.
CREATE TABLE traffic (
    registry TEXT   NOT NULL,
    minute   BIGINT NOT NULL, -- Unix time / 60
    cached   BIGINT NOT NULL DEFAULT 0,
    upstream BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (registry, minute)
);
