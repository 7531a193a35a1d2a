"""/_proxy/metrics: a real Prometheus parser reads it, and the counters follow what happens.

The exposition is parsed by python3-prometheus-client's parser (see harness.parse_metrics).
"""

import os

from harness import ScenarioTest, config, proxy_metrics, proxy_status, route, wait_until

BUCKETS = "zt_token_proxy_upstream_latency_seconds_bucket"


class MetricsTests(ScenarioTest):
    def start(self, *prefixes, watch=True):
        self.token = self.new_token()
        self.tokfile = self.write_file("secret/token", self.token)
        self.svc = self.local_service(token=self.token)
        self.px = self.proxy(self.cfg(*prefixes, watch=watch))
        return self.px

    def cfg(self, *prefixes, watch=True):
        return config([route(p, self.svc.url, "t", "x-zt1-auth") for p in prefixes],
                      tokens={"t": {"file": self.tokfile, "watch": watch}})

    def test_families_and_request_counters(self):
        px = self.start("/a/")
        for _ in range(3):
            self.assertEqual(px.get("/a/status").status, 200)
        self.assertEqual(px.request("POST", "/a/sink", body=b"b" * 1000).status, 200)
        self.assertEqual(px.get("/a/code/503").status, 503)
        self.assertEqual(px.get("/elsewhere").status, 404)
        self.assertEqual(px.request("DELETE", "/a/x").status, 200)
        m = proxy_metrics(px)
        types = {
            "zt_token_proxy_build_info": "gauge",
            "zt_token_proxy_start_time_seconds": "gauge",
            "zt_token_proxy_connections": "gauge",
            "zt_token_proxy_requests_in_progress": "gauge",
            "zt_token_proxy_requests": "counter",
            "zt_token_proxy_request_body_bytes": "counter",
            "zt_token_proxy_response_body_bytes": "counter",
            "zt_token_proxy_upstream_latency_seconds": "histogram",
            "zt_token_proxy_upstream_unauthorized": "counter",
            "zt_token_proxy_upstream_401_replays": "counter",
            "zt_token_proxy_token_usable": "gauge",
            "zt_token_proxy_token_reloads": "counter",
            "zt_token_proxy_token_read_failures": "counter",
            "zt_token_proxy_config_reloads": "counter",
        }
        for family, kind in types.items():
            self.assertEqual(m.family_type(family), kind, family)
        version = self.run_cli(["--version"]).stdout.split()[-1]
        self.assertEqual(m.get("zt_token_proxy_build_info", version=version), 1)
        self.assertGreaterEqual(m.get("zt_token_proxy_connections"), 1)
        self.assertEqual(m.get("zt_token_proxy_requests_in_progress"), 1, "the scrape itself")
        req = "zt_token_proxy_requests_total"
        self.assertEqual(m.get(req, route="/a", method="GET", status="2xx"), 3)
        self.assertEqual(m.get(req, route="/a", method="GET", status="5xx"), 1)
        self.assertEqual(m.get(req, route="/a", method="POST", status="2xx"), 1)
        self.assertEqual(m.get(req, route="/a", method="DELETE", status="2xx"), 1)
        self.assertEqual(m.get(req, route="none", method="GET", status="4xx"), 1)
        self.assertEqual(m.get("zt_token_proxy_request_body_bytes_total", route="/a"), 1000)
        self.assertGreater(m.get("zt_token_proxy_response_body_bytes_total", route="/a"), 0)
        # Six upstream exchanges, in cumulative buckets that never decrease.
        self.assertEqual(m.get("zt_token_proxy_upstream_latency_seconds_count", route="/a"), 6)
        buckets = sorted((float(s[3]["le"]), s[4]) for s in m.samples
                         if s[2] == BUCKETS and s[3]["route"] == "/a")
        self.assertEqual(buckets[-1], (float("inf"), 6))
        self.assertEqual([c for _, c in buckets], sorted(c for _, c in buckets))
        self.assertGreater(m.get("zt_token_proxy_upstream_latency_seconds_sum", route="/a"), 0)
        self.assertEqual(m.get("zt_token_proxy_token_usable", token="t"), 1)
        # The scrapes themselves count under route="status".
        m2 = proxy_metrics(px)
        self.assertEqual(m2.get(req, route="status", method="GET", status="2xx"), 1)

    def test_counters_survive_reload(self):
        px = self.start("/a/", "/gone/")
        for _ in range(2):
            self.assertEqual(px.get("/a/status").status, 200)
        self.assertEqual(px.get("/gone/status").status, 200)
        px.write_config(self.cfg("/a/", "/b/"))
        px.sighup()
        wait_until(lambda: (proxy_status(px)[1]["last_reload"] or {}).get("result") == "success", 10, 0.05,
                   "the reload")
        self.assertEqual(px.get("/a/status").status, 200)
        self.assertEqual(px.get("/b/status").status, 200)
        m = proxy_metrics(px)
        req = "zt_token_proxy_requests_total"
        self.assertEqual(m.get(req, route="/a", method="GET", status="2xx"), 3, "kept across the reload")
        self.assertEqual(m.get(req, route="/b", method="GET", status="2xx"), 1)
        # ... once its idle upstream connections are gone too (kept at most 2 s on this route).
        wait_until(lambda: "/gone" not in proxy_metrics(px).labels(req, "route"), 5, 0.1,
                   "a removed route's series go away")
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="success"), 1)
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="failure"), 0)

    def test_token_reload_and_failure_counters(self):
        px = self.start("/")
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_token_reloads_total", token="t"), 0)
        failures = m.get("zt_token_proxy_token_read_failures_total", token="t")
        new = self.new_token()
        self.svc.accept(self.token, new)
        self.write_file(self.tokfile, new)
        wait_until(lambda: proxy_metrics(px).get("zt_token_proxy_token_reloads_total", token="t") == 1, 10,
                   0.05, "the rotation to be counted")
        os.unlink(self.tokfile)
        wait_until(lambda: proxy_metrics(px).get("zt_token_proxy_token_read_failures_total", token="t")
                   > failures, 10, 0.05, "the failed read to be counted")
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_token_usable", token="t"), 1, "the last good value is kept")
        self.assertEqual(m.get("zt_token_proxy_token_reloads_total", token="t"), 1)
        tok = proxy_status(px)[1]["tokens"][0]
        self.assertEqual((tok["state"], tok["usable"]), ("missing", True))
        self.assertIn(self.tokfile, tok["error"])
        self.assertIn(self.tokfile, tok["last_error"]["message"])
        self.assertEqual(px.get("/status").status, 200)

    def test_replay_counter(self):
        px = self.start("/", watch=False)
        new = self.new_token()
        self.write_file(self.tokfile, new)
        self.svc.token = new
        self.assertEqual(px.get("/status").status, 200)
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_upstream_unauthorized_total", route="/"), 1)
        self.assertEqual(m.get("zt_token_proxy_upstream_401_replays_total", route="/"), 1)
        self.assertEqual(m.get("zt_token_proxy_token_reloads_total", token="t"), 1)
        self.assertEqual(m.get("zt_token_proxy_upstream_latency_seconds_count", route="/"), 2,
                         "both attempts are timed")
