"""The client recipes of docs/CLIENTS.md, run as written against the real daemon.

Each recipe is taken from the page (the fenced block after `<!-- recipe: NAME -->`), the port 9994
replaced by the test daemon's, and run with the real client: curl, Debian's /usr/bin/python3,
Node's built-in fetch, and a real Prometheus scraping the proxy. The stand-in upstreams check the
token the proxy injects, so a recipe that passes really went through the proxy with it. With the
local token missing, the recipes must show the proxy's reason for its 503 (docs/CLIENTS.md,
"When a tool only says 503"). promtool checks the proxy's exposition.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request

from harness import REPO, SCALE, LocalService, ScenarioTest, config, free_port, route, wait_until

PAGE = os.path.join(REPO, "docs", "CLIENTS.md")
DEFAULT_PORT = "9994"

# What the ZeroTier One stand-in serves at /metrics (the real one's text format, shortened).
ZT_METRICS = ("# HELP zt_peer_packets number of packets to/from a peer\n"
              "# TYPE zt_peer_packets counter\n"
              'zt_peer_packets{direction="rx",node_id="deadbeef01"} 42\n')


def recipe(name):
    """The code block that follows `<!-- recipe: name -->` in docs/CLIENTS.md."""
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- recipe: %s -->\n```[a-z]*\n(.*?)^```" % re.escape(name), text, re.S | re.M)
    if not m:
        raise AssertionError(f"{PAGE}: no code block after '<!-- recipe: {name} -->'")
    return m.group(1)


def on_port(code, port):
    """The recipe with the default port replaced by the test daemon's."""
    if DEFAULT_PORT not in code:
        raise AssertionError(f"the recipe no longer names port {DEFAULT_PORT}:\n{code}")
    return code.replace(DEFAULT_PORT, str(port))


class ZeroTierWithMetrics(LocalService):
    """The ZeroTier One stand-in, plus /metrics in Prometheus text (behind the same token)."""

    def _dispatch(self, h, rec, rpath, param):
        if rpath != "/metrics":
            return super()._dispatch(h, rec, rpath, param)
        body = ZT_METRICS.encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


class ClientRecipeTests(ScenarioTest):
    timeout = 180

    def start(self, local_token=True):
        """ZeroTier One and Central stand-ins behind the built-in tokens, as the defaults route them."""
        self.token = self.new_token()
        self.central_token = self.new_token()
        self.central_v2_token = self.new_token()
        if local_token:
            self.write_local_token(self.token)
        self.zt = ZeroTierWithMetrics(token=self.token)
        self._services.append(self.zt)
        self.central = self.central_service(token=self.central_token, token_v2=self.central_v2_token)
        routes = [route("/central/", self.central.url, "central", "token", ca_file=self.central.ca_file),
                  route("/central-v2/", self.central.url, "central-v2", "bearer", ca_file=self.central.ca_file),
                  route("/", self.zt.url, "local", "x-zt1-auth")]
        env = {"ZEROTIER_CENTRAL_TOKEN": self.central_token, "ZEROTIER_CENTRAL_V2_TOKEN": self.central_v2_token}
        self.px = self.proxy(config(routes), env=env)
        return self.px

    def run_client(self, cmd, label, timeout=60):
        """Runs a client; its output is kept for the leak check."""
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp,
                           timeout=timeout * SCALE, env={"PATH": "/usr/bin:/bin", "HOME": self.tmp, "LANG": "C"})
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        self._outputs.append((f"output of {label}", out + err))
        return p.returncode, out, err

    def assert_local_token(self, path, mark=0):
        """The ZeroTier One stand-in got path with exactly the injected token."""
        reqs = [r for r in self.zt.since(mark) if r.path == path]
        self.assertTrue(reqs, f"no upstream request to {path}: {self.zt.since(mark)}")
        for r in reqs:
            self.assertEqual(r.header_values("X-ZT1-Auth"), [self.token], r)
            self.assertEqual(r.status, 200, r)

    def run_lines(self, name, px):
        """Runs each command line of a shell recipe against px; the parsed JSON answers in order.
        `zt-token-proxy status` is the daemon's own command, pointed at the test daemon."""
        answers = []
        for line in recipe(name).splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:2] == ["zt-token-proxy", "status"]:
                res = self.run_cli(argv[1:] + ["--url", px.url("/_proxy/status")])
                answers.append((res.rc, res.stdout))
                continue
            argv = shlex.split(on_port(line, px.port), comments=True)
            self.assertEqual(argv[0], "curl", line)
            rc, out, err = self.run_client(argv + ["--max-time", str(int(20 * SCALE))], line)
            self.assertEqual(rc, 0, f"{line}: {err}")
            self.record_body(line, out.encode())
            answers.append(json.loads(out))
        return answers

    # --- curl ---

    def test_curl_recipe(self):
        px = self.start()
        answers = self.run_lines("curl", px)
        self.assertEqual(len(answers), 3, answers)
        self.assertIs(answers[0]["online"], True, answers[0])
        self.assertEqual(answers[1]["path"], "/api/v1/network", answers[1])
        self.assertEqual(answers[2]["path"], "/api/v2/networks", answers[2])
        self.assert_local_token("/status")
        by_path = {r.path: r for r in self.central.requests}
        self.assertEqual(by_path["/api/v1/network"].header_values("Authorization"), [f"token {self.central_token}"])
        self.assertEqual(by_path["/api/v1/network"].status, 200)
        self.assertEqual(by_path["/api/v2/networks"].header_values("Authorization"),
                         [f"Bearer {self.central_v2_token}"])
        self.assertEqual(by_path["/api/v2/networks"].status, 200)

    def test_why_503_recipe(self):
        px = self.start(local_token=False)
        self.assertEqual(px.get("/status").status, 503)
        (rc, table), status, health = self.run_lines("why-503", px)
        self.assertEqual(rc, 1, f"zt-token-proxy status exits 1 when unhealthy:\n{table}")
        self.assertIn("UNHEALTHY", table)
        self.assertRegex(table, r"(?m)^/ .*local \(x-zt1-auth\) +missing ")
        self.assertRegex(table, r"(?m)^  /: token 'local' .* is missing")
        self.assertIs(status["healthy"], False, status)
        self.assertEqual(next(t for t in status["tokens"] if t["name"] == "local")["state"], "missing", status)
        self.assertEqual(health["status"], "unhealthy", health)
        self.assertEqual([(p["route"], p["token"], p["state"]) for p in health["problems"]],
                         [("/", "local", "missing")])
        self.assertEqual(self.zt.requests, [], "nothing reaches the upstream without a token")

    # --- Python ---

    def python_recipe(self, px):
        path = self.write_file("status.py", on_port(recipe("python"), px.port), mode=0o644)
        return self.run_client(["/usr/bin/python3", path], "the Python recipe")

    def test_python_recipe(self):
        if not os.path.exists("/usr/bin/python3"):
            self.skipTest("no /usr/bin/python3 (scripts/bootstrap.sh --test installs python3)")
        px = self.start()
        rc, out, err = self.python_recipe(px)
        self.assertEqual((rc, out), (0, "deadbeef00 online\n"), err)
        self.assert_local_token("/status")

    def test_python_recipe_shows_why_on_503(self):
        if not os.path.exists("/usr/bin/python3"):
            self.skipTest("no /usr/bin/python3 (scripts/bootstrap.sh --test installs python3)")
        px = self.start(local_token=False)
        rc, out, err = self.python_recipe(px)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("503: ", err)
        body = json.loads(err.split("503: ", 1)[1])
        self.assertEqual((body["error"], body["token"], body["state"]), ("token_unavailable", "local", "missing"))
        self.assertIn("authtoken.secret", body["source"])
        self.assertEqual(self.zt.requests, [], "nothing reaches the upstream without a token")

    # --- Node ---

    def node_binary(self):
        node = shutil.which("node", path="/usr/bin:/bin") or shutil.which("nodejs", path="/usr/bin:/bin")
        if not node:
            self.skipTest("no node (scripts/bootstrap.sh --test installs Debian's nodejs)")
        version = subprocess.run([node, "--version"], stdout=subprocess.PIPE, timeout=30).stdout.decode().strip()
        if int(version.lstrip("v").split(".")[0]) < 18:
            self.skipTest(f"node {version} has no built-in fetch (the recipe says Node 18 or later)")
        return node

    def test_node_recipe(self):
        node = self.node_binary()
        px = self.start()
        path = self.write_file("status.mjs", on_port(recipe("node"), px.port), mode=0o644)
        rc, out, err = self.run_client([node, path], "the Node recipe")
        self.assertEqual((rc, out), (0, "deadbeef00 online\n"), err)
        self.assert_local_token("/status")

    def test_node_recipe_shows_why_on_503(self):
        node = self.node_binary()
        px = self.start(local_token=False)
        path = self.write_file("status.mjs", on_port(recipe("node"), px.port), mode=0o644)
        rc, out, err = self.run_client([node, path], "the Node recipe")
        self.assertEqual((rc, out), (1, ""), err)
        m = re.search(r"^503 (\{.*\})$", err, re.M)
        self.assertTrue(m, err)
        body = json.loads(m.group(1))
        self.assertEqual((body["error"], body["token"], body["state"]), ("token_unavailable", "local", "missing"))
        self.assertEqual(self.zt.requests, [])

    # --- Prometheus ---

    def test_promtool_check_metrics(self):
        promtool = shutil.which("promtool", path="/usr/bin:/bin")
        if not promtool:
            self.skipTest("no promtool (scripts/bootstrap.sh --test installs Debian's prometheus)")
        px = self.start()
        # Every family gets samples: answers from each route, an upstream 404 and the status paths.
        for path in ("/status", "/central/api/v1/network", "/central-v2/api/v2/networks", "/_proxy/health"):
            self.assertEqual(px.get(path).status, 200, path)
        self.assertEqual(px.get("/central/other").status, 404)
        self.assertEqual(px.get("/_proxy/nothing").status, 404)
        text = px.get("/_proxy/metrics").body
        p = subprocess.run([promtool, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60 * SCALE)
        self.assertEqual((p.returncode, p.stdout.decode()), (0, ""), f"exposition:\n{text.decode()[:3000]}")

    def test_prometheus_scrapes_the_recipe(self):
        prometheus = shutil.which("prometheus", path="/usr/bin:/bin")
        promtool = shutil.which("promtool", path="/usr/bin:/bin")
        if not prometheus or not promtool:
            self.skipTest("no prometheus (scripts/bootstrap.sh --test installs Debian's prometheus)")
        px = self.start()
        cfg = self.write_file("prometheus.yml", "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                              + on_port(recipe("prometheus"), px.port), mode=0o644)
        rc, out, err = self.run_client([promtool, "check", "config", cfg], "promtool check config")
        self.assertEqual(rc, 0, out + err)
        port = free_port()
        log = open(self.path("prometheus.log"), "wb")
        proc = subprocess.Popen([prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={self.path('tsdb')}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, cwd=self.tmp)
        self.addCleanup(self.stop_process, proc, log)
        base = f"http://127.0.0.1:{port}"

        def query(q):
            with urllib.request.urlopen(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q}),
                                        timeout=5) as r:
                doc = json.load(r)
            self.assertEqual(doc["status"], "success", doc)
            return {s["metric"].get("job"): s["value"][1] for s in doc["data"]["result"]}

        seen = {}

        def both_up():
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}:\n{self.prometheus_log()}")
            try:
                seen["up"] = query("up")
            except (urllib.error.URLError, ConnectionError):
                return None  # still starting
            return seen["up"] == {"zt-token-proxy": "1", "zerotier-one": "1"}

        try:
            wait_until(both_up, 60, interval=0.5, msg="up == 1 for both jobs in Prometheus")
        except AssertionError as e:
            raise AssertionError(f"{e}; last up by job: {seen.get('up')}\nprometheus log:\n"
                                 f"{self.prometheus_log()}") from None
        # The samples themselves arrived: one from the proxy, one from ZeroTier One through it.
        self.assertEqual(query('zt_token_proxy_token_usable{token="local"}'), {"zt-token-proxy": "1"})
        self.assertEqual(query('zt_peer_packets{direction="rx"}'), {"zerotier-one": "42"})
        self.assert_local_token("/metrics")
        self.assertFalse(any(r.path.startswith("/_proxy") for r in self.zt.requests), "status paths stay local")

    def prometheus_log(self):
        with open(self.path("prometheus.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    @staticmethod
    def stop_process(proc, log):
        """SIGTERM to the process this test started, SIGKILL if it does not stop."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20 * SCALE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


if __name__ == "__main__":
    unittest.main()
