"""SIGHUP: a good config replaces the old one; a bad one is reported and the old one kept."""

import re
import threading
import time

from harness import SCALE, ScenarioTest, config, route, wait_until

BAD_YAML = """listen:
  - "127.0.0.1:0"
routes:
  - prefix: "/a/"
    upstream: [unclosed
    token: local
"""


class ReloadTests(ScenarioTest):
    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        self.px = self.proxy(self.cfg("/a/"))
        self.assertEqual(self.px.get("/a/status").status, 200)

    def cfg(self, *prefixes, tokens=None, token="local", **kw):
        return config([route(p, self.svc.url, token, "x-zt1-auth") for p in prefixes], tokens=tokens, **kw)

    def reload(self, cfg):
        self.px.write_config(cfg)
        self.px.sighup()

    def wait_status(self, path, status, timeout=10):
        last = []

        def check():
            r = self.px.get(path)
            last[:] = [r]
            return r.status == status
        try:
            wait_until(check, timeout, 0.05, f"{path} to answer {status}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {last}\nlog tail:\n{self.px.log_text()[-3000:]}") from None

    def test_new_route_after_reload(self):
        self.assertJsonError(self.px.get("/b/status"), 404, "no_route")
        self.reload(self.cfg("/a/", "/b/"))
        self.wait_status("/b/status", 200)
        self.assertEqual(self.px.get("/a/status").status, 200)

    def test_route_removed_after_reload(self):
        self.reload(self.cfg("/b/"))
        self.wait_status("/a/status", 404)
        self.assertEqual(self.px.get("/b/status").status, 200)

    def test_yaml_error_keeps_old_config(self):
        start = len(self.px.log_text())
        self.reload(BAD_YAML)
        m = self.px.wait_log(re.escape(self.px.config_path) + r":(\d+):(\d+): ", start=start)
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertTrue(self.px.alive(), "a bad config must not stop the daemon")
        for _ in range(5):
            self.assertEqual(self.px.get("/a/status").status, 200, "the old config must still be served")
        # A later good config is still accepted.
        self.reload(self.cfg("/a/", "/b/"))
        self.wait_status("/b/status", 200)

    def test_invalid_config_is_not_applied_partly(self):
        start = len(self.px.log_text())
        text = ('listen:\n  - "127.0.0.1:0"\nroutes:\n'
                f'  - prefix: "/c/"\n    upstream: "{self.svc.url}"\n    token: local\n    auth: x-zt1-auth\n'
                f'  - prefix: "/a/"\n    upstream: "{self.svc.url}"\n    token: no-such-token\n    auth: x-zt1-auth\n')
        self.reload(text)
        m = self.px.wait_log(re.escape(self.px.config_path) + r":(\d+):(\d+): ", start=start)
        # The bad token's line, in the text as written (ZTP_CLIENT may add lines).
        bad = 1 + next(i for i, l in enumerate(self.px.config_text.split("\n")) if "no-such-token" in l)
        self.assertIn(int(m.group(1)), (bad - 2, bad - 1, bad), f"error reported on an unexpected line: {m.group(0)}")
        time.sleep(0.3)
        self.assertJsonError(self.px.get("/c/status"), 404, "no_route")
        self.assertEqual(self.px.get("/a/status").status, 200)

    def test_inflight_request_finishes_across_reload(self):
        result = {}

        def slow():
            try:
                result["resp"] = self.px.get("/a/slow?ms=3000", timeout=60)
            except Exception as e:  # reported below
                result["exc"] = e
        t = threading.Thread(target=slow)
        t.start()
        self.svc.wait_requests(1, path="/slow")
        self.reload(self.cfg("/b/"))
        self.wait_status("/a/status", 404, timeout=2.5)
        self.assertTrue(t.is_alive(), "the slow request ended before the reload was seen; test inconclusive")
        t.join(30 * SCALE)
        self.assertNotIn("exc", result, f"in-flight request failed: {result.get('exc')!r}")
        r = result["resp"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("slept_ms"), 3000)

    def test_reload_switches_token_source(self):
        t2 = self.new_token()
        f2 = self.write_file("other-token", t2)
        self.svc.accept(self.token, t2)
        self.reload(self.cfg("/a/", tokens={"other": {"file": f2}}, token="other"))

        def uses_new():
            mark = self.svc.mark()
            self.assertEqual(self.px.get("/a/status").status, 200)
            return self.svc.since(mark)[0].credential == t2
        wait_until(uses_new, 10, 0.05, "the reloaded route to use the other token")

    def test_reload_applies_timeouts(self):
        self.reload(self.cfg("/a/", "/b/", timeouts={"upstream": "500ms"}))
        self.wait_status("/b/status", 200)
        self.assertJsonError(self.px.get("/a/slow?ms=3000"), 504, "upstream_timeout")

    def test_many_sighups(self):
        for i in range(10):
            self.reload(self.cfg("/a/", f"/r{i}/"))
            time.sleep(0.05)
        self.wait_status("/r9/status", 200)
        self.assertTrue(self.px.alive())
        self.assertEqual(self.px.get("/a/status").status, 200)
