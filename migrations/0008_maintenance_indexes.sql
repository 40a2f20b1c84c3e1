-- What gc and verify read, from indexes rather than by sorting or scanning
-- whole tables (bench/scale.sh measured both on a million artifacts).
--
-- Eviction (gc, max_cache_size) takes held artifacts least recently used
-- first, a batch at a time; without artifacts_lru each batch sorted every
-- held row. The expression is the one storage's lruHeldQuery orders by,
-- character for character, so that SQLite and PostgreSQL both match it to
-- the index.
CREATE INDEX artifacts_lru ON artifacts (
    (CASE WHEN last_served_at > last_fetched_at THEN last_served_at ELSE last_fetched_at END),
    registry, path)
    WHERE sha256 IS NOT NULL;

-- Verify walks the rows in digest order a page at a time, and gc asks
-- whether a batch of blobs is still named by any row: documents by their
-- body as artifacts_by_sha256 does for artifacts.
CREATE INDEX documents_by_body ON documents (body_sha256);
