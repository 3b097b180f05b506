"""Periodic jobs over the real binary: hourly rollups, NDJSON exports, retention, and the
signed miss-rate webhook."""

import datetime
import glob
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

import harness

SECRET = "whsec-test-9f8e7d"


class WebhookReceiver:
    """A loopback HTTP server that records every POST."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class HookedCase(harness.ServiceTestCase):
    """A server whose jobs run every second and whose alerts go to a local receiver."""

    def setUp(self):
        pass  # each test (or subclass) starts its server with `start_with`

    def start_with(self, **settings):
        """Starts the server with these settings on top (None removes one)."""
        self.hook = WebhookReceiver()
        self.addCleanup(self.hook.close)
        env = {
            "FAILCAT_AGGREGATE_INTERVAL_SECONDS": "1",
            "FAILCAT_WEBHOOK_URL": self.hook.url,
            "FAILCAT_WEBHOOK_SECRET": SECRET,
        }
        env.update(settings)
        self.server_env = {k: v for k, v in env.items() if v is not None}
        super().setUp()

    def successful_runs(self):
        for line in self.api.get("/metrics").body.splitlines():
            if line.startswith('failcat_aggregator_runs_total{outcome="success"}'):
                return int(float(line.split()[-1]))
        return 0


class PeriodicJobs(HookedCase):
    def setUp(self):
        self.start_with(FAILCAT_RETENTION_DAYS="30")

    def old_row_sql(self):
        ts = "2000-01-01T00:00:00.000000Z"
        return ("INSERT INTO failure_matches (id, run_id, tenant_id, error_code, created_at, updated_at) "
                "VALUES ('01890000-0000-7000-8000-0000000000aa', 'ancient', "
                "'00000000-0000-0000-0000-000000000000', 'OLD', '%s', '%s')" % (ts, ts))

    def test_rollups_exports_retention_and_signed_alert(self):
        ingest_mostly_misses(self, "jobs")
        self.run_sql(self.old_row_sql())

        # Rollups: the current hour holds all 30 (the old row is outside the rollup window).
        def rolled_up():
            items = self.api.get("/api/v1/aggregates?since_hours=2").json()["items"]
            return sum(i["failure_count"] for i in items) == 30 and items
        items = harness.wait_until(rolled_up, timeout=30, message="rollups")
        self.assertTrue(any(i["match_type"] == "miss" and i["catalog_entry_id"] is None for i in items))

        # Exports: NDJSON per hour, one aggregate per line.
        export_dir = self.server.env["FAILCAT_EXPORT_DIR"]

        def exported():
            rows = []
            for path in glob.glob(os.path.join(export_dir, "aggregates-*.ndjson")):
                with open(path) as f:
                    rows += [json.loads(line) for line in f if line.strip()]
            return sum(r["failure_count"] for r in rows) == 30 and rows
        rows = harness.wait_until(exported, timeout=30, message="exports with every failure")
        self.assertTrue(all(r["bucket_start"].endswith(":00:00.000000Z") for r in rows))

        # Retention removes the row from 2000.
        harness.wait_until(lambda: self.api.get("/api/v1/failures?since_hours=8760&run_id=ancient").json()["total"] == 0
                           and self.old_rows() == 0, timeout=30, message="retention")

        # The miss rate (25 of 30) fired one signed, Slack-compatible webhook.
        harness.wait_until(lambda: self.hook.received, timeout=30, message="webhook")
        headers, body = self.hook.received[0]
        payload = json.loads(body)
        self.assertIn("text", payload)
        self.assertIn("matched no catalog entry", payload["text"])
        self.assertTrue(signed_with(SECRET, headers, body), headers)
        metrics = self.api.get("/metrics").body
        self.assertIn('failcat_webhook_deliveries_total{outcome="success"} 1', metrics)
        # Cooldown: later runs do not repeat it.
        harness.wait_until(lambda: 'failcat_aggregator_runs_total{outcome="success"} 3' in self.api.get("/metrics").body
                           or 'failcat_aggregator_runs_total{outcome="success"} 4' in self.api.get("/metrics").body,
                           timeout=30, message="more aggregator runs")
        self.assertEqual(len(self.hook.received), 1)
        self.assertNotIn(SECRET, self.server.read_log())

    def test_a_late_recovery_recomputes_its_old_hour(self):
        # A failure from ten days ago, in an hour the rollups no longer revisit on their own.
        created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)
        hour = created.replace(minute=0, second=0, microsecond=0)
        ts = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        fid = "01890000-0000-7000-8000-0000000000bb"
        self.run_sql("INSERT INTO failure_matches (id, run_id, tenant_id, error_code, created_at, updated_at) "
                     "VALUES ('%s', 'late', '00000000-0000-0000-0000-000000000000', 'LATE', '%s', '%s')"
                     % (fid, ts, ts))
        bucket = hour.strftime("%Y-%m-%dT%H:00:00.000000Z")

        def old_hour():
            items = self.api.get("/api/v1/aggregates?since_hours=300").json()["items"]
            return [i for i in items if i["bucket_start"] == bucket]
        runs = self.successful_runs()
        harness.wait_until(lambda: self.successful_runs() >= runs + 2, timeout=30, message="two aggregator runs")
        self.assertEqual(old_hour(), [])

        r = self.api.patch("/api/v1/failures/%s/recovery" % fid, {"recovery_succeeded": True})
        self.assertEqual(r.status, 200, r.body)
        items = harness.wait_until(old_hour, timeout=30, message="the old hour recomputed")
        self.assertEqual([(i["failure_count"], i["recovered_count"]) for i in items], [(1, 1)])

        export = os.path.join(self.server.env["FAILCAT_EXPORT_DIR"],
                              "aggregates-%s.ndjson" % hour.strftime("%Y%m%dT%H"))
        harness.wait_until(lambda: os.path.exists(export), timeout=30, message="the old hour exported")
        with open(export) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([(r["failure_count"], r["recovered_count"]) for r in rows], [(1, 1)])

    def run_sql(self, sql):
        if self.backend == "postgres":
            self.database.query(sql)
        else:
            path = self.server.env["FAILCAT_SQLITE_PATH"]
            subprocess.run(["sqlite3", path, ".timeout 5000", sql], check=True, timeout=30)

    def old_rows(self):
        sql = "SELECT count(*) FROM failure_matches WHERE run_id = 'ancient'"
        if self.backend == "postgres":
            return int(self.database.query(sql))
        out = subprocess.run(["sqlite3", self.server.env["FAILCAT_SQLITE_PATH"], ".timeout 5000", sql],
                             capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip() or "0")


class AlertSettings(HookedCase):
    """The alert settings change when it fires; the webhook key rotates with SIGHUP."""

    def test_min_failures_holds_the_alert_back(self):
        self.start_with(FAILCAT_ALERT_MIN_FAILURES="1000")
        ingest_mostly_misses(self, "alerts")
        start = self.successful_runs()
        harness.wait_until(lambda: self.successful_runs() >= start + 3, timeout=30,
                           message="three aggregator runs after the failures")
        self.assertEqual(self.hook.received, [])

    def test_a_zero_cooldown_alerts_on_every_run(self):
        self.start_with(FAILCAT_ALERT_COOLDOWN_SECONDS="0", FAILCAT_ALERT_MISS_RATE="0.5")
        ingest_mostly_misses(self, "alerts")
        harness.wait_until(lambda: len(self.hook.received) >= 2, timeout=30,
                           message="a second alert without cooldown")

    def test_sighup_rotates_the_webhook_secret(self):
        secret_dir = tempfile.mkdtemp(prefix="failcat-hook-")
        self.addCleanup(shutil.rmtree, secret_dir, True)
        path = os.path.join(secret_dir, "webhook-secret")
        with open(path, "w") as f:
            f.write("first-key-1111\n")
        self.start_with(FAILCAT_WEBHOOK_SECRET=None, FAILCAT_WEBHOOK_SECRET_FILE=path,
                        FAILCAT_ALERT_COOLDOWN_SECONDS="0")
        ingest_mostly_misses(self, "alerts")
        harness.wait_until(lambda: self.hook.received, timeout=30, message="first alert")
        self.assertTrue(signed_with("first-key-1111", *self.hook.received[0]))

        with open(path, "w") as f:
            f.write("second-key-2222\n")
        self.server.signal(signal.SIGHUP)
        harness.wait_until(lambda: any(signed_with("second-key-2222", h, b) for h, b in self.hook.received),
                           timeout=30, message="an alert signed with the rotated key")
        log = self.server.read_log()
        self.assertIn("webhook secret reloaded", log)
        self.assertNotIn("first-key-1111", log)
        self.assertNotIn("second-key-2222", log)


def ingest_mostly_misses(case, run_id):
    """25 failures no catalog entry matches and 5 that match, all persisted."""
    for i in range(25):
        case.ingest(harness.failure(run_id=run_id, error_code="NEVER_SEEN_%d" % (i % 3),
                                    message="mystery failure number %d" % i))
    for i in range(5):
        case.ingest(harness.failure(run_id=run_id))
    case.wait_persisted(30)


def signed_with(key, headers, body):
    stamp = headers["X-Failcat-Timestamp"]
    expected = "sha256=" + hmac.new(key.encode(), (stamp + ".").encode() + body, hashlib.sha256).hexdigest()
    return headers["X-Failcat-Signature"] == expected


if __name__ == "__main__":
    unittest.main(verbosity=2)
