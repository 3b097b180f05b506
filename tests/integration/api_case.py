"""Shared pieces of the API integration tests: one server per test class, SQL on either store,
and checks of responses against docs/openapi.yaml."""

import os
import sqlite3
import unittest
import uuid

import openapi_check
from harness import Database, Server, postgres_url, wait_until

API = "/api/v1"


def new_tenant():
    return str(uuid.uuid4())


def new_run(prefix="run"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class ApiAssertions:
    def assertDocumented(self, method, route, response):
        """The response's status, headers and JSON body are as docs/openapi.yaml says."""
        problems = openapi_check.response_problems(method, route, response)
        self.assertEqual(problems, [], "%s %s -> %r" % (method, route, response))

    def assertProblem(self, response, status, field=None, method=None, route=None):
        """An RFC 9457 problem with `status`, naming `field`, carrying the request id."""
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.headers.get("content-type", "").split(";")[0], "application/problem+json",
                         response)
        body = response.json()
        self.assertEqual(openapi_check.validate(body, {"$ref": "#/components/schemas/Problem"}), [], body)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["request_id"], response.headers.get("x-request-id"))
        if field is not None:
            self.assertEqual(body.get("field"), field, body)
        if method is not None:
            self.assertDocumented(method, route, response)
        return body


class StoreSql:
    """Runs SQL on the server's store: psql for PostgreSQL, sqlite3 on the file for SQLite."""

    def __init__(self, server, database):
        self.server = server
        self.database = database

    def run(self, sqlite_sql, postgres_sql=None, params=()):
        if self.database.backend == "postgres":
            sql = postgres_sql or sqlite_sql
            for p in params:
                sql = sql.replace("?", "'" + str(p).replace("'", "''") + "'", 1)
            out = self.database.query(sql)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        conn = sqlite3.connect(self.server.env["FAILCAT_SQLITE_PATH"], timeout=30)
        try:
            rows = conn.execute(sqlite_sql, params).fetchall()
            conn.commit()
            return [tuple(str(v) for v in row) for row in rows]
        finally:
            conn.close()

    def scalar(self, sqlite_sql, postgres_sql=None, params=()):
        rows = self.run(sqlite_sql, postgres_sql, params)
        return rows[0][0] if rows else None


class SharedServerCase(unittest.TestCase, ApiAssertions):
    """One server for the whole class on the backend named by FAILCAT_IT_BACKEND; tests keep
    apart by using their own run_id or tenant."""

    backend = os.environ.get("FAILCAT_IT_BACKEND", "sqlite")
    server_env = {}

    @classmethod
    def setUpClass(cls):
        if cls.backend == "postgres" and not postgres_url():
            if os.environ.get("FAILCAT_REQUIRE_POSTGRES") == "1":
                raise AssertionError("FAILCAT_TEST_DATABASE_URL is not set")
            raise unittest.SkipTest("FAILCAT_TEST_DATABASE_URL is not set")
        cls.database = Database(cls.backend)
        cls.server = Server(cls.backend, env=dict(cls.server_env), database=cls.database)
        try:
            cls.server.start()
        except Exception:
            cls.server.stop()
            cls.database.close()
            raise
        cls.api = cls.server.client()
        cls.sql = StoreSql(cls.server, cls.database)

    @classmethod
    def tearDownClass(cls):
        cls.api.close()
        cls.server.stop()
        cls.database.close()

    def ingest(self, body, expect=202, **kw):
        r = self.api.post(API + "/failures", body, **kw)
        self.assertEqual(r.status, expect, r)
        return r.json()

    def listing(self, query):
        r = self.api.get(API + "/failures?" + query)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_count(self, query, count, timeout=20):
        """Waits until `GET /failures?<query>` reports `count` rows in total."""
        return wait_until(lambda: self.listing(query + "&limit=1")["total"] == count, timeout=timeout,
                          message="%d failures for %s" % (count, query))

    def barrier(self):
        """Ingests one marker and waits until it is readable: the persister has written every
        failure accepted before it, so a test can then assert that something was NOT stored."""
        marker = new_run("barrier")
        self.ingest({"run_id": marker, "error_code": "BARRIER"})
        self.wait_count("run_id=" + marker, 1)
