"""What a route allows: methods, read_only, allow_paths / deny_paths on the normalised path,
and request targets that could cross from one route into another."""

from harness import ScenarioTest, config, raw_exchange, route


def rt(prefix, svc, token, **policy):
    r = route(prefix, svc.url, token, "x-zt1-auth")
    r.update(policy)
    return r


class RoutePolicyTests(ScenarioTest):
    def start(self, *routes):
        return self.proxy(config(list(routes), tokens={"t": {"value": self.token}}))

    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)

    def test_methods_and_read_only(self):
        px = self.start(rt("/ro", self.svc, "t", read_only=True),
                        rt("/gp", self.svc, "t", methods=["GET", "POST"]),
                        rt("/", self.svc, "t"))
        mark = self.svc.mark()
        for path, method, allow in (("/ro/x", "POST", "GET, HEAD"), ("/ro/x", "DELETE", "GET, HEAD"),
                                    ("/ro/x", "PUT", "GET, HEAD"), ("/gp/x", "DELETE", "GET, POST"),
                                    ("/gp/x", "HEAD", "GET, POST"), ("/gp/x", "PATCH", "GET, POST")):
            with self.subTest(path=path, method=method):
                r = px.request(method, path, body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
                self.assertEqual(r.status, 405, r)
                self.assertEqual(r.header("Allow"), allow)
                if method != "HEAD":
                    self.assertJsonError(r, 405, "method_not_allowed")
        self.assertEqual(self.svc.since(mark), [], "a refused method reached the upstream")
        for path, method in (("/ro/x", "GET"), ("/ro/x", "HEAD"), ("/gp/x", "GET"), ("/gp/x", "POST"),
                             ("/x", "DELETE")):
            with self.subTest(path=path, method=method):
                self.assertEqual(px.request(method, path, body=b"{}" if method == "POST" else None).status,
                                 200)
        # Methods are case-sensitive (RFC 9110): "get" is not GET.
        data = raw_exchange("127.0.0.1", px.port, b"get /gp/x HTTP/1.1\r\nConnection: close\r\n\r\n")
        self.assertRegex(data, rb"^HTTP/1\.1 405 ")

    def test_one_network_read_only(self):
        """The issue's example: a full-access Central token exposed read-only for one network."""
        net = "8056c2e21c000001"
        px = self.start(rt("/central", self.svc, "t", read_only=True,
                           allow_paths=[f"/central/api/v1/network/{net}*", "/central/api/v1/status"],
                           deny_paths=["/central/api/v1/network/*/member/*/secret*"]))
        ok = [f"/central/api/v1/network/{net}", f"/central/api/v1/network/{net}/member",
              f"/central/api/v1/network/{net}/member/abc", "/central/api/v1/status",
              f"/central/api/v1/network/%38056c2e21c000001",  # %38 is '8': normalised first
              f"/central/api/v1/network/{net}?x=1"]
        refused = ["/central/api/v1/network", "/central/api/v1/network/8056c2e21c000002",
                   f"/central/api/v1/network/{net.upper()}",  # allow is exact: case cannot widen it
                   "/central/api/v1/user", "/central", "/central/api/v1/status/x",
                   f"/central/api/v1/network/{net}/member/abc/secret",
                   f"/central/api/v1/network/{net}/MEMBER/abc/SECRET",  # deny ignores case
                   f"/central/api/v1/network/{net}/m%65mber/abc/secret"]  # deny sees the decoded path
        for path in ok:
            with self.subTest(path=path):
                self.assertEqual(px.get(path).status, 200)
        mark = self.svc.mark()
        for path in refused:
            with self.subTest(path=path):
                r = px.get(path)
                self.assertJsonError(r, 403, "path_not_allowed")
        self.assertEqual(self.svc.since(mark), [], "a refused path reached the upstream")
        r = px.request("DELETE", f"/central/api/v1/network/{net}")
        self.assertEqual(r.status, 405)

    def test_percent_encoded_prefix_routes_like_its_decoded_form(self):
        central = self.local_service(token=self.token, name="central")
        px = self.start(rt("/central", central, "t"), rt("/", self.svc, "t", deny_paths=["/central*"]))
        for path in ("/%63entral/status", "/centr%61l/status"):
            with self.subTest(path=path):
                mark, cmark = self.svc.mark(), central.mark()
                r = px.get(path)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.svc.since(mark), [], "routed to / instead of /central")
                self.assertEqual([q.path for q in central.since(cmark)], ["/status"])
        # "/Central" is another path (routes match exactly), but deny_paths ignores case.
        mark, cmark = self.svc.mark(), central.mark()
        for path in ("/%43entral/status", "/Central/status", "/CENTRAL"):
            self.assertJsonError(px.get(path), 403, "path_not_allowed")
        self.assertEqual(self.svc.since(mark) + central.since(cmark), [])
        # The part after the prefix reaches the upstream as the client wrote it.
        mark = central.mark()
        self.assertEqual(px.get("/%63entral/a%20b/%7Euser").status, 200)
        self.assertEqual(central.since(mark)[0].path, "/a%20b/%7Euser")

    def test_targets_that_are_not_origin_form(self):
        px = self.start(rt("/", self.svc, "t"))
        mark = self.svc.mark()
        for req in (b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1\r\n" % self.svc.port,
                    b"CONNECT localhost:443 HTTP/1.1\r\n",
                    b"GET http://127.0.0.1:%d/status HTTP/1.1\r\nHost: localhost\r\n" % self.svc.port,
                    b"GET https://api.zerotier.com/api/v1/status HTTP/1.1\r\n",
                    b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n",
                    b"GET //127.0.0.1/status HTTP/1.1\r\n",
                    b"GET /a/%2e%2e/status HTTP/1.1\r\n",
                    b"GET /a%2f..%2fstatus HTTP/1.1\r\n"):
            with self.subTest(req=req):
                data = raw_exchange("127.0.0.1", px.port, req + b"Connection: close\r\n\r\n")
                self.record_body(repr(req), data)
                self.assertRegex(data, rb"^HTTP/1\.1 400 ", data[:300])
        self.assertEqual(self.svc.since(mark), [], "a refused target reached the upstream")

    def test_check_config_reports_policy_errors(self):
        cfg = self.write_file("bad.yaml", (
            'tokens: {t: {env: X}}\n'
            'routes:\n'
            '  - prefix: /a\n'
            '    upstream: "http://127.0.0.1:1"\n'
            '    token: t\n'
            '    auth: token\n'
            '    methods: [get, POST]\n'
            '    read_only: true\n'
            '    allow_paths: ["a/*", "/ok/*"]\n'
            '    deny_paths: []\n'
            '    max_body: 2GiB\n'))
        r = self.run_cli(["--check-config", "--config", cfg])
        self.assertEqual(r.rc, 78, r)
        for want in ("bad.yaml:7:15: method 'get' must be written in upper case",
                     "bad.yaml:8:5: route has both read_only and methods",
                     "bad.yaml:9:19: allow_paths pattern 'a/*' must start with '/'",
                     "bad.yaml:10:17: 'deny_paths' is an empty list",
                     "bad.yaml:11:15: max_body '2GiB' is larger than 1GiB"):
            self.assertIn(want, r.stderr)
