"""The daemon's own errors: 400 bad targets, 404 no route, 503 token unavailable, 502, 504."""

import os
import socket
import time
import unittest

from harness import SCALE, SEP, ScenarioTest, config, free_port, route


class ErrorTests(ScenarioTest):
    def start(self, routes=None, tokens=None, **cfg):
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        routes = routes or [route("/", self.svc.url, "local", "x-zt1-auth")]
        self.px = self.proxy(config(routes, tokens=tokens, **cfg))
        return self.px

    def assertTokenUnavailable(self, resp, prefix, token, source, state):
        body = self.assertJsonError(resp, 503, "token_unavailable")
        self.assertRouteField(body, prefix)
        self.assertEqual(body.get("token"), token, body)
        self.assertEqual(body.get("source"), source, body)
        self.assertEqual(body.get("state"), state, body)
        self.assertIsInstance(body.get("message"), str, body)
        self.assertTrue(body["message"], body)
        self.assertIn("hint", body)
        self.assertEqual(self.svc.requests, [], "no request may go upstream without a token")
        return body

    # --- 400 ---
    def test_bad_request_targets(self):
        px = self.start()
        requests = [
            b"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/.. HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/./b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/%2e%2e/b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/%2E%2e/b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/.%2e/status HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a%2fb HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a%5cb HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://127.0.0.1/status HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        for raw in requests:
            with self.subTest(request=raw.split(b"\r\n")[0].decode()):
                method = raw.split(b" ")[0].decode()
                r = px.raw(raw, method=method)
                self.assertJsonError(r, 400, "bad_request")
        self.assertEqual(self.svc.requests, [], "a bad target reached the upstream")
        self.assertEqual(px.get("/status").status, 200)

    # --- 404 ---
    def test_no_route(self):
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)
        f = self.write_file("tok", self.token)
        px = self.proxy(config([route("/zt/", self.svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": f}}))
        for path in ("/", "/other", "/ztx", "/ztx/status", "/z"):
            with self.subTest(path=path):
                self.assertJsonError(px.get(path), 404, "no_route")
        self.assertEqual(self.svc.requests, [])
        self.assertEqual(px.get("/zt/status").status, 200)

    # --- 503 ---
    def test_token_file_missing(self):
        self.svc = self.local_service(token=self.new_token())
        missing = self.path("nowhere", "token")
        px = self.proxy(config([route("/zt/", self.svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": missing}}))
        self.assertTokenUnavailable(px.get("/zt/status"), "/zt/", "t", f"file {missing}", "missing")

    def test_builtin_local_token_missing(self):
        self.svc = self.local_service(token=self.new_token())
        px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")]))
        path = self.zt_home + SEP + "authtoken.secret"
        self.assertTokenUnavailable(px.get("/status"), "/", "local", f"file {path}", "missing")

    def test_env_token_unset(self):
        self.svc = self.local_service(token=self.new_token())
        px = self.proxy(config([route("/c/", self.svc.url, "central", "token")]))
        self.assertTokenUnavailable(px.get("/c/api/v1/network"), "/c/", "central", "env ZEROTIER_CENTRAL_TOKEN",
                                    "missing")

    def test_token_file_empty_is_invalid(self):
        self.svc = self.local_service(token=self.new_token())
        f = self.write_file("tok", "\n")
        px = self.proxy(config([route("/", self.svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": f}}))
        self.assertTokenUnavailable(px.get("/status"), "/", "t", f"file {f}", "invalid")

    def test_token_file_garbage_is_invalid_and_not_echoed(self):
        self.svc = self.local_service(token=self.new_token())
        a, b = self.new_token(), self.new_token()
        f = self.write_file("tok", f"{a} {b}\n")
        px = self.proxy(config([route("/", self.svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": f}}))
        self.assertTokenUnavailable(px.get("/status"), "/", "t", f"file {f}", "invalid")
        # tearDown checks that neither half appears in the body or the log.

    def test_token_file_unreadable_as_unprivileged_user(self):
        tok = self.new_token()
        self.svc = self.local_service(token=tok)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.zt_home, 0o755)
        secret = self.write_local_token(tok)  # root-owned, 0600: unreadable for uid 65534
        readable = self.write_file("readable-token", tok, mode=0o644)
        px = self.proxy(config([route("/zt/", self.svc.url, "local", "x-zt1-auth"),
                                route("/ok/", self.svc.url, "ok", "x-zt1-auth")],
                               tokens={"ok": {"file": readable}}),
                        as_nobody=True)
        with open(f"/proc/{px.pid}/status") as st:
            uid_line = next(ln for ln in st if ln.startswith("Uid:"))
        self.assertEqual(uid_line.split()[1], "65534", "the daemon should run as uid 65534 here")
        body = self.assertTokenUnavailable(px.get("/zt/status"), "/zt/", "local", f"file {secret}", "unreadable")
        self.assertIsInstance(body["hint"], str, body)
        self.assertRegex(body["hint"], r"root|zerotier-one", "the hint should say who can read the file")
        r = px.get("/ok/status")
        self.assertEqual(r.status, 200, r)

    # --- 502 / 504 ---
    def test_upstream_unreachable(self):
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        closed = free_port()
        px = self.proxy(config([route("/down/", f"http://127.0.0.1:{closed}/", "local", "x-zt1-auth"),
                                route("/", self.svc.url, "local", "x-zt1-auth")]))
        for _ in range(3):
            body = self.assertJsonError(px.get("/down/status"), 502, "upstream_unreachable")
            self.assertRouteField(body, "/down/")
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(px.alive())

    def test_upstream_connect_timeout(self):
        # A listener whose accept queue is full drops new SYNs: connecting hangs.
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(lst.getsockname())
                except BlockingIOError:
                    pass
                fillers.append(s)
            px = self.proxy(config([route("/hang/", f"http://127.0.0.1:{lst.getsockname()[1]}/", "local",
                                          "x-zt1-auth"),
                                    route("/", self.svc.url, "local", "x-zt1-auth")],
                                   timeouts={"upstream_connect": "1s", "upstream": "60s"}))
            t0 = time.monotonic()
            r = px.get("/hang/status")
            took = time.monotonic() - t0
        finally:
            for s in fillers:
                s.close()
            lst.close()
        self.assertIn(r.status, (502, 504), r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        self.assertIn(r.json().get("error"), ("upstream_unreachable", "upstream_timeout"), r)
        self.assertGreater(took, 0.8, f"gave up after {took:.2f}s with upstream_connect 1s")
        self.assertLess(took, 4 * SCALE, f"gave up after {took:.2f}s with upstream_connect 1s")
        self.assertEqual(px.get("/status").status, 200)

    def test_upstream_timeout(self):
        px = self.start(timeouts={"upstream": "500ms"})
        t0 = time.monotonic()
        r = px.get("/slow?ms=4000")
        took = time.monotonic() - t0
        body = self.assertJsonError(r, 504, "upstream_timeout")
        self.assertRouteField(body, "/")
        self.assertLess(took, 3.0 * SCALE, f"504 came after {took:.2f}s with timeouts.upstream 500ms")
        self.assertGreater(took, 0.4, f"504 came after only {took:.2f}s with timeouts.upstream 500ms")
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        r = px.get("/slow?ms=100")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(px.alive())
