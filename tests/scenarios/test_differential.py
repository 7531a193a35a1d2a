"""The two upstream clients side by side: the same requests through an h1 route and a curl route
to the same stand-in must give the client the same answers (status, end-to-end headers but Date,
body; for the proxy's own errors, the error code), and the stand-in must see the same requests."""

import hashlib
import json

from harness import MiB, ScenarioTest, config, free_port, pattern_sha256, proxy_metrics

CLIENTS = ("h1", "curl")
# Headers that may differ between two answers to the same request.
VARY = {"date"}


class DifferentialTests(ScenarioTest):
    def setUp(self):
        super().setUp()
        self.old = self.new_token()
        self.svc = self.local_service(token=self.old)
        self.tokfiles = {c: self.write_file(f"secret/{c}", self.old) for c in CLIENTS}
        dead = f"http://127.0.0.1:{free_port()}"
        routes = []
        for c in CLIENTS:
            # Kept connections and fresh ones (the ZeroTier One default) alike.
            routes.append({"prefix": f"/{c}", "upstream": self.svc.url, "token": c,
                           "auth": "x-zt1-auth", "client": c,
                           "connections": {"keepalive": "60s", "max": 0}})
            routes.append({"prefix": f"/{c}-fresh", "upstream": self.svc.url, "token": c,
                           "auth": "x-zt1-auth", "client": c, "connections": {"keepalive": "0s"}})
            routes.append({"prefix": f"/{c}-dead", "upstream": dead, "token": c,
                           "auth": "x-zt1-auth", "client": c})
        tokens = {c: {"file": self.tokfiles[c], "watch": False} for c in CLIENTS}
        self.px = self.proxy(config(routes, tokens=tokens, timeouts={"upstream": "2s"}))

    def both(self, method, path, prefix="", **kw):
        """The same request through each client's route; returns {client: (response, upstream requests)}."""
        out = {}
        for c in CLIENTS:
            mark = self.svc.mark()
            args = dict(kw)
            if callable(args.get("body")):  # an iterator is used up by one request
                args["body"] = args["body"]()
            out[c] = (self.px.request(method, f"/{c}{prefix}{path}", **args), self.svc.since(mark))
        return out

    def end_to_end(self, resp):
        return sorted((k.lower(), v) for k, v in resp.headers if k.lower() not in VARY)

    def seen(self, reqs):
        """What the stand-in saw: method, target, headers (names lowercased, sorted), body."""
        return [(r.method, r.path, r.query, sorted((k.lower(), v) for k, v in r.headers if k.lower() != "host"),
                 r.body_len, r.body_sha256, r.status) for r in reqs]

    def parsed(self, resp):
        """A JSON body as data (the stand-in's echo lists headers in arrival order), else bytes."""
        if (resp.header("Content-Type") or "").startswith("application/json") and resp.body:
            return json.loads(resp.body)
        return resp.body

    def assertSame(self, method, path, prefix="", **kw):
        got = self.both(method, path, prefix, **kw)
        (a, ua), (b, ub) = got["h1"], got["curl"]
        what = f"{method} {prefix}{path}"
        self.assertEqual(a.status, b.status, f"{what}: h1 {a!r} curl {b!r}")
        self.assertEqual(self.parsed(a), self.parsed(b),
                         f"{what}: body; the upstream saw\n h1   {self.seen(ua)}\n curl {self.seen(ub)}")
        self.assertEqual(self.end_to_end(a), self.end_to_end(b), f"{what}: headers")
        self.assertEqual(self.seen(ua), self.seen(ub), f"{what}: the upstream saw different requests")
        return a

    def assertSameError(self, method, path, prefix, status, error, **kw):
        got = self.both(method, path, prefix, **kw)
        for c in CLIENTS:
            self.assertJsonError(got[c][0], status, error)
        self.assertEqual([k for k, _ in self.end_to_end(got["h1"][0]) if k != "content-length"],
                         [k for k, _ in self.end_to_end(got["curl"][0]) if k != "content-length"])

    def test_methods_and_statuses(self):
        for prefix in ("", "-fresh"):
            self.assertEqual(self.assertSame("GET", "/status", prefix).status, 200)
            self.assertSame("GET", "/echo?a=1&b=%2F&resp_hdr=X-A:1&resp_hdr=X-A:2", prefix,
                            headers={"Accept": "text/plain", "X-Custom": "v", "X-Empty": ""})
            self.assertSame("GET", "/echo", prefix, headers={"Connection": "x-hop", "X-Hop": "gone"})
            for m in ("DELETE", "OPTIONS", "PUT", "POST"):  # PATCH: 405 by default, before either
                self.assertSame(m, "/echo", prefix)
            for code in (200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 500, 503):
                self.assertSame("GET", f"/code/{code}", prefix)
            self.assertSame("HEAD", "/status", prefix)
            self.assertSame("HEAD", "/bytes?n=100000", prefix)
            self.assertSame("HEAD", "/bytes?n=100000&chunked=1", prefix)
            self.assertSame("HEAD", "/code/404", prefix)

    def test_request_bodies(self):
        body = bytes(range(256)) * 300
        for prefix in ("", "-fresh"):
            r = self.assertSame("POST", "/sink", prefix, body=body)
            self.assertEqual(r.json(), {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})
            # Chunked: http.client sends an iterable body without a length that way.
            r = self.assertSame("POST", "/sink", prefix, body=lambda: iter([body[:1000], body[1000:]]))
            self.assertEqual(r.json()["len"], len(body))
            self.assertSame("PUT", "/echo", prefix, body=b"", headers={"Content-Length": "0"})
            self.assertSame("POST", "/echo", prefix, body=b"x" * 10, headers={"Content-Type": "text/x"})

    def test_big_bodies_both_framings(self):
        n = 8 * MiB
        for q in ("", "&chunked=1"):
            r = self.assertSame("GET", f"/bytes?n={n}{q}")
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), pattern_sha256(n))
        body = b"z" * (3 * MiB)
        self.assertSame("POST", "/sink", body=body)

    def test_slow_upstream_and_errors(self):
        self.assertSame("GET", "/slow?ms=300")
        self.assertSame("GET", "/slow?ms=300", "-fresh")
        self.assertSameError("GET", "/slow?ms=3000", "", 504, "upstream_timeout")
        self.assertSameError("GET", "/status", "-dead", 502, "upstream_unreachable")
        self.assertSameError("POST", "/status", "-dead", 502, "upstream_unreachable", body=b"abc")
        # Still well after the errors, on kept connections too.
        self.assertSame("GET", "/status")

    def test_401_replay(self):
        new = self.new_token()
        for c in CLIENTS:
            self.write_file(self.tokfiles[c], new)
        self.svc.token = new
        for method, body in (("GET", None), ("POST", b"q" * 5000)):
            got = self.both(method, "/sink" if body else "/status", body=body)
            for c in CLIENTS:
                r, reqs = got[c]
                self.assertEqual(r.status, 200, f"{c}: {r!r}")
                if method == "GET":
                    self.assertEqual([(q.credential, q.status) for q in reqs], [(self.old, 401), (new, 200)],
                                     f"{c}: the replay")
            self.assertEqual(got["h1"][0].body, got["curl"][0].body)
            self.assertEqual(self.end_to_end(got["h1"][0]), self.end_to_end(got["curl"][0]))
        m = proxy_metrics(self.px)
        for c in CLIENTS:
            # The same metrics both ways: one replay (the GET; the POST found the new token).
            self.assertEqual(m.get("zt_token_proxy_upstream_401_replays_total", route=f"/{c}"), 1.0, c)
            self.assertEqual(m.get("zt_token_proxy_upstream_unauthorized_total", route=f"/{c}"), 1.0, c)
        for name in ("zt_token_proxy_upstream_latency_seconds_count", "zt_token_proxy_upstream_connections"):
            self.assertEqual(m.get(name, route="/h1"), m.get(name, route="/curl"), name)


if __name__ == "__main__":
    import unittest
    unittest.main()
