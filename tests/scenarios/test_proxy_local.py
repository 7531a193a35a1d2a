"""Proxying to the local service: token injection, credential stripping, headers, mapping, no Host."""

import hashlib
import http.client
import json
import os
import socket
import unittest

from harness import WINDOWS, ScenarioTest, config, route


class LocalProxyTests(ScenarioTest):
    def start(self, token=None, routes=None, tokens=None, env=None):
        """Stand-in plus daemon with route "/" -> stand-in using the built-in 'local' token."""
        self.token = token or self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        routes = routes or [route("/", self.svc.url, "local", "x-zt1-auth")]
        self.px = self.proxy(config(routes, tokens=tokens), env=env)
        return self.px

    def only_request(self, mark=0):
        reqs = self.svc.since(mark)
        self.assertEqual(len(reqs), 1, f"upstream requests: {reqs}")
        return reqs[0]

    def test_builtin_local_token_injected(self):
        px = self.start()
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("online"), True, r)
        up = self.only_request()
        self.assertEqual(up.header_values("X-ZT1-Auth"), [self.token])
        self.assertFalse(up.has_header("Authorization"), up.headers)

    def test_token_file_whitespace_trimmed(self):
        tok = self.new_token()
        self.svc = self.local_service(token=tok)
        self.write_local_token(tok, newline=True)
        px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")]))
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.only_request().header_values("X-ZT1-Auth"), [tok])

    def test_client_credentials_replaced(self):
        px = self.start()
        c1, c2, c3 = self.new_token(), self.new_token(), self.new_token()
        r = px.get(f"/status?a=1&auth={c3}&b=2",
                   headers={"X-ZT1-Auth": c1, "Authorization": f"Bearer {c2}"})
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        self.assertEqual(up.header_values("X-ZT1-Auth"), [self.token])
        self.assertEqual(up.header_values("Authorization"), [])
        self.assertEqual(up.query, "a=1&b=2", "the auth query parameter must be removed, the rest kept")

    def test_auth_query_parameter_variants(self):
        # Every 'auth' parameter goes, with or without a value; look-alike names stay.
        px = self.start()
        c1, c2 = self.new_token(), self.new_token()
        r = px.get(f"/echo?author=me&auth={c1}&xauth=1&auth={c2}&auth&auth_x=2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.only_request().query, "author=me&xauth=1&auth_x=2")

    def test_client_credential_headers_any_case_or_count(self):
        px = self.start()
        c1, c2, c3 = self.new_token(), self.new_token(), self.new_token()
        r = px.raw(f"GET /echo HTTP/1.1\r\nHost: localhost\r\nx-ZT1-AUTH: {c1}\r\nX-Zt1-Auth: {c2}\r\n"
                   f"authorization: token {c3}\r\nAUTHORIZATION: Bearer {c3}\r\n\r\n".encode())
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        self.assertEqual(up.header_values("X-ZT1-Auth"), [self.token])
        self.assertEqual(up.header_values("Authorization"), [])

    def test_auth_only_query_removed_entirely(self):
        px = self.start()
        client_token = self.new_token()
        r = px.get(f"/echo?auth={client_token}")
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        self.assertEqual(up.target, "/echo", "no '?' should remain when auth was the only parameter")
        self.assertEqual(up.header_values("X-ZT1-Auth"), [self.token])

    def test_end_to_end_headers_pass_both_ways(self):
        px = self.start()
        r = px.get("/echo?resp_hdr=X-Ratelimit-Remaining:19&resp_hdr=Set-Cookie:a=1&resp_hdr=Set-Cookie:b=2",
                   headers={"X-Custom": "hello world", "Accept-Language": "de"})
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        self.assertEqual(up.header_values("X-Custom"), ["hello world"])
        self.assertEqual(up.header_values("Accept-Language"), ["de"])
        self.assertEqual(r.header("X-Upstream-Custom"), "echo-local", r.headers)
        self.assertEqual(r.header("X-Ratelimit-Remaining"), "19", r.headers)
        self.assertEqual(r.header_values("Set-Cookie"), ["a=1", "b=2"], r.headers)
        self.assertEqual(r.header("Content-Type"), "application/json", r.headers)

    def test_hop_by_hop_request_headers_not_forwarded(self):
        px = self.start()
        proxy_cred = self.new_token()
        r = px.get("/echo", headers={
            "Connection": "X-Hop-Named",
            "X-Hop-Named": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Foo",
            "Upgrade": "h2c-nonsense",
            "Proxy-Authorization": f"Basic {proxy_cred}",
            "X-Custom": "kept",
        })
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        for name in ("X-Hop-Named", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization"):
            self.assertFalse(up.has_header(name), f"{name} forwarded upstream: {up.headers}")
        for value in up.header_values("Connection"):
            self.assertNotIn("x-hop-named", value.lower(), up.headers)
        self.assertEqual(up.header_values("X-Custom"), ["kept"])

    def test_hop_by_hop_response_headers_not_forwarded(self):
        px = self.start()
        r = px.get("/echo?resp_hdr=Connection:X-Hop-Resp&resp_hdr=X-Hop-Resp:1"
                   "&resp_hdr=Keep-Alive:timeout%3D5&resp_hdr=Proxy-Authenticate:Basic&resp_hdr=X-End:2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.only_request().query_params().count(("resp_hdr", "X-End:2")), 1)
        for name in ("X-Hop-Resp", "Keep-Alive", "Proxy-Authenticate"):
            self.assertIsNone(r.header(name), f"{name} forwarded to the client: {r.headers}")
        self.assertEqual(r.header("X-End"), "2", r.headers)

    def test_method_path_query_body_pass_unchanged(self):
        px = self.start()
        for method in ("GET", "POST", "PUT", "DELETE"):
            with self.subTest(method=method):
                body = (method * 1000).encode() if method in ("POST", "PUT", "PATCH") else None
                mark = self.svc.mark()
                r = px.request(method, "/echo/a/b.json?x=1&y=%20z&empty=&flag", body=body)
                self.assertEqual(r.status, 200, r)
                up = self.only_request(mark)
                self.assertEqual(up.method, method)
                self.assertEqual(up.path, "/echo/a/b.json")
                self.assertEqual(up.query, "x=1&y=%20z&empty=&flag")
                self.assertEqual(up.body_len, len(body or b""))
                if body:
                    self.assertEqual(up.body_sha256, hashlib.sha256(body).hexdigest())
                echo = r.json()
                self.assertEqual((echo["method"], echo["path"]), (method, "/echo/a/b.json"))

    def test_percent_encoding_passes_unchanged(self):
        px = self.start()
        r = px.get("/echo/a%20b/c%3Fd/%7Euser?q=%26&r=a+b&s=%C3%A9")
        self.assertEqual(r.status, 200, r)
        up = self.only_request()
        self.assertEqual(up.path, "/echo/a%20b/c%3Fd/%7Euser", "the path must not be decoded or re-encoded")
        self.assertEqual(up.query, "q=%26&r=a+b&s=%C3%A9")

    def test_head_request(self):
        px = self.start()
        r = px.request("HEAD", "/bytes?n=1000")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")
        up = self.only_request()
        self.assertEqual((up.method, up.path), ("HEAD", "/bytes"))
        self.assertEqual(px.get("/status").status, 200)

    def test_expect_100_continue(self):
        # curl sends large bodies this way: headers, wait for "100 Continue", then the body.
        px = self.start()
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        try:
            s.sendall(b"POST /sink HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            interim = s.recv(4096)
            self.assertRegex(interim, rb"^HTTP/1\.1 100 ", "no 100 Continue before the body was sent")
            s.sendall(b"hello world")
            resp = http.client.HTTPResponse(s, method="POST")
            resp.begin()
            body = resp.read()
        finally:
            s.close()
        self.assertEqual(resp.status, 200, body)
        self.assertEqual(json.loads(body), {"len": 11, "sha256": hashlib.sha256(b"hello world").hexdigest()})

    def test_encoded_slash_in_query_passes(self):
        px = self.start()
        r = px.get("/echo?next=%2Fa%2Fb&q=c%5Cd")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.only_request().query, "next=%2Fa%2Fb&q=c%5Cd")

    def test_upstream_status_and_body_pass_unchanged(self):
        px = self.start()
        for code in (201, 404, 418, 500, 503):
            with self.subTest(code=code):
                r = px.get(f"/code/{code}")
                self.assertEqual(r.status, code, r)
                self.assertEqual(r.json(), {"code": code}, "the upstream body must reach the client as is")
                self.assertEqual(r.header("X-Upstream-Code"), str(code), r.headers)

    def test_no_content_response(self):
        px = self.start()
        r = px.request("DELETE", "/code/204")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")

    def test_post_body_with_content_length(self):
        px = self.start()
        body = os.urandom(200 * 1024)
        r = px.request("POST", "/sink", body=body, headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        self.assertEqual(self.only_request().header_values("Content-Type"), ["application/octet-stream"])

    def test_longest_prefix_wins_at_segment_boundaries(self):
        ta, tb = self.new_token(), self.new_token()
        a = self.local_service(token=ta, name="a")
        b = self.local_service(token=tb, name="b")
        fa = self.write_file("tok/a", ta)
        fb = self.write_file("tok/b", tb)
        px = self.proxy(config(
            [route("/zt/", a.url, "ta", "x-zt1-auth"),
             route("/zt/special/", b.url + "base/", "tb", "x-zt1-auth")],
            tokens={"ta": {"file": fa}, "tb": {"file": fb}}))
        cases = [
            ("/zt/echo?x=1", a, "/echo", "x=1", ta),
            ("/zt/special/echo", b, "/base/echo", "", tb),
            ("/zt/special/deeper/echo?y=2", b, "/base/deeper/echo", "y=2", tb),
            ("/zt/specialx/echo", a, "/specialx/echo", "", ta),
        ]
        for target, svc, path, query, tok in cases:
            with self.subTest(target=target):
                ma, mb = a.mark(), b.mark()
                r = px.get(target)
                self.assertEqual(r.status, 200, r)
                got = a.since(ma) + b.since(mb)
                self.assertEqual(len(got), 1, got)
                self.assertEqual(r.json()["service"], svc.name, f"{target} went to the wrong upstream")
                self.assertEqual((got[0].path, got[0].query), (path, query))
                self.assertEqual(got[0].header_values("X-ZT1-Auth"), [tok])
        r = px.get("/ztx/echo")
        self.assertJsonError(r, 404, "no_route")

    def test_http11_request_without_host(self):
        px = self.start()
        cli_token = self.new_token()  # zerotier-cli needs some -T value even when talking to a proxy
        r = px.raw(f"GET /status HTTP/1.1\r\nX-ZT1-Auth: {cli_token}\r\n\r\n".encode())
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("online"), True, r)
        self.assertEqual(self.only_request().header_values("X-ZT1-Auth"), [self.token])

    def test_credential_directory_source(self):
        tok = self.new_token()
        svc = self.local_service(token=tok)
        creds = self.path("creds")
        self.write_file(os.path.join(creds, "zt-token"), tok)
        px = self.proxy(config([route("/", svc.url, "cred", "x-zt1-auth")],
                               tokens={"cred": {"credential": "zt-token"}}),
                        env={"CREDENTIALS_DIRECTORY": creds})
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(svc.requests[0].header_values("X-ZT1-Auth"), [tok])

    @unittest.skipIf(WINDOWS, "inline values are refused on Windows, where file privacy is not checked")
    def test_env_and_inline_value_sources(self):
        te, tv = self.new_token(), self.new_token()
        se = self.local_service(token=te, name="env")
        sv = self.local_service(token=tv, name="value")
        px = self.proxy(config([route("/e/", se.url, "from-env", "x-zt1-auth"),
                                route("/v/", sv.url, "inline", "x-zt1-auth")],
                               tokens={"from-env": {"env": "ZTP_SCENARIO_TOKEN"}, "inline": {"value": tv}}),
                        env={"ZTP_SCENARIO_TOKEN": te})
        self.assertEqual(px.get("/e/status").status, 200)
        self.assertEqual(px.get("/v/status").status, 200)
        self.assertEqual(se.requests[0].header_values("X-ZT1-Auth"), [te])
        self.assertEqual(sv.requests[0].header_values("X-ZT1-Auth"), [tv])
