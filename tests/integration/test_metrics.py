"""Counters move exactly: a known mix of failures and recovery updates moves each seed counter
by exactly its share, and the live exposition passes `promtool check metrics`."""

import json
import shutil
import subprocess
import unittest

import harness


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class CounterDeltas(harness.ServiceTestCase):
    def classify(self, body):
        r = self.api.post("/api/v1/match", body)
        self.assertEqual(r.status, 200, r)
        return r.json()["match_type"]

    def test_known_mix_moves_each_counter_exactly(self):
        catalog = self.api.get("/api/v1/catalog").json()["entries"]
        with_prefix = next(e for e in catalog if e.get("code_prefixes"))
        with_example = next(e for e in catalog if e.get("examples"))
        mix = [
            harness.failure(run_id="mix", error_code=catalog[0]["error_codes"][0], message=""),
            harness.failure(run_id="mix", error_code=catalog[1]["error_codes"][0], message=""),
            harness.failure(run_id="mix", error_code=with_prefix["code_prefixes"][0] + "ZZ9", message=""),
            harness.failure(run_id="mix", error_code="UNLISTED_CODE", message=with_example["examples"][0]),
            harness.failure(run_id="mix", error_code="UNLISTED_CODE", message="qqq zzz nothing alike 1"),
            harness.failure(run_id="mix", error_code="UNLISTED_CODE_2", message="wxyz plugh xyzzy 2"),
        ]
        expected = {}
        for body in mix:
            kind = self.classify(body)
            expected[kind] = expected.get(kind, 0) + 1
        self.assertEqual(expected.get("miss"), 2, expected)
        self.assertGreaterEqual(len(expected), 3, expected)

        before = samples(self.api.get("/metrics").body)
        ids = [self.ingest(body)["id"] for body in mix]
        self.wait_persisted(len(mix))
        for i, ok in ((0, True), (1, True), (2, False)):
            r = self.api.patch("/api/v1/failures/%s/recovery" % ids[i], {"recovery_succeeded": ok})
            self.assertEqual(r.status, 200, r)
        r = self.api.post("/api/v1/failures/recovery/bulk", {"run_id": "mix", "status": "unrecovered",
                                                             "recovery_succeeded": False})
        # The third failed already: left as it is, not counted again.
        self.assertEqual(r.json()["updated"], 3)
        after = samples(self.api.get("/metrics").body)

        def delta(name):
            return after.get(name, 0.0) - before.get(name, 0.0)

        for kind in ("exact", "prefix", "pattern", "fuzzy"):
            self.assertEqual(delta('failure_match_hits_total{match_type="%s"}' % kind),
                             expected.get(kind, 0), kind)
        self.assertEqual(delta("failure_match_misses_total"), 2)
        self.assertEqual(delta("recovery_success_total"), 2)
        self.assertEqual(delta("recovery_failure_total"), 1 + 3)
        self.assertEqual(delta("failcat_ingested_total"), len(mix))
        self.assertEqual(delta("failcat_persisted_rows_total"), len(mix))
        dropped = sum(v for k, v in after.items() if k.startswith("failure_persist_dropped_total"))
        self.assertEqual(dropped, 0)
        self.assertEqual(delta('failcat_http_requests_total{method="POST",route="/api/v1/failures",status_class="2xx"}'),
                         len(mix))
        # No label carries a run id, tenant id, error code or raw path.
        text = self.api.get("/metrics").body
        for forbidden in ("mix", "UNLISTED_CODE", ids[0], "00000000-0000-0000-0000-000000000000"):
            self.assertNotIn(forbidden, text)

    @unittest.skipUnless(shutil.which("promtool"), "promtool is not installed")
    def test_inflight_counts_http_requests_until_answered(self):
        # Requests of every kind come and go; the scrape then sees exactly itself in flight.
        self.api.get("/api/v1/failures?limit=1")
        self.api.get("/nope")
        self.api.request("POST", "/api/v1/match", raw=b"x", headers={"Content-Type": "text/plain"})
        self.api.request("HEAD", "/api/v1/catalog")
        self.ingest(harness.failure(run_id="inflight", error_code="E", message=""))
        self.assertEqual(samples(self.api.get("/metrics").body)["failcat_inflight_requests"], 1.0)

    def test_live_exposition_passes_promtool(self):
        self.ingest()
        r = self.api.get("/metrics")
        self.assertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        out = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
