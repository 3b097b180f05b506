"""Every kind of bad input the API must refuse: a 400 problem naming the field (or a 413), as
documented, never a 500 and never a partial write."""

import json
import unittest

from api_case import API, SharedServerCase, new_run, new_tenant
from harness import failure

TOO_DEEP = '{"run_id":"r-deep","error_code":"E","context":' + '{"a":' * 64 + "1" + "}" * 64 + "}"
DEEPEST_ALLOWED = '{"run_id":"r-deep","error_code":"E","context":' + '{"a":' * 63 + "1" + "}" * 63 + "}"


def body_cases():
    """(description, body, field) for POST /failures and /match."""
    r = "run-bad"
    return [
        ("unknown field", failure(r, extra=1), "extra"),
        ("missing run_id", {"error_code": "E"}, "run_id"),
        ("missing error_code", {"run_id": r}, "error_code"),
        ("run_id null", {"run_id": None, "error_code": "E"}, "run_id"),
        ("run_id number", {"run_id": 7, "error_code": "E"}, "run_id"),
        ("run_id empty", {"run_id": "", "error_code": "E"}, "run_id"),
        ("run_id too long", {"run_id": "r" * 256, "error_code": "E"}, "run_id"),
        ("error_code empty", {"run_id": r, "error_code": ""}, "error_code"),
        ("error_code blank", {"run_id": r, "error_code": "  \t "}, "error_code"),
        ("error_code too long", {"run_id": r, "error_code": "E" * 256}, "error_code"),
        ("error_code array", {"run_id": r, "error_code": ["E"]}, "error_code"),
        ("error_message too long", failure(r, message="m" * 10001), "error_message"),
        ("error_message number", failure(r, message=5), "error_message"),
        ("error_message NUL", failure(r, message="a\u0000b"), "error_message"),
        ("tenant_id not a uuid", failure(r, tenant_id="tenant-1"), "tenant_id"),
        ("tenant_id number", failure(r, tenant_id=1), "tenant_id"),
        ("skill_id empty", failure(r, skill_id=""), "skill_id"),
        ("skill_id too long", failure(r, skill_id="s" * 101), "skill_id"),
        ("step_index negative", failure(r, step_index=-1), "step_index"),
        ("step_index fraction", failure(r, step_index=1.5), "step_index"),
        ("step_index string", failure(r, step_index="1"), "step_index"),
        ("step_index too big", failure(r, step_index=2 ** 31), "step_index"),
        ("step_index huge", failure(r, step_index=2 ** 64), "step_index"),
        ("context array", failure(r, context=[1, 2]), "context"),
        ("context string", failure(r, context="{}"), "context"),
        ("context too big", failure(r, context={"k": "v" * (16 * 1024)}), "context"),
        ("event_id empty", failure(r, event_id=""), "event_id"),
        ("event_id too long", failure(r, event_id="e" * 256), "event_id"),
        ("body an array", [failure(r)], "body"),
        ("body a string", "run", "body"),
        ("body null", None, "body"),
    ]


RAW_BODIES = [
    ("empty body", b""),
    ("invalid JSON", b'{"run_id": "r",'),
    ("trailing junk", b'{"run_id": "r", "error_code": "E"} x'),
    ("invalid UTF-8", b'{"run_id": "r\xff", "error_code": "E"}'),
    ("lone surrogate", b'{"run_id": "r\\ud800", "error_code": "E"}'),
    ("too deep", TOO_DEEP.encode()),
]


class BodyValidationTest(SharedServerCase):
    def post_raw(self, path, raw):
        return self.api.request("POST", path, raw=raw, headers={"Content-Type": "application/json"})

    def test_bad_failure_bodies_name_the_field(self):
        run = "run-bad"
        for route in ("/api/v1/failures", "/api/v1/match"):
            for description, body, field in body_cases():
                with self.subTest(route=route, case=description):
                    if body is None:
                        r = self.post_raw(route, b"null")
                    else:
                        r = self.api.post(route, body)
                    self.assertProblem(r, 400, field, "POST", route)
            for description, raw in RAW_BODIES:
                with self.subTest(route=route, case=description):
                    body = self.assertProblem(self.post_raw(route, raw), 400, None, "POST", route)
                    self.assertIn(body.get("field"), ("body", "run_id"), body)
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 0)
        self.assertEqual(self.listing("run_id=r-deep")["total"], 0)

    def test_bad_batch_items_name_their_index(self):
        for description, body, field in body_cases():
            if field == "body":
                continue
            with self.subTest(case=description):
                r = self.api.post(API + "/failures/batch", {"failures": [failure("run-ok"), body]})
                self.assertProblem(r, 400, "failures[1]." + field, "POST", "/api/v1/failures/batch")
        self.assertProblem(self.api.post(API + "/failures/batch", {"failures": [], "x": 1}), 400, "x")
        self.assertProblem(self.post_raw(API + "/failures/batch", TOO_DEEP.encode()), 400, "body")
        self.barrier()
        self.assertEqual(self.listing("run_id=run-ok")["total"], 0)

    def test_a_repeated_key_is_refused(self):
        r = self.post_raw(API + "/failures", b'{"run_id": "a", "run_id": "b", "error_code": "E"}')
        self.assertProblem(r, 400, "run_id")

    def test_limits_are_inclusive(self):
        run = "r" * 255
        item = self.ingest({"run_id": run, "error_code": "E" * 255, "error_message": "\u00e9" * 10000,
                            "skill_id": "s" * 100, "step_index": 2 ** 31 - 1, "event_id": "e" * 255})
        self.assertEqual(len(item["error_message"]), 10000)
        # A context of exactly 16 KiB when serialized, and one nested to the 64-level limit.
        filler = 16 * 1024 - len(json.dumps({"k": ""}, separators=(",", ":")))
        self.ingest(failure(new_run(), context={"k": "v" * filler}))
        r = self.api.request("POST", API + "/failures", raw=DEEPEST_ALLOWED.encode(),
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 202, r)

    def test_patch_bodies(self):
        route = "/api/v1/failures/{id}/recovery"
        item = self.ingest(failure(new_run()))
        path = API + "/failures/%s/recovery" % item["id"]
        self.wait_count("run_id=" + item["run_id"], 1)
        cases = [
            ({}, "recovery_succeeded"),
            ({"recovery_succeeded": None}, "recovery_succeeded"),
            ({"recovery_succeeded": "true"}, "recovery_succeeded"),
            ({"recovery_succeeded": 1}, "recovery_succeeded"),
            ({"recovery_succeeded": True, "extra": 1}, "extra"),
            ({"recovery_succeeded": True, "recovery_attempted": False}, "recovery_attempted"),
            ({"recovery_succeeded": True, "recovery_attempted": "yes"}, "recovery_attempted"),
            ({"recovery_succeeded": True, "notes": 3}, "notes"),
            ({"recovery_succeeded": True, "notes": "n" * 10001}, "notes"),
            ({"recovery_succeeded": True, "recovered_by": ""}, "recovered_by"),
            ({"recovery_succeeded": True, "recovered_by": "b" * 101}, "recovered_by"),
            ([True], "body"),
        ]
        for body, field in cases:
            with self.subTest(body=str(body)[:60]):
                self.assertProblem(self.api.patch(path, body), 400, field, "PATCH", route)
        self.assertProblem(self.api.request("PATCH", path, raw=b"{"), 400, "body", "PATCH", route)
        self.assertProblem(self.api.patch(path + "?x=1", {"recovery_succeeded": True}), 400, "x")
        unchanged = self.api.get(API + "/failures/" + item["id"]).json()
        self.assertFalse(unchanged["recovery_attempted"])

    def test_bulk_bodies(self):
        route = "/api/v1/failures/recovery/bulk"
        cases = [
            ({}, "recovery_succeeded"),
            ({"recovery_succeeded": True, "tenant_id": "nope"}, "tenant_id"),
            ({"recovery_succeeded": True, "tenant_id": 5}, "tenant_id"),
            ({"recovery_succeeded": True, "run_id": ""}, "run_id"),
            ({"recovery_succeeded": True, "run_id": "r" * 256}, "run_id"),
            ({"recovery_succeeded": True, "error_code": "e" * 256}, "error_code"),
            ({"recovery_succeeded": True, "category": "c" * 51}, "category"),
            ({"recovery_succeeded": True, "since_hours": 0}, "since_hours"),
            ({"recovery_succeeded": True, "since_hours": 8761}, "since_hours"),
            ({"recovery_succeeded": True, "since_hours": "24"}, "since_hours"),
            ({"recovery_succeeded": True, "status": "done"}, "status"),
            ({"recovery_succeeded": True, "status": 1}, "status"),
            ({"recovery_succeeded": True, "limit": 10}, "limit"),
            ({"recovery_succeeded": True, "run_id": None}, "run_id"),
            ({"recovery_succeeded": True, "tenant_id": None}, "tenant_id"),
            ({"recovery_succeeded": True, "status": None}, "status"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assertProblem(self.api.post(API + "/failures/recovery/bulk", body), 400, field, "POST", route)

    def test_breaker_bodies(self):
        for body, field in [({}, "action"), ({"action": "toggle"}, "action"), ({"action": 1}, "action"),
                            ({"action": "auto", "x": 1}, "x")]:
            with self.subTest(body=body):
                self.assertProblem(self.api.post(API + "/admin/breaker", body), 400, field, "POST",
                                   "/api/v1/admin/breaker")

    def test_bodies_over_the_limit_are_413(self):
        big = b'{"run_id":"r","error_code":"E","error_message":"' + b"m" * (64 * 1024) + b'"}'
        for route in ("/failures", "/match", "/failures/recovery/bulk", "/admin/breaker"):
            with self.subTest(route=route):
                r = self.api.request("POST", API + route, raw=big, headers={"Content-Type": "application/json"})
                self.assertProblem(r, 413)
        r = self.api.request("PATCH", API + "/failures/%s/recovery" % new_tenant(), raw=big)
        self.assertProblem(r, 413, None, "PATCH", "/api/v1/failures/{id}/recovery")
        # Exactly 64 KiB is within the limit (and then refused for what it says).
        head, tail = b'{"run_id":"r","error_code":"E","error_message":"', b'"}'
        exact = head + b"m" * (64 * 1024 - len(head) - len(tail)) + tail
        self.assertEqual(len(exact), 64 * 1024)
        self.assertProblem(self.api.request("POST", API + "/failures", raw=exact), 400, "error_message")

    def test_a_batch_item_may_not_take_another_items_key(self):
        run = new_run()
        route = "/api/v1/failures/batch"
        # Item 1's key is derived from the header (`k-<run>:1`); item 0 names it as its event_id.
        key = {"Idempotency-Key": "k-" + run}
        body = {"failures": [failure(run, "A", event_id="k-%s:1" % run), failure(run, "B")]}
        r = self.api.post(API + "/failures/batch", body, headers=key)
        self.assertProblem(r, 400, "failures[0].event_id", "POST", route)
        body = {"failures": [failure(run, "B"), failure(run, "A", event_id="k-%s:0" % run)]}
        r = self.api.post(API + "/failures/batch", body, headers=key)
        self.assertProblem(r, 400, "failures[1].event_id", "POST", route)
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 0)
        # Keys are per tenant: another tenant's item may hold that key.
        a, b = new_tenant(), new_tenant()
        body = {"failures": [failure(run, "A", event_id="k-%s:1" % run, tenant_id=a),
                             failure(run, "A", tenant_id=b)]}
        r = self.api.post(API + "/failures/batch", body, headers=key)
        self.assertEqual(r.status, 202, r)
        self.assertNotEqual(r.json()["items"][0]["id"], r.json()["items"][1]["id"])

    def test_batch_bodies_may_reach_one_mebibyte(self):
        run = new_run()
        item = {"run_id": run, "error_code": "E", "error_message": "m" * 9000}
        n = (1 << 20) // len(json.dumps(item))
        body = json.dumps({"failures": [item] * n}).encode()
        self.assertLess(len(body), 1 << 20)
        self.assertGreater(len(body), 64 * 1024)
        r = self.api.request("POST", API + "/failures/batch", raw=body)
        self.assertEqual(r.status, 202, r)
        exact = body[:-1] + b" " * ((1 << 20) - len(body)) + b"}"
        self.assertEqual(len(exact), 1 << 20)
        r = self.api.request("POST", API + "/failures/batch", raw=exact)
        self.assertEqual(r.status, 202, r)
        over = body[:-1] + b" " * ((1 << 20) + 1 - len(body)) + b"}"
        r = self.api.request("POST", API + "/failures/batch", raw=over)
        self.assertProblem(r, 413, None, "POST", "/api/v1/failures/batch")
        self.wait_count("run_id=" + run, 2 * n)


class QueryValidationTest(SharedServerCase):
    def test_list_parameters(self):
        cases = [
            ("bogus=1", "bogus"),
            ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
            ("limit=", "limit"), ("limit=1.5", "limit"), ("limit=%2B5", "limit"), ("limit=99999999999999999999", "limit"),
            ("offset=-1", "offset"), ("offset=1000001", "offset"),
            ("since_hours=0", "since_hours"), ("since_hours=8761", "since_hours"),
            ("status=open", "status"),
            ("tenant_id=abc", "tenant_id"), ("tenant_id=", "tenant_id"),
            ("run_id=", "run_id"), ("run_id=" + "r" * 256, "run_id"),
            ("error_code=", "error_code"), ("error_code=" + "e" * 256, "error_code"),
            ("category=" + "c" * 51, "category"),
            ("cursor=", "cursor"), ("cursor=not-a-cursor", "cursor"), ("cursor=%%%", "cursor"),
            ("run_id=%ZZ", "run_id"),
        ]
        for query, field in cases:
            with self.subTest(query=query[:40]):
                r = self.api.get(API + "/failures?" + query)
                self.assertProblem(r, 400, field, "GET", "/api/v1/failures")

    def test_cursor_and_offset_do_not_mix(self):
        run = new_run()
        self.api.post(API + "/failures/batch", {"failures": [failure(run)] * 3})
        self.wait_count("run_id=" + run, 3)
        cursor = self.listing("run_id=%s&limit=1" % run)["next_cursor"]
        self.assertIsNotNone(cursor)
        r = self.api.get(API + "/failures?run_id=%s&cursor=%s&offset=1" % (run, cursor))
        self.assertProblem(r, 400, "cursor")
        self.assertEqual(self.api.get(API + "/failures?run_id=%s&cursor=%s&offset=0" % (run, cursor)).status, 200)

    def test_other_routes(self):
        some_id = new_tenant()
        cases = [
            ("/failures/stats?since_hours=0", "since_hours", "/api/v1/failures/stats"),
            ("/failures/stats?since_hours=8761", "since_hours", "/api/v1/failures/stats"),
            ("/failures/stats?tenant_id=x", "tenant_id", "/api/v1/failures/stats"),
            ("/failures/stats?limit=5", "limit", "/api/v1/failures/stats"),
            ("/failures/unrecovered?status=all", "status", "/api/v1/failures/unrecovered"),
            ("/failures/unrecovered?limit=1001", "limit", "/api/v1/failures/unrecovered"),
            ("/failures/unrecovered?offset=x", "offset", "/api/v1/failures/unrecovered"),
            ("/failures/unrecovered?category=", "category", "/api/v1/failures/unrecovered"),
            ("/aggregates?limit=10001", "limit", "/api/v1/aggregates"),
            ("/aggregates?limit=0", "limit", "/api/v1/aggregates"),
            ("/aggregates?run_id=r", "run_id", "/api/v1/aggregates"),
            ("/failures/%s?x=1" % some_id, "x", "/api/v1/failures/{id}"),
            ("/catalog?x=1", "x", "/api/v1/catalog"),
            ("/admin/breaker?x=1", "x", "/api/v1/admin/breaker"),
        ]
        for path, field, route in cases:
            with self.subTest(path=path):
                self.assertProblem(self.api.get(API + path), 400, field, "GET", route)

    def test_post_routes_refuse_query_parameters(self):
        run = new_run()
        cases = [
            ("/failures?dry_run=1", failure(run), "/api/v1/failures"),
            ("/failures/batch?x=1", {"failures": [failure(run)]}, "/api/v1/failures/batch"),
            ("/match?x=1", failure(run), "/api/v1/match"),
            ("/failures/recovery/bulk?run_id=" + run, {"recovery_succeeded": True}, "/api/v1/failures/recovery/bulk"),
            ("/admin/breaker?action=open", {"action": "auto"}, "/api/v1/admin/breaker"),
            ("/catalog/reload?x=1", None, "/api/v1/catalog/reload"),
        ]
        for path, body, route in cases:
            with self.subTest(path=path):
                r = self.api.post(API + path, body) if body is not None else self.api.request("POST", API + path)
                self.assertProblem(r, 400, path.split("?")[1].split("=")[0], "POST", route)
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 0)

    def test_invalid_ids_in_the_path(self):
        for bad in ("not-a-uuid", "0000", "01a22b39-fd57-7131-ad5e-ef7a58ea2b5", "%20"):
            with self.subTest(id=bad):
                self.assertProblem(self.api.get(API + "/failures/" + bad), 400, "id", "GET", "/api/v1/failures/{id}")
                self.assertProblem(self.api.patch(API + "/failures/%s/recovery" % bad, {"recovery_succeeded": True}),
                                   400, "id", "PATCH", "/api/v1/failures/{id}/recovery")
        unknown = new_tenant()
        self.assertProblem(self.api.get(API + "/failures/" + unknown), 404, None, "GET", "/api/v1/failures/{id}")
        self.assertProblem(self.api.patch(API + "/failures/%s/recovery" % unknown, {"recovery_succeeded": True}),
                           404, None, "PATCH", "/api/v1/failures/{id}/recovery")


if __name__ == "__main__":
    unittest.main(verbosity=2)
