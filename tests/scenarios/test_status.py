"""The status page, health checks, the access log and `zt-token-proxy status` (issue 6).

Every value is checked where it should change: a token rotation, a failed and a successful
reload, an upstream 401. The reserved paths must never reach an upstream.
"""

import hashlib
import http.client
import json
import os
import re
import time

from harness import (WINDOWS, Response, ScenarioTest, config, free_port, proxy_metrics, proxy_status, route,
                     to_yaml, token_fp, wait_until)

BAD_YAML = "listen: [\"127.0.0.1:0\"]\nroutes:\n  - prefix: /a/\n    upstream: [unclosed\n"


def cfg(routes, tokens=None, **extra):
    """config() with the keys it does not know about (status:, access_log:)."""
    c = config(routes, tokens=tokens)
    c.update(extra)
    return c


def iso_seconds(text):
    """'2026-11-28T21:33:00Z' -> seconds since the epoch."""
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


class StatusTests(ScenarioTest):
    def start(self, **extra):
        self.token = self.new_token()
        self.tokfile = self.write_file("secret/token", self.token)
        self.svc = self.local_service(token=self.token)
        self.px = self.proxy(self.cfg(**extra))
        return self.px

    def cfg(self, watch=True, **extra):
        return cfg([route("/", self.svc.url, "t", "x-zt1-auth")],
                   tokens={"t": {"file": self.tokfile, "watch": watch}}, **extra)

    def token_entry(self, doc, name="t"):
        return next(t for t in doc["tokens"] if t["name"] == name)

    def test_status_document_and_rotation(self):
        px = self.start()
        self.assertEqual(px.get("/status").status, 200)
        r, doc = proxy_status(px)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        out = self.run_cli(["--version"]).stdout
        self.assertIn(doc["version"], out)
        self.assertIs(doc["healthy"], True)
        self.assertEqual(doc["problems"], [])
        self.assertIsInstance(doc["uptime_seconds"], int)
        if WINDOWS:  # Wine's process ids are not Linux's
            self.assertIsInstance(doc["pid"], int)
        else:
            self.assertEqual(doc["pid"], px.pid)
        self.assertEqual(doc["config"], px.config_path)
        self.assertIsNone(doc["last_reload"])
        self.assertEqual(doc["status_prefix"], "/_proxy")
        self.assertIn(f"127.0.0.1:{px.port}", [lst["bound"] for lst in doc["listeners"]])
        (rt,) = doc["routes"]
        self.assertEqual((rt["prefix"], rt["upstream"], rt["token"], rt["auth"]),
                         ("/", self.svc.url.rstrip("/"), "t", "x-zt1-auth"))
        self.assertEqual(rt["policy"]["read_only"], False)
        self.assertIsNone(rt["policy"]["methods"], "no method list: any method")
        self.assertIsNone(rt["last_401"])
        self.assertGreaterEqual(rt["requests"], 1)
        tok = self.token_entry(doc)
        self.assertEqual((tok["state"], tok["usable"], tok["error"]), ("ok", True, None))
        self.assertEqual(tok["source"], f"file {self.tokfile}")
        self.assertEqual(tok["fingerprint"], token_fp(self.token))
        self.assertEqual(tok["reloads"], 0)
        first_change = iso_seconds(tok["changed"])
        self.assertLess(abs(first_change - time.time()), 60)

        # Rotation: the fingerprint follows the file, as sha256sum of the file would show it.
        time.sleep(1.1)  # "changed" has a resolution of one second
        new = self.new_token()
        self.write_file(self.tokfile, new)
        self.svc.accept(self.token, new)

        def rotated():
            return self.token_entry(proxy_status(px)[1])["fingerprint"] == token_fp(new)
        wait_until(rotated, 10, 0.05, "the new token's fingerprint")
        with open(self.tokfile, "rb") as f:
            self.assertEqual(token_fp(new), hashlib.sha256(f.read()).hexdigest()[:8])
        tok = self.token_entry(proxy_status(px)[1])
        self.assertEqual(tok["reloads"], 1)
        self.assertGreater(iso_seconds(tok["changed"]), first_change)
        self.assertEqual(proxy_metrics(px).get("zt_token_proxy_token_reloads_total", token="t"), 1)

    def test_health_follows_the_tokens(self):
        # The route's token file does not exist yet: unhealthy, with the reason.
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)
        missing = self.path("later/token")
        px = self.proxy(config([route("/", self.svc.url, "t", "x-zt1-auth")],
                               tokens={"t": {"file": missing, "watch": False}}))
        r = px.get("/_proxy/health")
        self.assertEqual(r.status, 503, r)
        body = r.json()
        self.assertEqual(body["status"], "unhealthy")
        (p,) = body["problems"]
        self.assertEqual((p["route"], p["token"], p["state"]), ("/", "t", "missing"))
        self.assertIn(missing, p["reason"])
        self.assertEqual(px.get("/_proxy/health?live").status, 200)
        self.assertEqual(px.get("/_proxy/health?live").json(), {"status": "alive"})
        r, doc = proxy_status(px)
        self.assertEqual(r.status, 503)
        self.assertIs(doc["healthy"], False)
        self.assertEqual(doc["problems"][0]["token"], "t")
        tok = self.token_entry(doc)
        self.assertEqual((tok["state"], tok["usable"], tok["fingerprint"]), ("missing", False, None))
        self.assertIn(missing, tok["last_error"]["message"])
        # The file appears (watching is off): the health check reads it, as a request would.
        self.write_file(missing, self.token)
        r = px.get("/_proxy/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        tok = self.token_entry(proxy_status(px)[1])
        self.assertEqual((tok["state"], tok["fingerprint"]), ("ok", token_fp(self.token)))
        self.assertIsNotNone(tok["last_error"], "the last error stays on record")

    def test_failed_then_successful_reload(self):
        px = self.start()
        px.write_config(BAD_YAML)
        px.sighup()

        def reload_result():
            return proxy_status(px)[1]["last_reload"]
        last = wait_until(reload_result, 10, 0.05, "a reload on the status page")
        self.assertEqual(last["result"], "failure")
        self.assertTrue(last["errors"], last)
        self.assertTrue(all(e.startswith(px.config_path + ":") for e in last["errors"]), last)
        self.assertTrue(re.match(re.escape(px.config_path) + r":\d+:\d+: ", last["errors"][0]), last)
        failed_at = last["time"]
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="failure"), 1)
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="success"), 0)
        text = self.run_cli(["status", "--url", px.url("/_proxy/status")])
        self.assertEqual(text.rc, 0, text)
        self.assertIn("FAILED", text.stdout)

        px.write_config(cfg([route("/", self.svc.url, "t", "x-zt1-auth"),
                             route("/b/", self.svc.url, "t", "x-zt1-auth")],
                            tokens={"t": {"file": self.tokfile}}))
        px.sighup()
        wait_until(lambda: reload_result()["result"] == "success", 10, 0.05, "a successful reload")
        doc = proxy_status(px)[1]
        self.assertEqual(doc["last_reload"]["errors"], [])
        self.assertGreaterEqual(iso_seconds(doc["last_reload"]["time"]), iso_seconds(failed_at))
        self.assertEqual([r["prefix"] for r in doc["routes"]], ["/b", "/"])
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="failure"), 1)
        self.assertEqual(m.get("zt_token_proxy_config_reloads_total", result="success"), 1)
        # The same token value re-read by the reload is not a change.
        self.assertEqual(self.token_entry(doc)["reloads"], 0)

    def test_upstream_401_per_route(self):
        # Watching is off: only the 401 makes the proxy re-read the token.
        px = self.start(watch=False)
        old = self.token
        new = self.new_token()
        self.write_file(self.tokfile, new)
        self.svc.token = new
        # 401 with the old token, re-read, replay with the new one.
        self.assertEqual(px.get("/status").status, 200)
        rt = proxy_status(px)[1]["routes"][0]
        self.assertEqual((rt["upstream_401"], rt["replays"]), (1, 1))
        self.assertIs(rt["last_401"]["replayed"], True)
        self.assertEqual(rt["last_401"]["token_fingerprint"], token_fp(old))
        self.assertLess(abs(iso_seconds(rt["last_401"]["time"]) - time.time()), 60)
        # A 401 the proxy cannot fix reaches the client and is recorded as not replayed.
        self.svc.token = self.new_token()
        self.assertEqual(px.get("/status").status, 401)
        rt = proxy_status(px)[1]["routes"][0]
        self.assertEqual((rt["upstream_401"], rt["replays"]), (2, 1))
        self.assertIs(rt["last_401"]["replayed"], False)
        self.assertEqual(rt["last_401"]["token_fingerprint"], token_fp(new))
        m = proxy_metrics(px)
        self.assertEqual(m.get("zt_token_proxy_upstream_unauthorized_total", route="/"), 2)
        self.assertEqual(m.get("zt_token_proxy_upstream_401_replays_total", route="/"), 1)
        cli = self.run_cli(["status", "--url", px.url("/_proxy/status")])
        self.assertIn("LAST 401", cli.stdout)

    def test_reserved_paths_never_reach_the_upstream(self):
        px = self.start()
        mark = self.svc.mark()
        for path in ("/_proxy/status", "/_proxy/health", "/_proxy/metrics", "/_proxy/health?live",
                     "/_proxy", "/_proxy/", "/_proxy/other", "/_proxy/status/x", "/_prox%79/status",
                     "/_proxy/%73tatus"):
            r = px.get(path)
            self.assertIn(r.status, (200, 404), (path, r))
            if r.status == 404:
                self.assertEqual(r.json()["error"], "not_found", (path, r))
        r = px.request("POST", "/_proxy/status", body=b"x")
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        r = px.request("HEAD", "/_proxy/metrics")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(self.svc.since(mark), [], "a reserved path reached the upstream")
        # Paths that only look alike are ordinary routes.
        self.assertEqual(px.get("/_proxyx/status").status, 200)
        self.assertEqual([q.path for q in self.svc.since(mark)], ["/_proxyx/status"])

    def test_prefix_is_configurable(self):
        px = self.start(status={"prefix": "/admin/"})
        mark = self.svc.mark()
        _, doc = proxy_status(px, "/admin")
        self.assertEqual(doc["status_prefix"], "/admin")
        proxy_metrics(px, "/admin")
        self.assertEqual(self.svc.since(mark), [])
        # /_proxy is now an ordinary path of the "/" route.
        self.assertEqual(px.get("/_proxy/status").status, 200)
        self.assertEqual([q.path for q in self.svc.since(mark)], ["/_proxy/status"])

    def test_separate_status_listener(self):
        port = free_port()
        px = self.start(status={"listen": [f"127.0.0.1:{port}"]})
        px.wait_log(rf"serving the status paths only on 127\.0\.0\.1:{port}")
        mark = self.svc.mark()
        r = _get(px, port, "/_proxy/status")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual({(lst["bound"], lst["status_only"]) for lst in doc["listeners"]},
                         {(f"127.0.0.1:{px.port}", False), (f"127.0.0.1:{port}", True)})
        r = _get(px, port, "/status")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["error"], "no_route")
        self.assertEqual(self.svc.since(mark), [], "the status listener forwarded a request")
        self.assertEqual(px.get("/status").status, 200)
        self.assertEqual(px.get("/_proxy/health").status, 200, "the main listener serves them too")

    def test_access_log(self):
        px = self.start()
        secret = self.register_secret("querysecret" + self.new_token())
        start = len(px.log_text())
        self.assertEqual(px.get(f"/status?auth={secret}&x=1").status, 200)
        self.assertEqual(px.request("POST", "/sink", body=b"z" * 300).status, 200)
        self.assertEqual(px.get("/_proxy/health").status, 200)
        line = px.wait_log(r"info: access: GET /status 200 .*", start=start).group(0)
        self.assertRegex(line, r"route=/ in=0 out=\d+ duration=\d+\.\d{3}ms upstream=200$")
        self.assertNotIn("?", line)
        self.assertNotIn("x=1", px.log_text()[start:])
        line = px.wait_log(r"info: access: POST /sink 200 .*", start=start).group(0)
        self.assertIn(" in=300 ", line)
        px.wait_log(r"info: access: GET /_proxy/health 200 route=status in=0 out=\d+ duration=\S+ "
                    r"upstream=-", start=start)
        # access_log: false turns it off.
        px.write_config(self.cfg(access_log=False))
        px.sighup()
        px.wait_log(r"configuration reloaded", start=start)
        start = len(px.log_text())
        self.assertEqual(px.get("/status").status, 200)
        self.assertEqual(px.get("/_proxy/health").status, 200)
        time.sleep(0.2)
        self.assertNotIn("access:", px.log_text()[start:])

    def test_cli(self):
        px = self.start()
        url = px.url("/_proxy/status")
        res = self.run_cli(["status", "--url", url])
        self.assertEqual(res.rc, 0, res)
        lines = res.stdout.splitlines()
        self.assertRegex(lines[0], r"^zt-token-proxy \S+ \(pid \d+\): healthy, up \d+s$")
        header = next(ln for ln in lines if ln.startswith("ROUTE"))
        self.assertEqual(header.split(), ["ROUTE", "UPSTREAM", "TOKEN", "STATE", "FINGERPRINT", "CHANGED",
                                          "LAST", "401"])
        row = lines[lines.index(header) + 1].split()
        self.assertEqual(row[:5], ["/", self.svc.url.rstrip("/"), "t", "(x-zt1-auth)", "ok"])
        self.assertEqual(row[5], token_fp(self.token))
        res = self.run_cli(["status", "--json", "--url", url])
        self.assertEqual(res.rc, 0, res)
        self.assertIs(json.loads(res.stdout)["healthy"], True)
        # Unhealthy: exit 1, the reason printed.
        os.unlink(self.tokfile)
        px.write_config(self.cfg())
        px.sighup()
        wait_until(lambda: proxy_status(px)[0].status == 503, 10, 0.05, "unhealthy after the reload")
        res = self.run_cli(["status", "--url", url])
        self.assertEqual(res.rc, 1, res)
        self.assertIn("UNHEALTHY", res.stdout)
        self.assertIn(f"  /: token 't' (file {self.tokfile}) is missing", res.stdout)
        res = self.run_cli(["status", "--json", "--url", url])
        self.assertEqual((res.rc, json.loads(res.stdout)["healthy"]), (1, False))
        # Unreachable, or not a status page.
        res = self.run_cli(["status", "--url", f"http://127.0.0.1:{free_port()}/_proxy/status"])
        self.assertEqual(res.rc, 69, res)
        self.assertIn("cannot reach", res.stderr)
        res = self.run_cli(["status", "--url", px.url("/_proxy/nothing")])
        self.assertEqual(res.rc, 69, res)
        self.assertEqual(self.run_cli(["status", "--bogus"]).rc, 64)

    def test_config_checks(self):
        svc = "http://127.0.0.1:9/"
        bad = [
            ({"prefix": "/"}, [route("/a", svc, "local", "x-zt1-auth")], r":\d+:\d+: status prefix '/'"),
            ({}, [route("/_proxy/x", svc, "local", "x-zt1-auth")],
             r":\d+:\d+: route prefix '/_proxy/x' is inside the status prefix '/_proxy'"),
        ]
        for status, routes, message in bad:
            path = self.write_file("bad.yaml", to_yaml(cfg(routes, status=status)))
            res = self.run_cli(["--check-config", "--config", path])
            self.assertEqual(res.rc, 78, res)
            self.assertRegex(res.stderr, message)
        path = self.write_file("good.yaml", to_yaml(cfg([route("/a", svc, "local", "x-zt1-auth")],
                                                        status={"prefix": "/st", "listen": ["127.0.0.1:0"]},
                                                        access_log=False)))
        res = self.run_cli(["--print-config", "--config", path])
        self.assertEqual(res.rc, 0, res)
        self.assertRegex(res.stdout, r'(?m)^status:\n(  #.*\n)*  prefix: "/st"\n')
        self.assertRegex(res.stdout, r'(?m)^  listen:\n    - "127\.0\.0\.1:0"\n')
        self.assertRegex(res.stdout, r"(?m)^access_log: false$")


def _get(px, port, path):
    """A GET on another listener of the same daemon (kept for the leak check)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        resp = Response(r.status, r.reason, r.getheaders(), r.read())
    finally:
        c.close()
    px.t.record_body(f"GET {path} on :{port}", resp.body)
    return resp
