"""PATCH /failures/{id}/recovery (with If-Match and its 412) and POST /failures/recovery/bulk:
what changes, what is audited, what the answers look like."""

import re
import unittest

from api_case import API, SharedServerCase, new_run, new_tenant
from harness import failure

PATCH_ROUTE = "/api/v1/failures/{id}/recovery"
BULK_ROUTE = "/api/v1/failures/recovery/bulk"


def counter(metrics_text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), metrics_text, re.M)
    return float(m.group(1)) if m else 0.0


class RecoveryTest(SharedServerCase):
    def stored(self, run=None, **extra):
        run = run or new_run()
        item = self.ingest(failure(run, **extra))
        self.wait_count("run_id=" + run, 1)
        return item

    def patch(self, fid, body, **headers):
        return self.api.patch(API + "/failures/%s/recovery" % fid, body, headers=headers)

    def audit_rows(self, fid):
        return self.sql.run("SELECT new_succeeded, notes FROM failure_recovery_events WHERE failure_id = ? "
                            "ORDER BY event_id", None, (fid,))

    def test_marking_recovered(self):
        item = self.stored()
        before = self.api.get(API + "/failures/" + item["id"])
        metrics = self.api.get("/metrics").body
        r = self.patch(item["id"], {"recovery_succeeded": True, "notes": "retried by hand", "recovered_by": "alice"})
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("PATCH", PATCH_ROUTE, r)
        body = r.json()
        self.assertTrue(body["recovery_succeeded"] and body["recovery_attempted"])
        self.assertEqual((body["recovered_by"], body["recovery_notes"]), ("alice", "retried by hand"))
        self.assertIsNotNone(body["recovered_at"])
        self.assertGreater(body["updated_at"], before.json()["updated_at"])
        self.assertEqual(body["created_at"], item["created_at"])
        self.assertNotEqual(r.headers["etag"], before.headers["etag"])
        after = self.api.get(API + "/failures/" + item["id"])
        self.assertEqual(after.json(), body)
        self.assertEqual(after.headers["etag"], r.headers["etag"])
        self.assertEqual(len(self.audit_rows(item["id"])), 1)
        self.assertIn("retried by hand", self.audit_rows(item["id"])[0][1])
        metrics_after = self.api.get("/metrics").body
        self.assertEqual(counter(metrics_after, "recovery_success_total"),
                         counter(metrics, "recovery_success_total") + 1)

    def test_a_failed_recovery_and_undoing_one(self):
        item = self.stored()
        metrics = self.api.get("/metrics").body
        r = self.patch(item["id"], {"recovery_succeeded": False})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual((body["recovery_attempted"], body["recovery_succeeded"], body["recovered_at"]),
                         (True, False, None))
        self.assertEqual(counter(self.api.get("/metrics").body, "recovery_failure_total"),
                         counter(metrics, "recovery_failure_total") + 1)
        self.assertTrue(self.patch(item["id"], {"recovery_succeeded": True}).json()["recovered_at"])
        undone = self.patch(item["id"], {"recovery_succeeded": False, "recovery_attempted": False}).json()
        self.assertEqual((undone["recovery_attempted"], undone["recovery_succeeded"], undone["recovered_at"]),
                         (False, False, None))
        self.assertEqual(len(self.audit_rows(item["id"])), 3)

    def test_if_match(self):
        item = self.stored()
        etag = self.api.get(API + "/failures/" + item["id"]).headers["etag"]
        r = self.patch(item["id"], {"recovery_succeeded": True, "notes": "first"}, **{"If-Match": etag})
        self.assertEqual(r.status, 200, r)
        current = r.headers["etag"]
        stale = self.patch(item["id"], {"recovery_succeeded": False, "notes": "second"}, **{"If-Match": etag})
        self.assertProblem(stale, 412, "If-Match", "PATCH", PATCH_ROUTE)
        self.assertEqual(stale.headers.get("etag"), current)
        for bad in ('W/' + current, "abc", '"-1"', etag + ", W/" + current, '""', ","):
            with self.subTest(if_match=bad):
                refused = self.patch(item["id"], {"recovery_succeeded": False}, **{"If-Match": bad})
                self.assertProblem(refused, 412, "If-Match", "PATCH", PATCH_ROUTE)
                self.assertEqual(refused.headers.get("etag"), current)  # what to send instead
        unchanged = self.api.get(API + "/failures/" + item["id"]).json()
        self.assertEqual((unchanged["recovery_notes"], unchanged["recovery_succeeded"]), ("first", True))
        self.assertEqual(len(self.audit_rows(item["id"])), 1)
        r = self.patch(item["id"], {"recovery_succeeded": False, "notes": "third"}, **{"If-Match": current})
        self.assertEqual(r.status, 200, r)
        # A list of tags matches when any of them is current (RFC 9110 §13.1.1).
        r = self.patch(item["id"], {"recovery_succeeded": False, "notes": "fourth"},
                       **{"If-Match": etag + " ,\t" + r.headers["etag"] + ", \"1\""})
        self.assertEqual(r.status, 200, r)
        r = self.patch(item["id"], {"recovery_succeeded": True}, **{"If-Match": "*"})
        self.assertEqual(r.status, 200, r)
        # If-Match on an unknown failure is a 404, and with a bad body a 400, not a 412,
        # whatever the tag (preconditions come last).
        for tag in (current, "abc"):
            with self.subTest(if_match=tag):
                self.assertProblem(self.patch(new_tenant(), {"recovery_succeeded": True}, **{"If-Match": tag}), 404)
                self.assertProblem(self.patch(item["id"], {"recovery_succeeded": "yes"}, **{"If-Match": tag}),
                                   400, "recovery_succeeded")

    def test_bulk_updates_every_match_and_audits_each(self):
        run = new_run()
        tenant = new_tenant()
        other = new_tenant()
        self.api.post(API + "/failures/batch", {"failures": [failure(run, "RATE_LIMITED", tenant_id=tenant)] * 4
                                                + [failure(run, "INVALID_API_KEY", tenant_id=tenant)]
                                                + [failure(run, "RATE_LIMITED", tenant_id=other)]})
        self.wait_count("run_id=" + run, 6)
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "tenant_id": tenant, "category": "rate_limit",
                                                            "recovery_succeeded": True, "notes": "provider recovered",
                                                            "recovered_by": "ops"})
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", BULK_ROUTE, r)
        self.assertEqual(r.json(), {"updated": 4})
        recovered = self.listing("status=recovered&run_id=" + run)
        self.assertEqual(recovered["total"], 4)
        for item in recovered["items"]:
            self.assertEqual((item["tenant_id"], item["recovered_by"], item["recovery_notes"]),
                             (tenant, "ops", "provider recovered"))
            self.assertIsNotNone(item["recovered_at"])
            self.assertEqual(len(self.audit_rows(item["id"])), 1)
        # Only what is still unrecovered; error_code filter.
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "status": "unrecovered",
                                                            "error_code": "RATE_LIMITED", "recovery_succeeded": False})
        self.assertEqual(r.json(), {"updated": 1})
        # Rows already in the state asked for keep their recovery time, notes and audit trail.
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "status": "recovered",
                                                            "recovery_succeeded": True, "notes": "again"})
        self.assertEqual(r.json(), {"updated": 0})
        again = self.listing("status=recovered&run_id=" + run)["items"]
        self.assertEqual(again, recovered["items"])
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "status": "recovered",
                                                            "recovery_succeeded": False})
        self.assertEqual(r.json(), {"updated": 4})
        for item in again:
            self.assertEqual(len(self.audit_rows(item["id"])), 2)
        self.assertEqual(self.listing("status=unrecovered&run_id=" + run)["total"], 6)
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": new_run(), "recovery_succeeded": True})
        self.assertEqual(r.json(), {"updated": 0})

    def test_bulk_window(self):
        run = new_run()
        self.api.post(API + "/failures/batch", {"failures": [failure(run)] * 3})
        self.wait_count("run_id=" + run, 3)
        old = self.listing("run_id=" + run)["items"][0]["id"]
        self.sql.run("UPDATE failure_matches SET created_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-48 hours') "
                     "WHERE id = ?",
                     "UPDATE failure_matches SET created_at = now() - interval '48 hours' WHERE id = ?", (old,))
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "recovery_succeeded": True})
        self.assertEqual(r.json(), {"updated": 2})
        self.assertFalse(self.api.get(API + "/failures/" + old).json()["recovery_succeeded"])
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "since_hours": 72, "recovery_succeeded": True})
        self.assertEqual(r.json(), {"updated": 1})  # the two recovered already are left as they are
        self.assertTrue(self.api.get(API + "/failures/" + old).json()["recovery_succeeded"])

    def test_bulk_has_no_thousand_row_cap(self):
        run = new_run()
        for _ in range(2):
            r = self.api.post(API + "/failures/batch", {"failures": [{"run_id": run, "error_code": "E"}] * 600})
            self.assertEqual(r.status, 202, r)
        self.wait_count("run_id=" + run, 1200)
        r = self.api.post(API + "/failures/recovery/bulk", {"run_id": run, "recovery_succeeded": True})
        self.assertEqual(r.json(), {"updated": 1200})
        self.assertEqual(self.listing("status=recovered&run_id=" + run)["total"], 1200)
        events = self.sql.scalar("SELECT count(*) FROM failure_recovery_events e JOIN failure_matches f "
                                 "ON f.id = e.failure_id WHERE f.run_id = ?", None, (run,))
        self.assertEqual(int(events), 1200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
