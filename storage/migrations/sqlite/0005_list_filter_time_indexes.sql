-- Filter-then-time indexes for the list and stats reads (see the PostgreSQL migration 0005):
-- a filtered page is one index range in list order, the capped `total` a covering-index count.
CREATE INDEX IF NOT EXISTS idx_fm_run_time ON failure_matches (run_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_category_time ON failure_matches (category, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_error_time ON failure_matches (error_code, created_at DESC, id DESC);
