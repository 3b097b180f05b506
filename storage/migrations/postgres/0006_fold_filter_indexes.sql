-- Every index on failure_matches is maintained by every insert: index upkeep was most of
-- PostgreSQL's CPU while ingest drained. The seed's single-column run_id, category and
-- error_code indexes are prefixes of migration 0005's filter-then-time indexes, which serve
-- every query the single-column ones did (an equality on the leading column) and the list
-- order as well. So each seed name now carries the filter-then-time definition: the single-
-- column index is dropped and the 0005 index, already built, is renamed to the seed's name
-- (no rebuild). Guarded, so running it again changes nothing.
DO $$
BEGIN
    IF to_regclass('idx_fm_run_time') IS NOT NULL THEN
        DROP INDEX IF EXISTS idx_fm_run_id;
        ALTER INDEX idx_fm_run_time RENAME TO idx_fm_run_id;
    END IF;
    IF to_regclass('idx_fm_category_time') IS NOT NULL THEN
        DROP INDEX IF EXISTS idx_fm_category;
        ALTER INDEX idx_fm_category_time RENAME TO idx_fm_category;
    END IF;
    IF to_regclass('idx_fm_error_time') IS NOT NULL THEN
        DROP INDEX IF EXISTS idx_fm_error_code;
        ALTER INDEX idx_fm_error_time RENAME TO idx_fm_error_code;
    END IF;
END
$$;
