-- Most artifact rows are announced, not held: a document names every
-- version's file and sha256 stays NULL until its bytes are kept. Every
-- query by digest (=, a range, IN, IS NOT NULL) wants only held rows, so
-- the index keeps only those: announcing a packument of hundreds of
-- versions no longer writes an index entry for each.
DROP INDEX artifacts_by_sha256;
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256) WHERE sha256 IS NOT NULL;
