"""The upstream connection policy of a route (connections: max, queue, queue_timeout,
keepalive) and port_file, against the cpp-httplib stand-in of ZeroTier One's API server."""

import json
import os
import signal
import socket
import struct
import threading
import time

from harness import FORCED_CLIENT, SCALE, WINDOWS, ScenarioTest, config, parse_metrics, route, wait_until

AUTH = "x-zt1-auth"


def rst_close(s):
    """Closes with a reset, as a client that vanishes does."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class UpstreamPolicyTests(ScenarioTest):
    timeout = 90

    def start(self, connections=None, port_file=None, **cfg):
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.zt = self.zt_api_standin(token=self.token)
        r = route("/", self.zt.url, "local", AUTH)
        if connections is not None:
            r["connections"] = connections
        if port_file is not None:
            r["port_file"] = port_file
        self.px = self.proxy(config([r], **cfg))
        return self.px

    def metrics(self):
        return parse_metrics(self.px.get("/_proxy/metrics").body.decode())

    def send_raw(self, path):
        """A request on a socket of its own, its answer left unread."""
        s = socket.create_connection(("127.0.0.1", self.px.port), timeout=30 * SCALE)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        self.addCleanup(s.close)
        return s

    def answer(self, s):
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + self._length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    @staticmethod
    def _length(data):
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                return int(line.split(":", 1)[1])
        return 0

    def test_cap_holds_and_the_queue_serves_in_arrival_order(self):
        self.start(connections={"max": 2, "queue": 8})
        socks = [self.send_raw(f"/slow?ms={400 + i}") for i in range(6)]
        busiest = 0
        m = wait_until(lambda: (lambda m: m if m.get("zt_token_proxy_upstream_queue_length",
                                                      route="/") == 4 else None)(self.metrics()),
                       10, msg="4 requests queued behind 2")
        self.assertEqual(m.get("zt_token_proxy_upstream_requests_in_progress", route="/"), 2)
        answers = []
        for s in socks:
            busiest = max(busiest, self.zt.connections()["busy"])
            answers.append(self.answer(s))
        self.assertEqual([a[0] for a in answers], [200] * 6, answers)
        self.assertLessEqual(busiest, 2, "the stand-in saw more than connections.max at once")
        # Arrival order: each answer names the delay it was asked for.
        self.assertEqual([json.loads(b)["slept_ms"] for _, b in answers], [400 + i for i in range(6)])
        m = self.metrics()
        self.assertEqual(m.get("zt_token_proxy_upstream_queue_length", route="/"), 0)
        self.assertEqual(m.get("zt_token_proxy_upstream_requests_in_progress", route="/"), 0)
        self.assertEqual(m.get("zt_token_proxy_upstream_queue_wait_seconds_count", route="/"), 4)
        self.assertGreater(m.get("zt_token_proxy_upstream_queue_wait_seconds_sum", route="/"), 0.3)

    def test_queue_full_answers_503_naming_the_route(self):
        self.start(connections={"max": 1, "queue": 1})
        first = self.send_raw("/slow?ms=1500")
        self.zt.wait_connections(lambda k: k["busy"] == 1, msg="the first request upstream")
        second = self.send_raw("/status")
        wait_until(lambda: self.metrics().get("zt_token_proxy_upstream_queue_length", route="/") == 1,
                   10, msg="one request queued")
        r = self.px.get("/status")
        self.assertJsonError(r, 503, "queue_full")
        self.assertRouteField(r.json(), "/")
        self.assertEqual(r.json()["queue"], "1")
        self.assertEqual(self.answer(first)[0], 200)
        self.assertEqual(self.answer(second)[0], 200)
        self.assertEqual(self.metrics().get("zt_token_proxy_upstream_queue_refused_total", route="/",
                                            reason="full"), 1)
        self.px.wait_log(r"route /: 1 upstream requests in progress and 1 waiting; refused one")

    def test_waiting_too_long_answers_504_naming_the_route(self):
        self.start(connections={"max": 1, "queue_timeout": "300ms"})
        first = self.send_raw("/slow?ms=2500")
        self.zt.wait_connections(lambda k: k["busy"] == 1, msg="the first request upstream")
        t0 = time.monotonic()
        r = self.px.get("/status")
        self.assertJsonError(r, 504, "queue_timeout")
        self.assertRouteField(r.json(), "/")
        self.assertLess(time.monotonic() - t0, 2.0 * SCALE, "answered before the slot came free")
        self.assertEqual(self.answer(first)[0], 200)
        self.assertEqual(self.metrics().get("zt_token_proxy_upstream_queue_refused_total", route="/",
                                            reason="timeout"), 1)
        # The stand-in saw only the first request.
        self.assertEqual(self.zt.connections()["requests"], 1)

    def test_client_that_hangs_up_cancels_its_upstream_request(self):
        self.start()  # ZeroTier One's defaults
        for close in (socket.socket.close, rst_close):
            before = self.zt.connections()
            s = socket.create_connection(("127.0.0.1", self.px.port))
            s.sendall(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
            self.zt.wait_connections(lambda k: k["hanging"] == 1, msg="the request upstream")
            self.assertEqual(self.metrics().get("zt_token_proxy_upstream_connections", route="/"), 1)
            close(s)
            # The stand-in sees its connection closed, long before timeouts.upstream (300 s).
            self.zt.wait_connections(
                lambda k: (k["hanging"], k["open"], k["closed"]) == (0, 0, before["closed"] + 1),
                timeout=5, msg=f"the upstream connection closed ({close.__name__})")
            wait_until(lambda: self.metrics().get("zt_token_proxy_upstream_connections", route="/") == 0,
                       5, msg="the proxy's upstream connection gauge back to 0")
        self.assertEqual(self.metrics().get("zt_token_proxy_upstream_requests_in_progress", route="/"), 0)

    def test_client_that_hangs_up_while_queued_leaves_the_queue(self):
        self.start(connections={"max": 1})
        first = self.send_raw("/hang?ms=4000")
        self.zt.wait_connections(lambda k: k["hanging"] == 1, msg="the first request upstream")
        s = socket.create_connection(("127.0.0.1", self.px.port))
        s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        wait_until(lambda: self.metrics().get("zt_token_proxy_upstream_queue_length", route="/") == 1,
                   10, msg="one request queued")
        rst_close(s)
        # Out of the queue at once, not when the slot comes free.
        wait_until(lambda: self.metrics().get("zt_token_proxy_upstream_queue_length", route="/") == 0,
                   2, msg="the queue emptied")
        self.assertEqual(self.zt.connections()["hanging"], 1, "the first request ended first")
        self.assertEqual(self.answer(first)[0], 200)
        time.sleep(0.2)
        self.assertEqual(self.zt.connections()["requests"], 1, "the abandoned request went upstream")

    def test_many_vanishing_clients_leave_the_upstream_free(self):
        """32 keep-alive clients vanish mid-request: the stand-in's workers come free, and a
        direct request is answered (issue 13: 9.9-19.7 s before)."""
        self.start()
        socks = []
        for _ in range(32):
            s = socket.create_connection(("127.0.0.1", self.px.port))
            s.sendall(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n")
            socks.append(s)
        self.zt.wait_connections(lambda k: k["hanging"] == 4, msg="4 requests upstream (max)")
        # All 32 resets reach the daemon together: closing them one by one while it runs
        # would free a slot before the test got to close the waiter that takes it, which
        # rightly goes upstream (admission skips only waiters already gone).
        os.kill(self.px.pid, signal.SIGSTOP)
        try:
            for s in socks:
                rst_close(s)
        finally:
            os.kill(self.px.pid, signal.SIGCONT)
        self.zt.wait_connections(lambda k: k["hanging"] == 0 and k["open"] == 0, timeout=5,
                                 msg="every upstream connection closed")
        c = self.zt.connection(timeout=5)
        try:
            c.request("GET", "/status", headers={"X-ZT1-Auth": self.token})
            self.assertEqual(c.getresponse().status, 200)
        finally:
            c.close()
        self.assertEqual(self.zt.connections()["requests"], 5, "only the 4 admitted + ours went upstream")

    def test_keepalive_route_reuses_its_upstream_connection(self):
        """keepalive above 0: one upstream connection for sequential requests (as for Central)."""
        self.start(connections={"keepalive": "10s"})
        conn = self.px.connection()
        try:
            for i in range(4):
                r = self.px.get(f"/status?i={i}", conn=conn)
                self.assertEqual(r.status, 200, r)
        finally:
            conn.close()
        counts = self.zt.connections()
        self.assertEqual((counts["accepted"], counts["requests"]), (1, 4), counts)

    def test_port_file_followed_without_reload(self):
        port_file = self.path("zerotier-one.port")
        self.start(port_file=port_file)
        old = self.zt
        with open(port_file, "w") as f:
            f.write(str(old.port))
        self.assertEqual(self.px.get("/status").status, 200)
        # ZeroTier One restarts on another port and writes it; the proxy is not reloaded.
        old.stop()
        new = self.zt_api_standin(token_file=old.token_file, port_file=port_file)
        self.assertNotEqual(new.port, old.port)
        r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(self.px.get("/status")),
                       2, msg="a request to the new port")
        self.assertEqual(r.json()["config"]["settings"]["primaryPort"], new.port)
        self.px.wait_log(rf"route /: the upstream moved to port {new.port}")
        # A garbled file keeps the last port.
        with open(port_file, "w") as f:
            f.write("not a port\n")
        self.px.wait_log(rf"does not hold a port number; still using port {new.port}")
        self.assertEqual(self.px.get("/status").status, 200)

    def test_default_route_follows_zerotier_one_port(self):
        """The embedded defaults: the / route reads <home>/zerotier-one.port and watches it."""
        self.token = self.new_token()
        self.write_local_token(self.token)
        port_file = os.path.join(self.zt_home, "zerotier-one.port")
        first = self.zt_api_standin(token=self.token, port_file=port_file)
        self.px = self.proxy({"listen": ["127.0.0.1:0"], "log_level": "debug"})
        self.assertEqual(self.px.get("/status").status, 200)
        first.stop()
        second = self.zt_api_standin(token_file=first.token_file, port_file=port_file)
        r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(self.px.get("/status")),
                       2, msg="a request to the new port")
        self.assertEqual(r.json()["config"]["settings"]["primaryPort"], second.port)

    def test_status_page_shows_the_policy(self):
        self.start(connections={"max": 3, "queue": 7})
        st = self.px.get("/_proxy/status").json()
        up = [r for r in st["routes"] if r["prefix"] == "/"][0]["connections"]
        # The default keepalive: 2 s for the h1 client with TCP_QUICKACK (Linux), else 0.
        keep = 0 if FORCED_CLIENT == "curl" or WINDOWS else 2000
        self.assertEqual((up["max"], up["queue"], up["keepalive_ms"]), (3, 7, keep), up)
        for k in ("open", "in_progress", "queued", "refused_full", "refused_timeout"):
            self.assertEqual(up[k], 0, up)
