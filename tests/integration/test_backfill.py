"""`failcat backfill FILE.jsonl` on both stores: imports re-matched failures, is idempotent
across runs, reports bad lines by number and field, and keeps each line's created_at."""

import datetime
import json
import os
import resource
import shutil
import subprocess
import tempfile
import unittest
import uuid

from harness import BINARY, CATALOG, DEFAULT_TENANT, Database, Server, main, require_postgres, wait_until

BACKEND = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BackfillTest(unittest.TestCase):
    def setUp(self):
        if BACKEND == "postgres":
            require_postgres(self)
        self.database = Database(BACKEND)
        self.addCleanup(self.database.close)
        self.workdir = tempfile.mkdtemp(prefix="failcat-backfill-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FAILCAT_CATALOG": CATALOG,
            "FAILCAT_SQLITE_PATH": os.path.join(self.workdir, "failcat.db"),
        }
        if self.database.url:
            self.env["DATABASE_URL"] = self.database.url

    def write(self, lines):
        path = os.path.join(self.workdir, "history-%s.jsonl" % uuid.uuid4().hex[:8])
        with open(path, "w") as f:
            for line in lines:
                f.write(line if isinstance(line, str) else json.dumps(line))
                f.write("\n")
        return path

    def backfill(self, path):
        return subprocess.run([BINARY, "backfill", path], env=self.env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=120)

    def server(self):
        server = Server(BACKEND, database=self.database, workdir=self.workdir,
                        env={"FAILCAT_LOG_LEVEL": "warn"})
        server.start()
        self.addCleanup(server.stop)
        client = server.client()
        self.addCleanup(client.close)
        return client

    def test_rollups_of_hours_retention_deletes_are_kept(self):
        # History older than the retention: backfill rolls its hours up; the server's retention
        # then deletes the rows, and its first rollup run (48 h back after a start) must not
        # recompute those hours from what is left of them (nothing).
        created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=30)
        hour = created.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:00:00.000000Z")
        path = self.write([{"run_id": "kept-rollup", "error_code": "HTTP_504", "created_at": rfc3339(created)}])
        out = self.backfill(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        server = Server(BACKEND, database=self.database, workdir=self.workdir,
                        env={"FAILCAT_LOG_LEVEL": "warn", "FAILCAT_RETENTION_DAYS": "1",
                             "FAILCAT_AGGREGATE_INTERVAL_SECONDS": "1"})
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)

        def runs():
            for line in api.get("/metrics").body.splitlines():
                if line.startswith('failcat_aggregator_runs_total{outcome="success"}'):
                    return int(float(line.split()[-1]))
            return 0
        wait_until(lambda: runs() >= 2, timeout=30, message="two aggregator runs")
        wait_until(lambda: self.list_run(api, "kept-rollup")["total"] == 0, timeout=30, message="retention")
        items = [i for i in api.get("/api/v1/aggregates?since_hours=48").json()["items"]
                 if i["bucket_start"] == hour]
        self.assertEqual([i["failure_count"] for i in items], [1], items)

    def list_run(self, api, run_id):
        r = api.get("/api/v1/failures?since_hours=8760&limit=1000&run_id=" + run_id)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_second_run_imports_nothing(self):
        when = rfc3339(datetime.datetime.utcnow() - datetime.timedelta(days=3))
        lines = [
            {"run_id": "bf-1", "error_code": "RATE_LIMITED", "error_message": "429"},
            {"run_id": "bf-1", "error_code": "UNKNOWN_THING", "error_message": "odd", "step_index": 2},
            {"run_id": "bf-1", "error_code": "RATE_LIMITED", "event_id": "evt-1"},
            {"run_id": "bf-1", "error_code": "RATE_LIMITED", "event_id": "evt-2", "created_at": when},
            # The same content as the first line, differently spelled: one failure.
            '{ "error_message": "429", "error_code": "RATE_LIMITED",  "run_id": "bf-1" }',
        ]
        path = self.write(lines)
        first = self.backfill(path)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn("read 5, imported 4, duplicates 1, rejected 0", first.stdout)
        second = self.backfill(path)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertIn("read 5, imported 0, duplicates 5, rejected 0", second.stdout)

        api = self.server()
        page = self.list_run(api, "bf-1")
        self.assertEqual(page["total"], 4)
        by_type = sorted(item["match_type"] for item in page["items"])
        self.assertEqual(by_type, ["exact", "exact", "exact", "miss"])
        for item in page["items"]:
            self.assertEqual(item["tenant_id"], DEFAULT_TENANT)
        # An event_id used by backfill is the same idempotency key the API honours.
        r = api.post("/api/v1/failures", {"run_id": "bf-1", "error_code": "RATE_LIMITED",
                                          "event_id": "evt-1"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.list_run(api, "bf-1")["total"], 4)

    def test_settings_may_come_before_the_file(self):
        path = self.write([{"run_id": "bf-3", "error_code": "RATE_LIMITED"}])
        out = subprocess.run([BINARY, "backfill", "--log-level", "warn", path, "--batch", "10"],
                             env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("read 1, imported 1", out.stdout)

    def test_bad_lines_are_reported_and_good_ones_imported(self):
        path = self.write([
            {"run_id": "bf-2", "error_code": "RATE_LIMITED"},
            {"run_id": "bf-2", "error_code": 42},
            "{not json",
            {"run_id": "bf-2", "error_code": "X", "created_at": "last tuesday"},
            {"run_id": "bf-2", "error_code": "X", "surprise": True},
            {"run_id": "bf-2", "error_code": "TOOL_TIMEOUT", "skill_id": "s"},
        ])
        out = self.backfill(path)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("read 6, imported 2, duplicates 0, rejected 4", out.stdout)
        self.assertIn("line 2: error_code", out.stderr)
        self.assertIn("line 3: body", out.stderr)
        self.assertIn("line 4: created_at", out.stderr)
        self.assertIn("line 5: surprise", out.stderr)
        api = self.server()
        self.assertEqual(self.list_run(api, "bf-2")["total"], 2)

    def test_a_huge_line_is_skipped_in_bounded_memory(self):
        # 128 MiB on one line, then a good one: the line is reported, the next one imported,
        # and the import never holds the long line (its address space is capped at 160 MiB).
        path = self.write([])
        with open(path, "w") as f:
            f.write('{"run_id": "bf-huge", "error_code": "' + "E" * (128 << 20) + '"}\n')
            f.write(json.dumps({"run_id": "bf-huge", "error_code": "RATE_LIMITED"}) + "\n")
        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (160 << 20, 160 << 20))
        out = subprocess.run([BINARY, "backfill", path], env=self.env, cwd=self.workdir,
                             capture_output=True, text=True, timeout=120, preexec_fn=cap)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("read 2, imported 1, duplicates 0, rejected 1", out.stdout)
        self.assertIn("line 1", out.stderr)
        api = self.server()
        self.assertEqual(self.list_run(api, "bf-huge")["total"], 1)

    def test_migrate_reports_a_schema_this_failcat_did_not_write(self):
        def migrate(*args):
            return subprocess.run([BINARY, "migrate"] + list(args), env=self.env, cwd=self.workdir,
                                  capture_output=True, text=True, timeout=120)
        first = migrate()
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(migrate("--status").returncode, 0)
        # A newer failcat's migration, and a shipped one applied with another text.
        sqls = ["INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES (99, 'from_the_future', 'abc', '2026-01-01T00:00:00.000000Z')",
                "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3"]
        for sql in sqls:
            if BACKEND == "postgres":
                self.database.query(sql)
            else:
                subprocess.run(["sqlite3", self.env["FAILCAT_SQLITE_PATH"], sql], check=True, timeout=30)
        for args in ((), ("--status",)):
            with self.subTest(args=args):
                out = migrate(*args)
                self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
                self.assertIn("migration 99 (from_the_future) is applied but unknown", out.stderr)
                self.assertIn("migration 3 (", out.stderr)
                self.assertIn("another text", out.stderr)
        self.assertIn("unknown 99 from_the_future", migrate("--status").stdout)

    def test_created_at_is_honoured(self):
        when = datetime.datetime.utcnow().replace(microsecond=123000) - datetime.timedelta(days=40, hours=5)
        path = self.write([{"run_id": "bf-3", "error_code": "RATE_LIMITED", "created_at": rfc3339(when)},
                           {"run_id": "bf-3", "error_code": "RATE_LIMITED",
                            "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.123+02:00")}])
        out = self.backfill(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        api = self.server()
        items = self.list_run(api, "bf-3")["items"]
        self.assertEqual(len(items), 2)
        got = sorted(items, key=lambda i: i["created_at"])
        expect_utc = [when - datetime.timedelta(hours=2), when]
        for item, expected in zip(got, expect_utc):
            self.assertEqual(item["created_at"], rfc3339(expected))
            self.assertEqual(item["updated_at"], item["created_at"])
            # A UUIDv7 carries its creation millisecond in the first 48 bits.
            millis = int(item["id"].replace("-", "")[:12], 16)
            epoch = datetime.datetime(1970, 1, 1)
            self.assertEqual(millis, int((expected - epoch).total_seconds() * 1000))
            self.assertEqual(uuid.UUID(item["id"]).version, 7)
            one = api.get("/api/v1/failures/" + item["id"])
            self.assertEqual(one.status, 200, one)
            self.assertEqual(one.json()["created_at"], item["created_at"])
        # Stats count it in the window that holds it, not in the last day.
        recent = api.get("/api/v1/failures/stats?since_hours=24").json()
        self.assertEqual(recent["total"], 0)
        older = api.get("/api/v1/failures/stats?since_hours=2000").json()
        self.assertEqual(older["total"], 2)
        # The hourly rollups of those hours exist too: the backfill recomputed them (the
        # server's aggregator only reaches back two days).
        rollups = api.get("/api/v1/aggregates?since_hours=2000").json()["items"]
        self.assertEqual(sum(i["failure_count"] for i in rollups), 2, rollups)
        self.assertEqual(len({i["bucket_start"] for i in rollups}), 2, rollups)


if __name__ == "__main__":
    main()
