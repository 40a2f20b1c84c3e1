-- Eviction (gc, max_cache_size) takes held artifacts least recently used
-- first, a batch at a time. Without this index each batch sorted every held
-- row: evicting 1% of a million artifacts read and sorted the table some
-- forty times (bench/scale.sh). The expression is the one storage's
-- lruHeld orders by, character for character, so that SQLite and
-- PostgreSQL both match it to the index.
CREATE INDEX artifacts_lru ON artifacts (
    (CASE WHEN last_served_at > last_fetched_at THEN last_served_at ELSE last_fetched_at END),
    registry, path)
    WHERE sha256 IS NOT NULL;
