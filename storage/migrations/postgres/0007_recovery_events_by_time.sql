-- The aggregator finds the hours whose recoveries changed since its last run, across every
-- tenant, to recompute their rollups' recovered_count (idx_fre_tenant_time leads with the
-- tenant, so it cannot serve that range alone).
CREATE INDEX IF NOT EXISTS idx_fre_at ON failure_recovery_events (at);
