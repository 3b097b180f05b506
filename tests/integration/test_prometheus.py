"""A real Prometheus server scrapes a running failcat with the shipped scrape config (and
its alert rules) and sees the ingested failures."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import harness

MONITORING = os.path.join(harness.SOURCE_DIR, "metrics", "monitoring")


@unittest.skipUnless(shutil.which("prometheus"), "prometheus is not installed")
@unittest.skipIf(os.environ.get("FAILCAT_IT_BACKEND", "sqlite") != "sqlite",
                 "the store makes no difference to scraping; runs once")
class PrometheusScrape(harness.ServiceTestCase):
    def start_prometheus(self):
        workdir = tempfile.mkdtemp(prefix="failcat-prom-")
        self.addCleanup(shutil.rmtree, workdir, True)
        with open(os.path.join(MONITORING, "prometheus.yml")) as f:
            config = f.read()
        # The shipped config, pointed at this test's server and scraping every second.
        config = config.replace('"127.0.0.1:8080"', '"127.0.0.1:%d"' % self.server.port)
        config = re.sub(r"scrape_interval: \d+s", "scrape_interval: 1s", config)
        config = re.sub(r"scrape_timeout: \d+s", "scrape_timeout: 1s", config)
        config = re.sub(r"evaluation_interval: \d+s", "evaluation_interval: 1s", config)
        with open(os.path.join(workdir, "prometheus.yml"), "w") as f:
            f.write(config)
        shutil.copy(os.path.join(MONITORING, "alerts.yml"), workdir)
        self.prom_port = harness.free_port()
        log = open(os.path.join(workdir, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(workdir, "prometheus.yml"),
                                 "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % self.prom_port],
                                stdout=log, stderr=subprocess.STDOUT, cwd=workdir)

        def stop():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.addCleanup(stop)

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port, urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
        except OSError:
            return None
        if body.get("status") != "success":
            return None
        return body["data"]["result"]

    def test_prometheus_sees_ingested_failures(self):
        self.start_prometheus()
        for _ in range(3):
            self.ingest(harness.failure(error_code="RATE_LIMITED"))
        self.ingest(harness.failure(error_code="NOT_IN_CATALOG", message="zzqx wibble frobnicated"))

        def hits():
            result = self.query('failure_match_hits_total{match_type="exact"}')
            return result and float(result[0]["value"][1]) == 3.0
        harness.wait_until(hits, timeout=90, interval=0.5, message="Prometheus to scrape the hits")
        misses = self.query("failure_match_misses_total")
        self.assertEqual(float(misses[0]["value"][1]), 1.0)
        up = self.query('up{job="failcat"}')
        self.assertEqual(up[0]["value"][1], "1")
        # The shipped alert rules load and evaluate.
        rules_url = "http://127.0.0.1:%d/api/v1/rules" % self.prom_port
        with urllib.request.urlopen(rules_url, timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        self.assertTrue(any(g["name"] == "failcat" and g["rules"] for g in groups))


if __name__ == "__main__":
    unittest.main(verbosity=2)
