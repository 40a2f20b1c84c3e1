-- What the UI lists without scanning artifacts: per package, how many files
-- larder holds and their bytes. CommitArtifact adds a file when its sha256
-- goes from NULL to set; ForgetArtifact takes it away again.
ALTER TABLE packages ADD COLUMN files BIGINT NOT NULL DEFAULT 0;
ALTER TABLE packages ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;

UPDATE packages SET
    files = (SELECT COUNT(*) FROM artifacts a
             WHERE a.registry = packages.registry AND a.package = packages.name AND a.sha256 IS NOT NULL),
    bytes = (SELECT COALESCE(SUM(a.size), 0) FROM artifacts a
             WHERE a.registry = packages.registry AND a.package = packages.name AND a.sha256 IS NOT NULL);
