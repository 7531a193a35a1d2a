"""What only the Windows build does (run by tests/windows.sh under Wine; skipped elsewhere)."""

import os
import re
import shutil
import signal
import unittest

from harness import WINDOWS, ScenarioTest, config, route


@unittest.skipUnless(WINDOWS, "Windows build only")
class WindowsTests(ScenarioTest):
    def programdata(self, port=None, token=None):
        """ZeroTier One's files in the ProgramData folder of the Wine prefix (C:\\ProgramData), as its
        installer leaves them; removed again after the test."""
        one = os.path.join(os.environ["WINEPREFIX"], "drive_c", "ProgramData", "ZeroTier", "One")
        self.addCleanup(shutil.rmtree, os.path.dirname(one), True)
        os.makedirs(one, exist_ok=True)
        if token is not None:
            self.write_file(os.path.join(one, "authtoken.secret"), token)
        if port is not None:
            self.write_file(os.path.join(one, "zerotier-one.port"), f"{port}\n")
        return {"ZEROTIER_HOME": None}

    def test_zerotier_home_defaults_to_programdata(self):
        env = self.programdata(port=41234)
        r = self.run_cli(["--print-config"], env=env)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(r'file: "C:\\ProgramData\\ZeroTier\\One\\authtoken.secret"', r.stdout)
        self.assertIn('upstream: "http://127.0.0.1:41234"', r.stdout, "zerotier-one.port there is not used")

    def test_local_token_read_from_programdata(self):
        tok = self.new_token()
        svc = self.local_service(token=tok)
        env = self.programdata(port=svc.port, token=tok)
        px = self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]), env=env)
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(svc.requests[0].header_values("X-ZT1-Auth"), [tok])

    def test_unix_listener_refused(self):
        p = self.write_file("c.yaml", "listen:\n  - unix:/tmp/x.sock\n")
        r = self.run_cli(["--check-config", "--config", p])
        self.assertEqual(r.rc, 78, r)
        self.assertRegex(r.stderr, r"c\.yaml:2:5: .*no unix socket listeners")

    def test_inline_token_refused(self):
        p = self.write_file("c.yaml", "tokens:\n  t:\n    value: abcdefghijklmnop\n")
        r = self.run_cli(["--check-config", "--config", p])
        self.assertEqual(r.rc, 78, r)
        self.assertRegex(r.stderr, r"c\.yaml:3:\d+: .*privacy cannot be checked")
        self.assertNotIn("abcdefghijklmnop", r.stderr)

    def test_ctrl_c_stops_gracefully(self):
        tok = self.new_token()
        self.write_local_token(tok)
        svc = self.local_service(token=tok)
        px = self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]))
        self.assertEqual(px.get("/status").status, 200)
        px.signal(signal.SIGINT)
        px.expect_exit = True
        self.assertEqual(px.wait_exit(20), 0, px.log_text()[-2000:])
        self.assertTrue(re.search(r"\bstopped\b", px.log_text()), px.log_text()[-2000:])
