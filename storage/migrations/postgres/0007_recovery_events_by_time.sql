-- When each recovery change was recorded, by the database's clock: the aggregator looks up the
-- hours whose recoveries changed since its last run, across every tenant and node, to recompute
-- their rollups' recovered_count. `at` is the time the change was asked for, on the clock of
-- the node that took the request, so it cannot serve that lookup. Earlier events stay NULL
-- (a default set afterwards rewrites no rows).
ALTER TABLE failure_recovery_events ADD COLUMN IF NOT EXISTS recorded_at TIMESTAMPTZ;
ALTER TABLE failure_recovery_events ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();
CREATE INDEX IF NOT EXISTS idx_fre_recorded_at ON failure_recovery_events (recorded_at);
