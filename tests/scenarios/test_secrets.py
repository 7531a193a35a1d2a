"""Token values never show: not in logs (even at debug), error bodies, --print-config or argv.

(Every test's tearDown also scans the daemon's output and all response bodies; these tests
drive the paths most likely to leak and check explicitly.)
"""

import os
import time

from harness import ScenarioTest, config, free_port, route, to_yaml, wait_until


class SecretTests(ScenarioTest):
    def test_debug_log_never_holds_a_token(self):
        t_local, t_env, t_value, t_cred, t_replay = (self.new_token() for _ in range(5))
        self.write_local_token(t_local)
        creds = self.path("creds")
        self.write_file(os.path.join(creds, "zt"), t_cred)
        replay_file = self.write_file("replay-token", t_replay)
        s_local = self.local_service(token=t_local, name="local")
        s_env = self.central_service(token=t_env, name="central")
        s_value = self.local_service(token=t_value, name="value")
        s_cred = self.local_service(token=t_cred, name="cred")
        s_replay = self.local_service(token=t_replay, name="replay")
        px = self.proxy(config(
            [route("/local/", s_local.url, "local", "x-zt1-auth"),
             route("/central/", s_env.url, "central", "token", ca_file=s_env.ca_file),
             route("/value/", s_value.url, "inline", "x-zt1-auth"),
             route("/cred/", s_cred.url, "cred", "x-zt1-auth"),
             route("/replay/", s_replay.url, "replay", "x-zt1-auth"),
             route("/missing/", s_local.url, "gone", "x-zt1-auth"),
             route("/down/", f"http://127.0.0.1:{free_port()}/", "local", "x-zt1-auth")],
            tokens={"inline": {"value": t_value}, "cred": {"credential": "zt"},
                    "replay": {"file": replay_file, "watch": False},
                    "gone": {"file": self.path("no-such-file")}},
            log_level="debug"),
            env={"ZEROTIER_CENTRAL_TOKEN": t_env, "CREDENTIALS_DIRECTORY": creds})
        client = self.new_token()
        hdrs = {"X-ZT1-Auth": client, "Authorization": f"Bearer {client}"}
        for path in ("/local/status", "/central/api/v1/status", "/value/status", "/cred/status",
                     "/replay/status"):
            r = px.get(path + f"?auth={client}", headers=hdrs)
            self.assertEqual(r.status, 200, (path, r))
        # 401 + re-read + replay, with a new value
        t_replay2 = self.new_token()
        self.write_file(replay_file, t_replay2)
        s_replay.token = t_replay2
        self.assertEqual(px.get("/replay/status").status, 200)
        # 401 that reaches the client
        s_value.token = self.new_token()
        self.assertEqual(px.get("/value/status", headers=hdrs).status, 401)
        # watched rotation
        t_local2 = self.new_token()
        s_local.accept(t_local, t_local2)
        self.write_local_token(t_local2)
        wait_until(lambda: px.get("/local/status").status == 200 and s_local.requests[-1].credential == t_local2,
                   5, 0.05, "rotation of the local token")
        self.assertEqual(px.get("/missing/status").status, 503)
        self.assertEqual(px.get("/down/status").status, 502)
        px.raw(f"GET /local/../x HTTP/1.1\r\nX-ZT1-Auth: {client}\r\n\r\n".encode())
        px.stop()
        log = px.log_text()
        self.assertRegex(log, r"(?i)\bdebug\b", "debug logging should have been on")
        self.assertNoLeaks()

    def test_print_config_hides_values(self):
        value, file_value, env_value = self.new_token(), self.new_token(), self.new_token()
        f = self.write_file("tok", file_value)
        self.write_local_token(self.new_token())
        cfg = self.write_file("c.yaml", to_yaml(config(
            [route("/a/", "http://127.0.0.1:1/", "v", "x-zt1-auth"),
             route("/b/", "http://127.0.0.1:1/", "f", "x-zt1-auth"),
             route("/c/", "http://127.0.0.1:1/", "central", "token")],
            tokens={"v": {"value": value}, "f": {"file": f}})))
        r = self.run_cli(["--print-config", "--config", cfg], env={"ZEROTIER_CENTRAL_TOKEN": env_value})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("hidden", r.stdout.lower())
        self.assertNoLeaks()

    def test_invalid_token_content_not_echoed(self):
        # An over-long "token" made of registered tokens: no piece of it may be printed.
        pieces = [self.new_token() for _ in range(250)]
        f = self.write_file("tok", "".join(pieces))
        svc = self.local_service(token=pieces[0])
        px = self.proxy(config([route("/", svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": f}},
                               log_level="debug"))
        r = px.get("/status")
        self.assertJsonError(r, 503, "token_unavailable")
        self.assertEqual(r.json().get("state"), "invalid")
        r = self.run_cli(["--check-config", "--config", px.config_path])
        self.assertEqual(r.rc, 0, r)
        self.assertNoLeaks()

    def test_bad_config_errors_do_not_print_inline_values(self):
        value = self.new_token()
        text = (f'listen: ["127.0.0.1:0"]\ntokens:\n  v:\n    value: "{value}"\n    wtach: true\n'
                f'routes:\n  - prefix: "/a/"\n    upstream: "http://127.0.0.1:1/"\n    token: v\n'
                f'    auth: sideways\n')
        cfg = self.write_file("bad.yaml", text)
        r = self.run_cli(["--check-config", "--config", cfg])
        self.assertEqual(r.rc, 78, r)
        self.assertNoLeaks()

    def test_argv_holds_no_token(self):
        t_env, t_file, t_value = self.new_token(), self.new_token(), self.new_token()
        f = self.write_file("tok", t_file)
        svc = self.local_service(token=t_file)
        px = self.proxy(config([route("/f/", svc.url, "f", "x-zt1-auth"),
                                route("/e/", svc.url, "e", "x-zt1-auth"),
                                route("/v/", svc.url, "v", "x-zt1-auth")],
                               tokens={"f": {"file": f}, "e": {"env": "ZTP_ARGV_TOKEN"}, "v": {"value": t_value}}),
                        env={"ZTP_ARGV_TOKEN": t_env})
        self.assertEqual(px.get("/f/status").status, 200)
        time.sleep(0.1)
        with open(f"/proc/{px.pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        with open(f"/proc/{px.pid}/environ", "rb") as fh:
            environ = fh.read()
        for tok in (t_env, t_file, t_value):
            self.assertNotIn(tok.encode(), cmdline, "a token is visible in /proc/PID/cmdline")
        # The env token is in the environment because the user put it there; the others must not be.
        for tok in (t_file, t_value):
            self.assertNotIn(tok.encode(), environ, "the daemon put a token into its environment")
