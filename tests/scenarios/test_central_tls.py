"""Central over TLS: 'token' (v1) and 'Bearer' (v2) styles, ca_file, verification, keep-alive reuse."""

import hashlib
import unittest

from harness import WINDOWS, ScenarioTest, config, make_ca, route


class CentralTlsTests(ScenarioTest):
    def start(self, host=None, ca_file=True, ca="main"):
        # Schannel (Windows) matches DNS names only, not IP addresses, against a certificate.
        host = host or ("localhost" if WINDOWS else "127.0.0.1")
        self.t1, self.t2 = self.new_token(), self.new_token()
        self.svc = self.central_service(token=self.t1, token_v2=self.t2, ca=ca)
        upstream = f"https://{host}:{self.svc.port}/"
        ca_path = self.svc.ca_file if ca_file is True else ca_file
        self.px = self.proxy(
            config([route("/central/", upstream, "central", "token", ca_file=ca_path),
                    route("/central-v2/", upstream, "central-v2", "bearer", ca_file=ca_path)]),
            env={"ZEROTIER_CENTRAL_TOKEN": self.t1, "ZEROTIER_CENTRAL_V2_TOKEN": self.t2})
        return self.px

    def test_v1_token_style(self):
        px = self.start()
        client = self.new_token()
        r = px.get("/central/api/v1/network?x=1", headers={"Authorization": f"token {client}"})
        self.assertEqual(r.status, 200, r)
        (up,) = self.svc.requests
        self.assertEqual((up.path, up.query), ("/api/v1/network", "x=1"))
        self.assertEqual(up.header_values("Authorization"), [f"token {self.t1}"])
        self.assertFalse(up.has_header("X-ZT1-Auth"))
        self.assertEqual(r.json()["path"], "/api/v1/network")

    def test_v2_bearer_style(self):
        px = self.start()
        r = px.get("/central-v2/api/v2/org?page=2", headers={"X-ZT1-Auth": self.new_token()})
        self.assertEqual(r.status, 200, r)
        (up,) = self.svc.requests
        self.assertEqual((up.path, up.query), ("/api/v2/org", "page=2"))
        self.assertEqual(up.header_values("Authorization"), [f"Bearer {self.t2}"])
        self.assertFalse(up.has_header("X-ZT1-Auth"), "the client's X-ZT1-Auth must not be forwarded")

    def test_auth_query_not_touched_on_token_routes(self):
        # Only x-zt1-auth routes strip 'auth' (it is ZeroTier One's credential parameter).
        px = self.start()
        r = px.get("/central/api/v1/network?auth=public&x=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.svc.requests[0].query, "auth=public&x=1")

    def test_post_body_over_tls(self):
        px = self.start()
        body = b'{"config": {"name": "n1"}}' * 100
        r = px.request("POST", "/central/api/v1/sink", body=body, headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    def test_localhost_name_verified_by_dns_san(self):
        px = self.start(host="localhost")
        r = px.get("/central/api/v1/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.svc.requests), 1)

    def test_untrusted_certificate_refused_without_sending_token(self):
        # The stand-in's certificate comes from another CA than the one named in ca_file.
        px = self.start(ca="other-ca", ca_file=make_ca("main")[0])
        r = px.get("/central/api/v1/status")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        self.assertIsInstance(r.json().get("error"), str, r)
        self.assertRouteField(r.json(), "/central/")
        self.assertEqual(self.svc.requests, [], "no HTTP request (and so no token) may reach an unverified server")

    @unittest.skipIf(WINDOWS, "Wine's Schannel does not check a chain against the system store "
                              "(Windows does); with a ca_file the check is curl's and is tested")
    def test_system_store_refuses_private_ca(self):
        px = self.start(ca_file=None)
        r = px.get("/central/api/v1/status")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        self.assertEqual(self.svc.requests, [], "no HTTP request (and so no token) may reach an unverified server")

    def test_keepalive_reuse_over_tls(self):
        px = self.start()
        conn = px.connection()
        sock = None
        try:
            for i in range(100):
                r = px.get(f"/central/api/v1/status?i={i}", conn=conn)
                self.assertEqual(r.status, 200, r)
                if sock is None:
                    sock = conn.sock
                self.assertIs(conn.sock, sock, f"the daemon closed the client connection after request {i}")
        finally:
            conn.close()
        self.assertEqual(len(self.svc.requests), 100)
        self.assertLessEqual(self.svc.connections, 2,
                             f"100 requests opened {self.svc.connections} TLS connections upstream")
