"""Who may connect: loopback-only TCP unless allow_remote + allow_from, unix sockets with their
mode and owner from the start, stale sockets replaced safely, and callers checked by uid."""

import os
import re
import socket
import stat
import subprocess
import threading
import time

from harness import (ScenarioTest, binary_path, config_with, curl_as, raw_exchange, route,
                     to_yaml, unix_request, wait_until)

GROUP = 4242  # a group id nobody on this machine has; curl_as hands it out explicitly


class ConnectTests(ScenarioTest):
    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)
        self.sock = self.path("run", "api.sock")
        os.makedirs(self.path("run"), 0o755)
        os.chmod(self.tmp, 0o755)  # other users must reach the socket's directory

    def cfg(self, listen=None, extra=None, routes=None):
        return config_with(routes or [route("/", self.svc.url, "t", "x-zt1-auth")], extra,
                           tokens={"t": {"value": self.token}},
                           listen=["127.0.0.1:0"] + (listen or []))

    def get(self, px, path="/status", source=None):
        """Status of GET path from source (None: the default), 0 when not answered."""
        data = raw_exchange("127.0.0.1", px.port, b"GET %s HTTP/1.1\r\nConnection: close\r\n\r\n"
                            % path.encode(), source=source)
        self.record_body(path, data)
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0

    # --- TCP ---------------------------------------------------------------------------------

    def test_non_loopback_listen_is_refused(self):
        cases = [
            (["0.0.0.0:9994"], None, "is not a loopback address"),
            (["[::]:9994"], None, "is not a loopback address"),
            (["192.0.2.1:9994"], None, "set allow_remote: true and list the networks"),
            (["0.0.0.0:9994"], {"allow_remote": True}, "allow_remote needs allow_from"),
            (["0.0.0.0:9994"], {"allow_from": ["10.0.0.0/8"]}, "is not a loopback address"),
        ]
        for listen, extra, want in cases:
            with self.subTest(listen=listen, extra=extra):
                f = self.write_file("c.yaml", to_yaml(config_with(
                    [route("/", self.svc.url, "t", "x-zt1-auth")], extra, listen=listen,
                    tokens={"t": {"env": "T"}})))
                r = self.run_cli(["--check-config", "--config", f])
                self.assertEqual(r.rc, 78, r)
                self.assertIn(want, r.stderr)
        f = self.write_file("ok.yaml", to_yaml(config_with(
            [route("/", self.svc.url, "t", "x-zt1-auth")],
            {"allow_remote": True, "allow_from": ["10.147.17.0/24", "127.0.0.1"]},
            listen=["0.0.0.0:9994"], tokens={"t": {"env": "T"}})))
        r = self.run_cli(["--check-config", "--config", f])
        self.assertEqual(r.rc, 0, r)
        r = self.run_cli(["--print-config", "--config", f])
        self.assertIn('allow_from: ["10.147.17.0/24", "127.0.0.1/32"]', r.stdout)
        # At start-up: exit 78 before listening anywhere.
        px = self.proxy(self.cfg(["0.0.0.0:0"]), wait=False)
        self.assertEqual(px.wait_exit(10), 78)
        self.assertNotIn("listening on", px.log_text())

    def test_reload_to_a_non_loopback_address_is_refused(self):
        px = self.proxy(self.cfg())
        start = len(px.log_text())
        px.write_config(self.cfg(["0.0.0.0:0"]))
        px.sighup()
        px.wait_log(r"is not a loopback address", start=start)
        px.wait_log(r"reload failed", start=start)
        self.assertNotIn("listening on 0.0.0.0", px.log_text())
        self.assertEqual(self.get(px), 200)

    def test_allow_from_on_every_connection(self):
        px = self.proxy(self.cfg(extra={"allow_from": ["127.0.0.2/32", "::1"]}))
        mark = self.svc.mark()
        self.assertEqual(self.get(px, source="127.0.0.1"), 0)
        self.assertEqual(self.get(px, source="127.0.0.3"), 0)
        self.assertEqual(self.svc.since(mark), [])
        px.wait_log(r"refused a connection from 127\.0\.0\.1:\d+: not in allow_from")
        self.assertEqual(self.get(px, source="127.0.0.2"), 200)
        # A reload changes it for the listener already open.
        start = len(px.log_text())
        px.write_config(self.cfg(extra={"allow_from": ["127.0.0.0/8"]}))
        px.sighup()
        px.wait_log(r"configuration reloaded", start=start)
        self.assertEqual(self.get(px, source="127.0.0.1"), 200)
        self.assertEqual(self.get(px, source="127.0.0.3"), 200)

    def test_remote_listener_in_a_network_namespace(self):
        """allow_remote for real: 0.0.0.0 in a namespace of our own, where 10.200.0.1 is a
        non-loopback address on lo."""
        cfg = self.write_file("netns.yaml", to_yaml(config_with(
            [route("/", "http://127.0.0.1:1/", "t", "x-zt1-auth")],
            {"allow_remote": True, "allow_from": ["10.200.0.0/24"]},
            listen=["0.0.0.0:0"], tokens={"t": {"value": self.token}})))
        log_path = self.path("netns.stderr")
        with open(log_path, "wb") as log:
            p = subprocess.Popen(
                ["unshare", "--net", "--", "sh", "-c",
                 'ip link set lo up && ip addr add 10.200.0.1/32 dev lo && exec "$0" --config "$1"',
                 binary_path(), cfg], stdout=subprocess.DEVNULL, stderr=log, env=self.daemon_env())

        def stop():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.addCleanup(stop)

        def text():
            with open(log_path) as f:
                return f.read()
        def listening():
            if p.poll() is not None:
                raise AssertionError(f"the daemon in the namespace exited with {p.returncode}:\n{text()}")
            return re.search(r"listening on 0\.0\.0\.0:(\d+)", text())
        self._outputs.append(("netns daemon", ""))
        port = int(wait_until(listening, 10, msg="the daemon in the namespace").group(1))
        wait_until(lambda: "ready" in text(), 5, msg="ready")

        def curl(source, *args):
            r = subprocess.run(["nsenter", f"--net=/proc/{p.pid}/ns/net", "curl", "-s", "-o", "/dev/null",
                                "-w", "%{http_code}", "--max-time", "5", "--interface", source, *args,
                                f"http://10.200.0.1:{port}/status"], stdout=subprocess.PIPE, timeout=20)
            return r.stdout.decode()
        # Served (its upstream is out of reach): Host is the address connected to, no
        # allowed_hosts needed for it.
        self.assertEqual(curl("10.200.0.1"), "502")
        self.assertEqual(curl("10.200.0.1", "-H", "Host: attacker.test"), "403")
        self.assertEqual(curl("127.0.0.1"), "000")  # refused: not in allow_from
        p.terminate()
        self.assertEqual(p.wait(10), 0)
        log = text()
        self._outputs[-1] = ("netns daemon", log)
        self.assertRegex(log, r"warn: 0\.0\.0\.0:\d+ is not a loopback address \(allow_remote\)")
        self.assertRegex(log, r"refused a connection from 127\.0\.0\.1:\d+: not in allow_from")

    # --- unix sockets ------------------------------------------------------------------------

    def test_unix_socket_mode_and_group_from_the_start(self):
        seen = []
        stop = threading.Event()

        def watch():
            # Every state the socket's path is ever seen in while the daemon starts.
            while not stop.is_set():
                try:
                    st = os.lstat(self.sock)
                    seen.append((stat.S_IMODE(st.st_mode), st.st_gid, stat.S_ISSOCK(st.st_mode)))
                except FileNotFoundError:
                    pass
        th = threading.Thread(target=watch, daemon=True)
        th.start()
        px = self.proxy(self.cfg([{"unix": self.sock, "mode": "0660", "group": GROUP}]))
        time.sleep(0.1)
        stop.set()
        th.join()
        self.assertTrue(seen, "the watcher never saw the socket")
        self.assertEqual(set(seen), {(0o660, GROUP, True)})
        self.assertEqual(os.listdir(self.path("run")), ["api.sock"], "a temporary name was left behind")
        px.wait_log(r"listening on unix:" + self.sock)
        self.assertEqual(unix_request(self, self.sock, "GET", "/status").status, 200)
        code, _ = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/status"],
                          groups=[GROUP])
        self.assertEqual(code, 200)
        code, _ = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/status"])
        self.assertEqual(code, 0, "a user outside the group could connect")
        px.stop()
        self.assertFalse(os.path.lexists(self.sock), "the socket file outlived the daemon")

    def test_default_mode_is_owner_only(self):
        px = self.proxy(self.cfg(["unix:" + self.sock]))
        self.assertEqual(stat.S_IMODE(os.lstat(self.sock).st_mode), 0o600)
        self.assertEqual(unix_request(self, self.sock, "GET", "/status").status, 200)
        px.stop()

    def test_stale_socket_is_replaced(self):
        old = socket.socket(socket.AF_UNIX)
        old.bind(self.sock)
        old.close()  # the file stays, nobody listens: what a crash leaves
        px = self.proxy(self.cfg(["unix:" + self.sock]))
        self.assertEqual(unix_request(self, self.sock, "GET", "/status").status, 200)
        px.stop()

    def test_what_is_not_a_stale_socket_is_left_alone(self):
        target = self.write_file("precious", "keep me\n")
        live = socket.socket(socket.AF_UNIX)
        live_path = self.path("run", "live.sock")
        live.bind(live_path)
        live.listen(1)
        self.addCleanup(live.close)
        cases = [
            ("symlink", lambda p: os.symlink(target, p), "is not a socket (a symbolic link)"),
            ("file", lambda p: self.write_file(p, "data\n"), "is not a socket"),
            ("directory", lambda p: os.mkdir(p), "is not a socket"),
            ("live socket", None, "another process is listening"),
        ]
        for what, make, want in cases:
            with self.subTest(what=what):
                path = live_path if make is None else self.path("run", what.replace(" ", "-"))
                if make:
                    make(path)
                before = os.lstat(path)
                px = self.proxy(self.cfg(["unix:" + path]), wait=False)
                self.assertEqual(px.wait_exit(10), 71, px.log_text())
                self.assertIn(want, px.log_text())
                after = os.lstat(path)
                self.assertEqual((before.st_ino, before.st_mode), (after.st_ino, after.st_mode))
                self.assertEqual([n for n in os.listdir(self.path("run")) if n.endswith(".new")], [])
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n")

    def test_reload_replaces_and_removes_sockets(self):
        other = self.path("run", "other.sock")
        px = self.proxy(self.cfg(["unix:" + self.sock, "unix:" + other]))
        ino = os.lstat(self.sock).st_ino
        c = socket.socket(socket.AF_UNIX)  # a connection open across the reload
        c.connect(self.sock)
        start = len(px.log_text())
        px.write_config(self.cfg([{"unix": self.sock, "mode": "0660", "group": GROUP}]))
        px.sighup()
        px.wait_log(r"configuration reloaded", start=start)
        st = os.lstat(self.sock)
        self.assertNotEqual(st.st_ino, ino, "the socket was not replaced")
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o660, GROUP))
        self.assertFalse(os.path.lexists(other), "a socket dropped from listen was not removed")
        self.assertEqual(unix_request(self, self.sock, "GET", "/status").status, 200)
        c.sendall(b"GET /status HTTP/1.1\r\nConnection: close\r\n\r\n")
        c.settimeout(5)
        self.assertRegex(c.recv(100), rb"^HTTP/1\.1 200 ", "a connection to the old socket was cut")
        c.close()
        wait_until(lambda: "stopped listening on unix:" + self.sock in px.log_text()[start:], 5,
                   msg="the old socket's listener to retire")
        self.assertTrue(os.path.lexists(self.sock), "retiring the old listener removed the new socket")
        px.stop()
        self.assertEqual(os.listdir(self.path("run")), [])

    # --- callers -----------------------------------------------------------------------------

    def test_allow_uids_and_gids_on_a_listener(self):
        px = self.proxy(self.cfg([{"unix": self.sock, "mode": "0666", "allow_uids": [0, "root"],
                                   "allow_gids": [GROUP]}]))
        self.assertEqual(unix_request(self, self.sock, "GET", "/status").status, 200)
        mark = self.svc.mark()
        code, body = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/status"])
        self.assertEqual(code, 403, body)
        self.assertIn('"error":"caller_not_allowed"', body)
        self.assertEqual(self.svc.since(mark), [])
        px.wait_log(r"refused uid 65534 \(gid 65534\) on unix:" + self.sock)
        code, _ = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/status"],
                          groups=[GROUP])  # a supplementary group counts
        self.assertEqual(code, 200)

    def test_allow_uids_on_a_route(self):
        routes = [dict(route("/admin", self.svc.url, "t", "x-zt1-auth"), allow_uids=[0]),
                  route("/", self.svc.url, "t", "x-zt1-auth")]
        px = self.proxy(self.cfg([{"unix": self.sock, "mode": "0666"}], routes=routes))
        self.assertEqual(unix_request(self, self.sock, "GET", "/admin/status").status, 200)
        r = px.get("/admin/status")  # TCP: the caller's uid is unknown
        self.assertJsonError(r, 403, "caller_not_allowed")
        self.assertEqual(px.get("/status").status, 200)
        code, _ = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/admin/status"])
        self.assertEqual(code, 403)
        code, _ = curl_as(self, 65534, 65534, ["--unix-socket", self.sock, "http://localhost/status"])
        self.assertEqual(code, 200)
        px.wait_log(r"refused uid 65534 \(gid 65534\) on route /admin")

    def test_unknown_user_or_group_is_a_config_error(self):
        f = self.write_file("c.yaml", to_yaml(self.cfg(
            [{"unix": self.sock, "owner": "no-such-user-xyz", "group": "no-such-group-xyz",
              "allow_uids": ["no-such-user-xyz"], "mode": "0999"}])))
        r = self.run_cli(["--check-config", "--config", f])
        self.assertEqual(r.rc, 78, r)
        for want in ("unknown user 'no-such-user-xyz'", "unknown group 'no-such-group-xyz'",
                     "mode '0999' must be octal"):
            self.assertIn(want, r.stderr)

