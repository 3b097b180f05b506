"""Durability under real faults: kill -9 of failcat, PostgreSQL stopped or frozen mid-load,
SIGTERM under load. Every acknowledged failure must be stored exactly once."""

import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness

SCRIPTS = os.path.join(harness.SOURCE_DIR, "scripts")


class Ingestor:
    """Threads posting failures until told to stop or `limit` is reached; records the ids
    that were acknowledged (202) and every other outcome."""

    def __init__(self, port, run_id, threads=6, limit=100000):
        self.port = port
        self.run_id = run_id
        self.limit = limit
        self.acked = []
        self.errors = []
        self.statuses = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _next(self):
        with self.lock:
            if self.sent >= self.limit or self.stopping.is_set():
                return None
            self.sent += 1
            return self.sent

    def _run(self, index):
        client = harness.Client(self.port)
        deadline = time.time() + 120
        while time.time() < deadline:
            n = self._next()
            if n is None:
                break
            body = harness.failure(run_id=self.run_id, error_code="RATE_LIMITED" if n % 3 else "UNKNOWN_%d" % (n % 7),
                                   message="step %d failed" % n)
            try:
                r = client.post("/api/v1/failures", body)
            except Exception as e:  # the server went away
                with self.lock:
                    self.errors.append(repr(e))
                if self.stopping.is_set():
                    break
                time.sleep(0.01)
                continue
            with self.lock:
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status == 202:
                    self.acked.append(r.json()["id"])
        client.close()

    def count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)


def stored_ids(client, run_id):
    """Every stored id of a run, paged by cursor; None while the breaker still isolates the
    database (reads answer 503 until its probe is due)."""
    ids = []
    cursor = None
    for _ in range(10000):
        path = "/api/v1/failures?limit=1000&run_id=%s" % run_id + ("&cursor=" + cursor if cursor else "")
        r = client.get(path)
        if r.status == 503:
            return None
        assert r.status == 200, r
        body = r.json()
        ids.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    return ids


def dropped_total(client):
    text = client.get("/metrics").body
    total = 0.0
    for line in text.splitlines():
        if line.startswith("failure_persist_dropped_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class DurabilityTestCase(unittest.TestCase):
    backend = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")

    def setUp(self):
        if self.backend == "postgres":
            harness.require_postgres(self)

    def assert_exactly_once(self, server, run_id, acked):
        client = server.client()
        self.addCleanup(client.close)
        harness.wait_until(lambda: len(stored_ids(client, run_id) or []) >= len(acked), timeout=60,
                           message="%d acknowledged failures stored" % len(acked))
        ids = stored_ids(client, run_id)
        self.assertIsNotNone(ids, "reads refused after the rows were stored")
        self.assertEqual(len(ids), len(set(ids)), "a failure is stored twice")
        missing = set(acked) - set(ids)
        self.assertFalse(missing, "acknowledged but not stored: %s" % sorted(missing)[:5])
        return ids


class KillNine(DurabilityTestCase):
    def test_every_acknowledged_failure_survives_kill_9(self):
        db = harness.Database(self.backend)
        self.addCleanup(db.close)
        server = harness.Server(self.backend, database=db).start()
        ingest = Ingestor(server.port, "kill9", threads=8, limit=400).start()
        harness.wait_until(lambda: ingest.count() >= 400 or ingest.sent >= 400, timeout=60)
        ingest.stop()
        server.kill9()  # right after the last 202
        self.assertGreater(len(ingest.acked), 0)

        restarted = harness.Server(self.backend, database=db, workdir=server.workdir).start()
        self.addCleanup(restarted.stop)
        ids = self.assert_exactly_once(restarted, "kill9", ingest.acked)
        # Nothing beyond what was sent appears either.
        self.assertLessEqual(len(ids), ingest.sent)


class SigtermUnderLoad(DurabilityTestCase):
    def test_sigterm_exits_zero_and_loses_nothing(self):
        db = harness.Database(self.backend)
        self.addCleanup(db.close)
        server = harness.Server(self.backend, database=db,
                                env={"FAILCAT_SHUTDOWN_GRACE_SECONDS": "10"}).start()
        ingest = Ingestor(server.port, "sigterm", threads=6, limit=5000).start()
        harness.wait_until(lambda: ingest.count() >= 300, timeout=60)
        server.signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        ingest.stop()
        self.assertEqual(code, 0, server.read_log()[-2000:])
        self.assertIn("stopped", server.read_log())

        restarted = harness.Server(self.backend, database=db, workdir=server.workdir).start()
        self.addCleanup(restarted.stop)
        self.assert_exactly_once(restarted, "sigterm", ingest.acked)


class DrainingServer(DurabilityTestCase):
    def test_a_stopping_server_refuses_new_api_work_and_a_second_signal_stops_it(self):
        db = harness.Database(self.backend)
        self.addCleanup(db.close)
        server = harness.Server(self.backend, database=db,
                                env={"FAILCAT_SHUTDOWN_GRACE_SECONDS": "60"}).start()
        api = server.client()
        self.addCleanup(api.close)
        # A backlog the drain cannot deliver while the breaker is held open: the stop waits.
        self.assertEqual(api.post("/api/v1/admin/breaker", {"action": "open"}).status, 200)
        for i in range(5):
            self.assertEqual(api.post("/api/v1/failures", harness.failure("drain-%d" % i)).status, 202)
        server.signal(signal.SIGTERM)
        harness.wait_until(lambda: "shutting down" in server.read_log(), message="the stop began")
        late = server.client()
        self.addCleanup(late.close)
        for method, path, body in (("GET", "/api/v1/failures", None),
                                   ("POST", "/api/v1/failures", harness.failure("late")),
                                   ("POST", "/api/v1/failures/recovery/bulk", {"recovery_succeeded": True})):
            r = late.request(method, path, body)
            self.assertEqual(r.status, 503, (path, r))
            self.assertEqual(r.headers.get("retry-after"), "1", (path, r))
        self.assertEqual(late.get("/readyz").status, 503)
        self.assertEqual(late.get("/healthz").status, 200)
        self.assertIsNone(server.proc.poll(), "the stop did not wait for its drain")
        # An impatient operator: the second signal stops it now, losing nothing acknowledged.
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(timeout=10), 0, server.read_log()[-2000:])
        self.assertIn("second signal", server.read_log())
        restarted = harness.Server(self.backend, database=db, workdir=server.workdir).start()
        self.addCleanup(restarted.stop)
        client = restarted.client()
        self.addCleanup(client.close)
        harness.wait_until(lambda: client.get("/api/v1/failures?limit=10").json().get("total") == 5,
                           message="the five acknowledged failures stored")


class PrivateCluster:
    """A PostgreSQL cluster of this test's own, so stopping it disturbs nobody else."""

    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="failcat-pg-fault-")
        script = os.path.join(SCRIPTS, "pg-test-cluster.sh")
        self.script = script
        self.url = subprocess.run([script, "start", self.dir], capture_output=True, text=True,
                                  check=True, timeout=120).stdout.strip()
        test.addCleanup(self.destroy)

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], check=True, timeout=120)

    def start(self):
        subprocess.run([self.script, "start", self.dir], check=True, timeout=120, capture_output=True)

    def pids(self):
        """The postmaster and every process it started."""
        postmaster = int(subprocess.run([self.script, "pid", self.dir], capture_output=True, text=True,
                                        check=True).stdout.strip())
        pids = [postmaster]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
        return pids

    def destroy(self):
        for pid in getattr(self, "_frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        subprocess.run([self.script, "stop", self.dir], timeout=120)
        subprocess.run(["rm", "-rf", self.dir])


FAST_BREAKER = {
    "FAILCAT_BREAKER_THRESHOLD": "2",
    "FAILCAT_BREAKER_RESET_SECONDS": "1",
    "FAILCAT_PERSIST_TIMEOUT_SECONDS": "0.5",
    "FAILCAT_DB_STATEMENT_TIMEOUT_MS": "1000",
}


@unittest.skipUnless(os.environ.get("FAILCAT_IT_BACKEND", "sqlite") == "postgres",
                     "needs a PostgreSQL server to stop")
class PostgresOutage(DurabilityTestCase):
    def test_ingest_continues_while_postgres_is_down_and_backlog_drains(self):
        cluster = PrivateCluster(self)
        server = harness.Server("postgres", env=dict(FAST_BREAKER, DATABASE_URL=cluster.url)).start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        ingest = Ingestor(server.port, "outage", threads=4, limit=100000).start()
        harness.wait_until(lambda: ingest.count() >= 200, timeout=60)
        cluster.stop()
        before = ingest.count()
        harness.wait_until(lambda: api.get("/api/v1/admin/breaker").json()["state"] == "open",
                           timeout=60, message="breaker open")
        harness.wait_until(lambda: ingest.count() >= before + 300, timeout=60,
                           message="ingest acknowledged while the database is down")
        ingest.stop()
        self.assertEqual(set(ingest.statuses), {202}, ingest.statuses)
        self.assertIn("degraded", api.get("/readyz").body)

        cluster.start()
        self.assert_exactly_once(server, "outage", ingest.acked)
        self.assertEqual(dropped_total(api), 0.0)
        harness.wait_until(lambda: api.get("/api/v1/admin/breaker").json()["state"] == "closed",
                           timeout=60, message="breaker closed again")
        harness.wait_until(lambda: api.get("/readyz").body.strip() == "ok", timeout=60,
                           message="readiness back to ok")

    def test_frozen_postgres_times_out_persists_without_slowing_ingest(self):
        cluster = PrivateCluster(self)
        server = harness.Server("postgres", env=dict(FAST_BREAKER, DATABASE_URL=cluster.url)).start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        for i in range(50):
            r = api.post("/api/v1/failures", harness.failure(run_id="freeze"))
            self.assertEqual(r.status, 202)
        pids = cluster.pids()
        cluster._frozen = pids
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        acked_while_frozen = []
        for i in range(200):
            r = api.post("/api/v1/failures", harness.failure(run_id="freeze", message="frozen %d" % i))
            self.assertEqual(r.status, 202, r)
            acked_while_frozen.append(r.json()["id"])
        # Every one of those answered while the database could not answer anything.
        harness.wait_until(lambda: api.get("/api/v1/admin/breaker").json()["state"] == "open",
                           timeout=60, message="breaker open on timeouts")
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        cluster._frozen = []
        self.assertGreaterEqual(len(acked_while_frozen), 200)
        self.assert_exactly_once(server, "freeze", acked_while_frozen)
        self.assertEqual(dropped_total(api), 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
