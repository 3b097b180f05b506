"""The HTTP layer itself: keep-alive by default, X-Request-Id in responses, problems and the access
log, 404 and 405 problems, a store failure as a 503 with Retry-After, and no 500 for anything a
client can send."""

import json
import os
import socket
import time
import unittest
import uuid

from api_case import API, ApiAssertions, SharedServerCase, StoreSql, new_run
from harness import ServiceTestCase, failure, wait_until


def read_response(sock):
    """One HTTP/1.1 response from `sock`: (status, headers, body); Content-Length framing."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    return status, headers, rest[:length]


def peer_closed(sock, timeout=2.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionError:
        return True


class HttpLayerTest(SharedServerCase):
    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.addCleanup(sock.close)
        return sock

    def test_threads_carry_names_operators_can_tell_apart(self):
        names = []
        task_dir = "/proc/%d/task" % self.server.proc.pid
        for task in os.listdir(task_dir):
            with open(os.path.join(task_dir, task, "comm")) as comm:
                names.append(comm.read().strip())
        # The HTTP threads are named before they serve anything (FAILCAT_HTTP_THREADS, 2).
        self.assertEqual(names.count("fc-http"), 2, names)
        for name in ("fc-persister", "fc-wal-checkpt", "fc-aggregator"):
            self.assertEqual(names.count(name), 1, names)
        self.assertEqual(names.count("fc-wal-sync"), 2, names)  # two groups may be in flight
        self.assertGreaterEqual(names.count("fc-storage"), 1, names)

    def test_connections_stay_open_without_a_connection_header(self):
        sock = self.connect()
        for i in range(3):
            sock.sendall(b"GET /api/v1/failures/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, headers, body = read_response(sock)
            self.assertEqual(status, 200, body)
            self.assertNotEqual(headers.get("connection", "").lower(), "close")
            json.loads(body)
        body = json.dumps(failure(new_run())).encode()
        sock.sendall(b"POST /api/v1/failures HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertEqual(read_response(sock)[0], 202)
        sock.sendall(b"GET /api/v1/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(read_response(sock)[0], 404)
        self.assertFalse(peer_closed(sock, timeout=0.3))

    def test_connection_close_is_honoured(self):
        for request in (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                        b"GET /api/v1/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Close\r\n\r\n",
                        b"GET /healthz HTTP/1.0\r\n\r\n",
                        # HTTP/1.0 keep-alive is not offered: the answer says so and closes.
                        b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"):
            with self.subTest(request=request):
                sock = self.connect()
                sock.sendall(request)
                status, headers, _ = read_response(sock)
                self.assertIn(status, (200, 404))
                self.assertEqual(headers.get("connection", "").lower(), "close")
                self.assertTrue(peer_closed(sock))
        # The server goes on serving other connections.
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_request_id_is_echoed_or_generated(self):
        mine = "req-" + uuid.uuid4().hex
        r = self.api.get(API + "/failures/stats", headers={"X-Request-Id": mine})
        self.assertEqual(r.headers.get("x-request-id"), mine)
        generated = set()
        for bad in (None, "", "has space", "x" * 129, "semi;colon", "\u00e9t\u00e9"):
            headers = {} if bad is None else {"X-Request-Id": bad.encode("utf-8").decode("latin-1")}
            r = self.api.get(API + "/failures/stats", headers=headers)
            rid = r.headers.get("x-request-id", "")
            self.assertRegex(rid, r"^[0-9a-f]{32}$", bad)
            generated.add(rid)
        self.assertEqual(len(generated), 6)
        self.assertEqual(self.api.get(API + "/failures/stats", headers={"X-Request-Id": "a" * 128})
                         .headers.get("x-request-id"), "a" * 128)

    def test_request_id_is_in_problems_and_the_access_log(self):
        mine = "trace-" + uuid.uuid4().hex
        r = self.api.post(API + "/failures", {"run_id": "r"}, headers={"X-Request-Id": mine})
        body = self.assertProblem(r, 400, "error_code", "POST", "/api/v1/failures")
        self.assertEqual(body["request_id"], mine)
        ok = self.api.get(API + "/catalog", headers={"X-Request-Id": mine + "-2"})
        self.assertEqual(ok.status, 200)

        def logged():
            lines = [line for line in self.server.read_log().splitlines() if mine in line]
            return lines if len(lines) >= 2 else None

        lines = wait_until(logged, timeout=10, message="access log lines")
        problem_line = [line for line in lines if "request_id=" + mine + " " in line + " "][0]
        self.assertIn("status=400", problem_line)
        self.assertIn("route=/api/v1/failures", problem_line)
        self.assertTrue(any("request_id=" + mine + "-2" in line and "status=200" in line for line in lines))

    def test_unknown_routes_are_404_problems(self):
        for method, path in (("GET", "/"), ("GET", "/api/v1"), ("GET", "/api/v2/failures"),
                             ("POST", "/api/v1/failure"), ("GET", "/api/v1/failures/a/b/c"),
                             ("DELETE", "/nope")):
            with self.subTest(method=method, path=path):
                r = self.api.request(method, path)
                body = self.assertProblem(r, 404)
                self.assertIn(path.split("?")[0], body["detail"])

    def test_wrong_methods_are_405_with_allow(self):
        fid = str(uuid.uuid4())
        cases = [
            ("DELETE", API + "/failures", "GET, HEAD, OPTIONS, POST"),
            ("PUT", API + "/failures", "GET, HEAD, OPTIONS, POST"),
            ("POST", API + "/failures/" + fid, "GET, HEAD, OPTIONS"),
            ("GET", API + "/failures/%s/recovery" % fid, "OPTIONS, PATCH"),
            ("PUT", API + "/failures/%s/recovery" % fid, "OPTIONS, PATCH"),
            ("GET", API + "/match", "OPTIONS, POST"),
            ("GET", API + "/catalog/reload", "OPTIONS, POST"),
            ("DELETE", API + "/admin/breaker", "GET, HEAD, OPTIONS, POST"),
            ("POST", "/healthz", "GET, HEAD, OPTIONS"),
            ("POST", "/metrics", "GET, HEAD, OPTIONS"),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                r = self.api.request(method, path)
                self.assertProblem(r, 405)
                self.assertEqual(r.headers.get("allow"), allow)

    def test_options_names_the_methods_and_grants_no_cross_site_access(self):
        for path, allow in ((API + "/failures/stats", "GET, HEAD, OPTIONS"),
                            (API + "/failures", "GET, HEAD, OPTIONS, POST")):
            with self.subTest(path=path):
                r = self.api.request("OPTIONS", path, headers={
                    "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.headers.get("allow"), allow)
                self.assertFalse([h for h in r.headers if h.startswith("access-control-")], r.headers)
        self.assertProblem(self.api.request("OPTIONS", "/nope"), 404)

    def test_a_body_that_is_not_json_is_415_and_changes_nothing(self):
        # A form or text/plain POST is what a web page can send to 127.0.0.1 without asking.
        before = self.api.get(API + "/admin/breaker").json()["state"]
        fid = str(uuid.uuid4())
        routes = [("POST", API + "/failures", "/api/v1/failures"),
                  ("POST", API + "/failures/batch", "/api/v1/failures/batch"),
                  ("POST", API + "/match", "/api/v1/match"),
                  ("POST", API + "/failures/recovery/bulk", "/api/v1/failures/recovery/bulk"),
                  ("PATCH", API + "/failures/%s/recovery" % fid, "/api/v1/failures/{id}/recovery"),
                  ("POST", API + "/admin/breaker", "/api/v1/admin/breaker")]
        bodies = {"/api/v1/admin/breaker": b'{"action":"open"}',
                  "/api/v1/failures/recovery/bulk": b'{"recovery_succeeded":true}'}
        for content_type in ("text/plain", "application/x-www-form-urlencoded",
                             "application/json; charset=latin1", None):
            for method, path, route in routes:
                with self.subTest(content_type=content_type, route=route):
                    body = bodies.get(route, b'{"run_id":"r","error_code":"E"}')
                    r = self.api.request(method, path, raw=body, headers={"Content-Type": content_type})
                    self.assertProblem(r, 415, "Content-Type", method, route)
        self.assertEqual(self.api.get(API + "/admin/breaker").json()["state"], before)
        ok = self.api.request("POST", API + "/match", raw=b'{"run_id":"r","error_code":"E"}',
                              headers={"Content-Type": "application/json; charset=UTF-8"})
        self.assertEqual(ok.status, 200, ok)
        # A body-less POST needs no type.
        self.assertNotEqual(self.api.request("POST", API + "/catalog/reload").status, 415)

    def test_head_is_get_without_a_body(self):
        r = self.api.request("HEAD", API + "/failures/stats")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, "")

    def test_a_head_answer_ends_with_its_headers(self):
        # Content after a HEAD answer's headers would be read as the start of the next response
        # on a kept-alive connection; a client that knows HEAD has no body must find none.
        sock = self.connect()
        # Answers that stay the same while other tests' rows are still being stored.
        for path in ("/healthz", API + "/catalog", API + "/failures?run_id=" + new_run()):
            with self.subTest(path=path):
                sock.sendall(("HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
                data = b""
                sock.settimeout(10)
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    self.assertTrue(chunk, "closed before the headers ended")
                    data += chunk
                sock.settimeout(0.5)
                try:
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except socket.timeout:
                    pass
                head, _, rest = data.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertIn(b"x-request-id", head.lower())
                self.assertEqual(rest, b"")
                # The headers GET would send, its length included (RFC 9110 9.3.2).
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
                fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
                get = self.api.get(path)
                self.assertEqual(int(fields[b"content-length"]), len(get.body.encode()), path)
                self.assertEqual(fields[b"content-type"].decode(), get.headers.get("content-type"))
        # The same connection still answers a GET, framed as usual.
        sock.settimeout(10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = read_response(sock)
        self.assertEqual(status, 200)
        self.assertEqual(body.strip(), b"ok")

    def test_a_connection_idle_after_a_head_answer_stays_open(self):
        # The server's header timeout (10 s) must not apply to a connection that was answered:
        # a HEAD answer leaves it idle like any other, under the keep-alive timeout.
        sock = self.connect()
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "closed before the headers ended")
            head += chunk
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        time.sleep(11)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = read_response(sock)
        self.assertEqual(status, 200, body)
        self.assertEqual(body.strip(), b"ok")

    def test_a_method_no_route_takes_is_named_in_the_405(self):
        for method in ("TRACE", "CONNECT"):
            with self.subTest(method=method):
                r = self.api.request(method, "/healthz")
                self.assertProblem(r, 405)
                self.assertIn(method, json.loads(r.body)["detail"])

    def test_reads_and_recovery_changes_wait_while_the_breaker_isolates_the_database(self):
        def breaker(action):
            r = self.api.post(API + "/admin/breaker", {"action": action})
            self.assertEqual(r.status, 200, r)

        self.addCleanup(breaker, "auto")
        stored = self.api.post(API + "/failures", failure(new_run()))
        self.assertEqual(stored.status, 202, stored)
        fid = stored.json()["id"]
        breaker("open")
        # Nothing touches the database while it is isolated: reads and recovery changes are
        # refused at once, to be retried; ingest goes on into the write-ahead log.
        for method, path, body in (("GET", API + "/failures", None),
                                   ("GET", API + "/failures/stats", None),
                                   ("GET", API + "/failures/" + fid, None),
                                   ("PATCH", API + "/failures/%s/recovery" % fid, {"recovery_succeeded": True}),
                                   ("POST", API + "/failures/recovery/bulk",
                                    {"run_id": "r", "recovery_succeeded": True})):
            with self.subTest(method=method, path=path):
                r = self.api.request(method, path, body=body)
                self.assertProblem(r, 503)
                self.assertIn("circuit breaker is open", r.json()["detail"])
                # An operator holds it open: no point retrying every second.
                self.assertEqual(r.headers.get("retry-after"), "30")
        self.assertEqual(self.api.post(API + "/failures", failure(new_run())).status, 202)
        breaker("auto")
        wait_until(lambda: self.api.get(API + "/failures/" + fid).status == 200, timeout=30,
                   message="reads answered again")

    def test_nothing_a_client_sends_is_a_500(self):
        fid = str(uuid.uuid4())
        junk_bodies = [b"", b"\x00\x01\x02", b"\xff\xfe", b"[" * 100000, b'{"a":' * 70 + b"1",
                       b'{"run_id":"r","error_code":"E","context":{"k":"\\u0000"}}',
                       b'"' + b"\\" * 1000 + b'"', b"1e999999", b'{"failures":[' + b"{}," * 2000 + b"{}]}",
                       json.dumps({"run_id": "r", "error_code": "E", "step_index": 1e300}).encode(),
                       json.dumps({"recovery_succeeded": True, "since_hours": -2 ** 63}).encode()]
        paths = [(m, API + p) for m, p in (
            ("POST", "/failures"), ("POST", "/failures/batch"), ("POST", "/match"),
            ("PATCH", "/failures/%s/recovery" % fid), ("POST", "/failures/recovery/bulk"),
            ("POST", "/admin/breaker"), ("POST", "/catalog/reload"))]
        for method, path in paths:
            for body in junk_bodies:
                with self.subTest(method=method, path=path, body=body[:20]):
                    r = self.api.request(method, path, raw=body, headers={"Content-Type": "application/json"})
                    self.assertLess(r.status, 500, r)
        queries = ["limit=%00", "limit=%", "tenant_id=%G0", "cursor=%FF%FE", "since_hours=1%00",
                   "run_id=%00", "error_code=%E9", "x" * 4000 + "=1", "=", "&&&", "limit=1e3",
                   "cursor=" + "A" * 5000, "category=%C3%28", "status=ALL", "offset=00000000000000000000001"]
        for path in ("/failures", "/failures/stats", "/failures/unrecovered", "/aggregates",
                     "/failures/" + fid, "/catalog", "/admin/breaker"):
            for q in queries:
                with self.subTest(path=path, query=q[:30]):
                    r = self.api.get(API + path + "?" + q)
                    self.assertLess(r.status, 500, r)
        for path in ("/api/v1/failures/%00", "/api/v1/failures/" + "a" * 5000, "/api/v1/failures/%2e%2e",
                     "/api//v1//failures", "/api/v1/failures/stats/", "/%ZZ"):
            with self.subTest(path=path[:40]):
                self.assertLess(self.api.get(path).status, 500)


class StoreFailureTest(ServiceTestCase, ApiAssertions):
    """A store that fails a statement answers 503 with Retry-After, and recovers with it."""

    def test_store_errors_are_503_with_retry_after(self):
        item = self.ingest(failure("run-s"))
        self.wait_persisted(1)
        sql = StoreSql(self.server, self.database)
        sql.run("ALTER TABLE failure_matches RENAME TO failure_matches_away")
        restored = []

        def restore():
            if not restored:
                sql.run("ALTER TABLE failure_matches_away RENAME TO failure_matches")
                restored.append(True)

        self.addCleanup(restore)
        checks = [
            ("GET", API + "/failures", None, "/api/v1/failures"),
            ("GET", API + "/failures/" + item["id"], None, "/api/v1/failures/{id}"),
            ("GET", API + "/failures/stats", None, "/api/v1/failures/stats"),
            ("GET", API + "/failures/unrecovered", None, "/api/v1/failures/unrecovered"),
            ("PATCH", API + "/failures/%s/recovery" % item["id"], {"recovery_succeeded": True},
             "/api/v1/failures/{id}/recovery"),
            ("POST", API + "/failures/recovery/bulk", {"recovery_succeeded": True}, "/api/v1/failures/recovery/bulk"),
        ]
        for method, path, body, route in checks:
            with self.subTest(method=method, path=path):
                r = self.api.request(method, path, body=body)
                self.assertProblem(r, 503, None, method, route)
                self.assertRegex(r.headers.get("retry-after", ""), r"^[0-9]+$")
        restore()
        r = self.api.get(API + "/failures/" + item["id"])
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
