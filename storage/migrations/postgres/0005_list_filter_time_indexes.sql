-- Filter-then-time indexes for the list and stats reads. With the default 24-hour window every
-- list filter also bounds created_at, so a filter column alone makes PostgreSQL fetch every
-- matching heap row to count them (the capped `total`) and sort them (the page). Led by the
-- filter and followed by the list order, these serve a page as one index range in list order
-- and the capped count as an index-only scan. The error_code one also lets the stats' top error
-- codes aggregate the window in index order instead of hashing it. The seed's single-column
-- indexes stay (the design note names them).
CREATE INDEX IF NOT EXISTS idx_fm_run_time ON failure_matches (run_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_category_time ON failure_matches (category, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_fm_error_time ON failure_matches (error_code, created_at DESC, id DESC);
