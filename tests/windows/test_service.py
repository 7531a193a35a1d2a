#!/usr/bin/python3
"""The Windows service under Wine's Service Control Manager, driven with `sc` as an administrator would.

  ZTP_BINARY=build-win/daemon/zt-token-proxy.exe WINEPREFIX=... /usr/bin/python3 tests/windows/test_service.py

tests/windows.sh sets the environment up (a Wine prefix, and `wineserver -p`: without a persistent
wineserver, Wine ends services a moment after the last ordinary Wine process exits). Ends with
"service: N passed, N failed". It restarts the wineserver of $WINEPREFIX: give it a prefix of its own.
"""

import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scenarios"))

from harness import ScenarioTest, binary_path, free_port, route, to_yaml, wait_until  # noqa: E402

SERVICE = "zt-token-proxy"


def winpath(path):
    """A Linux path as Windows programs under Wine see it (drive Z: is /)."""
    return "Z:" + os.path.abspath(path).replace("/", "\\")


class WineServiceTest(ScenarioTest):
    """Runs Wine commands against one Service Control Manager for the whole class (also used by
    test_msi.py): setUpClass restarts the wineserver of $WINEPREFIX and keeps services.exe up."""
    timeout = 300

    @classmethod
    def setUpClass(cls):
        # Wine's services.exe exits with the last ordinary Wine process and, started again by
        # the next one, starts every automatic service as at boot. An idle console keeps it up,
        # so that the service starts when `sc start` says and not before. Started first, on a
        # new wineserver, that console also starts services.exe, which hands its WINEDEBUG and
        # stderr on to the services: +eventlog writes every ReportEventW call there, for the
        # Event Log check.
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # it outlives us
        subprocess.run(["wineserver", "-k"], **quiet)
        subprocess.run(["wineserver", "-w"], **quiet)
        subprocess.run(["wineserver", "-p"], check=True, **quiet)
        cls.eventlog = tempfile.NamedTemporaryFile(prefix="ztp-eventlog-", suffix=".txt")
        cls.keeper = subprocess.Popen(["wine", "cmd", "/c", "echo ready & pause"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=cls.eventlog,
                                      env=dict(os.environ, WINEDEBUG="-all,+eventlog"))
        # Once it speaks, services.exe is its child, not that of a command below.
        if b"ready" not in cls.keeper.stdout.readline():
            raise RuntimeError("the Wine console that keeps services.exe up did not start")

    @classmethod
    def tearDownClass(cls):
        cls.keeper.stdin.close()
        try:
            cls.keeper.wait(10)
        except subprocess.TimeoutExpired:
            cls.keeper.kill()
            cls.keeper.wait()
        cls.keeper.stdout.close()
        cls.eventlog.close()

    def eventlog_lines(self):
        """(type, text) of each event the service reported: trace = information, warn, err."""
        with open(self.eventlog.name, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        self._outputs.append(("the Event Log", text))
        return re.findall(r'(trace|warn|err):eventlog:ReportEventW.*?L"(.*)"', text)

    def wine(self, *args, timeout=60):
        """Runs a Wine command. Its output goes through files, not pipes: a Wine process that it
        starts in the background (services.exe) would hold a pipe open long after it exits."""
        env = dict(os.environ, WINEDEBUG=os.environ.get("WINEDEBUG", "-all"))
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            rc = subprocess.run(["wine", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(args, rc, out.read().decode("utf-8", "replace"),
                                            err.read().decode("utf-8", "replace"))
        self._outputs.append((f"wine {' '.join(args)}", r.stdout + r.stderr))
        return r

    def exe(self, *args):
        return self.wine(binary_path(), *args)

    def state(self):
        """RUNNING, STOPPED, ... as `sc query` says; None when the service does not exist."""
        r = self.wine("sc", "query", SERVICE)
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", r.stdout)
        return m.group(1) if m else None


class ServiceTests(WineServiceTest):
    def setUp(self):
        super().setUp()
        if self.state() is not None:  # left by an interrupted run
            self.wine("sc", "stop", SERVICE)
            self.exe("uninstall")
        self.addCleanup(self.remove_service)

    def remove_service(self):
        if self.state() is not None:
            self.wine("sc", "stop", SERVICE)
            self.exe("uninstall")

    def write_config(self, routes, tokens):
        cfg = {"listen": [f"127.0.0.1:{self.port}"], "log_level": "debug", "tokens": tokens,
               "routes": routes}
        return self.write_file(self.cfg_path, to_yaml(cfg))

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        self.record_body(f"GET {path}", body)
        return r.status, body

    def answers(self, path, status=200):
        try:
            return self.get(path)[0] == status
        except OSError:
            return False

    def test_service_lifecycle(self):
        self.port = free_port()
        self.cfg_path = self.path("zt-token-proxy.yaml")
        old, new = self.new_token(), self.new_token()
        tok_file = self.write_file(self.path("one", "authtoken.secret"), old)
        svc = self.local_service(token=old)
        tokens = {"one": {"file": winpath(tok_file)}}
        self.write_config([route("/", svc.url, "one", "x-zt1-auth")], tokens)

        r = self.exe("install", "--config", winpath(self.cfg_path))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.state(), "STOPPED")
        r = self.exe("install", "--config", winpath(self.cfg_path))
        self.assertNotEqual(r.returncode, 0, "a second install must fail")
        self.assertIn("already installed", r.stdout + r.stderr)

        r = self.wine("sc", "start", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.state() == "RUNNING", 30, 0.5, msg="state RUNNING")
        wait_until(lambda: self.answers("/status"), 30, 0.2, msg="the service answering")
        self.assertEqual(svc.requests[-1].header_values("X-ZT1-Auth"), [old])

        # Rotation, seen by the ReadDirectoryChangesW watcher inside the service.
        svc.token = new
        mark = svc.mark()
        self.write_file(tok_file, new)
        wait_until(lambda: self.answers("/status"), 10, 0.1, msg="the rotated token in use")
        self.assertIn(new, [c for r in svc.since(mark) for c in r.header_values("X-ZT1-Auth")])

        # PARAMCHANGE reloads: a new route appears. Sent by "zt-token-proxy reload", which does
        # what "sc control zt-token-proxy paramchange" does on Windows (Wine's sc has no "control").
        v2 = self.local_service(token=new, name="second")
        self.write_config([route("/", svc.url, "one", "x-zt1-auth"),
                           route("/second/", v2.url, "one", "x-zt1-auth")], tokens)
        self.assertTrue(self.answers("/second/status"))
        self.assertEqual(v2.requests, [], "the new route was used before the reload")
        r = self.exe("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.answers("/second/status") and v2.requests, 15, 0.2,
                   msg="the route added by the reload")
        self.assertEqual(v2.requests[-1].header_values("X-ZT1-Auth"), [new])

        # A broken configuration is refused; the service keeps serving the last good one.
        self.write_file(self.cfg_path, "routes: [\n")
        r = self.exe("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        time.sleep(1.0)
        self.assertEqual(self.state(), "RUNNING")
        mark = v2.mark()
        self.assertTrue(self.answers("/second/status"), "the last good configuration after a bad reload")
        self.assertEqual(len(v2.since(mark)), 1, "the route of the last good configuration")

        r = self.wine("sc", "stop", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.state() == "STOPPED", 30, 0.5, msg="state STOPPED")

        # What it logged went to the Event Log, each line with its level as the event type.
        events = self.eventlog_lines()
        texts = "\n".join(t for _, t in events)
        for want in ("ready: 1 routes on 1 listeners", "configuration reloaded", "stopped"):
            self.assertIn(want, texts)
        self.assertIn(("err", "reload failed (configuration error); still serving the previous configuration"),
                      events)
        self.assertTrue(any(kind == "err" and re.search(r"zt-token-proxy\.yaml:2:1: ", text)
                            for kind, text in events), "the file:line:col of the bad configuration")
        wait_until(lambda: not self.answers("/status"), 10, 0.2, msg="the port closed")

        r = self.exe("uninstall")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.state(), "the service is still registered")
        r = self.exe("uninstall")
        self.assertNotEqual(r.returncode, 0, "uninstalling twice must fail")
        self.assertIn("not installed", r.stdout + r.stderr)

    def test_reload_needs_a_running_service(self):
        r = self.exe("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not installed", r.stderr)

    def test_service_flag_from_a_console(self):
        r = self.exe("--service")
        self.assertEqual(r.returncode, 64, r.stdout + r.stderr)
        self.assertIn("Service Control Manager", r.stderr)

    def test_install_needs_an_existing_config(self):
        r = self.exe("install", "--config", winpath(self.path("missing.yaml")))
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("missing.yaml", r.stderr)
        self.assertIsNone(self.state(), "a failed install registered the service")


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ServiceTests)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, ).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"service: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
