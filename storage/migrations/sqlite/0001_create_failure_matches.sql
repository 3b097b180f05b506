-- The failure_matches table in SQLite's types: UUIDs and timestamps as TEXT (fixed-width
-- RFC 3339 UTC with microseconds, which sorts like time), booleans as INTEGER 0/1,
-- context_json as JSON text.
CREATE TABLE IF NOT EXISTS failure_matches (
    id                  TEXT PRIMARY KEY NOT NULL,
    run_id              TEXT NOT NULL,
    tenant_id           TEXT,
    error_code          TEXT NOT NULL,
    error_message       TEXT,
    catalog_entry_id    TEXT,
    match_type          TEXT,
    match_confidence    REAL,
    category            TEXT,
    severity            TEXT,
    is_retryable        INTEGER NOT NULL DEFAULT 0,
    recovery_mode       TEXT,
    recovery_suggestion TEXT,
    recovery_attempted  INTEGER NOT NULL DEFAULT 0,
    recovery_succeeded  INTEGER NOT NULL DEFAULT 0,
    recovered_at        TEXT,
    recovered_by        TEXT,
    recovery_notes      TEXT,
    skill_id            TEXT,
    step_index          INTEGER,
    context_json        TEXT,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);

CREATE INDEX IF NOT EXISTS idx_fm_run_id ON failure_matches (run_id);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_id ON failure_matches (tenant_id);
CREATE INDEX IF NOT EXISTS idx_fm_error_code ON failure_matches (error_code);
CREATE INDEX IF NOT EXISTS idx_fm_catalog_entry_id ON failure_matches (catalog_entry_id);
CREATE INDEX IF NOT EXISTS idx_fm_created_at ON failure_matches (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_category ON failure_matches (category);
CREATE INDEX IF NOT EXISTS idx_fm_severity ON failure_matches (severity);
CREATE INDEX IF NOT EXISTS idx_fm_recovery_mode ON failure_matches (recovery_mode);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_error ON failure_matches (tenant_id, error_code);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_time ON failure_matches (tenant_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_recovery_pending ON failure_matches (tenant_id, created_at DESC)
    WHERE recovery_succeeded = 0;
CREATE INDEX IF NOT EXISTS idx_fm_recent_misses ON failure_matches (created_at DESC)
    WHERE catalog_entry_id IS NULL;
