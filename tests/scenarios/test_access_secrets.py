"""Secret hygiene: files holding tokens must be private to root or the proxy's user, a replaced
token leaves no copy in memory, and the process cannot dump core."""

import os
import re
import time

from harness import ScenarioTest, config, route, to_yaml, wait_until

OTHER_UID = 4321  # an unprivileged user that is neither root nor the proxy


class SecretFileTests(ScenarioTest):
    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)

    def test_token_file_writable_by_others_or_owned_by_another_user(self):
        cases = [
            (0o620, 0, "can be written by group or others (owner root (uid 0), mode 0620)",
             "run 'chmod go-w {path}'"),
            (0o602, 0, "can be written by group or others", "chmod go-w"),
            (0o600, OTHER_UID, f"belongs to uid {OTHER_UID}, neither root nor the user the proxy runs as",
             "run 'chown root {path}'"),
        ]
        for mode, uid, why, fix in cases:
            with self.subTest(mode=oct(mode), uid=uid):
                path = self.write_file(f"tok-{mode:o}-{uid}", self.token, mode=mode)
                os.chown(path, uid, 0)
                px = self.proxy(config([route("/", self.svc.url, "f", "x-zt1-auth")],
                                       tokens={"f": {"file": path}}))
                mark = self.svc.mark()
                r = px.get("/status")
                body = self.assertJsonError(r, 503, "token_unavailable")
                self.assertEqual(body["state"], "unreadable")
                self.assertIn(path + " " + why, body["message"])
                self.assertIn(fix.format(path=path), body["hint"])
                self.assertEqual(self.svc.since(mark), [])
                px.wait_log(re.escape(why))
                # Fixed: the next request reads it again.
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
                self.assertEqual(px.get("/status").status, 200)
                px.stop()
        r = self.run_cli(["--check-config", "--config", px.config_path])
        self.assertEqual(r.rc, 0, r)

    def test_world_readable_token_file_is_fine(self):
        # Kubernetes secret volumes are 0644 by default; only writing matters.
        path = self.write_file("tok", self.token, mode=0o644)
        px = self.proxy(config([route("/", self.svc.url, "f", "x-zt1-auth")], tokens={"f": {"file": path}}))
        self.assertEqual(px.get("/status").status, 200)

    def test_config_with_inline_token_must_be_private(self):
        text = to_yaml(config([route("/", self.svc.url, "v", "x-zt1-auth")], tokens={"v": {"value": self.token}}))
        line = next(i for i, ln in enumerate(text.splitlines(), 1) if "value:" in ln)
        for mode, uid, want in ((0o620, 0, "can be written by group or others"),
                                (0o600, OTHER_UID, f"belongs to uid {OTHER_UID}")):
            with self.subTest(mode=oct(mode), uid=uid):
                path = self.write_file("inline.yaml", text, mode=mode)
                os.chown(path, uid, 0)
                r = self.run_cli(["--check-config", "--config", path])
                self.assertEqual(r.rc, 78, r)
                self.assertRegex(r.stderr, re.escape(f"{path}:{line}:") + r"\d+: inline token value in a file "
                                 r"that is not safe: " + re.escape(path) + ".*" + re.escape(want))
        # Owned by the user the proxy runs as is fine.
        os.chmod(self.tmp, 0o755)
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o600)
        r = self.run_cli(["--check-config", "--config", path])
        self.assertEqual(r.rc, 78, "root running on a file of nobody's: refused")
        px = self.proxy(config([route("/", self.svc.url, "v", "x-zt1-auth")],
                               tokens={"v": {"value": self.token}}), as_nobody=True)
        self.assertEqual(px.get("/status").status, 200)


class ProcessTests(ScenarioTest):
    def test_no_core_dumps_and_not_dumpable(self):
        token = self.new_token()
        self.write_local_token(token)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.zt_home, 0o755)
        os.chown(os.path.join(self.zt_home, "authtoken.secret"), 65534, 65534)
        svc = self.local_service(token=token)
        px = self.proxy(config([route("/", svc.url, "local", "x-zt1-auth")]), as_nobody=True)
        with open(f"/proc/{px.pid}/limits") as f:
            limits = f.read()
        self.assertRegex(limits, r"Max core file size\s+0\s+0\s")
        # A process that is not dumpable has its /proc files owned by root, whoever runs it.
        self.assertEqual(os.stat(f"/proc/{px.pid}/status").st_uid, 0, "the daemon is dumpable")
        self.assertEqual(px.get("/status").status, 200)

    def test_replaced_token_leaves_no_copy_in_memory(self):
        """After a rotation the old value is nowhere in the daemon's memory (it was never sent,
        so only the token store and the file reader ever held it)."""
        # Long enough that the part after malloc's free-list pointers survives a free().
        old = self.register_secret("".join(self.new_token() for _ in range(3)))
        new = self.new_token()
        path = self.write_file("tok", old)
        other = self.local_service(token=new)
        px = self.proxy(config([route("/", other.url, "f", "x-zt1-auth")], tokens={"f": {"file": path}}))
        self.assertTrue(old.encode() in self.memory(px.pid), "the scan cannot see the loaded token")
        self.write_file(path, new)
        px.wait_log(r"token 'f' changed")
        wait_until(lambda: px.get("/status").status == 200, 5, msg="the new token in use")
        time.sleep(0.1)
        mem = self.memory(px.pid)
        self.assertTrue(new.encode() in mem, "the scan cannot see the new token")
        self.assertFalse(old[-40:].encode() in mem, "the replaced token is still in the daemon's memory")

    @staticmethod
    def memory(pid):
        """Every readable private mapping of the process (root reads /proc/PID/mem)."""
        out = []
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in maps:
                fields = line.split()
                if "r" not in fields[1] or len(fields) > 5 and fields[5].startswith("/"):
                    continue  # unreadable, or a mapped file (the binary, libraries)
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                if hi - lo > 1 << 30:
                    continue  # ASan's shadow: huge, all zero where it matters
                try:
                    mem.seek(lo)
                    out.append(mem.read(hi - lo))
                except (OSError, ValueError, OverflowError):
                    pass
        return b"".join(out)
