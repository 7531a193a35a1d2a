"""Keep-alive: client connections are reused, and upstream connections are pooled."""

import http.client
import os
import socket
import threading
import time

from harness import SCALE, WINDOWS, ScenarioTest, config, route, wait_until


def cpu_seconds(pid):
    """User plus system CPU time the process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class KeepAliveTests(ScenarioTest):
    def start(self, keepalive="60s", **cfg):
        """An x-zt1-auth route; its upstream connections are pooled unless keepalive is None
        (the default for such routes: one connection per request)."""
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        r = route("/", self.svc.url, "local", "x-zt1-auth")
        if keepalive is not None:
            r["connections"] = {"keepalive": keepalive}
        self.px = self.proxy(config([r], **cfg))
        return self.px

    def run_on_one_connection(self, n, make_request):
        conn = self.px.connection()
        sock = None
        try:
            for i in range(n):
                method, path, body = make_request(i)
                r = self.px.request(method, path, body=body, conn=conn)
                self.assertLess(r.status, 600)
                yield i, r
                if sock is None:
                    sock = conn.sock
                self.assertIsNotNone(conn.sock, f"the daemon closed the client connection after request {i}: {r}")
                self.assertIs(conn.sock, sock, f"the client connection was replaced after request {i}")
        finally:
            conn.close()

    def assertUpstreamPooled(self, n):
        self.assertEqual(len(self.svc.requests), n)
        self.assertLessEqual(self.svc.connections, 2,
                             f"{n} sequential requests opened {self.svc.connections} upstream connections")

    def test_sequential_gets_reuse_connections(self):
        self.start()
        for i, r in self.run_on_one_connection(100, lambda i: ("GET", f"/status?i={i}", None)):
            self.assertEqual(r.status, 200, r)
        self.assertUpstreamPooled(100)

    def test_mixed_methods_with_bodies_reuse_connections(self):
        self.start()

        def req(i):
            if i % 2:
                return ("POST", "/sink", b"b" * (i * 97))
            return ("GET", "/echo", None)
        for i, r in self.run_on_one_connection(100, req):
            self.assertEqual(r.status, 200, r)
            if i % 2:
                self.assertEqual(r.json()["len"], i * 97)
        self.assertUpstreamPooled(100)

    def test_zerotier_route_uses_a_connection_per_request(self):
        """keepalive 0s (ZeroTier One's route with libcurl or without TCP_QUICKACK): the client's
        connection is kept, but each upstream request goes on a new connection that the upstream
        closes (Connection: close)."""
        self.start(keepalive="0s")
        for i, r in self.run_on_one_connection(20, lambda i: ("GET", f"/echo?i={i}", None)):
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["headers"].get("connection"), ["close"], r.json())
        self.assertEqual(len(self.svc.requests), 20)
        self.assertEqual(self.svc.connections, 20)
        self.assertEqual(len({rec.conn for rec in self.svc.requests}), 20)

    def test_upstream_error_statuses_keep_connections(self):
        self.start()
        codes = (200, 404, 500, 302, 400)

        def req(i):
            c = codes[i % len(codes)]
            return ("GET", "/status" if c == 200 else f"/code/{c}", None)
        for i, r in self.run_on_one_connection(50, req):
            self.assertEqual(r.status, codes[i % len(codes)], r)
        self.assertUpstreamPooled(50)

    def test_concurrent_clients(self):
        self.start()
        errors = []

        def client(k):
            try:
                conn = self.px.connection()
                for i in range(25):
                    conn.request("GET", f"/echo?client={k}&i={i}")
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200 or f"client={k}&i={i}" not in body.decode():
                        errors.append((k, i, r.status, body[:200]))
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                errors.append((k, repr(e)))
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60 * SCALE)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.svc.requests), 200)
        for r in self.svc.requests:
            self.assertEqual(r.header_values("X-ZT1-Auth"), [self.token])

    def test_idle_daemon_waits(self):
        """With a keep-alive client and a pooled upstream connection open but quiet, the loop
        waits in poll(): one that kept turning (a timer stuck at 0, a listener always due)
        would show as a whole CPU's worth of time."""
        if WINDOWS or not os.path.exists(f"/proc/{os.getpid()}/stat"):
            self.skipTest("reads /proc")
        px = self.start()
        conn = px.connection()
        try:
            for i in range(3):
                self.assertEqual(px.get(f"/echo?i={i}", conn=conn).status, 200)
            time.sleep(0.5)
            before = cpu_seconds(px.pid)
            time.sleep(2)
            used = cpu_seconds(px.pid) - before
        finally:
            conn.close()
        self.assertLess(used, 0.2, f"the idle daemon used {used:.2f} s of CPU in 2 s")

    def test_idle_client_connection_closed_after_client_idle(self):
        px = self.start(timeouts={"client_idle": "1s"})
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10 * SCALE)
        try:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            r = http.client.HTTPResponse(s, method="GET")
            r.begin()
            self.assertEqual(r.status, 200)
            r.read()
            t0 = time.monotonic()
            try:
                data = s.recv(1)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                self.fail(f"idle connection still open {10 * SCALE:.0f}s later with client_idle 1s")
            waited = time.monotonic() - t0
        finally:
            s.close()
        self.assertEqual(data, b"", "unexpected bytes on an idle connection")
        self.assertGreater(waited, 0.5, "closed long before client_idle")
        self.assertLess(waited, 5 * SCALE, "closed long after client_idle")

    def test_max_connections(self):
        px = self.start(limits={"max_connections": 2})
        # Two connections busy with a request (idle ones make room: test_adversarial.py).
        held = [socket.create_connection(("127.0.0.1", px.port), timeout=5) for _ in range(2)]
        try:
            for c in held:
                c.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
            time.sleep(0.2)
            # A third connection is queued or refused while two are open, never served.
            extra = socket.create_connection(("127.0.0.1", px.port), timeout=1.5)
            try:
                extra.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
                try:
                    data = extra.recv(4096)
                except (socket.timeout, ConnectionResetError):
                    data = b""
            finally:
                extra.close()
            self.assertNotRegex(data, rb"^HTTP/1\.[01] 2", "a third connection was served with max_connections 2")
        finally:
            for c in held:
                c.close()

        def served():
            try:
                return px.get("/status", timeout=2).status == 200
            except OSError:
                return False
        wait_until(served, 5, 0.1, "a new connection to be served once the others closed")


class RawUpstream:
    """A keep-alive HTTP/1.1 upstream on raw sockets that answers every request with 200 and
    the connection's number, except that on connection `drop_conn` it reads request
    `drop_at` and closes without a byte: a pooled connection that turned out stale."""

    def __init__(self, host="127.0.0.1", family=socket.AF_INET, drop_conn=None, drop_at=None):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.drop = (drop_conn, drop_at)
        self.connections = 0
        self.requests = []  # (connection number, request line)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c, self.connections), daemon=True).start()

    def _serve(self, c, n):
        f = c.makefile("rb")
        try:
            for i in range(1, 1000):
                line = f.readline()
                if not line:
                    return
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self.requests.append((n, line.decode().strip()))
                if self.drop == (n, i):
                    return
                body = b'{"conn":%d}' % n
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        finally:
            f.close()
            c.close()

    def close(self):
        self.sock.close()


class UpstreamConnectionTests(ScenarioTest):
    def start(self, upstream_url):
        token = self.new_token()
        self.write_local_token(token)
        r = route("/", upstream_url, "local", "x-zt1-auth")
        r["connections"] = {"keepalive": "60s"}
        return self.proxy(config([r]))

    def test_stale_pooled_connection_is_retried_on_a_new_one(self):
        """The upstream closes a pooled connection as the second request arrives on it, before
        any byte of an answer: the request goes again, once, on a new connection, and the
        client sees only the answer."""
        up = RawUpstream(drop_conn=1, drop_at=2)
        self.addCleanup(up.close)
        px = self.start(f"http://127.0.0.1:{up.port}/")
        first = px.get("/one")
        self.assertEqual((first.status, first.json()), (200, {"conn": 1}), first)
        second = px.request("POST", "/two", body=b"payload")
        self.assertEqual((second.status, second.json()), (200, {"conn": 2}), second)
        self.assertEqual(up.requests, [(1, "GET /one HTTP/1.1"), (1, "POST /two HTTP/1.1"),
                                       (2, "POST /two HTTP/1.1")])

    def test_localhost_finds_an_upstream_listening_on_ipv6_only(self):
        """`localhost` is 127.0.0.1 or ::1, as libcurl resolves it: an upstream bound to ::1
        alone is reached on the second."""
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            up = RawUpstream(host="::1", family=socket.AF_INET6)
        except OSError as e:
            self.skipTest(f"cannot listen on ::1: {e}")
        self.addCleanup(up.close)
        px = self.start(f"http://localhost:{up.port}/")
        for i in range(3):
            r = px.get(f"/v6?i={i}")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(len(up.requests), 3)
