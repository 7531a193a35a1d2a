"""systemd: the notify protocol, the watchdog, socket activation, journald priorities,
credentials, and the unit files themselves.

The test plays the service manager's side of $NOTIFY_SOCKET with an AF_UNIX datagram socket
it binds itself; socket activation goes through the real systemd-socket-activate. Neither
needs systemd as PID 1. The unit files are checked with systemd-analyze (offline).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (REPO, SCALE, Proxy, ScenarioTest, binary_path, config, free_port, route,
                     to_yaml, wait_until)

UNIT_DIR = os.path.join(REPO, "systemd")
SERVICE = os.path.join(UNIT_DIR, "zt-token-proxy.service")
SOCKET = os.path.join(UNIT_DIR, "zt-token-proxy.socket")


class NotifySocket:
    """The service manager's end of $NOTIFY_SOCKET; collects (monotonic time, {key: value}, raw)."""

    def __init__(self, test, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"ztp-notify-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = test.path("notify.sock")
            self.sock.bind(self.address)
        self.sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._msgs = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        test.addCleanup(self.close)

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self._lock:
                self._msgs.append((time.monotonic(), fields, text))

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def messages(self):
        with self._lock:
            return list(self._msgs)

    def raw_text(self):
        return "\n".join(m[2] for m in self.messages())

    def states(self):
        """The state assignments in order (READY, RELOADING, STOPPING), ignoring pings and STATUS."""
        out = []
        for _, f, _ in self.messages():
            out += [k for k in ("READY", "RELOADING", "STOPPING") if f.get(k) == "1"]
        return out

    def wait(self, pred, timeout=10, start=0, msg="notify message"):
        """Waits for a message (from index start) for which pred(fields) is true; returns its index."""
        def find():
            msgs = self.messages()
            for i in range(start, len(msgs)):
                if pred(msgs[i][1]):
                    return i + 1  # never 0, so that wait_until sees a hit
            return None
        return wait_until(find, timeout, msg=msg) - 1

    def status(self, i):
        return self.messages()[i][1].get("STATUS", "")


class ServiceProxy(Proxy):
    """The daemon as a service manager starts it: behind a wrapper command (systemd-socket-activate),
    with stderr open on a file that exists before the start (so that its device and inode can go
    into $JOURNAL_STREAM). Everything else (requests, signals, teardown, leak check) is Proxy's."""

    def __init__(self, test, cfg, wrapper=(), env=None, env_from_stderr=None, wait=True):
        self.t = test
        Proxy._serial += 1
        n = Proxy._serial
        self.config_path = os.path.join(test.tmp, f"config-{n}.yaml")
        self.log_path = os.path.join(test.tmp, f"daemon-{n}.stderr")
        self.out_path = os.path.join(test.tmp, f"daemon-{n}.stdout")
        self.as_nobody = False
        self.write_config(cfg)
        self.port = None
        self.expect_exit = False
        self.returncode = None
        with open(self.log_path, "wb") as err, open(self.out_path, "wb") as out:
            if env_from_stderr is not None:
                env = dict(env or {}, **env_from_stderr(os.fstat(err.fileno())))
            self.env = test.daemon_env(env)
            self.cmd = [*wrapper, binary_path(), "--config", self.config_path]
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=self.env, cwd=test.tmp)
        test._proxies.append(self)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()


def socket_activate(test, cfg, addresses, env=None):
    """Runs the daemon under systemd-socket-activate listening on addresses; the daemon itself starts
    on the first connection. Variables reach it by name only (-E NAME), never in argv."""
    wrapper = ["systemd-socket-activate"]
    for a in addresses:
        wrapper += ["-l", a]
    for k in test.daemon_env(env):
        wrapper += ["-E", k]
    px = ServiceProxy(test, cfg, wrapper=wrapper + ["--"], env=env, wait=False)
    px.wait_log(r"Listening on .* as %d\." % (2 + len(addresses)))
    return px


def need(tool):
    def deco(fn):
        def wrapped(self):
            if shutil.which(tool) is None:
                self.skipTest(f"{tool} is not installed (Debian package systemd)")
            return fn(self)
        wrapped.__name__ = fn.__name__
        wrapped.__doc__ = fn.__doc__
        return wrapped
    return deco


class SystemdTests(ScenarioTest):
    timeout = 60

    def setUp(self):
        super().setUp()
        self._notify = []

    def tearDown(self):
        for n in self._notify:  # notify messages are checked for token values too
            self._outputs.append(("notify messages", n.raw_text()))
        super().tearDown()

    def notify_socket(self, abstract=False):
        n = NotifySocket(self, abstract)
        self._notify.append(n)
        return n

    def local_setup(self):
        tok = self.new_token()
        self.write_local_token(tok)
        return tok, self.local_service(token=tok)

    # --- sd_notify --------------------------------------------------------------------------

    def test_ready_reloading_status_stopping_in_order(self):
        tok, svc = self.local_setup()
        n = self.notify_socket()
        cfg = config([route("/", svc.url, "local", "x-zt1-auth"),
                      route("/central/", "https://127.0.0.1:9/", "central", "token")])
        px = self.proxy(cfg, env={"NOTIFY_SOCKET": n.address}, wait=False)

        # READY only once the listener is bound and every token source was tried.
        i = n.wait(lambda f: f.get("READY") == "1", msg="READY=1")
        self.assertIn("listening on 127.0.0.1:", px.log_text())
        px.wait_ready()
        self.assertEqual(px.get("/status").status, 200)
        st = n.status(i)
        self.assertTrue(st.startswith("2 routes on 1 listener;"), st)
        self.assertIn("; local ok", st)
        self.assertIn("; central: $ZEROTIER_CENTRAL_TOKEN is not set", st)

        # A token that changes state updates STATUS without a reload.
        os.unlink(os.path.join(self.zt_home, "authtoken.secret"))
        i = n.wait(lambda f: "STATUS" in f and "local: cannot read" in f["STATUS"], start=i + 1,
                   msg="STATUS with the token file gone")
        self.assertIn("No such file or directory (using the last good value)", n.status(i))
        self.assertNotIn("READY", n.messages()[i][1])
        self.write_local_token(tok)
        i = n.wait(lambda f: "; local ok" in f.get("STATUS", ""), start=i + 1, msg="STATUS local ok again")

        # SIGHUP: RELOADING=1 with MONOTONIC_USEC from CLOCK_MONOTONIC, then READY=1.
        before = time.monotonic_ns() // 1000
        px.sighup()
        r = n.wait(lambda f: f.get("RELOADING") == "1", start=i + 1, msg="RELOADING=1")
        after = time.monotonic_ns() // 1000
        usec = int(n.messages()[r][1]["MONOTONIC_USEC"])
        self.assertTrue(before <= usec <= after, (before, usec, after))
        i = n.wait(lambda f: f.get("READY") == "1", start=r + 1, msg="READY=1 after the reload")
        self.assertTrue(n.status(i).startswith("2 routes on 1 listener; "), n.status(i))

        # A failed reload ends in READY=1 too, with a STATUS that says so.
        px.write_config("routes: [unclosed\n")
        px.sighup()
        r = n.wait(lambda f: f.get("RELOADING") == "1", start=i + 1, msg="second RELOADING=1")
        i = n.wait(lambda f: f.get("READY") == "1", start=r + 1, msg="READY=1 after a failed reload")
        self.assertTrue(n.status(i).startswith("reload failed, serving the previous configuration; "
                                               "2 routes on 1 listener; "), n.status(i))
        self.assertEqual(px.get("/status").status, 200)

        px.sigterm()
        n.wait(lambda f: f.get("STOPPING") == "1", start=i + 1, msg="STOPPING=1")
        self.assertEqual(px.wait_exit(), 0)
        self.assertEqual(n.states(), ["READY", "RELOADING", "READY", "RELOADING", "READY", "STOPPING"])

    def test_abstract_notify_socket(self):
        _, svc = self.local_setup()
        n = self.notify_socket(abstract=True)
        self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]), env={"NOTIFY_SOCKET": n.address})
        n.wait(lambda f: f.get("READY") == "1", msg="READY=1 on an abstract socket")

    def test_watchdog_pings_at_half_the_interval(self):
        _, svc = self.local_setup()
        n = self.notify_socket()
        self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]),
                   env={"NOTIFY_SOCKET": n.address, "WATCHDOG_USEC": "300000"})
        n.wait(lambda f: f.get("READY") == "1", msg="READY=1")
        time.sleep(1.0)
        pings = [t for t, f, _ in n.messages() if f.get("WATCHDOG") == "1"]
        self.assertGreaterEqual(len(pings), 5, f"{len(pings)} pings in 1 s at a 300 ms watchdog")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.3 * SCALE, gaps)
        self.assertGreater(min(gaps[1:] or [1]), 0.1, gaps)  # not a busy loop

    def test_watchdog_for_another_process_is_ignored(self):
        _, svc = self.local_setup()
        n = self.notify_socket()
        self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]),
                   env={"NOTIFY_SOCKET": n.address, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"})
        n.wait(lambda f: f.get("READY") == "1", msg="READY=1")
        time.sleep(0.5)
        self.assertEqual([f for _, f, _ in n.messages() if "WATCHDOG" in f], [])

    # --- socket activation ------------------------------------------------------------------

    @need("systemd-socket-activate")
    def test_socket_activation_serves_on_the_passed_socket(self):
        tok, svc = self.local_setup()
        n = self.notify_socket()
        port, configured = free_port(), free_port()
        cfg = config([route("/", svc.url, "local", "x-zt1-auth")], listen=[f"127.0.0.1:{configured}"])
        px = socket_activate(self, cfg, [f"127.0.0.1:{port}"], env={"NOTIFY_SOCKET": n.address})
        px.port = port
        r = px.get("/status")  # this connection starts the daemon
        self.assertEqual(r.status, 200, r)
        self.assertEqual(svc.requests[-1].credential, tok)
        px.wait_log(r"serving on 1 socket passed by the service manager")
        n.wait(lambda f: f.get("READY") == "1", msg="READY=1")
        self.assertIn(f"listening on 127.0.0.1:{port}", px.log_text())
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", configured), timeout=2).close()
        # A reload keeps the passed socket (and still does not bind the configured address).
        px.sighup()
        r = n.wait(lambda f: f.get("RELOADING") == "1", msg="RELOADING=1")
        i = n.wait(lambda f: f.get("READY") == "1", start=r + 1, msg="READY=1 after the reload")
        self.assertIn("1 route on 1 listener", n.status(i))
        self.assertEqual(px.get("/status").status, 200)
        self.assertNotIn("stopped listening", px.log_text())
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", configured), timeout=2).close()

    @need("systemd-socket-activate")
    def test_socket_activation_with_two_addresses(self):
        tok, svc = self.local_setup()
        p4, p6 = free_port(), free_port()
        px = socket_activate(self, config([route("/", svc.url, "local", "x-zt1-auth")]),
                             [f"127.0.0.1:{p4}", f"[::1]:{p6}"])
        px.port = p4
        self.assertEqual(px.get("/status").status, 200)
        px.wait_log(r"serving on 2 sockets passed by the service manager")
        c = socket.create_connection(("::1", p6), timeout=10 * SCALE)
        try:
            c.sendall(b"GET /status HTTP/1.1\r\nHost: [::1]:%d\r\nConnection: close\r\n\r\n" % p6)
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        finally:
            c.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.record_body("GET /status over [::1]", data)
        self.assertEqual(len(svc.requests), 2)
        log = px.log_text()
        self.assertIn(f"listening on 127.0.0.1:{p4}", log)
        self.assertIn(f"listening on [::1]:{p6}", log)

    # --- journald ---------------------------------------------------------------------------

    def test_journal_stream_gets_priority_prefixes(self):
        _, svc = self.local_setup()
        cfg = config([route("/", svc.url, "local", "x-zt1-auth"),
                      route("/central/", "https://127.0.0.1:9/", "central", "token")], log_level="info")
        px = ServiceProxy(self, cfg, env_from_stderr=lambda st: {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        lines = px.log_text().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3467]>(error|warn|info|debug): ")
        self.assertRegex(px.log_text(), r"(?m)^<6>info: zt-token-proxy .* starting")
        self.assertRegex(px.log_text(), r"(?m)^<4>warn: token 'central'")
        # Another file's device:inode is not the journal: timestamps as usual.
        other = ServiceProxy(self, cfg, env_from_stderr=lambda st: {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        self.assertRegex(other.log_text(), r"^\d{4}-\d\d-\d\dT[\d:.]+Z info: ")
        self.assertNotIn("<6>", other.log_text())

    # --- credentials ------------------------------------------------------------------------

    def credential_config(self, central):
        return config([route("/central/", central.url, "central", "token", ca_file=central.ca_file)],
                      tokens={"central": {"credential": "central"}})

    def test_credential_from_credentials_directory(self):
        """What LoadCredential=central:/etc/zt-token-proxy/central.token gives the daemon."""
        tok = self.new_token()
        central = self.central_service(token=tok)
        creds = self.path("credentials")
        os.mkdir(creds, 0o500)
        cred = os.path.join(creds, "central")
        fd = os.open(cred, os.O_WRONLY | os.O_CREAT, 0o400)
        os.write(fd, (tok + "\n").encode())
        os.close(fd)
        n = self.notify_socket()
        px = self.proxy(self.credential_config(central),
                        env={"CREDENTIALS_DIRECTORY": creds, "NOTIFY_SOCKET": n.address})
        r = px.get("/central/api/v1/network")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(central.requests[-1].credential, tok)
        i = n.wait(lambda f: f.get("READY") == "1", msg="READY=1")
        self.assertIn("; central ok", n.status(i))
        # Without the directory (no LoadCredential=) the route says why.
        px2 = self.proxy(self.credential_config(central))
        body = self.assertJsonError(px2.get("/central/api/v1/network"), 503, "token_unavailable")
        self.assertEqual(body.get("state"), "missing", body)

    def test_load_credential_under_systemd_run(self):
        """The same through systemd itself; needs systemd as PID 1 (absent in containers and CI)."""
        if not os.path.isdir("/run/systemd/system") or shutil.which("systemd-run") is None:
            self.skipTest("systemd is not the init system here: systemd-run cannot start a unit")
        if os.geteuid() != 0:
            self.skipTest("systemd-run needs root for a system unit")
        tok = self.new_token()
        central = self.central_service(token=tok)
        cred = self.write_file("central.token", tok + "\n", 0o600)
        cfg = self.write_file("config.yaml", to_yaml(self.credential_config(central)), 0o600)
        base = ["systemd-run", "--wait", "--pipe", "--quiet", "--collect"]
        cmd = [binary_path(), "--check-config", "--config", cfg]
        with_cred = subprocess.run(base + ["-p", f"LoadCredential=central:{cred}", *cmd],
                                   capture_output=True, text=True, timeout=60)
        without = subprocess.run(base + cmd, capture_output=True, text=True, timeout=60)
        self._outputs.append(("systemd-run", with_cred.stdout + with_cred.stderr + without.stdout + without.stderr))
        self.assertEqual(with_cred.returncode, 0, with_cred)
        self.assertIn("configuration OK", with_cred.stdout)
        self.assertNotIn("warning: token 'central'", with_cred.stderr)
        self.assertIn("warning: token 'central'", without.stderr)

    # --- the unit files ---------------------------------------------------------------------

    def unit_copy(self, extra=""):
        """The units in a temp dir, ExecStart pointing at the built binary (verify wants it to exist)."""
        d = self.path("units")
        os.makedirs(d, exist_ok=True)
        with open(SERVICE) as f:
            text = f.read()
        text, k = re.subn(r"(?m)^ExecStart=\S+", "ExecStart=" + binary_path(), text)
        self.assertEqual(k, 1)
        with open(os.path.join(d, "zt-token-proxy.service"), "w") as f:
            f.write(text.replace("[Service]\n", "[Service]\n" + extra))
        shutil.copy(SOCKET, d)
        return [os.path.join(d, "zt-token-proxy.service"), os.path.join(d, "zt-token-proxy.socket")]

    def analyze(self, *args):
        p = subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)
        return p.returncode, (p.stdout + p.stderr).strip()

    @need("systemd-analyze")
    def test_units_verify_cleanly(self):
        rc, out = self.analyze("verify", "--man=no", *self.unit_copy())
        self.assertEqual((rc, out), (0, ""))
        # The check sees problems: an unknown key is only a warning, with exit status 0.
        rc, out = self.analyze("verify", "--man=no", *self.unit_copy("NoSuchKey=1\n"))
        self.assertIn("NoSuchKey", out)

    @need("systemd-analyze")
    def test_service_exposure_is_at_most_1_5(self):
        rc, out = self.analyze("security", "--offline=yes", SERVICE)
        m = re.search(r"Overall exposure level for zt-token-proxy\.service: (\d+\.\d)", out)
        self.assertIsNotNone(m, out[-2000:])
        self.assertLessEqual(float(m.group(1)), 1.5, out)
        self.assertIn("Type=notify", open(SERVICE).read())
