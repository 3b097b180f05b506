"""PostgreSQL row-level security (migration 0004): an owner role migrates, a service role that
neither owns the tables nor bypasses RLS serves, and one tenant's context can neither read nor
write another tenant's rows. PostgreSQL only; the SQLite variant is skipped."""

import os
import subprocess
import unittest
import urllib.parse
import uuid

from harness import (BINARY, CATALOG, Server, failure, postgres_url, psql, require_postgres, wait_until)
from test_security import KeysFile, grants_sql

TENANT_A = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
TENANT_B = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
TABLES = ["failure_matches", "failure_recovery_events", "failure_aggregates", "failure_idempotency"]


def url_for(base, user, password, database):
    parsed = urllib.parse.urlparse(base)
    netloc = "%s:%s@%s" % (user, password, parsed.hostname + (":%d" % parsed.port if parsed.port else ""))
    return urllib.parse.urlunparse(parsed._replace(netloc=netloc, path="/" + database))


def psql_fails(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    return out.returncode != 0, out.stderr


class RowLevelSecurity(unittest.TestCase):
    backend = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")

    def setUp(self):
        if self.backend != "postgres":
            raise unittest.SkipTest("row-level security is a PostgreSQL feature")
        require_postgres(self)
        base = postgres_url()
        suffix = uuid.uuid4().hex[:10]
        self.owner = "fc_owner_" + suffix
        self.service = "fc_service_" + suffix
        self.db = "failcat_rls_" + suffix
        self.owner_password = "owner-pw-" + uuid.uuid4().hex
        self.service_password = "svc-pw-" + uuid.uuid4().hex
        psql(base, "CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '%s'" % (self.owner, self.owner_password))
        psql(base, "CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '%s'" % (self.service, self.service_password))
        psql(base, "CREATE DATABASE %s OWNER %s" % (self.db, self.owner))
        self.addCleanup(self._drop, base)
        self.owner_url = url_for(base, self.owner, self.owner_password, self.db)
        self.service_url = url_for(base, self.service, self.service_password, self.db)
        self.super_url = urllib.parse.urlunparse(urllib.parse.urlparse(base)._replace(path="/" + self.db))

        # The owner migrates, then grants the service role what it needs (docs/security.md).
        out = subprocess.run([BINARY, "migrate"], env={"PATH": os.environ.get("PATH", ""), "FAILCAT_CATALOG": CATALOG,
                                                        "DATABASE_URL": self.owner_url},
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        psql(self.owner_url, grants_sql(self.service))

    def _drop(self, base):
        try:
            psql(base, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)
        finally:
            for role in (self.service, self.owner):
                psql(base, "DROP ROLE IF EXISTS %s" % role)

    def as_tenant(self, url, tenant, sql):
        """Runs `sql` in one transaction whose RLS context is `tenant` (None: unset)."""
        prefix = "" if tenant is None else "SET LOCAL failcat.tenant = '%s';" % tenant
        return psql(url, "BEGIN;" + prefix + sql + ";COMMIT;").splitlines()

    def seed(self):
        """Two failures (A, B), each with an audit event, an aggregate and an idempotency key."""
        rows = []
        for tenant, fid in ((TENANT_A, str(uuid.uuid4())), (TENANT_B, str(uuid.uuid4()))):
            rows.append(fid)
            self.as_tenant(self.owner_url, "*", (
                "INSERT INTO failure_matches (id, run_id, tenant_id, error_code) VALUES ('{f}', 'r', '{t}', 'E');"
                "INSERT INTO failure_recovery_events (failure_id, tenant_id, actor, old_attempted, old_succeeded,"
                " new_attempted, new_succeeded) VALUES ('{f}', '{t}', 'x', false, false, true, true);"
                "INSERT INTO failure_aggregates (bucket_start, tenant_id, error_code, failure_count, recovered_count)"
                " VALUES (date_trunc('hour', now()), '{t}', 'E', 1, 0);"
                "INSERT INTO failure_idempotency (tenant_id, idem_key, failure_id) VALUES ('{t}', 'k', '{f}')"
            ).format(f=fid, t=tenant))
        return rows

    def test_service_role_is_neither_owner_nor_bypassrls(self):
        flags = psql(self.super_url, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '%s'" % self.service)
        self.assertEqual(flags, "f|f")
        for table in TABLES:
            info = psql(self.super_url, "SELECT tableowner, rowsecurity FROM pg_tables WHERE tablename = '%s'" % table)
            self.assertEqual(info, "%s|t" % self.owner, table)
            forced = psql(self.super_url, "SELECT relforcerowsecurity FROM pg_class WHERE relname = '%s'" % table)
            self.assertEqual(forced, "t", table)
        failed, err = psql_fails(self.service_url, "ALTER TABLE failure_matches DISABLE ROW LEVEL SECURITY")
        self.assertTrue(failed)
        self.assertIn("must be owner", err)

    def test_a_tenant_context_reads_only_its_rows(self):
        a_id, b_id = self.seed()
        for table in TABLES:
            self.assertEqual(self.as_tenant(self.service_url, TENANT_A, "SELECT count(*) FROM " + table), ["1"], table)
            self.assertEqual(self.as_tenant(self.service_url, TENANT_A,
                                            "SELECT count(*) FROM %s WHERE tenant_id = '%s'" % (table, TENANT_B)),
                             ["0"], table)
            self.assertEqual(self.as_tenant(self.service_url, "*", "SELECT count(*) FROM " + table), ["2"], table)
            # No context at all: nothing is visible.
            self.assertEqual(self.as_tenant(self.service_url, None, "SELECT count(*) FROM " + table), ["0"], table)
        self.assertEqual(self.as_tenant(self.service_url, TENANT_A,
                                        "SELECT count(*) FROM failure_matches WHERE id = '%s'" % b_id), ["0"])
        # The owner obeys the policies too (FORCE ROW LEVEL SECURITY).
        self.assertEqual(self.as_tenant(self.owner_url, TENANT_A, "SELECT count(*) FROM failure_matches"), ["1"])
        self.assertEqual(self.as_tenant(self.owner_url, None, "SELECT count(*) FROM failure_matches"), ["0"])

    def test_a_tenant_context_cannot_write_another_tenants_rows(self):
        a_id, b_id = self.seed()
        ctx = "BEGIN; SET LOCAL failcat.tenant = '%s';" % TENANT_A
        failed, err = psql_fails(self.service_url, ctx + (
            "INSERT INTO failure_matches (id, run_id, tenant_id, error_code) VALUES ('%s', 'r', '%s', 'E'); COMMIT;"
            % (uuid.uuid4(), TENANT_B)))
        self.assertTrue(failed)
        self.assertIn("row-level security", err)
        failed, err = psql_fails(self.service_url, ctx + (
            "INSERT INTO failure_idempotency (tenant_id, idem_key, failure_id) VALUES ('%s', 'k2', '%s'); COMMIT;"
            % (TENANT_B, b_id)))
        self.assertTrue(failed)
        self.assertIn("row-level security", err)
        # Moving one's own row to another tenant is refused as well.
        failed, err = psql_fails(self.service_url, ctx + (
            "UPDATE failure_matches SET tenant_id = '%s' WHERE id = '%s'; COMMIT;" % (TENANT_B, a_id)))
        self.assertTrue(failed)
        self.assertIn("row-level security", err)
        # Updates and deletes of tenant B's rows touch nothing.
        out = psql(self.service_url, ctx + "UPDATE failure_matches SET recovery_succeeded = true"
                   " WHERE tenant_id = '%s' RETURNING id; COMMIT;" % TENANT_B)
        self.assertEqual(out, "")
        out = psql(self.service_url, ctx + "DELETE FROM failure_matches RETURNING tenant_id; COMMIT;")
        self.assertEqual(out.splitlines(), [TENANT_A])
        self.assertEqual(psql(self.super_url, "SELECT recovery_succeeded FROM failure_matches WHERE id = '%s'" % b_id), "f")

    def test_the_service_serves_every_route_as_the_service_role(self):
        """The store sets the tenant in every transaction: with RLS enforced, ingest, reads,
        recovery, rollups and the start-up migration check all work as the non-owner role."""
        keys = KeysFile(self)
        admin = keys.add("admin", "admin", "*")
        reader_a = keys.add("reader-a", "reader", TENANT_A)
        operator_a = keys.add("operator-a", "operator", TENANT_A)
        ingest_b = keys.add("ingest-b", "ingest", TENANT_B)
        url_file = os.path.join(keys.dir, "database-url")
        with open(url_file, "w") as f:
            f.write(self.service_url + "\n")
        server = Server("postgres", env={"DATABASE_URL_FILE": url_file,
                                         "FAILCAT_API_KEYS_FILE": keys.path,
                                         "FAILCAT_AGGREGATE_INTERVAL_SECONDS": "1"})
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)

        def auth(key):
            return {"Authorization": "Bearer " + key}

        r = api.post("/api/v1/failures", failure(tenant_id=TENANT_A), headers=auth(admin))
        self.assertEqual(r.status, 202, r)
        a_id = r.json()["id"]
        r = api.post("/api/v1/failures/batch", {"failures": [failure(), failure()]}, headers=auth(ingest_b))
        self.assertEqual(r.status, 202, r)
        r = api.post("/api/v1/failures", failure(), headers={**auth(ingest_b), "Idempotency-Key": "once"})
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: api.get("/api/v1/failures?limit=1", headers=auth(admin)).json().get("total") == 4,
                   message="4 stored failures")
        # The idempotency lookup reads failure_idempotency under tenant B's context.
        again = api.post("/api/v1/failures", failure(), headers={**auth(ingest_b), "Idempotency-Key": "once"})
        self.assertEqual(again.status, 202, again)
        self.assertEqual(again.json()["id"], r.json()["id"])

        listed = api.get("/api/v1/failures", headers=auth(reader_a)).json()
        self.assertEqual([i["id"] for i in listed["items"]], [a_id])
        self.assertEqual(api.get("/api/v1/failures/" + a_id, headers=auth(reader_a)).status, 200)
        self.assertEqual(api.get("/api/v1/failures/stats", headers=auth(reader_a)).json()["total"], 1)
        self.assertEqual(api.get("/api/v1/failures/unrecovered", headers=auth(reader_a)).json()["total"], 1)
        patched = api.patch("/api/v1/failures/%s/recovery" % a_id, {"recovery_succeeded": True},
                            headers=auth(operator_a))
        self.assertEqual(patched.status, 200, patched)
        # A state both tenants' rows differ from: only tenant A's changes.
        bulk = api.post("/api/v1/failures/recovery/bulk", {"recovery_succeeded": False}, headers=auth(operator_a))
        self.assertEqual(bulk.json(), {"updated": 1})
        self.assertEqual(psql(self.super_url, "SELECT count(*) FROM failure_recovery_events"), "2")
        self.assertEqual(psql(self.super_url, "SELECT count(*) FROM failure_matches WHERE recovery_attempted"), "1")
        # The aggregator's rollup spans tenants.
        wait_until(lambda: psql(self.super_url, "SELECT count(DISTINCT tenant_id) FROM failure_aggregates") == "2",
                   timeout=30, message="rollups of both tenants")
        aggregates = api.get("/api/v1/aggregates", headers=auth(reader_a)).json()["items"]
        self.assertTrue(aggregates)
        self.assertEqual({a["tenant_id"] for a in aggregates}, {TENANT_A})



if __name__ == "__main__":
    unittest.main(verbosity=2)
