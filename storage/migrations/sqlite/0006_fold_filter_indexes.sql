-- The seed's single-column run_id, category and error_code indexes are prefixes of migration
-- 0005's filter-then-time indexes (see the PostgreSQL migration 0006): each seed name now
-- carries the filter-then-time definition, so every insert maintains three indexes fewer.
-- SQLite cannot rename an index, so each is rebuilt once under the seed's name.
DROP INDEX IF EXISTS idx_fm_run_id;
CREATE INDEX idx_fm_run_id ON failure_matches (run_id, created_at DESC, id DESC);
DROP INDEX IF EXISTS idx_fm_run_time;
DROP INDEX IF EXISTS idx_fm_category;
CREATE INDEX idx_fm_category ON failure_matches (category, created_at DESC, id DESC);
DROP INDEX IF EXISTS idx_fm_category_time;
DROP INDEX IF EXISTS idx_fm_error_code;
CREATE INDEX idx_fm_error_code ON failure_matches (error_code, created_at DESC, id DESC);
DROP INDEX IF EXISTS idx_fm_error_time;
