"""The read side over a known data set: every list filter, offset and cursor paging (they
agree), stats numbers, the unrecovered order, aggregates, the catalog and route precedence."""

import unittest
import urllib.parse

from api_case import API, SharedServerCase, new_run, new_tenant
from harness import failure, wait_until

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, None: 4}


class QueryTest(SharedServerCase):
    server_env = {"FAILCAT_AGGREGATE_INTERVAL_SECONDS": "1"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant = new_tenant()
        cls.run_a, cls.run_b, cls.run_old = new_run("a"), new_run("b"), new_run("old")
        t = {"tenant_id": cls.tenant}
        rows = ([failure(cls.run_a, "RATE_LIMITED", "429", **t)] * 3
                + [failure(cls.run_b, "INVALID_API_KEY", "bad key", **t)] * 2
                + [failure(cls.run_b, "DISK_FULL", "no space left", **t)]
                + [failure(cls.run_a, "RUN_CANCELLED", "cancelled by user", **t)]
                + [failure(cls.run_a, "ZZ_UNKNOWN_A", "widget exploded after 3 tries", **t)]
                + [failure(cls.run_b, "ZZ_UNKNOWN_A", "widget exploded after 7 tries", **t)]
                + [failure(cls.run_b, "ZZ_UNKNOWN_B", "gizmo melted", **t)]
                + [failure(cls.run_old, "RATE_LIMITED", "429", **t)])
        r = cls.api.post(API + "/failures/batch", {"failures": rows})
        assert r.status == 202, r
        cls.items = r.json()["items"]
        wait_until(lambda: cls.api.get(API + "/failures?limit=1&tenant_id=" + cls.tenant).json()["total"] == 11,
                   message="the data set")
        # One row from two days ago, outside the default 24 h window.
        cls.sql.run("UPDATE failure_matches SET created_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-48 hours') "
                    "WHERE run_id = ?",
                    "UPDATE failure_matches SET created_at = now() - interval '48 hours' WHERE run_id = ?",
                    (cls.run_old,))
        by_code = {}
        for item in cls.items:
            by_code.setdefault(item["error_code"], []).append(item["id"])
        cls.recovered_id = by_code["RATE_LIMITED"][0]
        cls.failed_id = by_code["INVALID_API_KEY"][0]
        for fid, ok in ((cls.recovered_id, True), (cls.failed_id, False)):
            r = cls.api.patch(API + "/failures/%s/recovery" % fid, {"recovery_succeeded": ok})
            assert r.status == 200, r

    def query(self, **params):
        params.setdefault("tenant_id", self.tenant)
        return self.listing(urllib.parse.urlencode(params))

    def test_filters(self):
        cases = [
            ({}, 10),
            ({"run_id": self.run_a}, 5),
            ({"run_id": self.run_b}, 5),
            ({"error_code": "RATE_LIMITED"}, 3),
            ({"error_code": " RATE_LIMITED "}, 3),
            ({"error_code": "ZZ_UNKNOWN_A"}, 2),
            ({"category": "auth"}, 2),
            ({"category": "storage", "run_id": self.run_b}, 1),
            ({"category": "storage", "run_id": self.run_a}, 0),
            ({"status": "recovered"}, 1),
            ({"status": "unrecovered"}, 9),
            ({"status": "all"}, 10),
            ({"since_hours": 72}, 11),
            ({"since_hours": 72, "error_code": "RATE_LIMITED"}, 4),
            ({"since_hours": 72, "run_id": self.run_old}, 1),
            ({"since_hours": 1}, 10),
            ({"tenant_id": new_tenant()}, 0),
        ]
        for params, total in cases:
            with self.subTest(params=params):
                r = self.api.get(API + "/failures?" + urllib.parse.urlencode(dict({"tenant_id": self.tenant}, **params)))
                self.assertEqual(r.status, 200, r)
                self.assertDocumented("GET", "/api/v1/failures", r)
                page = r.json()
                self.assertEqual(page["total"], total)
                self.assertTrue(page["total_exact"])  # far below the 10,000 it counts up to
                self.assertEqual(len(page["items"]), total)
                for item in page["items"]:
                    self.assertEqual(item["tenant_id"], self.tenant)
                    for key in ("run_id", "category"):
                        if key in params:
                            self.assertEqual(item[key], params[key])
                    if params.get("status") == "recovered":
                        self.assertTrue(item["recovery_succeeded"])
                    if params.get("status") == "unrecovered":
                        self.assertFalse(item["recovery_succeeded"])

    def test_default_page_and_order(self):
        page = self.query()
        self.assertEqual((page["limit"], page["offset"], page["next_cursor"]), (100, 0, None))
        keys = [(i["created_at"], i["id"]) for i in page["items"]]
        self.assertEqual(keys, sorted(keys, reverse=True))

    def collect_by_offset(self, params, limit):
        ids, offset = [], 0
        while True:
            page = self.listing(urllib.parse.urlencode(dict(params, limit=limit, offset=offset)))
            self.assertEqual((page["limit"], page["offset"]), (limit, offset))
            ids += [i["id"] for i in page["items"]]
            if len(page["items"]) < limit:
                return ids, page["total"]
            offset += limit

    def collect_by_cursor(self, params, limit):
        ids, links = [], []
        r = self.api.get(API + "/failures?" + urllib.parse.urlencode(dict(params, limit=limit)))
        while True:
            self.assertEqual(r.status, 200, r)
            self.assertDocumented("GET", "/api/v1/failures", r)
            page = r.json()
            ids += [i["id"] for i in page["items"]]
            if page["next_cursor"] is None:
                self.assertNotIn("link", r.headers)
                return ids, links
            link = r.headers["link"]
            self.assertTrue(link.endswith('>; rel="next"'), link)
            url = link[1:link.index(">")]
            links.append(url)
            self.assertEqual(urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["cursor"], [page["next_cursor"]])
            r = self.api.get(url)

    def test_offset_and_cursor_paging_agree(self):
        tenant = new_tenant()
        run = new_run()
        # Batches give many rows the same created_at, so the id breaks ties.
        for _ in range(3):
            body = {"failures": [failure(run, "E%d" % i, tenant_id=tenant) for i in range(9)]}
            self.assertEqual(self.api.post(API + "/failures/batch", body).status, 202)
        self.wait_count("tenant_id=" + tenant, 27)
        params = {"tenant_id": tenant, "run_id": run}
        everything = [i["id"] for i in self.listing(urllib.parse.urlencode(dict(params, limit=1000)))["items"]]
        self.assertEqual(len(everything), 27)
        for limit in (1, 4, 27, 30):
            with self.subTest(limit=limit):
                by_offset, total = self.collect_by_offset(params, limit)
                by_cursor, links = self.collect_by_cursor(params, limit)
                self.assertEqual(total, 27)
                self.assertEqual(by_offset, everything)
                self.assertEqual(by_cursor, everything)
                for url in links:
                    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
                    self.assertEqual(query["tenant_id"], [tenant])
                    self.assertEqual(query["run_id"], [run])
                    self.assertEqual(query["limit"], [str(limit)])
                    self.assertNotIn("offset", query)
        # A cursor page that starts mid-way, with an offset of 0 allowed alongside.
        first = self.listing(urllib.parse.urlencode(dict(params, limit=10)))
        rest = self.listing(urllib.parse.urlencode(dict(params, limit=1000, offset=0, cursor=first["next_cursor"])))
        self.assertEqual([i["id"] for i in rest["items"]], everything[10:])
        # A cursor page reports the same total as the first page: rows matching the filter.
        self.assertEqual((rest["total"], rest["total_exact"]), (27, True))
        # A cursor pages the filters it was issued for; with others it is a 400, not a misread.
        for other in (dict(params, run_id=new_run()), dict(params, status="recovered"),
                      dict(params, since_hours=48), {"tenant_id": tenant}):
            with self.subTest(other=other):
                r = self.api.get(API + "/failures?" + urllib.parse.urlencode(dict(other, cursor=first["next_cursor"])))
                self.assertProblem(r, 400, "cursor", "GET", "/api/v1/failures")

    def test_stats_numbers(self):
        r = self.api.get(API + "/failures/stats?tenant_id=" + self.tenant)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/api/v1/failures/stats", r)
        s = r.json()
        self.assertEqual((s["window_hours"], s["total"], s["matched"], s["missed"]), (24, 10, 7, 3))
        self.assertAlmostEqual(s["hit_rate"], 0.7)
        self.assertEqual(s["recovery"], {"attempted": 2, "succeeded": 1, "failed": 1, "pending": 9,
                                         "success_rate": 0.5})
        # Misses have no category or severity and are counted under by_match_type only.
        self.assertEqual(s["by_category"], {"rate_limit": 3, "auth": 2, "storage": 1, "cancelled": 1})
        self.assertEqual(s["by_severity"], {"critical": 3, "medium": 3, "low": 1})
        self.assertEqual(s["by_match_type"], {"exact": 7, "miss": 3})
        self.assertEqual(s["top_error_codes"][0], {"error_code": "RATE_LIMITED", "count": 3})
        self.assertEqual({(c["error_code"], c["count"]) for c in s["top_error_codes"]},
                         {("RATE_LIMITED", 3), ("INVALID_API_KEY", 2), ("ZZ_UNKNOWN_A", 2), ("DISK_FULL", 1),
                          ("RUN_CANCELLED", 1), ("ZZ_UNKNOWN_B", 1)})
        unmatched = s["top_unmatched"]
        self.assertEqual([(u["error_code"], u["count"]) for u in unmatched], [("ZZ_UNKNOWN_A", 2), ("ZZ_UNKNOWN_B", 1)])
        self.assertIn("widget exploded", unmatched[0]["sample_message"])
        # The old row counts in a wider window.
        wide = self.api.get(API + "/failures/stats?since_hours=72&tenant_id=" + self.tenant).json()
        self.assertEqual((wide["window_hours"], wide["total"], wide["matched"]), (72, 11, 8))
        empty = self.api.get(API + "/failures/stats?tenant_id=" + new_tenant())
        self.assertDocumented("GET", "/api/v1/failures/stats", empty)
        self.assertEqual((empty.json()["total"], empty.json()["hit_rate"], empty.json()["recovery"]["success_rate"]),
                         (0, 0, 0))

    def test_unrecovered_order_and_filters(self):
        r = self.api.get(API + "/failures/unrecovered?tenant_id=" + self.tenant)
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/api/v1/failures/unrecovered", r)
        page = r.json()
        self.assertEqual((page["total"], page["limit"], page["offset"]), (9, 100, 0))
        self.assertNotIn(self.recovered_id, [i["id"] for i in page["items"]])
        self.assertIn(self.failed_id, [i["id"] for i in page["items"]])
        ranks = [(SEVERITY_RANK[i["severity"]], i["created_at"], i["id"]) for i in page["items"]]
        self.assertEqual([x[0] for x in ranks], sorted(x[0] for x in ranks))
        for a, b in zip(ranks, ranks[1:]):
            if a[0] == b[0]:
                self.assertGreaterEqual(a[1:], b[1:])
        self.assertEqual([i["severity"] for i in page["items"]][:3], ["critical"] * 3)
        auth = self.api.get(API + "/failures/unrecovered?category=auth&tenant_id=" + self.tenant).json()
        self.assertEqual(auth["total"], 2)
        second = self.api.get(API + "/failures/unrecovered?limit=4&offset=4&tenant_id=" + self.tenant).json()
        self.assertEqual([i["id"] for i in second["items"]], [i["id"] for i in page["items"][4:8]])
        wide = self.api.get(API + "/failures/unrecovered?since_hours=72&tenant_id=" + self.tenant).json()
        self.assertEqual(wide["total"], 10)

    def test_aggregates(self):
        def rows():
            r = self.api.get(API + "/aggregates?since_hours=72&tenant_id=" + self.tenant)
            self.assertEqual(r.status, 200, r)
            self.assertDocumented("GET", "/api/v1/aggregates", r)
            return r.json()

        body = wait_until(lambda: (lambda b: b if sum(i["failure_count"] for i in b["items"]) >= 11 else None)(rows()),
                          timeout=30, message="hourly rollups of the data set")
        self.assertEqual(body["window_hours"], 72)
        self.assertEqual(sum(i["failure_count"] for i in body["items"]), 11)
        for item in body["items"]:
            self.assertEqual(item["tenant_id"], self.tenant)
        misses = [i for i in body["items"] if i["match_type"] == "miss"]
        self.assertTrue(misses)
        self.assertTrue(all(i["catalog_entry_id"] is None for i in misses))
        limited = self.api.get(API + "/aggregates?limit=1&since_hours=72&tenant_id=" + self.tenant).json()
        self.assertEqual(len(limited["items"]), 1)

    def test_catalog_and_breaker(self):
        r = self.api.get(API + "/catalog")
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/api/v1/catalog", r)
        catalog = r.json()
        self.assertGreaterEqual(len(catalog["entries"]), 40)
        self.assertEqual(catalog["summary"]["entries"], len(catalog["entries"]))
        r = self.api.get(API + "/admin/breaker")
        self.assertDocumented("GET", "/api/v1/admin/breaker", r)
        self.assertEqual(r.json()["state"], "closed")
        r = self.api.post(API + "/catalog/reload")
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/api/v1/catalog/reload", r)
        self.assertEqual(r.json()["version"], catalog["version"])
        self.assertEqual(self.api.post(API + "/catalog/reload", {}).status, 200)
        # The route takes no body: a field in one is refused like any unknown field.
        r = self.api.post(API + "/catalog/reload", {"path": "/etc/passwd"})
        self.assertProblem(r, 400, field="path")

    def test_operations_routes(self):
        for path in ("/healthz", "/livez", "/readyz", "/metrics", "/ui", "/ui/app.js", "/ui/app.css"):
            with self.subTest(path=path):
                r = self.api.get(path)
                self.assertEqual(r.status, 200, r)
                self.assertDocumented("GET", path, r)
        self.assertEqual(self.api.get("/readyz").body.strip(), "ok")
        self.assertEqual(self.api.get("/ui/").status, 200)
        self.assertIn("failure_match_hits_total", self.api.get("/metrics").body)

    def test_literal_routes_win_over_ids(self):
        r = self.api.get(API + "/failures/stats")
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/api/v1/failures/stats", r)
        r = self.api.get(API + "/failures/unrecovered")
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("GET", "/api/v1/failures/unrecovered", r)
        for path, method, allow in ((API + "/failures/stats", "POST", "GET, HEAD, OPTIONS"),
                                    (API + "/failures/unrecovered", "PATCH", "GET, HEAD, OPTIONS"),
                                    (API + "/failures/batch", "GET", "OPTIONS, POST"),
                                    (API + "/failures/recovery/bulk", "GET", "OPTIONS, POST")):
            with self.subTest(path=path, method=method):
                r = self.api.request(method, path)
                self.assertProblem(r, 405)
                self.assertEqual(r.headers.get("allow"), allow)
        # `stats` is no id, and no route of its own below it.
        r = self.api.patch(API + "/failures/stats/recovery", {"recovery_succeeded": True})
        self.assertProblem(r, 400, "id", "PATCH", "/api/v1/failures/{id}/recovery")


if __name__ == "__main__":
    unittest.main(verbosity=2)
