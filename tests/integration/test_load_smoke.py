"""failcat-load against the real server: `generate | http --validate` proves that every
acknowledged failure is stored exactly once with the tier it was generated for, and that the
stats endpoint and /metrics agree. No timing is asserted."""

import json
import os
import subprocess
import unittest

from harness import CATALOG, ServiceTestCase, main

LOAD_BINARY = os.environ.get("FAILCAT_LOAD_BINARY", "")


class LoadSmokeTest(ServiceTestCase):
    server_env = {"FAILCAT_LOG_LEVEL": "warn"}

    def setUp(self):
        if not LOAD_BINARY or not os.path.exists(LOAD_BINARY):
            raise unittest.SkipTest("FAILCAT_LOAD_BINARY is not built")
        super().setUp()

    def generate(self, seed, count, *extra):
        out = subprocess.run([LOAD_BINARY, "generate", "--catalog", CATALOG, "--count", str(count),
                              "--seed", str(seed), "--tenants", "3", "--runs", "4", *extra],
                             capture_output=True, timeout=60, check=True)
        return out.stdout

    def http(self, data, *extra):
        out = subprocess.run([LOAD_BINARY, "http", "--port", str(self.server.port), "--concurrency", "4",
                              "--validate", "--validate-timeout", "60s", "--json", *extra],
                             input=data, capture_output=True, timeout=300)
        report = json.loads(out.stdout) if out.stdout.strip() else {}
        return out.returncode, report, out.stderr.decode(errors="replace")

    def test_generate_is_deterministic(self):
        self.assertEqual(self.generate(11, 300), self.generate(11, 300))
        self.assertNotEqual(self.generate(11, 300), self.generate(12, 300))

    def test_single_ingest_validates(self):
        data = self.generate(21, 600, "--miss-ratio", "0.2")
        code, report, err = self.http(data)
        self.assertEqual(code, 0, err)
        self.assertEqual(report["failures_acknowledged"], 600)
        self.assertEqual(report["statuses"], {"202": 600})
        validation = report["validation"]
        self.assertTrue(validation["ok"], validation["problems"])
        tiers = validation["tiers"]
        self.assertEqual(tiers["generated"], tiers["stored"])
        self.assertEqual(tiers["generated"], tiers["stats"])
        self.assertEqual(tiers["generated"], tiers["metrics"])
        self.assertEqual(sum(tiers["generated"]), 600)
        self.assertGreater(tiers["generated"][4], 0)  # some misses
        for p in ("p50", "p90", "p99", "p99_9", "max"):
            self.assertIn(p, report["latency_ms"])

    def test_batch_ingest_validates(self):
        data = self.generate(22, 500)
        code, report, err = self.http(data, "--batch", "50")
        self.assertEqual(code, 0, err)
        self.assertEqual(report["requests"]["answered"], 10)
        self.assertTrue(report["validation"]["ok"], report["validation"]["problems"])

    def test_validation_fails_when_nothing_was_acknowledged(self):
        # Every line refused (400: no error_code): nothing acknowledged is not a proof.
        lines = [json.loads(line) for line in self.generate(24, 20).decode().splitlines()]
        for line in lines:
            line.pop("error_code", None)
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        code, report, err = self.http(data)
        self.assertEqual(code, 1, err)
        self.assertEqual(report["statuses"], {"400": 20})
        self.assertIn("no failure was acknowledged", report["validation"]["problems"])

    def test_validation_catches_rows_it_did_not_acknowledge(self):
        # The same runs sent twice: the second validation finds the first run's rows in its
        # runs, which its own answers never acknowledged, and the stats no longer line up.
        data = self.generate(23, 200)
        code, report, err = self.http(data)
        self.assertEqual(code, 0, err)
        code, report, err = self.http(data)
        self.assertEqual(code, 1, err)
        self.assertFalse(report["validation"]["ok"])
        self.assertEqual(report["validation"]["unacknowledged_rows"], 200)
        self.assertIn("never acknowledged", err)


if __name__ == "__main__":
    main()
