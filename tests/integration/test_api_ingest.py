"""POST /failures, /failures/batch and /match over real HTTP: answers as documented, what gets
stored, all-or-nothing batches, and idempotent retries (also across a restart)."""

import json
import os
import shutil
import tempfile
import threading
import unittest
import uuid

from api_case import API, ApiAssertions, SharedServerCase, StoreSql, new_run, new_tenant
from harness import CATALOG, DEFAULT_TENANT, ServiceTestCase, failure


class IngestTest(SharedServerCase):
    def test_ingest_answers_the_stored_object_with_match_details(self):
        run = new_run()
        r = self.api.post(API + "/failures", failure(run, "RATE_LIMITED", "429 too many requests",
                                                     skill_id="web.search", step_index=3,
                                                     context={"attempt": 2, "model": {"name": "m"}}))
        self.assertEqual(r.status, 202, r)
        self.assertDocumented("POST", "/api/v1/failures", r)
        item = r.json()
        self.assertEqual(r.headers["location"], API + "/failures/" + item["id"])
        self.assertEqual(uuid.UUID(item["id"]).version, 7)
        self.assertEqual(item["tenant_id"], DEFAULT_TENANT)
        self.assertEqual((item["run_id"], item["error_code"], item["skill_id"], item["step_index"]),
                         (run, "RATE_LIMITED", "web.search", 3))
        self.assertEqual(item["context"], {"attempt": 2, "model": {"name": "m"}})
        self.assertEqual((item["match_type"], item["match_confidence"], item["matched_on"]),
                         ("exact", 1.0, "RATE_LIMITED"))
        self.assertIsNotNone(item["catalog_entry_id"])
        self.assertFalse(item["recovery_attempted"] or item["recovery_succeeded"])
        self.assertIsNone(item["recovered_at"])

        self.wait_count("run_id=" + run, 1)
        stored = self.api.get(r.headers["location"])
        self.assertEqual(stored.status, 200, stored)
        self.assertDocumented("GET", "/api/v1/failures/{id}", stored)
        expected = {k: v for k, v in item.items()
                    if k not in ("matched_on", "catalog_version", "runbook_url", "max_attempts",
                                 "initial_backoff_ms")}
        self.assertEqual(stored.json(), expected)

    def test_tenant_is_canonicalised_and_code_trimmed(self):
        tenant = new_tenant()
        item = self.ingest(failure(new_run(), "  RATE_LIMITED \t", tenant_id=tenant.upper()))
        self.assertEqual(item["tenant_id"], tenant)
        self.assertEqual(item["error_code"], "RATE_LIMITED")
        self.wait_count("tenant_id=" + tenant, 1)
        self.assertEqual(self.listing("tenant_id=" + tenant.upper())["total"], 1)

    def test_a_miss_has_no_catalog_fields(self):
        r = self.api.post(API + "/failures", failure(new_run(), "ZZ_NEVER_SEEN_" + uuid.uuid4().hex,
                                                     "the flux capacitor melted"))
        self.assertEqual(r.status, 202, r)
        self.assertDocumented("POST", "/api/v1/failures", r)
        item = r.json()
        self.assertEqual((item["match_type"], item["match_confidence"]), ("miss", 0.0))
        for key in ("catalog_entry_id", "category", "severity", "recovery_mode", "recovery_suggestion",
                    "matched_on", "runbook_url", "max_attempts", "initial_backoff_ms"):
            self.assertIsNone(item[key], key)
        self.assertFalse(item["is_retryable"])

    def test_optional_fields_may_be_null(self):
        item = self.ingest({"run_id": new_run(), "error_code": "X", "tenant_id": None, "error_message": None,
                            "skill_id": None, "step_index": None, "context": None, "event_id": None})
        self.assertEqual(item["tenant_id"], DEFAULT_TENANT)
        self.assertIsNone(item["context"])

    def test_batch_answers_items_in_order_and_stores_them(self):
        run = new_run()
        codes = ["RATE_LIMITED", "ZZ_UNKNOWN_1", "TIMEOUT"]
        r = self.api.post(API + "/failures/batch", {"failures": [failure(run, c, "m") for c in codes]})
        self.assertEqual(r.status, 202, r)
        self.assertDocumented("POST", "/api/v1/failures/batch", r)
        items = r.json()["items"]
        self.assertEqual([i["error_code"] for i in items], codes)
        self.assertEqual(len({i["id"] for i in items}), 3)
        self.wait_count("run_id=" + run, 3)

    def test_batch_is_all_or_nothing(self):
        run = new_run()
        r = self.api.post(API + "/failures/batch",
                          {"failures": [failure(run, "A"), failure(run, ""), failure(run, "C")]})
        self.assertProblem(r, 400, "failures[1].error_code", "POST", "/api/v1/failures/batch")
        r = self.api.post(API + "/failures/batch",
                          {"failures": [failure(run, "A"), failure(run, "B", unknown=1)]})
        self.assertProblem(r, 400, "failures[1].unknown")
        r = self.api.post(API + "/failures/batch", {"failures": [failure(run, "A"), "not an object"]})
        self.assertProblem(r, 400, "failures[1]")
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 0)

    def test_batch_size_bounds(self):
        self.assertProblem(self.api.post(API + "/failures/batch", {"failures": []}), 400, "failures")
        self.assertProblem(self.api.post(API + "/failures/batch", {}), 400, "failures")
        self.assertProblem(self.api.post(API + "/failures/batch", {"failures": {}}), 400, "failures")
        run = new_run()
        too_many = {"failures": [{"run_id": run, "error_code": "E"}] * 1001}
        self.assertProblem(self.api.post(API + "/failures/batch", too_many), 400, "failures")
        full = {"failures": [{"run_id": run, "error_code": "E%d" % i} for i in range(1000)]}
        r = self.api.post(API + "/failures/batch", full)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(len(r.json()["items"]), 1000)
        self.wait_count("run_id=" + run, 1000)

    def test_batch_rejects_a_repeated_event_id(self):
        run = new_run()
        r = self.api.post(API + "/failures/batch", {"failures": [failure(run, "A", event_id="e1"),
                                                                 failure(run, "B", event_id="e1")]})
        self.assertProblem(r, 400, "failures[1].event_id")

    def test_match_answers_without_storing(self):
        run = new_run()
        r = self.api.post(API + "/match", failure(run, "RATE_LIMITED"))
        self.assertEqual(r.status, 200, r)
        self.assertDocumented("POST", "/api/v1/match", r)
        body = r.json()
        self.assertEqual((body["match_type"], body["tenant_id"]), ("exact", DEFAULT_TENANT))
        r = self.api.post(API + "/match", failure(run, "ZZ_NOPE", "quantum foam"))
        self.assertDocumented("POST", "/api/v1/match", r)
        self.assertEqual(r.json()["match_type"], "miss")
        self.assertProblem(self.api.post(API + "/match", {"run_id": run}), 400, "error_code")
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 0)

    def test_idempotency_key_returns_the_first_answer(self):
        run = new_run()
        key = {"Idempotency-Key": "key-" + run}
        first = self.api.post(API + "/failures", failure(run, "RATE_LIMITED"), headers=key)
        self.assertEqual(first.status, 202, first)
        self.assertNotIn("idempotent-replayed", first.headers)
        again = self.api.post(API + "/failures", failure(run, "RATE_LIMITED"), headers=key)
        self.assertEqual(again.status, 202, again)
        self.assertDocumented("POST", "/api/v1/failures", again)
        self.assertEqual(again.json()["id"], first.json()["id"])
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        self.wait_count("run_id=" + run, 1)
        # Also once the first is only in the database.
        third = self.api.post(API + "/failures", failure(run, "RATE_LIMITED"), headers=key)
        self.assertEqual(third.json()["id"], first.json()["id"])
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 1)

    def test_concurrent_requests_with_one_key_all_get_the_first_answer(self):
        # Sent at once, several requests may each be matched (and their answers prepared)
        # before one of them claims the key: the others must still answer with its failure.
        run = new_run()
        key = {"Idempotency-Key": "race-" + run}
        answers = []
        lock = threading.Lock()

        def send():
            r = self.server.client().post(API + "/failures", failure(run, "RATE_LIMITED"), headers=key)
            with lock:
                answers.append(r)

        threads = [threading.Thread(target=send) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in answers], [202] * 12)
        ids = {r.json()["id"] for r in answers}
        self.assertEqual(len(ids), 1, ids)
        (only,) = ids
        for r in answers:
            self.assertEqual(r.headers.get("location"), "/api/v1/failures/" + only)
        self.assertEqual(sum(1 for r in answers if "idempotent-replayed" not in r.headers), 1)
        self.wait_count("run_id=" + run, 1)
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 1)

    def test_event_id_returns_the_first_answer_and_wins_over_the_header(self):
        run = new_run()
        first = self.ingest(failure(run, "A", event_id="ev-" + run))
        again = self.ingest(failure(run, "A", event_id="ev-" + run), headers={"Idempotency-Key": "other-" + run})
        self.assertEqual(again["id"], first["id"])
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 1)

    def test_idempotency_is_per_tenant(self):
        run = new_run()
        key = {"Idempotency-Key": "k-" + run}
        a = self.ingest(failure(run, "A", tenant_id=new_tenant()), headers=key)
        b = self.ingest(failure(run, "A", tenant_id=new_tenant()), headers=key)
        self.assertNotEqual(a["id"], b["id"])

    def test_batch_idempotency_key_keys_each_item(self):
        run = new_run()
        body = {"failures": [failure(run, "A"), failure(run, "B", event_id="own-" + run)]}
        key = {"Idempotency-Key": "batch-" + run}
        first = self.api.post(API + "/failures/batch", body, headers=key).json()["items"]
        again = self.api.post(API + "/failures/batch", body, headers=key).json()["items"]
        self.assertEqual([i["id"] for i in again], [i["id"] for i in first])
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 2)

    def test_a_key_reused_for_another_failure_is_422_and_stores_nothing(self):
        run = new_run()
        key = {"Idempotency-Key": "reuse-" + run}
        first = self.ingest(failure(run, "A"), headers=key)
        r = self.api.post(API + "/failures", failure(run, "B"), headers=key)
        body = self.assertProblem(r, 422, "Idempotency-Key", "POST", "/api/v1/failures")
        self.assertIn("different failure", body["detail"])
        self.assertEqual(self.ingest(failure(run, "A"), headers=key)["id"], first["id"])

        own = self.ingest(failure(run, "C", event_id="ev-" + run))
        r = self.api.post(API + "/failures", failure(run, "D", event_id="ev-" + run))
        self.assertProblem(r, 422, "event_id", "POST", "/api/v1/failures")
        self.assertEqual(self.ingest(failure(run, "C", event_id="ev-" + run))["id"], own["id"])

        batch_key = {"Idempotency-Key": "batch-reuse-" + run}
        items = [failure(run, "E"), failure(run, "F")]
        ok = self.api.post(API + "/failures/batch", {"failures": items}, headers=batch_key)
        self.assertEqual(ok.status, 202, ok)
        r = self.api.post(API + "/failures/batch", {"failures": [items[0], failure(run, "G")]},
                          headers=batch_key)
        body = self.assertProblem(r, 422, "Idempotency-Key", "POST", "/api/v1/failures/batch")
        self.assertIn("failures[1]", body["detail"])
        self.barrier()
        self.assertEqual(self.listing("run_id=" + run)["total"], 4)  # A, C, E, F

    def test_bad_idempotency_keys(self):
        for bad in ["", "has space", "x" * 256]:
            r = self.api.post(API + "/failures", failure(new_run()), headers={"Idempotency-Key": bad})
            self.assertProblem(r, 400, "Idempotency-Key", "POST", "/api/v1/failures")

    def test_a_batch_key_leaves_room_for_the_item_index(self):
        # Each item is keyed "<header>:<index>" in a 255-character column: a longer header
        # would be a row the database refuses.
        body = {"failures": [failure(new_run(), "A")]}
        r = self.api.post(API + "/failures/batch", body, headers={"Idempotency-Key": "x" * 252})
        self.assertProblem(r, 400, "Idempotency-Key", "POST", "/api/v1/failures/batch")
        ok = self.api.post(API + "/failures/batch", body, headers={"Idempotency-Key": "x" * 251})
        self.assertEqual(ok.status, 202, ok.body)
        self.barrier()
        self.assertEqual(self.listing("run_id=" + body["failures"][0]["run_id"])["total"], 1)


class IdempotencyAcrossRestartTest(ServiceTestCase, ApiAssertions):
    def test_a_retry_after_a_restart_gets_the_first_answer(self):
        key = {"Idempotency-Key": "restart-key"}
        first = self.ingest(failure("run-r", "RATE_LIMITED"), headers=key)
        batch = self.api.post(API + "/failures/batch", {"failures": [failure("run-r", "B", event_id="ev-1")]}).json()
        self.wait_persisted(2)
        # An operator records the recovery meanwhile: the retry still gets the first answer.
        patched = self.api.request("PATCH", API + "/failures/" + first["id"] + "/recovery",
                                   {"recovery_succeeded": True, "notes": "restarted"})
        self.assertEqual(patched.status, 200, patched)
        self.restart()
        again = self.api.post(API + "/failures", failure("run-r", "RATE_LIMITED"), headers=key)
        self.assertEqual(again.status, 202, again)
        self.assertEqual(again.json(), first)
        self.assertEqual(again.headers.get("idempotent-replayed"), "true")
        self.assertDocumented("POST", "/api/v1/failures", again)
        item = self.ingest(failure("run-r", "B", event_id="ev-1"))
        self.assertEqual(item["id"], batch["items"][0]["id"])
        self.ingest(failure("run-r", "MARKER"))
        self.wait_persisted(3)

    def test_a_retry_the_isolated_database_could_not_check_is_stored_too(self):
        # After a restart the process knows no old key; with the database isolated it cannot
        # ask, so the retry gets a new id. That id must name a stored failure once the database
        # is back (an acknowledged failure is never dropped), and the key keeps the first.
        key = {"Idempotency-Key": "isolated-key"}
        first = self.ingest(failure("run-i", "RATE_LIMITED"), headers=key)
        self.wait_persisted(1)
        self.restart()
        opened = self.api.post(API + "/admin/breaker", {"action": "open"})
        self.assertEqual(opened.status, 200, opened)
        retry = self.ingest(failure("run-i", "RATE_LIMITED"), headers=key)
        self.assertNotEqual(retry["id"], first["id"])
        again = self.ingest(failure("run-i", "RATE_LIMITED"), headers=key)
        self.assertEqual(again["id"], retry["id"])  # this process's answer, from its cache
        self.assertEqual(self.api.post(API + "/admin/breaker", {"action": "auto"}).status, 200)
        self.wait_persisted(2)
        for f in (first, retry):
            got = self.api.get(API + "/failures/" + f["id"])
            self.assertEqual(got.status, 200, got)
        self.restart()
        after = self.ingest(failure("run-i", "RATE_LIMITED"), headers=key)
        self.assertEqual(after["id"], first["id"])

    def test_a_retry_after_a_crash_gets_the_first_answer(self):
        key = {"Idempotency-Key": "crash-key"}
        first = self.ingest(failure("run-c", "RATE_LIMITED"), headers=key)
        self.restart(kill9=True)
        # The first answer was durable in the write-ahead log; the replay stores it once.
        self.wait_persisted(1)
        again = self.ingest(failure("run-c", "RATE_LIMITED"), headers=key)
        self.assertEqual(again["id"], first["id"])
        self.ingest(failure("run-c", "MARKER"))
        self.wait_persisted(2)


class CatalogReloadTest(ServiceTestCase, ApiAssertions):
    """A reload changes what new failures match, never what a retry answers; a bad file
    changes nothing."""

    def setUp(self):
        self.catalog_dir = tempfile.mkdtemp(prefix="failcat-catalog-")
        self.addCleanup(shutil.rmtree, self.catalog_dir, True)
        self.catalog_path = os.path.join(self.catalog_dir, "catalog.json")
        with open(CATALOG) as f:
            self.catalog = json.load(f)
        self.write_catalog(self.catalog)
        self.server_env = {"FAILCAT_CATALOG": self.catalog_path}
        super().setUp()

    def write_catalog(self, doc):
        with open(self.catalog_path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(self.catalog_path + ".tmp", self.catalog_path)

    def test_a_reload_moves_new_failures_and_a_retry_keeps_its_first_answer(self):
        key = {"Idempotency-Key": "reload-key"}
        first = self.ingest(failure("run-x", "FOO_NEW_CODE", "an odd thing"), headers=key)
        self.assertEqual((first["match_type"], first["catalog_entry_id"]), ("miss", None))
        before = self.api.get(API + "/catalog").json()["version"]

        added = dict(self.catalog)
        added["version"] = "reload-test"
        added["entries"] = self.catalog["entries"] + [{
            "id": "foo_new", "error_codes": ["FOO_NEW_CODE"], "category": "tool_error",
            "severity": "low", "is_retryable": True, "recovery_mode": "retry",
            "recovery_suggestion": "Retry once.", "max_attempts": 3, "initial_backoff_ms": 100}]
        self.write_catalog(added)
        r = self.api.post(API + "/catalog/reload")
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json()["version"], before)
        self.assertEqual(r.json()["entries"], len(added["entries"]))
        now = self.ingest(failure("run-y", "FOO_NEW_CODE", "an odd thing"))
        self.assertEqual((now["catalog_entry_id"], now["match_type"], now["matched_on"], now["max_attempts"]),
                         ("foo_new", "exact", "FOO_NEW_CODE", 3))

        # The retry answers the stored miss: no detail of the entry that matches it now — from
        # the process's cache, and after a restart from the database.
        for restart in (False, True):
            if restart:
                self.wait_persisted(2)
                self.restart()
            again = self.api.post(API + "/failures", failure("run-x", "FOO_NEW_CODE", "an odd thing"),
                                  headers=key)
            self.assertEqual(again.status, 202, again)
            self.assertEqual(again.headers.get("idempotent-replayed"), "true")
            item = again.json()
            self.assertEqual(item["id"], first["id"])
            self.assertEqual((item["match_type"], item["catalog_entry_id"], item["matched_on"],
                              item["max_attempts"], item["initial_backoff_ms"], item["runbook_url"]),
                             ("miss", None, None, None, None, None))

        # A catalog with a duplicate id is refused whole; the one loaded stays and still matches.
        broken = dict(added)
        broken["entries"] = added["entries"] + [added["entries"][0]]
        self.write_catalog(broken)
        loaded = self.api.get(API + "/catalog").json()["version"]
        r = self.api.post(API + "/catalog/reload")
        self.assertProblem(r, 422, "catalog")
        self.assertTrue(r.json()["problems"], r)
        self.assertEqual(r.json()["type"], "https://failcat.dev/problems/invalid-catalog")
        self.assertEqual(self.api.get(API + "/catalog").json()["version"], loaded)
        still = self.ingest(failure("run-z", "FOO_NEW_CODE", "an odd thing"))
        self.assertEqual(still["catalog_entry_id"], "foo_new")


if __name__ == "__main__":
    unittest.main(verbosity=2)
