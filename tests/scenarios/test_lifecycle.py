"""SIGTERM / SIGINT: stop accepting, let in-flight requests finish, exit 0; log line format."""

import signal
import socket
import threading
import time

from harness import LEVEL_WORDS, SCALE, ScenarioTest, config, free_port, route, wait_until


class LifecycleTests(ScenarioTest):
    def start(self, **cfg):
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        self.px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")], **cfg))
        self.assertEqual(self.px.get("/status").status, 200)
        return self.px

    def refused(self):
        # A SYN that finds the listener while it closes is dropped without a
        # reset, and the client sends it again after its 1 s initial RTO: the
        # timeout leaves room for that retry, which is then refused.
        try:
            socket.create_connection(("127.0.0.1", self.px.port), timeout=3).close()
            return False
        except ConnectionResetError:
            return False  # queued just before the listener closed: ask again
        except ConnectionRefusedError:
            return True

    def start_slow(self, ms):
        result = {}

        def run():
            try:
                result["resp"] = self.px.get(f"/slow?ms={ms}", timeout=60)
            except Exception as e:  # checked by the caller
                result["exc"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.svc.wait_requests(1, path="/slow")
        return t, result

    def idle_exit(self, sig):
        px = self.start()
        px.signal(sig)
        px.expect_exit = True
        self.assertEqual(px.wait_exit(10), 0)

    def test_sigterm_idle(self):
        self.idle_exit(signal.SIGTERM)

    def test_sigint_idle(self):
        self.idle_exit(signal.SIGINT)

    def graceful(self, sig):
        px = self.start()
        t, result = self.start_slow(3000)
        px.signal(sig)
        px.expect_exit = True
        wait_until(self.refused, 2, 0.05, "the listening socket to close after the signal")
        self.assertTrue(t.is_alive(), "the slow request ended before the listener closed; test inconclusive")
        t.join(30 * SCALE)
        self.assertNotIn("exc", result, f"in-flight request failed: {result.get('exc')!r}")
        self.assertEqual(result["resp"].status, 200, result["resp"])
        self.assertEqual(result["resp"].json().get("slept_ms"), 3000)
        self.assertEqual(px.wait_exit(10), 0)

    def test_sigterm_graceful(self):
        self.graceful(signal.SIGTERM)

    def test_sigint_graceful(self):
        self.graceful(signal.SIGINT)

    def test_shutdown_timeout_bounds_the_wait(self):
        px = self.start(timeouts={"shutdown": "1s"})
        t, result = self.start_slow(15000)
        t0 = time.monotonic()
        px.sigterm()
        px.wait_exit(8)
        took = time.monotonic() - t0
        self.assertLess(took, 5 * SCALE, f"exit took {took:.1f}s with timeouts.shutdown 1s")
        t.join(20 * SCALE)
        self.assertFalse(t.is_alive())

    def test_idle_keepalive_connection_does_not_delay_exit(self):
        px = self.start(timeouts={"shutdown": "10s", "client_idle": "60s"})
        conn = px.connection()
        try:
            self.assertEqual(px.get("/status", conn=conn).status, 200)
            t0 = time.monotonic()
            px.sigterm()
            self.assertEqual(px.wait_exit(10), 0)
            took = time.monotonic() - t0
        finally:
            conn.close()
        self.assertLess(took, 3 * SCALE, f"an idle keep-alive connection held the exit for {took:.1f}s")

    def test_log_lines_have_timestamp_and_level(self):
        px = self.start(log_level="debug")
        px.get("/nope/../x")
        px.get("/status")
        px.stop()
        self.assertEqual(px.returncode, 0)
        lines = [ln for ln in px.log_text().splitlines() if ln.strip()]
        self.assertGreater(len(lines), 2)
        bad = []
        for ln in lines:
            words = ln.split()
            idx = next((i for i, w in enumerate(words[:4]) if w.strip("[]:<>").lower() in LEVEL_WORDS), None)
            if idx is None or idx == 0 or not all(any(ch.isdigit() for ch in w) for w in words[:idx]):
                bad.append(ln)
        self.assertEqual(bad, [], "log lines without 'TIMESTAMP LEVEL' at the start")

    def test_listen_on_occupied_port_fails(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        try:
            port = busy.getsockname()[1]
            self.svc = self.local_service(token=self.new_token())
            px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")],
                                   listen=[f"127.0.0.1:{port}"]), wait=False)
            rc = px.wait_exit(10)
            self.assertNotEqual(rc, 0, "the daemon must fail when it cannot listen")
            self.assertIn(str(port), px.log_text())
        finally:
            busy.close()

    def test_fixed_listen_port(self):
        port = free_port()
        self.svc = self.local_service(token=self.new_token())
        self.write_local_token(self.svc.token)
        px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")], listen=[f"127.0.0.1:{port}"]))
        self.assertEqual(px.port, port)
        self.assertEqual(px.get("/status").status, 200)
