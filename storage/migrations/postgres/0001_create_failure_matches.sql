-- The failure_matches table of the design note: 23 columns, 12 indexes (two partial).
-- tenant_id is still nullable here; migration 2 backfills and enforces it.
CREATE TABLE IF NOT EXISTS failure_matches (
    id                  UUID PRIMARY KEY,
    run_id              VARCHAR(255) NOT NULL,
    tenant_id           UUID,
    error_code          VARCHAR(255) NOT NULL,
    error_message       TEXT,
    catalog_entry_id    VARCHAR(100),
    match_type          VARCHAR(20),
    match_confidence    DOUBLE PRECISION,
    category            VARCHAR(50),
    severity            VARCHAR(20),
    is_retryable        BOOLEAN NOT NULL DEFAULT FALSE,
    recovery_mode       VARCHAR(50),
    recovery_suggestion TEXT,
    recovery_attempted  BOOLEAN NOT NULL DEFAULT FALSE,
    recovery_succeeded  BOOLEAN NOT NULL DEFAULT FALSE,
    recovered_at        TIMESTAMPTZ,
    recovered_by        VARCHAR(100),
    recovery_notes      TEXT,
    skill_id            VARCHAR(100),
    step_index          INTEGER,
    context_json        JSONB,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_fm_run_id ON failure_matches (run_id);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_id ON failure_matches (tenant_id);
CREATE INDEX IF NOT EXISTS idx_fm_error_code ON failure_matches (error_code);
CREATE INDEX IF NOT EXISTS idx_fm_catalog_entry_id ON failure_matches (catalog_entry_id);
-- (created_at, id) rather than created_at alone: it serves keyset paging in list order.
CREATE INDEX IF NOT EXISTS idx_fm_created_at ON failure_matches (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_category ON failure_matches (category);
CREATE INDEX IF NOT EXISTS idx_fm_severity ON failure_matches (severity);
CREATE INDEX IF NOT EXISTS idx_fm_recovery_mode ON failure_matches (recovery_mode);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_error ON failure_matches (tenant_id, error_code);
CREATE INDEX IF NOT EXISTS idx_fm_tenant_time ON failure_matches (tenant_id, created_at DESC, id DESC);
-- Partial indexes carry no now(): the time window is applied at query time.
CREATE INDEX IF NOT EXISTS idx_fm_recovery_pending ON failure_matches (tenant_id, created_at DESC)
    WHERE recovery_succeeded = false;
CREATE INDEX IF NOT EXISTS idx_fm_recent_misses ON failure_matches (created_at DESC)
    WHERE catalog_entry_id IS NULL;
