-- Append-only audit trail of recovery changes.
CREATE TABLE IF NOT EXISTS failure_recovery_events (
    event_id       BIGSERIAL PRIMARY KEY,
    failure_id     UUID NOT NULL REFERENCES failure_matches (id) ON DELETE CASCADE,
    tenant_id      UUID NOT NULL,
    actor          VARCHAR(100) NOT NULL,
    old_attempted  BOOLEAN NOT NULL,
    old_succeeded  BOOLEAN NOT NULL,
    new_attempted  BOOLEAN NOT NULL,
    new_succeeded  BOOLEAN NOT NULL,
    notes          TEXT,
    at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_fre_failure ON failure_recovery_events (failure_id, event_id);
CREATE INDEX IF NOT EXISTS idx_fre_tenant_time ON failure_recovery_events (tenant_id, at);

-- Audit rows are never rewritten; they leave only with their failure (retention).
CREATE OR REPLACE FUNCTION failcat_forbid_event_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'failure_recovery_events is append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS trg_fre_append_only ON failure_recovery_events;
CREATE TRIGGER trg_fre_append_only BEFORE UPDATE ON failure_recovery_events
    FOR EACH ROW EXECUTE FUNCTION failcat_forbid_event_update();

-- Hourly rollups written by the aggregator.
CREATE TABLE IF NOT EXISTS failure_aggregates (
    bucket_start     TIMESTAMPTZ NOT NULL,
    tenant_id        UUID NOT NULL,
    error_code       VARCHAR(255) NOT NULL,
    catalog_entry_id VARCHAR(100) NOT NULL DEFAULT '',
    category         VARCHAR(50) NOT NULL DEFAULT '',
    match_type       VARCHAR(20) NOT NULL DEFAULT '',
    failure_count    BIGINT NOT NULL,
    recovered_count  BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket_start, tenant_id, error_code, catalog_entry_id, category, match_type)
);
CREATE INDEX IF NOT EXISTS idx_fa_tenant_bucket ON failure_aggregates (tenant_id, bucket_start);

-- Idempotency keys (Idempotency-Key header or event_id) of ingested failures, per tenant.
CREATE TABLE IF NOT EXISTS failure_idempotency (
    tenant_id   UUID NOT NULL,
    idem_key    VARCHAR(255) NOT NULL,
    failure_id  UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idx_fi_created_at ON failure_idempotency (created_at);
