-- When each recovery change was recorded (the store writes it): the aggregator looks up the
-- hours whose recoveries changed since its last run, to recompute their rollups'
-- recovered_count. Earlier events stay NULL.
ALTER TABLE failure_recovery_events ADD COLUMN recorded_at TEXT;
CREATE INDEX IF NOT EXISTS idx_fre_recorded_at ON failure_recovery_events (recorded_at);
