"""Requests made by web pages never reach an upstream: Host allow-list, Origin, Referer,
Sec-Fetch-Site, CORS preflights, and no Access-Control-Allow-* ever leaves the proxy.

(test_browser.py does the same with a real browser.)
"""

from harness import ScenarioTest, config_with, raw_exchange, route, unix_request, wait_until


class BrowserHeaderTests(ScenarioTest):
    def cfg(self, extra=None, **kw):
        return config_with([route("/", self.svc.url, "t", "x-zt1-auth")], extra,
                           tokens={"t": {"value": self.token}}, **kw)

    def start(self, extra=None, **kw):
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)
        return self.proxy(self.cfg(extra, **kw))

    def raw(self, px, head, host="127.0.0.1"):
        """One request as raw bytes (Connection: close is added); returns (status, body bytes)."""
        data = raw_exchange(host, px.port, head.encode() + b"Connection: close\r\n\r\n")
        self.record_body(head[:60], data)
        if not data.startswith(b"HTTP/1."):
            return 0, data
        return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]

    def test_host_allow_list(self):
        px = self.start(listen=["127.0.0.1:0", "[::1]:0"])
        p = px.port
        mark = self.svc.mark()
        for host in ("localhost", f"localhost:{p}", "LocalHost", "127.0.0.1", f"127.0.0.1:{p}",
                     "[::1]", f"[::1]:{p}", "localhost:1"):
            with self.subTest(host=host):
                status, _ = self.raw(px, f"GET /status HTTP/1.1\r\nHost: {host}\r\n")
                self.assertEqual(status, 200)
        # zerotier-cli sends HTTP/1.1 without Host; HTTP/1.0 has none either.
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\n")[0], 200)
        self.assertEqual(self.raw(px, "GET /status HTTP/1.0\r\n")[0], 200)
        served = len(self.svc.since(mark))
        for host in ("attacker.test", f"attacker.test:{p}", "127.0.0.2", "localhost.", "[::2]",
                     "", "localhost:0", "localhost:x", "0x7f000001", "::1", "127.1"):
            with self.subTest(host=host):
                status, body = self.raw(px, f"GET /status HTTP/1.1\r\nHost: {host}\r\n")
                self.assertIn(status, (400, 403), body)
        self.assertEqual(len(self.svc.since(mark)), served, "a refused request reached the upstream")
        status, body = self.raw(px, f"GET /status HTTP/1.1\r\nHost: attacker.test:{p}\r\n")
        self.assertEqual(status, 403)
        self.assertIn(b'"error":"host_not_allowed"', body)
        status, body = self.raw(px, "GET /status HTTP/1.1\r\nHost: localhost\r\nHost: attacker.test\r\n")
        self.assertEqual(status, 400, body)
        px.wait_log(r"refused a request from 127\.0\.0\.1:\d+ for Host 'attacker\.test")

    def test_allowed_hosts(self):
        px = self.start({"allowed_hosts": ["proxy.lan", "box.example:8080"]})
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\nHost: Proxy.LAN:9994\r\n")[0], 200)
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\nHost: box.example:8080\r\n")[0], 200)
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\nHost: box.example:8081\r\n")[0], 403)
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\nHost: evil.proxy.lan\r\n")[0], 403)

    def test_unix_socket_requests_are_exempt_from_the_host_check(self):
        sock = self.path("api.sock")
        px = self.start(listen=["127.0.0.1:0", "unix:" + sock])
        r = unix_request(self, sock, "GET", "/status", headers={"Host": "anything.test"})
        self.assertEqual(r.status, 200, r)
        # ... but not from the browser checks.
        r = unix_request(self, sock, "GET", "/status", headers={"Origin": "http://evil.test"})
        self.assertJsonError(r, 403, "browser_request")

    def test_page_headers_refused_before_the_upstream(self):
        px = self.start()
        mark = self.svc.mark()
        cases = [
            ({"Origin": "http://127.0.0.1:8080"}, "Origin"),
            ({"Origin": "null"}, "Origin"),
            ({"Origin": "http://localhost:%d" % px.port}, "Origin"),
            ({"Referer": "http://127.0.0.1:8080/page.html"}, "Referer"),
            ({"Referer": "http://localhost:%d/" % px.port}, "Referer"),
            ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site"),
            ({"Sec-Fetch-Site": "same-origin"}, "Sec-Fetch-Site"),
            ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
            ({"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}, "Sec-Fetch-Site"),
        ]
        for headers, what in cases:
            for method in ("GET", "POST", "DELETE"):
                with self.subTest(headers=headers, method=method):
                    r = px.request(method, "/status", headers=headers,
                                   body=b"{}" if method == "POST" else None)
                    body = self.assertJsonError(r, 403, "browser_request")
                    self.assertIn(what, body["message"])
        self.assertEqual(self.svc.since(mark), [], "a request from a web page reached the upstream")
        # A URL typed into the address bar: Sec-Fetch-Site none, no Origin or Referer.
        r = px.get("/status", headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"})
        self.assertEqual(r.status, 200, r)

    def test_cors_preflight_refused(self):
        px = self.start({"allowed_origins": ["http://localhost:3000"]})
        mark = self.svc.mark()
        r = px.request("OPTIONS", "/status", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "content-type"})
        self.assertJsonError(r, 403, "cors_preflight")
        self.assertEqual([h for h, _ in r.headers if h.lower().startswith("access-control-")], [])
        self.assertEqual(self.svc.since(mark), [])
        # A plain OPTIONS (no preflight) from a tool goes through.
        self.assertEqual(px.request("OPTIONS", "/status").status, 200)

    def test_allowed_origins(self):
        px = self.start({"allowed_origins": ["http://localhost:3000"]})
        ok = px.get("/status", headers={"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site",
                                        "Referer": "http://localhost:3000/ui/"})
        self.assertEqual(ok.status, 200, ok)
        for headers in ({"Origin": "http://localhost:3001"},
                        {"Origin": "http://localhost:3000", "Referer": "http://evil.test/"},
                        {"Referer": "http://localhost:3000.evil.test/"},
                        {"Sec-Fetch-Site": "same-site"}):
            with self.subTest(headers=headers):
                self.assertEqual(px.get("/status", headers=headers).status, 403)

    def test_no_cors_headers_leave_the_proxy(self):
        px = self.start({"allowed_origins": ["http://localhost:3000"]})
        hdrs = ["Access-Control-Allow-Origin:*", "Access-Control-Allow-Credentials:true",
                "Access-Control-Allow-Methods:GET", "Access-Control-Allow-Headers:x",
                "Access-Control-Expose-Headers:x", "Access-Control-Max-Age:600",
                "access-control-allow-private-network:true", "X-Kept:1"]
        q = "&".join("resp_hdr=" + h.replace(":", "%3A").replace("*", "%2A") for h in hdrs)
        for headers in ({}, {"Origin": "http://localhost:3000"}):
            r = px.get("/echo?" + q, headers=headers)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Kept"), "1", "the stand-in did not send the test headers")
            self.assertEqual([h for h, _ in r.headers if h.lower().startswith("access-control-")], [], r)
        for path in ("/nothing-here?x", "/status"):
            r = px.request("OPTIONS", path, headers={"Origin": "http://evil.test",
                                                     "Access-Control-Request-Method": "GET"})
            self.assertEqual([h for h, _ in r.headers if h.lower().startswith("access-control-")], [])

    def test_reload_changes_allowed_hosts(self):
        px = self.start()
        self.assertEqual(self.raw(px, "GET /status HTTP/1.1\r\nHost: proxy.lan\r\n")[0], 403)
        start = len(px.log_text())
        px.write_config(self.cfg({"allowed_hosts": ["proxy.lan"]}))
        px.sighup()
        px.wait_log(r"configuration reloaded", start=start)
        wait_until(lambda: self.raw(px, "GET /status HTTP/1.1\r\nHost: proxy.lan\r\n")[0] == 200, 5,
                   msg="allowed_hosts applied after reload")

