"""Security over the real binary: protected mode, `failcat keys`, API keys over HTTP, secrets that
never reach logs, problem bodies or metrics, and SIGHUP rotation of keys and database
credentials."""

import http.server
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

from api_case import StoreSql
from harness import (BINARY, CATALOG, Database, Server, failure, free_port, postgres_url, psql,
                     require_postgres, wait_until)

TENANT_A = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
TENANT_B = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
BACKEND = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")


def grants_sql(role):
    """What a service role needs on a migrated database (mirrors docs/security.md)."""
    return ("GRANT USAGE ON SCHEMA public TO {r};"
            "GRANT SELECT ON schema_migrations TO {r};"
            "GRANT SELECT, INSERT, UPDATE, DELETE ON failure_matches, failure_recovery_events,"
            " failure_aggregates, failure_idempotency TO {r};"
            "GRANT USAGE ON SEQUENCE failure_recovery_events_event_id_seq TO {r};").format(r=role)


def with_credentials(url, user, password):
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname + (":%d" % parsed.port if parsed.port else "")
    return urllib.parse.urlunparse(parsed._replace(netloc="%s:%s@%s" % (user, password, host)))


class KeysFile:
    """A keys file in a temp directory, managed through `failcat keys`."""

    def __init__(self, test):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="failcat-keys-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "keys.json")

    def run(self, *args, expect=0):
        out = subprocess.run([BINARY, "keys"] + list(args) + ["--file", self.path],
                             capture_output=True, text=True, timeout=30)
        self.test.assertEqual(out.returncode, expect, out.stderr)
        return out

    def add(self, name, role, tenant):
        return self.run("add", "--name", name, "--role", role, "--tenant", tenant).stdout.strip()

    def remove(self, name):
        self.run("remove", "--name", name)


def bearer(key):
    return {"Authorization": "Bearer " + key}


class DatabaseCase(unittest.TestCase):
    """A fresh database on the backend named by FAILCAT_IT_BACKEND; each test starts its servers."""

    def setUp(self):
        if BACKEND == "postgres":
            require_postgres(self)
        self.database = Database(BACKEND)
        self.addCleanup(self.database.close)


class ProtectedMode(unittest.TestCase):
    def run_serve(self, env, timeout=5):
        workdir = tempfile.mkdtemp(prefix="failcat-it-")
        self.addCleanup(shutil.rmtree, workdir, True)
        full = {"PATH": os.environ.get("PATH", ""), "FAILCAT_PORT": str(free_port()),
                "FAILCAT_CATALOG": CATALOG, "FAILCAT_SQLITE_PATH": os.path.join(workdir, "f.db"),
                "FAILCAT_WAL_DIR": os.path.join(workdir, "wal")}
        full.update(env)
        return subprocess.run([BINARY, "serve"], env=full, cwd=workdir, capture_output=True,
                              text=True, timeout=timeout)

    def test_non_loopback_without_keys_exits_2_naming_the_setting(self):
        for host in ("0.0.0.0", "::", "192.0.2.1"):
            out = self.run_serve({"FAILCAT_HOST": host})
            self.assertEqual(out.returncode, 2, out)
            self.assertIn("FAILCAT_HOST", out.stderr)
            self.assertIn("FAILCAT_API_KEYS_FILE", out.stderr)
            self.assertIn("FAILCAT_ALLOW_INSECURE", out.stderr)

    def test_insecure_override_serves_on_every_address(self):
        server = Server(BACKEND if BACKEND == "sqlite" else "sqlite",
                        env={"FAILCAT_HOST": "0.0.0.0", "FAILCAT_ALLOW_INSECURE": "1"})
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        self.assertEqual(api.get("/api/v1/catalog").status, 200)

    def test_without_keys_a_web_page_cannot_drive_the_api(self):
        server = Server("sqlite")
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        port = server.port
        # DNS rebinding: the page's own name arrives as Host.
        r = api.get("/api/v1/failures", headers={"Host": "rebind.example:%d" % port})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["field"], "Host")
        for host in ("127.0.0.1:%d" % port, "localhost:%d" % port):
            self.assertEqual(api.get("/api/v1/failures", headers={"Host": host}).status, 200, host)
        self.assertEqual(api.get("/healthz", headers={"Host": "rebind.example"}).status, 200)
        # A cross-site form or fetch: refused, and nothing stored.
        failure = {"run_id": "csrf", "error_code": "E"}
        r = api.post("/api/v1/failures", failure, headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["field"], "Origin")
        r = api.post("/api/v1/catalog/reload", headers={"Origin": "https://evil.example"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(api.get("/api/v1/failures?run_id=csrf").json()["total"], 0)
        # The page served by failcat itself, and clients that are not browsers.
        r = api.post("/api/v1/failures", failure, headers={"Sec-Fetch-Site": "same-origin",
                                                           "Origin": "http://127.0.0.1:%d" % port})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(api.post("/api/v1/failures", failure).status, 202)

    def test_without_keys_a_proxy_name_can_be_allowed(self):
        server = Server("sqlite", env={"FAILCAT_ALLOWED_HOSTS": "failcat.test"})
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        self.assertEqual(api.get("/api/v1/failures", headers={"Host": "failcat.test"}).status, 200)
        self.assertEqual(api.get("/api/v1/failures", headers={"Host": "rebind.example"}).status, 403)

    def test_what_it_writes_only_its_own_user_can_read(self):
        # The log, the SQLite file and the exports hold every tenant's error messages.
        server = Server("sqlite")
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        r = api.post("/api/v1/failures", {"run_id": "r", "error_code": "E", "error_message": "secret"})
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: api.get("/api/v1/failures?limit=1").json().get("total") == 1,
                   message="the failure stored")
        checked = []
        for name in ("wal", "failcat.db"):
            top = os.path.join(server.workdir, name)
            paths = [top] + ([os.path.join(top, f) for f in os.listdir(top)] if os.path.isdir(top) else [])
            for path in paths:
                mode = stat.S_IMODE(os.stat(path).st_mode)
                self.assertEqual(mode & 0o077, 0, "%s is mode %o" % (path, mode))
                checked.append(path)
        self.assertGreaterEqual(len(checked), 3, checked)  # the log directory, a segment, the db

    def test_non_loopback_with_keys_serves_and_requires_them(self):
        keys = KeysFile(self)
        reader = keys.add("reader", "reader", "*")
        server = Server("sqlite", env={"FAILCAT_HOST": "0.0.0.0", "FAILCAT_API_KEYS_FILE": keys.path})
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        self.assertEqual(api.get("/api/v1/catalog").status, 401)
        self.assertEqual(api.get("/api/v1/catalog", headers=bearer(reader)).status, 200)

    def test_a_bad_keys_file_stops_start_up_naming_the_entry(self):
        workdir = tempfile.mkdtemp(prefix="failcat-keys-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "keys.json")
        with open(path, "w") as f:
            json.dump({"keys": [{"name": "ci", "sha256": "00" * 32, "role": "root", "tenant_id": "*"}]}, f)
        out = self.run_serve({"FAILCAT_API_KEYS_FILE": path})
        self.assertEqual(out.returncode, 2, out)
        self.assertIn("FAILCAT_API_KEYS_FILE", out.stderr)
        self.assertIn('keys[0] "ci": role', out.stderr)
        out = self.run_serve({"FAILCAT_API_KEYS_FILE": os.path.join(workdir, "missing.json")})
        self.assertEqual(out.returncode, 2, out)

    def test_an_sqlite_file_another_process_holds_is_waited_for(self):
        # `failcat migrate` or a backfill holding the write lock is not a bad file.
        workdir = tempfile.mkdtemp(prefix="failcat-locked-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "failcat.db")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        server = Server("sqlite", workdir=workdir)
        server.start(wait=False)
        self.addCleanup(server.stop)
        time.sleep(7)  # beyond SQLite's 5 s busy timeout
        self.assertIsNone(server.proc.poll(), server.read_log())
        self.assertIn("locked by another process", server.read_log())
        holder.execute("COMMIT")
        holder.close()
        server.wait_healthy()
        api = server.client()
        self.addCleanup(api.close)
        self.assertEqual(api.get("/api/v1/failures").status, 200)

    def test_a_stop_while_waiting_for_the_sqlite_file_ends_the_wait(self):
        workdir = tempfile.mkdtemp(prefix="failcat-locked-")
        self.addCleanup(shutil.rmtree, workdir, True)
        holder = sqlite3.connect(os.path.join(workdir, "failcat.db"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        self.addCleanup(holder.close)
        server = Server("sqlite", workdir=workdir)
        server.start(wait=False)
        self.addCleanup(server.stop)
        wait_until(lambda: "locked by another process" in server.read_log(), timeout=30,
                   message="the wait for the lock")
        server.signal(signal.SIGTERM)
        # Within an attempt (SQLite's 5 s busy timeout), not after the minute's wait.
        self.assertEqual(server.wait(timeout=30), 0, server.read_log())
        self.assertIn("stopped before serving", server.read_log())

    def test_settings_it_can_never_use_stop_start_up_naming_them(self):
        workdir = tempfile.mkdtemp(prefix="failcat-paths-")
        self.addCleanup(shutil.rmtree, workdir, True)
        blocker = os.path.join(workdir, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        cases = [({"FAILCAT_WAL_DIR": os.path.join(blocker, "wal")}, "FAILCAT_WAL_DIR"),
                 ({"FAILCAT_EXPORT_DIR": os.path.join(blocker, "exports")}, "FAILCAT_EXPORT_DIR"),
                 ({"FAILCAT_SQLITE_PATH": os.path.join(blocker, "db", "f.db")}, "FAILCAT_SQLITE_PATH"),
                 # Not a database, a directory, or one no other connection would share.
                 ({"FAILCAT_SQLITE_PATH": blocker}, "FAILCAT_SQLITE_PATH"),
                 ({"FAILCAT_SQLITE_PATH": workdir}, "FAILCAT_SQLITE_PATH"),
                 ({"FAILCAT_SQLITE_PATH": ":memory:"}, "FAILCAT_SQLITE_PATH"),
                 ({"FAILCAT_HOST": "not a host"}, "FAILCAT_HOST"),
                 ({"FAILCAT_PORT": "+8080"}, "FAILCAT_PORT")]
        for env, setting in cases:
            with self.subTest(setting=setting):
                out = self.run_serve(env)
                self.assertEqual(out.returncode, 2, out)
                self.assertIn("failcat: " + setting + ":", out.stderr)


class KeysCommand(unittest.TestCase):
    def test_add_list_remove(self):
        keys = KeysFile(self)
        key = keys.add("ci-ingest", "ingest", TENANT_A.upper())
        self.assertRegex(key, r"^fc_[0-9a-f]{64}$")
        self.assertEqual(stat.S_IMODE(os.stat(keys.path).st_mode), 0o600)
        keys.add("ops", "operator", "*")
        with open(keys.path) as f:
            text = f.read()
        self.assertNotIn(key, text)
        doc = json.loads(text)
        self.assertEqual([k["name"] for k in doc["keys"]], ["ci-ingest", "ops"])
        self.assertEqual(doc["keys"][0]["tenant_id"], TENANT_A.upper())
        listed = keys.run("list").stdout
        self.assertIn("ci-ingest", listed)
        self.assertIn("ingest", listed)
        self.assertIn("operator", listed)
        self.assertNotIn(key, listed)
        self.assertNotIn(doc["keys"][0]["sha256"], listed)
        keys.remove("ci-ingest")
        self.assertNotIn("ci-ingest", keys.run("list").stdout)
        keys.run("remove", "--name", "ci-ingest", expect=1)
        # A mistyped path is not an empty list.
        missing = os.path.join(keys.dir, "typo.json")
        for args in (["list"], ["remove", "--name", "ops"]):
            out = subprocess.run([BINARY, "keys"] + args + ["--file", missing],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, out)
            self.assertIn("no keys file", out.stderr)

    def test_refuses_bad_entries_and_leaves_the_file_alone(self):
        keys = KeysFile(self)
        keys.add("one", "reader", "*")
        with open(keys.path) as f:
            before = f.read()
        for args, named in ((["--name", "one", "--role", "reader", "--tenant", "*"], "--name"),
                            (["--name", "two", "--role", "root", "--tenant", "*"], "--role"),
                            (["--name", "two", "--role", "reader", "--tenant", "not-a-uuid"], "--tenant"),
                            (["--name", "two", "--role", "admin", "--tenant", TENANT_A], "--tenant"),
                            (["--name", "has space", "--role", "reader", "--tenant", "*"], "has space"),
                            (["--name", "two", "--role", "reader"], "--tenant")):
            out = keys.run("add", *args, expect=2)
            self.assertEqual(out.stdout, "")
            self.assertIn(named, out.stderr)
        with open(keys.path) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(os.listdir(keys.dir)), ["keys.json"])  # no temp file left


class SecretsNeverLeak(DatabaseCase):
    """Runs the server with every kind of secret, calls every route with good and bad keys,
    then looks for each secret in the log, every response and /metrics."""

    def test_no_secret_in_logs_responses_or_metrics(self):
        keys = KeysFile(self)
        admin = keys.add("admin", "admin", "*")
        ingest = keys.add("ingest-a", "ingest", TENANT_A)
        reader = keys.add("reader-a", "reader", TENANT_A)
        operator = keys.add("operator-a", "operator", TENANT_A)
        near_miss = admin[:-4] + ("0000" if not admin.endswith("0000") else "1111")
        unknown = "fc_" + uuid.uuid4().hex
        webhook_secret = "whsec-" + uuid.uuid4().hex
        secrets = {"admin key": admin, "ingest key": ingest, "reader key": reader,
                   "operator key": operator, "near-miss key": near_miss, "unknown key": unknown,
                   "webhook secret": webhook_secret}

        hooks = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                hooks.append((dict(self.headers), self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        hook_server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=hook_server.serve_forever, daemon=True).start()
        self.addCleanup(hook_server.server_close)
        self.addCleanup(hook_server.shutdown)

        env = {"FAILCAT_API_KEYS_FILE": keys.path, "FAILCAT_LOG_LEVEL": "debug",
               "FAILCAT_WEBHOOK_URL": "http://127.0.0.1:%d/hook" % hook_server.server_address[1],
               "FAILCAT_WEBHOOK_SECRET": webhook_secret, "FAILCAT_AGGREGATE_INTERVAL_SECONDS": "1"}
        if BACKEND == "postgres":
            role = "fc_secret_" + uuid.uuid4().hex[:10]
            password = "dbpw-" + uuid.uuid4().hex
            secrets["database password"] = password
            psql(postgres_url(), "CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password))
            self.addCleanup(lambda: (self.database.close(), psql(postgres_url(), "DROP ROLE IF EXISTS " + role)))
            psql(postgres_url(), "ALTER DATABASE %s OWNER TO %s" % (self.database.name, role))
            url_file = os.path.join(keys.dir, "database-url")
            with open(url_file, "w") as f:
                f.write(with_credentials(self.database.url, role, password) + "\n")
            env["DATABASE_URL_FILE"] = url_file
        server = Server(BACKEND, env=env)
        server.database = None
        server.env.pop("DATABASE_URL", None)
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)

        seen = []

        def call(method, path, body=None, key=None, raw=None):
            headers = bearer(key) if key else {}
            r = api.request(method, path, body=body, headers=headers, raw=raw)
            seen.append("%d %s %s" % (r.status, json.dumps(r.headers), r.body))
            return r

        # Misses, so the miss-rate alert fires and is signed with the webhook secret.
        misses = [failure(error_code="NOVEL_%d" % i, message="never seen %d" % i) for i in range(30)]
        self.assertEqual(call("POST", "/api/v1/failures/batch", {"failures": misses}, admin).status, 202)
        created = call("POST", "/api/v1/failures", failure(), ingest)
        self.assertEqual(created.status, 202, created)
        fid = created.json()["id"]
        routes = [("GET", "/healthz", None), ("GET", "/livez", None), ("GET", "/readyz", None),
                  ("GET", "/metrics", None), ("GET", "/ui/", None),
                  ("POST", "/api/v1/failures", failure()),
                  ("POST", "/api/v1/failures/batch", {"failures": [failure()]}),
                  ("POST", "/api/v1/match", failure()),
                  ("GET", "/api/v1/failures?limit=5", None), ("GET", "/api/v1/failures/" + fid, None),
                  ("GET", "/api/v1/failures/stats", None), ("GET", "/api/v1/failures/unrecovered", None),
                  ("GET", "/api/v1/aggregates", None),
                  ("PATCH", "/api/v1/failures/%s/recovery" % fid, {"recovery_succeeded": True}),
                  ("POST", "/api/v1/failures/recovery/bulk", {"recovery_succeeded": False}),
                  ("GET", "/api/v1/catalog", None), ("POST", "/api/v1/catalog/reload", None),
                  ("GET", "/api/v1/admin/breaker", None), ("POST", "/api/v1/admin/breaker", {"action": "auto"}),
                  ("GET", "/api/v1/failures/not-a-uuid", None), ("POST", "/api/v1/failures", None)]
        for method, path, body in routes:
            for key in (None, admin, ingest, reader, operator, near_miss, unknown):
                call(method, path, body, key)
        # Keys in odd places: a query string, a request id, a malformed header.
        call("GET", "/api/v1/failures?api_key=" + admin, None, admin)
        r = api.request("GET", "/api/v1/catalog", headers={"Authorization": "Basic " + admin,
                                                             "X-Request-Id": unknown})
        seen.append("%d %s %s" % (r.status, json.dumps(r.headers), r.body))
        r = api.request("GET", "/api/v1/catalog", headers={"Authorization": admin})
        seen.append("%d %s %s" % (r.status, json.dumps(r.headers), r.body))

        wait_until(lambda: hooks, timeout=30, message="the miss-rate webhook")
        metrics = api.get("/metrics").body
        server.signal(signal.SIGHUP)  # reload logs name what they read, never the content
        time.sleep(0.5)
        self.assertEqual(server.stop(), 0)
        log = server.read_log()
        self.assertIn("API keys reloaded", log)
        hook_bodies = " ".join(body.decode("utf-8", "replace") for _, body in hooks)
        for what, secret in secrets.items():
            if what == "unknown key":
                # The one secret the client chose to send as its request id: echoing that is
                # the client's choice, so only the log and metrics are checked for it.
                self.assertNotIn(secret, metrics, what)
                continue
            self.assertNotIn(secret, log, what + " in the log")
            self.assertNotIn(secret, metrics, what + " in /metrics")
            self.assertNotIn(secret, hook_bodies, what + " in the webhook body")
            for response in seen:
                self.assertNotIn(secret, response, what + " in a response")
        # The webhook is signed with the secret, which is never sent itself.
        self.assertTrue(any(any(k.lower().startswith("x-") and "sig" in k.lower() for k in h) for h, _ in hooks),
                        hooks[0][0])


class AuditNamesTheKey(DatabaseCase):
    def test_the_audit_names_the_key_not_what_the_body_claims(self):
        keys = KeysFile(self)
        ingest = keys.add("a-ingest", "ingest", TENANT_A)
        operator = keys.add("a-operator", "operator", TENANT_A)
        named_open = keys.add("open", "operator", TENANT_A)  # the name a keyless server goes by
        server = Server(BACKEND, env={"FAILCAT_API_KEYS_FILE": keys.path}, database=self.database)
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        r = api.post("/api/v1/failures", failure(), headers=bearer(ingest))
        self.assertEqual(r.status, 202, r)
        fid = r.json()["id"]
        wait_until(lambda: api.get("/api/v1/failures/" + fid, headers=bearer(operator)).status == 200,
                   message="the failure stored")
        patched = api.patch("/api/v1/failures/%s/recovery" % fid,
                            {"recovery_succeeded": True, "recovered_by": "admin"}, headers=bearer(operator))
        self.assertEqual(patched.status, 200, patched)
        self.assertEqual(patched.json()["recovered_by"], "admin")  # the caller's words, as a column
        bulk = api.post("/api/v1/failures/recovery/bulk",
                        {"recovery_succeeded": False, "recovered_by": "someone-else"}, headers=bearer(operator))
        self.assertEqual(bulk.status, 200, bulk)
        forged = api.patch("/api/v1/failures/%s/recovery" % fid,
                           {"recovery_succeeded": True, "recovered_by": "mallory"}, headers=bearer(named_open))
        self.assertEqual(forged.status, 200, forged)
        sql = StoreSql(server, self.database)
        actors = sql.run("SELECT actor FROM failure_recovery_events WHERE failure_id = ? ORDER BY event_id",
                         "SELECT actor FROM failure_recovery_events WHERE failure_id = ? ORDER BY event_id",
                         params=(fid,))
        self.assertEqual([a[0] for a in actors], ["a-operator", "a-operator", "open"])


class SighupRotation(DatabaseCase):
    def test_keys_rotate_without_a_restart(self):
        keys = KeysFile(self)
        old = keys.add("ci-old", "ingest", TENANT_A)
        server = Server(BACKEND, env={"FAILCAT_API_KEYS_FILE": keys.path}, database=self.database)
        server.start()
        self.addCleanup(server.stop)
        api = server.client()
        self.addCleanup(api.close)
        self.assertEqual(api.post("/api/v1/failures", failure(), headers=bearer(old)).status, 202)

        # Overlap: both keys valid.
        new = keys.add("ci-new", "ingest", TENANT_A)
        self.assertEqual(api.post("/api/v1/failures", failure(), headers=bearer(new)).status, 401)
        server.signal(signal.SIGHUP)
        wait_until(lambda: api.post("/api/v1/failures", failure(), headers=bearer(new)).status == 202,
                   message="the new key to work")
        self.assertEqual(api.post("/api/v1/failures", failure(), headers=bearer(old)).status, 202)

        # Retire the old key.
        keys.remove("ci-old")
        server.signal(signal.SIGHUP)
        wait_until(lambda: api.post("/api/v1/failures", failure(), headers=bearer(old)).status == 401,
                   message="the old key to stop working")
        self.assertEqual(api.post("/api/v1/failures", failure(), headers=bearer(new)).status, 202)

        # A broken file is rejected and the keys in force stay.
        with open(keys.path, "w") as f:
            f.write("{not json")
        server.signal(signal.SIGHUP)
        wait_until(lambda: "API keys reload rejected" in server.read_log(), message="the rejection")
        self.assertEqual(api.post("/api/v1/failures", failure(), headers=bearer(new)).status, 202)

    def test_database_credentials_rotate_without_losing_acknowledged_work(self):
        if BACKEND != "postgres":
            raise unittest.SkipTest("DATABASE_URL_FILE selects PostgreSQL")
        base = postgres_url()
        suffix = uuid.uuid4().hex[:10]
        roles = ["fc_rot_old_" + suffix, "fc_rot_new_" + suffix]
        passwords = ["old-pw-" + uuid.uuid4().hex, "new-pw-" + uuid.uuid4().hex]
        for role, password in zip(roles, passwords):
            psql(base, "CREATE ROLE %s LOGIN NOSUPERUSER PASSWORD '%s'" % (role, password))
        self.addCleanup(lambda: (self.database.close(),
                                 [psql(base, "DROP ROLE IF EXISTS " + role) for role in roles]))
        # The superuser migrates (an owner role would do the same), both service roles get grants.
        out = subprocess.run([BINARY, "migrate"], env={"PATH": os.environ.get("PATH", ""), "FAILCAT_CATALOG": CATALOG,
                                                        "DATABASE_URL": self.database.url},
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        for role in roles:
            self.database.query(grants_sql(role))

        keys = KeysFile(self)
        admin = keys.add("admin", "admin", "*")
        url_file = os.path.join(keys.dir, "database-url")
        with open(url_file, "w") as f:
            f.write(with_credentials(self.database.url, roles[0], passwords[0]) + "\n")
        server = Server("postgres", env={"DATABASE_URL_FILE": url_file, "FAILCAT_API_KEYS_FILE": keys.path})
        server.start()
        self.addCleanup(server.stop)
        api = server.client(headers=bearer(admin))
        self.addCleanup(api.close)

        def total():
            return api.get("/api/v1/failures?limit=1").json().get("total")

        def sessions(role):
            return int(self.database.query(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' AND datname = current_database()" % role))

        acknowledged = 0
        for _ in range(20):
            self.assertEqual(api.post("/api/v1/failures", failure()).status, 202)
            acknowledged += 1
        wait_until(lambda: total() == acknowledged, message="the first failures")
        self.assertGreater(sessions(roles[0]), 0)

        # Rotate: the new credentials go into the file, SIGHUP, then the old role is disabled.
        with open(url_file, "w") as f:
            f.write(with_credentials(self.database.url, roles[1], passwords[1]) + "\n")
        server.signal(signal.SIGHUP)
        wait_until(lambda: "database credentials reloaded" in server.read_log(), message="the reload")
        stop = threading.Event()
        errors = []

        def keep_ingesting():
            nonlocal acknowledged
            client = server.client(headers=bearer(admin))
            while not stop.is_set():
                r = client.post("/api/v1/failures", failure())
                if r.status == 202:
                    acknowledged += 1
                else:
                    errors.append(r)
            client.close()

        writer = threading.Thread(target=keep_ingesting)
        writer.start()
        try:
            wait_until(lambda: total() is not None and sessions(roles[1]) > 0, message="sessions of the new role")
            wait_until(lambda: (api.get("/api/v1/failures?limit=1"), sessions(roles[0]) == 0)[1],
                       timeout=30, message="the old role's sessions to close")
            psql(base, "ALTER ROLE %s NOLOGIN" % roles[0])
            time.sleep(0.5)
        finally:
            stop.set()
            writer.join(timeout=30)
        self.assertEqual(errors, [])
        wait_until(lambda: total() == acknowledged, timeout=30, message="every acknowledged failure stored")
        log = server.read_log()
        for secret in passwords:
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
