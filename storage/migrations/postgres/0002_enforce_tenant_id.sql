-- The design note's P1: every failure belongs to a tenant. Rows stored before tenants were
-- enforced go to the default tenant.
UPDATE failure_matches
   SET tenant_id = '00000000-0000-0000-0000-000000000000'
 WHERE tenant_id IS NULL;

ALTER TABLE failure_matches ALTER COLUMN tenant_id SET NOT NULL;
