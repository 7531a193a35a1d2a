"""Command line: --version, --help, unknown options, --check-config, --print-config, config from env."""

import os
import re
import unittest

from harness import WINDOWS, ScenarioTest, config, route, to_yaml

EX_USAGE = 64
EX_CONFIG = 78

ERRORS_YAML = """listen:
  - "127.0.0.1:0"
listne: 1
timeouts:
  upstream: "soon"
routes:
  - prefix: "/a/"
    upstream: "http://127.0.0.1:1/"
    token: local
    auth: x-zt1-auth
  - prefix: "/b/"
    upstream: "http://127.0.0.1:1/"
    token: undefined-token
    auth: x-zt1-auth
  - prefix: "/c/"
    upstream: "http://127.0.0.1:1/"
    token: local
    auth: sideways
"""
# (line, column or None) of each problem above
ERRORS_AT = [(3, 1), (5, None), ((11, 13), None), ((15, 18), None)]


class CliTests(ScenarioTest):
    def cfgfile(self, cfg, name="zt.yaml", mode=0o600):
        return self.write_file(name, cfg if isinstance(cfg, str) else to_yaml(cfg), mode=mode)

    def good_config(self):
        tok = self.write_file("tok", self.new_token())
        return config([route("/a/", "http://127.0.0.1:1/", "t", "x-zt1-auth"),
                       route("/c/", "https://127.0.0.1:2/", "central", "token")],
                      tokens={"t": {"file": tok}}, timeouts={"upstream": "2s", "client_idle": "2s"},
                      limits={"max_connections": 64, "replay_body": 4096})

    def test_version(self):
        r = self.run_cli(["--version"])
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"^zt-token-proxy \d+\.\d+\.\d+", r)

    def test_help(self):
        r = self.run_cli(["--help"])
        self.assertEqual(r.rc, 0, r)
        text = r.stdout + r.stderr
        for opt in ("--config", "--check-config", "--print-config", "--version"):
            self.assertIn(opt, text, r)

    def test_unknown_option(self):
        r = self.run_cli(["--frobnicate"])
        self.assertEqual(r.rc, EX_USAGE, r)
        self.assertTrue(r.stderr.strip(), "say what is wrong")

    def test_stray_argument(self):
        r = self.run_cli(["serve-now"])
        self.assertEqual(r.rc, EX_USAGE, r)

    def test_check_config_ok(self):
        path = self.cfgfile(self.good_config())
        r = self.run_cli(["--check-config", "--config", path], env={"ZEROTIER_CENTRAL_TOKEN": self.new_token()})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("configuration OK", r.stdout, r)

    def test_check_config_reports_every_error(self):
        path = self.cfgfile(ERRORS_YAML)
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertNotIn("configuration OK", r.stdout)
        reported = [(int(m.group(1)), int(m.group(2))) for m in
                    re.finditer("^" + re.escape(path) + r":(\d+):(\d+): \S", r.stderr, re.M)]
        for line, col in ERRORS_AT:
            lines = line if isinstance(line, tuple) else (line,)
            hits = [rc for rc in reported if rc[0] in lines]
            self.assertTrue(hits, f"no 'FILE:LINE:COL: message' for line {line}:\n{r.stderr}")
            if col is not None:
                self.assertIn((lines[0], col), hits, r.stderr)
        for ln in r.stderr.splitlines():
            if ln.startswith(path + ":"):
                self.assertRegex(ln, "^" + re.escape(path) + r":\d+:\d+: \S")

    def test_check_config_yaml_syntax_error(self):
        path = self.cfgfile('listen:\n  - "127.0.0.1:0"\nroutes: [\n  {prefix: "/a/"\n')
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertRegex(r.stderr, "(?m)^" + re.escape(path) + r":\d+:\d+: \S")

    def test_check_config_missing_file(self):
        path = self.path("does-not-exist.yaml")
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertIn(path, r.stderr)

    def test_check_config_unavailable_tokens_are_warnings(self):
        missing = self.path("missing-token")
        path = self.cfgfile(config([route("/a/", "http://127.0.0.1:1/", "t", "x-zt1-auth"),
                                    route("/c/", "https://127.0.0.1:2/", "central", "token")],
                                   tokens={"t": {"file": missing}}))
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("configuration OK", r.stdout, r)
        warnings = [ln for ln in r.stderr.splitlines() if "warning" in ln.lower()]
        self.assertTrue(any(missing in ln for ln in warnings), f"no warning naming {missing}:\n{r.stderr}")
        self.assertTrue(any("ZEROTIER_CENTRAL_TOKEN" in ln for ln in warnings),
                        f"no warning naming ZEROTIER_CENTRAL_TOKEN:\n{r.stderr}")

    def test_builtin_tokens_need_no_declaration(self):
        path = self.cfgfile(config([route("/l/", "http://127.0.0.1:1/", "local", "x-zt1-auth"),
                                    route("/c/", "https://127.0.0.1:2/", "central", "token"),
                                    route("/v2/", "https://127.0.0.1:2/", "central-v2", "bearer")]))
        self.write_local_token(self.new_token())
        r = self.run_cli(["--check-config", "--config", path],
                         env={"ZEROTIER_CENTRAL_TOKEN": self.new_token(), "ZEROTIER_CENTRAL_V2_TOKEN": self.new_token()})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("configuration OK", r.stdout, r)

    def test_bad_listen_address(self):
        path = self.cfgfile(config([route("/a/", "http://127.0.0.1:1/", "local", "x-zt1-auth")],
                                   listen=["not-an-address"]))
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertRegex(r.stderr, "(?m)^" + re.escape(path) + r":2:\d+: \S")

    @unittest.skipIf(WINDOWS, "inline token values are refused on Windows (test_windows.py)")
    def test_inline_value_needs_private_config_file(self):
        secret = self.new_token()
        cfg = config([route("/a/", "http://127.0.0.1:1/", "v", "x-zt1-auth")], tokens={"v": {"value": secret}})
        private = self.cfgfile(cfg, name="private.yaml", mode=0o600)
        r = self.run_cli(["--check-config", "--config", private])
        self.assertEqual(r.rc, 0, r)
        public = self.cfgfile(cfg, name="public.yaml", mode=0o644)
        r = self.run_cli(["--check-config", "--config", public])
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertIn(public, r.stderr)

    def test_config_file_from_environment(self):
        bad = self.cfgfile("listen: [\n", name="bad.yaml")
        r = self.run_cli(["--check-config"], env={"ZT_TOKEN_PROXY_CONFIG": bad})
        self.assertEqual(r.rc, EX_CONFIG, r)
        self.assertIn(bad, r.stderr)
        good = self.cfgfile(self.good_config(), name="good.yaml")
        r = self.run_cli(["--check-config"], env={"ZT_TOKEN_PROXY_CONFIG": good})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("configuration OK", r.stdout)

    def test_config_flag_beats_environment(self):
        bad = self.cfgfile("listen: [\n", name="bad.yaml")
        good = self.cfgfile(self.good_config(), name="good.yaml")
        r = self.run_cli(["--check-config", "--config", good], env={"ZT_TOKEN_PROXY_CONFIG": bad})
        self.assertEqual(r.rc, 0, r)

    def test_daemon_takes_config_from_environment(self):
        tok = self.new_token()
        self.write_local_token(tok)
        svc = self.local_service(token=tok)
        px = self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]), config_via="env")
        self.assertNotIn("--config", px.cmd)
        self.assertEqual(px.get("/status").status, 200)

    @unittest.skipIf(WINDOWS, "inline token values are refused on Windows (test_windows.py)")
    def test_print_config(self):
        value = self.new_token()
        tokfile = self.write_file("tok", self.new_token())
        env_value = self.new_token()
        path = self.cfgfile(config([route("/a/", "http://127.0.0.1:9993/", "f", "x-zt1-auth"),
                                    route("/b/", "https://127.0.0.1:4443/api", "v", "bearer"),
                                    route("/c/", "https://127.0.0.1:4443/", "e", "token")],
                                   tokens={"f": {"file": tokfile, "watch": False}, "v": {"value": value},
                                           "e": {"env": "ZTP_PRINT_TOKEN"}},
                                   timeouts={"upstream": "1500ms"}))
        r = self.run_cli(["--print-config", "--config", path], env={"ZTP_PRINT_TOKEN": env_value})
        self.assertEqual(r.rc, 0, r)
        out = r.stdout
        for needle in ("/a", "/b", "/c", "http://127.0.0.1:9993", "https://127.0.0.1:4443/api", tokfile,
                       "ZTP_PRINT_TOKEN", "x-zt1-auth", "bearer", "listen", "routes", "tokens"):
            self.assertIn(needle, out, f"--print-config output lacks {needle!r}:\n{out}")
        self.assertIn("hidden", out.lower(), f"an inline value should print as hidden:\n{out}")
        self.assertNotIn(value, out)
        self.assertNotIn(env_value, out)

    def test_print_config_output_is_loadable(self):
        path = self.cfgfile(self.good_config())
        r = self.run_cli(["--print-config", "--config", path])
        self.assertEqual(r.rc, 0, r)
        again = self.cfgfile(r.stdout, name="printed.yaml")
        r2 = self.run_cli(["--check-config", "--config", again])
        self.assertEqual(r2.rc, 0, f"--print-config output does not pass --check-config:\n{r.stdout}\n{r2!r}")
        self.assertTrue(os.path.getsize(again) > 0)
