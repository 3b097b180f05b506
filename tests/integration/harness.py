"""Process-level test harness: runs the real failcat binary on loopback against a temp
SQLite file or a fresh database on the throwaway PostgreSQL cluster, and talks HTTP to it.

Environment (set by tests/CMakeLists.txt and scripts/test.sh):
  FAILCAT_BINARY             path of build/failcat
  FAILCAT_SOURCE_DIR         repository root (for config/failure_catalog.json)
  FAILCAT_TEST_DATABASE_URL  PostgreSQL server for the postgres variants
  FAILCAT_REQUIRE_POSTGRES   "1": a missing server fails the test instead of skipping it
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

SOURCE_DIR = os.environ.get("FAILCAT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("FAILCAT_BINARY", os.path.join(SOURCE_DIR, "build", "failcat"))
CATALOG = os.path.join(SOURCE_DIR, "config", "failure_catalog.json")
DEFAULT_TENANT = "00000000-0000-0000-0000-000000000000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_url():
    return os.environ.get("FAILCAT_TEST_DATABASE_URL", "")


def require_postgres(test):
    """Skips (or fails, under FAILCAT_REQUIRE_POSTGRES=1) a test without a server."""
    if postgres_url():
        return
    if os.environ.get("FAILCAT_REQUIRE_POSTGRES") == "1":
        test.fail("FAILCAT_TEST_DATABASE_URL is not set")
    raise unittest.SkipTest("FAILCAT_TEST_DATABASE_URL is not set")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("psql failed: " + out.stderr)
    return out.stdout.strip()


class Database:
    """A fresh PostgreSQL database (dropped on close), or nothing for SQLite."""

    def __init__(self, backend):
        self.backend = backend
        self.url = ""
        if backend == "postgres":
            base = postgres_url()
            self.name = "failcat_it_" + uuid.uuid4().hex[:12]
            psql(base, "CREATE DATABASE " + self.name)
            parsed = urllib.parse.urlparse(base)
            self.url = urllib.parse.urlunparse(parsed._replace(path="/" + self.name))
            self._base = base

    def query(self, sql):
        return psql(self.url, sql)

    def close(self):
        if self.backend == "postgres":
            try:
                psql(self._base, "DROP DATABASE IF EXISTS " + self.name + " WITH (FORCE)")
            except Exception:
                pass


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Client:
    """A keep-alive HTTP/1.1 client for one server."""

    def __init__(self, port, headers=None):
        self.port = port
        self.default_headers = headers or {}
        self.conn = None

    def request(self, method, path, body=None, headers=None, raw=None):
        all_headers = dict(self.default_headers)
        all_headers.update(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        # A header given as None is left out (a request without Content-Type).
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=all_headers)
                r = self.conn.getresponse()
                payload = r.read().decode("utf-8", "replace")
                result = Response(r.status, r.getheaders(), payload)
                if result.headers.get("connection", "").lower() == "close":
                    self.close()
                return result
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


_workdirs = []


@atexit.register
def _remove_workdirs():
    for d in _workdirs:
        shutil.rmtree(d, ignore_errors=True)


class Server:
    """One failcat process. Stopped by PID, never by name."""

    def __init__(self, backend="sqlite", env=None, database=None, workdir=None):
        self.backend = backend
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix="failcat-it-")
            _workdirs.append(workdir)
        self.workdir = workdir
        self.database = database
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FAILCAT_HOST": "127.0.0.1",
            "FAILCAT_PORT": str(self.port),
            "FAILCAT_CATALOG": CATALOG,
            "FAILCAT_SQLITE_PATH": os.path.join(self.workdir, "failcat.db"),
            "FAILCAT_WAL_DIR": os.path.join(self.workdir, "wal"),
            "FAILCAT_EXPORT_DIR": os.path.join(self.workdir, "exports"),
            "FAILCAT_LOG_LEVEL": "info",
        }
        if database is not None and database.url:
            self.env["DATABASE_URL"] = database.url
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.workdir, "failcat.log")

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "serve"], env=self.env, cwd=self.workdir,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("failcat exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("failcat did not become healthy:\n" + self.read_log())

    def client(self, headers=None):
        return Client(self.port, headers)

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=30):
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def read_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def wait_until(predicate, timeout=20, interval=0.05, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + message + " (last: %r)" % (last,))


def failure(run_id="run-1", error_code="RATE_LIMITED", message="429 too many requests", **extra):
    body = {"run_id": run_id, "error_code": error_code, "error_message": message}
    body.update(extra)
    return body


def backends():
    """The stores a parameterised test runs on, from FAILCAT_IT_BACKENDS (default both)."""
    return os.environ.get("FAILCAT_IT_BACKENDS", "sqlite,postgres").split(",")


class ServiceTestCase(unittest.TestCase):
    """A test case with one running server on the backend named by FAILCAT_IT_BACKEND
    (sqlite or postgres). Override `server_env` for extra settings."""

    backend = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")
    server_env = {}

    def setUp(self):
        if self.backend == "postgres":
            require_postgres(self)
        self.database = Database(self.backend)
        self.addCleanup(self.database.close)
        self.server = Server(self.backend, env=dict(self.server_env), database=self.database)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.api = self.server.client()
        self.addCleanup(self.api.close)

    def restart(self, kill9=False):
        """Stops the server (it must exit 0), or kills it with SIGKILL, and starts another on
        its files and database."""
        if kill9:
            self.server.kill9()
        else:
            self.assertEqual(self.server.stop(), 0, self.server.read_log())
        self.api.close()
        self.server = Server(self.backend, env=dict(self.server_env), database=self.database,
                             workdir=self.server.workdir)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.api = self.server.client()
        self.addCleanup(self.api.close)

    def ingest(self, body=None, expect=202, **kw):
        r = self.api.post("/api/v1/failures", body if body is not None else failure(), **kw)
        self.assertEqual(r.status, expect, r)
        return r.json() if r.body else None

    def wait_persisted(self, count, timeout=20):
        """Waits until the list endpoint shows `count` failures in the 24 h window."""
        return wait_until(lambda: self.api.get("/api/v1/failures?limit=1").json().get("total") == count,
                          timeout=timeout, message="%d stored failures" % count)


def main():
    unittest.main(verbosity=2)
