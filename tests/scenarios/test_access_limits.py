"""Limits: request head size (431), request body size (413), and slow clients dropped by the
client_header / client_body timeouts while other clients are served."""

import socket
import threading
import time

from harness import SCALE, ScenarioTest, config, raw_exchange, route, wait_until


class LimitTests(ScenarioTest):
    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)

    def start(self, routes=None, **kw):
        routes = routes or [route("/", self.svc.url, "t", "x-zt1-auth")]
        return self.proxy(config(routes, tokens={"t": {"value": self.token}}, **kw))

    def exchange(self, px, data, timeout=5):
        out = raw_exchange("127.0.0.1", px.port, data, timeout)
        self.record_body(repr(data[:40]), out)
        return out

    def test_header_size(self):
        px = self.start(limits={"max_header_size": "2KiB"})
        ok = self.exchange(px, b"GET /status HTTP/1.1\r\nX-Pad: " + b"p" * 1500 + b"\r\nConnection: close\r\n\r\n")
        self.assertRegex(ok, rb"^HTTP/1\.1 200 ")
        mark = self.svc.mark()
        over = self.exchange(px, b"GET /status HTTP/1.1\r\nX-Pad: " + b"p" * 3000 + b"\r\nConnection: close\r\n\r\n")
        self.assertRegex(over, rb"^HTTP/1\.1 431 ")
        self.assertIn(b'"error":"headers_too_large"', over)
        self.assertIn(b"application/json", over)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
        self.assertRegex(self.exchange(px, b"GET /status HTTP/1.1\r\n" + many + b"Connection: close\r\n\r\n"),
                         rb"^HTTP/1\.1 431 ")
        # Far beyond: libmicrohttpd's own pool runs out first and it answers 431 itself.
        huge = self.exchange(px, b"GET /status HTTP/1.1\r\nX-Pad: " + b"p" * 200000 + b"\r\n\r\n")
        self.assertRegex(huge, rb"^HTTP/1\.1 431 ")
        self.assertEqual(self.svc.since(mark), [], "an oversized request reached the upstream")
        self.assertEqual(px.get("/status").status, 200)

    def test_declared_body_over_the_limit_is_refused_at_once(self):
        px = self.start(routes=[dict(route("/small", self.svc.url, "t", "x-zt1-auth"), max_body=1000),
                                dict(route("/none", self.svc.url, "t", "x-zt1-auth"), max_body=0),
                                route("/", self.svc.url, "t", "x-zt1-auth")],
                        limits={"max_body": "4KiB"})
        mark = self.svc.mark()
        for path, n in (("/small/x", 1001), ("/none/x", 1), ("/x", 4097), ("/x", 10 ** 12)):
            with self.subTest(path=path, n=n):
                t0 = time.monotonic()
                # Only the head is sent: the answer must not wait for a body that never comes.
                data = self.exchange(px, b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
                                     % (path.encode(), n), timeout=10)
                self.assertRegex(data, rb"^HTTP/1\.1 413 ")
                self.assertIn(b'"error":"body_too_large"', data)
                self.assertLess(time.monotonic() - t0, 3 * SCALE, "the 413 waited for the body")
        self.assertEqual(self.svc.since(mark), [], "an oversized body reached the upstream")
        for path, n in (("/small/x", 1000), ("/none/x", 0), ("/x", 4096)):
            with self.subTest(path=path, n=n):
                self.assertEqual(px.request("POST", path, body=b"b" * n).status, 200)

    def test_chunked_body_over_the_limit(self):
        px = self.start(routes=[dict(route("/", self.svc.url, "t", "x-zt1-auth"), max_body=10000)])
        mark = self.svc.mark()

        def chunks(total, size=1000):
            for _ in range(total // size):
                yield b"c" * size

        c = px.connection()
        c.request("POST", "/sink", body=chunks(50000), headers={"Transfer-Encoding": "chunked"},
                  encode_chunked=True)
        r = c.getresponse()
        body = r.read()
        c.close()
        self.record_body("chunked", body)
        self.assertEqual(r.status, 413, body)
        self.assertIn(b'"error":"body_too_large"', body)
        # The upstream may have seen the start of it, but never a whole request.
        time.sleep(0.2)
        self.assertEqual([q for q in self.svc.since(mark) if q.note is None], [])
        c = px.connection()
        c.request("POST", "/sink", body=chunks(9000), headers={"Transfer-Encoding": "chunked"},
                  encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b'"len": 9000', r.read())
        c.close()

    def test_slowloris_dropped_while_others_are_served(self):
        px = self.start(timeouts={"client_header": "2s", "client_idle": "30s"})
        slow, silent = [], []
        for i in range(6):
            s = socket.create_connection(("127.0.0.1", px.port))
            s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
            slow.append(s)
        for i in range(3):
            silent.append(socket.create_connection(("127.0.0.1", px.port)))
        closed = {}
        t0 = time.monotonic()

        def dribble():
            # One header byte every 0.3 s: never idle, never done.
            while time.monotonic() - t0 < 8 * SCALE and len(closed) < len(slow):
                for i, s in enumerate(slow):
                    if i in closed:
                        continue
                    try:
                        s.sendall(b"X")
                    except OSError:
                        closed[i] = time.monotonic() - t0
                time.sleep(0.3)

        th = threading.Thread(target=dribble, daemon=True)
        th.start()
        served = 0
        while th.is_alive():
            self.assertEqual(px.get("/status", timeout=5).status, 200)
            served += 1
            time.sleep(0.1)
        th.join()
        self.assertEqual(sorted(closed), list(range(len(slow))), f"slow clients still open: {closed}")
        self.assertLess(max(closed.values()), 5 * SCALE, closed)
        self.assertGreater(min(closed.values()), 1.5, closed)
        self.assertGreater(served, 10)
        for s in silent:
            s.settimeout(3 * SCALE)
            try:
                self.assertEqual(s.recv(100), b"", "a silent client was not dropped")
            except ConnectionResetError:
                pass
        for s in slow + silent:
            s.close()
        px.wait_log(r"dropped the connection from 127\.0\.0\.1:\d+: the request headers did not arrive")

    def test_slow_body_dropped(self):
        px = self.start(timeouts={"client_body": "2s"})
        s = socket.create_connection(("127.0.0.1", px.port))
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n")
        t0 = time.monotonic()
        dropped = None
        while time.monotonic() - t0 < 8 * SCALE:
            try:
                s.sendall(b"b" * 10)
            except OSError:
                dropped = time.monotonic() - t0
                break
            time.sleep(0.3)
        s.close()
        self.assertIsNotNone(dropped, "a client sending its body too slowly was not dropped")
        self.assertLess(dropped, 5 * SCALE)
        px.wait_log(r"dropped the connection from 127\.0\.0\.1:\d+: the request body did not arrive")
        wait_until(lambda: self.svc.requests and self.svc.requests[-1].note == "body incomplete", 5,
                   msg="the upstream request to be cut off")
        self.assertEqual(px.request("POST", "/sink", body=b"x" * 1000).status, 200)

    def test_keepalive_idle_is_not_a_slow_header(self):
        px = self.start(timeouts={"client_header": "1s", "client_idle": "30s"})
        c = px.connection()
        self.assertEqual(px.get("/status", conn=c).status, 200)
        first = c.sock.getsockname()
        time.sleep(2.5)  # longer than client_header, shorter than client_idle
        self.assertEqual(px.get("/status", conn=c).status, 200)
        self.assertEqual(c.sock.getsockname(), first, "the connection was not kept")
        c.close()
