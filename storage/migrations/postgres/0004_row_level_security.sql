-- Row-level security on tenant_id: defence in depth behind the API's tenant checks. Every
-- transaction of the service sets `failcat.tenant` (transaction-local) to the caller's tenant,
-- or to '*' for an admin or a job that spans tenants (rollups, retention). Without the setting
-- no row is visible or writable. FORCE makes the table owner obey the policies too; only a
-- superuser or a BYPASSRLS role skips them, so the service must run as neither.
CREATE OR REPLACE FUNCTION failcat_tenant_allows(row_tenant uuid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT current_setting('failcat.tenant', true) = '*'
        OR row_tenant = nullif(nullif(current_setting('failcat.tenant', true), ''), '*')::uuid
$$;

ALTER TABLE failure_matches ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_matches FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS failcat_tenant_isolation ON failure_matches;
CREATE POLICY failcat_tenant_isolation ON failure_matches
    USING (failcat_tenant_allows(tenant_id)) WITH CHECK (failcat_tenant_allows(tenant_id));

ALTER TABLE failure_recovery_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_recovery_events FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS failcat_tenant_isolation ON failure_recovery_events;
CREATE POLICY failcat_tenant_isolation ON failure_recovery_events
    USING (failcat_tenant_allows(tenant_id)) WITH CHECK (failcat_tenant_allows(tenant_id));

ALTER TABLE failure_aggregates ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_aggregates FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS failcat_tenant_isolation ON failure_aggregates;
CREATE POLICY failcat_tenant_isolation ON failure_aggregates
    USING (failcat_tenant_allows(tenant_id)) WITH CHECK (failcat_tenant_allows(tenant_id));

ALTER TABLE failure_idempotency ENABLE ROW LEVEL SECURITY;
ALTER TABLE failure_idempotency FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS failcat_tenant_isolation ON failure_idempotency;
CREATE POLICY failcat_tenant_isolation ON failure_idempotency
    USING (failcat_tenant_allows(tenant_id)) WITH CHECK (failcat_tenant_allows(tenant_id));
