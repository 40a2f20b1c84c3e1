-- When each release of a package was published, for the release-age policy
-- (min_release_age) and the /@{date}/ views. A release is what the
-- ecosystem dates: an npm or Go version, a PyPI file. published_at is the
-- upstream's own time when its protocol carries one (npm's time, PEP 700
-- upload-time, a Go version's .info Time), else 0; first_seen_at is when
-- larder first saw the release named. The first row recorded wins: an
-- upstream cannot move a release's date once larder has seen it.
CREATE TABLE releases (
    registry      TEXT   NOT NULL,
    package       TEXT   NOT NULL,
    release       TEXT   NOT NULL,
    version       TEXT   NOT NULL,
    published_at  BIGINT NOT NULL DEFAULT 0, -- Unix ms; 0: the upstream gave none
    first_seen_at BIGINT NOT NULL,           -- Unix ms
    PRIMARY KEY (registry, package, release)
);
