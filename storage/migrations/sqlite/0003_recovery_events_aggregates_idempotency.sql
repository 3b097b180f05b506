CREATE TABLE IF NOT EXISTS failure_recovery_events (
    event_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    failure_id     TEXT NOT NULL REFERENCES failure_matches (id) ON DELETE CASCADE,
    tenant_id      TEXT NOT NULL,
    actor          TEXT NOT NULL,
    old_attempted  INTEGER NOT NULL,
    old_succeeded  INTEGER NOT NULL,
    new_attempted  INTEGER NOT NULL,
    new_succeeded  INTEGER NOT NULL,
    notes          TEXT,
    at             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_fre_failure ON failure_recovery_events (failure_id, event_id);
CREATE INDEX IF NOT EXISTS idx_fre_tenant_time ON failure_recovery_events (tenant_id, at);

CREATE TRIGGER IF NOT EXISTS trg_fre_append_only BEFORE UPDATE ON failure_recovery_events
BEGIN
    SELECT RAISE(ABORT, 'failure_recovery_events is append-only');
END;

CREATE TABLE IF NOT EXISTS failure_aggregates (
    bucket_start     TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    error_code       TEXT NOT NULL,
    catalog_entry_id TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL DEFAULT '',
    match_type       TEXT NOT NULL DEFAULT '',
    failure_count    INTEGER NOT NULL,
    recovered_count  INTEGER NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (bucket_start, tenant_id, error_code, catalog_entry_id, category, match_type)
);
CREATE INDEX IF NOT EXISTS idx_fa_tenant_bucket ON failure_aggregates (tenant_id, bucket_start);

CREATE TABLE IF NOT EXISTS failure_idempotency (
    tenant_id   TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    failure_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idx_fi_created_at ON failure_idempotency (created_at);
