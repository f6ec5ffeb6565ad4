-- description: duplicate groups and their review (issue #20 item 3): dupe_builds are the runs of `dupes rebuild`, dupe_groups/dupe_group_media the groups one run found (labelled with the tier that found them: exact, phash, embedding), dupe_not_duplicates the pairs a person said are not duplicates, which no later run groups again
-- A run writes its groups in short batches under a new build id and then,
-- in one short transaction, marks itself finished and drops the groups of
-- older builds: readers see the newest finished build only, never half of
-- a run.
CREATE TABLE IF NOT EXISTS dupe_builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    stats_json  TEXT
);
CREATE TABLE IF NOT EXISTS dupe_groups (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER NOT NULL REFERENCES dupe_builds(id) ON DELETE CASCADE,
    tier     TEXT NOT NULL,
    size     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_dupe_groups_build ON dupe_groups(build_id, tier, id);
CREATE TABLE IF NOT EXISTS dupe_group_media (
    group_id INTEGER NOT NULL REFERENCES dupe_groups(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, media_id)
) WITHOUT ROWID;
-- The groups of one media (a resolve or a dismissal drops them) and the
-- ON DELETE CASCADE of a forgotten media.
CREATE INDEX IF NOT EXISTS idx_dupe_group_media_media ON dupe_group_media(media_id);
-- A pair is stored once, smaller id first.
CREATE TABLE IF NOT EXISTS dupe_not_duplicates (
    media_a    INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    media_b    INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (media_a, media_b),
    CHECK (media_a < media_b)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_dupe_not_duplicates_b ON dupe_not_duplicates(media_b);
