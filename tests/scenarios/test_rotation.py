"""Token files are watched: every common way of replacing a secret is picked up within 100 ms.

Each rotation is checked twice:
  polling - the stand-in accepts old and new (so no 401 replay can hide a missed change); requests
            are sent every ~20 ms; the new token must appear, and every request sent 200 ms or
            more after the write was closed must carry it;
  quiet   - after a second rotation nothing is sent for 200 ms; the first request must already
            carry the new token without any 401 (the stand-in accepts only the new one).
"""

import os
import shutil
import time
import unittest

from harness import WINDOWS, ScenarioTest, config, route

# The contract says 100 ms; we allow twice that. On Windows, where no event says that a writer
# closed the file, changes are reported once the writes pause, 100-200 ms later.
LATENCY = 0.4 if WINDOWS else 0.2
POLL_FOR = 2.0


class RotationTests(ScenarioTest):
    def start(self, tokpath, name="t", builtin=False):
        self.tokpath = tokpath
        self.svc = self.local_service(token=self.old)
        tokens = None if builtin else {name: {"file": tokpath}}
        self.px = self.proxy(config([route("/", self.svc.url, name, "x-zt1-auth")], tokens=tokens))
        self.assertSends(self.old)
        return self.px

    def send(self):
        mark = self.svc.mark()
        r = self.px.get("/status")
        reqs = self.svc.since(mark)
        return r, reqs

    def assertSends(self, token):
        r, reqs = self.send()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(reqs), 1, f"expected one upstream attempt (no 401 + replay): {reqs}")
        self.assertTrue(reqs[0].credential == token, f"request carried the wrong token: {reqs}")

    def rotate_polling(self, change):
        new = self.new_token()
        self.svc.accept(self.old, new)
        change(new)
        t_closed = time.monotonic()
        seen = []
        while True:
            t_send = time.monotonic() - t_closed
            r, reqs = self.send()
            self.assertEqual(r.status, 200, f"{t_send:.3f}s after the change: {r}")
            self.assertEqual(len(reqs), 1, reqs)
            cred = reqs[0].credential
            self.assertIn(cred, (self.old, new), "request carried neither the old nor the new token")
            seen.append((t_send, "new" if cred == new else "old"))
            if (cred == new and t_send > LATENCY + 0.1) or t_send > POLL_FOR:
                break
            time.sleep(0.02)
        timeline = ", ".join(f"{dt * 1000:.0f}ms:{w}" for dt, w in seen)
        self.assertTrue(any(w == "new" for _, w in seen),
                        f"the new token was not used within {POLL_FOR}s: {timeline}")
        late = [dt for dt, w in seen if w == "old" and dt >= LATENCY]
        self.assertEqual(late, [], f"old token still sent {LATENCY * 1000:.0f}ms+ after the change: {timeline}")
        first_new = next(dt for dt, w in seen if w == "new")
        flap = [dt for dt, w in seen if w == "old" and dt > first_new]
        self.assertEqual(flap, [], f"went back to the old token after switching: {timeline}")
        self.svc.token = new
        self.old = new

    def rotate_quiet(self, change):
        new = self.new_token()
        self.svc.token = new
        change(new)
        time.sleep(LATENCY)
        self.assertSends(new)
        self.old = new

    def check_rotation(self, change):
        self.rotate_polling(change)
        self.rotate_quiet(change)
        self.rotate_polling(change)

    # --- the ways a secret gets replaced ---
    def test_in_place_rewrite(self):
        self.old = self.new_token()
        path = self.write_file("secret/token", self.old)
        self.start(path)
        ino = os.stat(path).st_ino

        def change(new):
            with open(path, "wb") as f:  # truncate + write, like ZeroTier's fopen("wb")
                f.write(new.encode())
        self.check_rotation(change)
        self.assertEqual(os.stat(path).st_ino, ino)

    def test_delete_and_create(self):
        self.old = self.new_token()
        path = self.write_file("secret/token", self.old)
        self.start(path)

        def change(new):
            os.unlink(path)
            self.write_file(path, new)
        self.check_rotation(change)

    def test_rename_over(self):
        self.old = self.new_token()
        path = self.write_file("secret/token", self.old)
        self.start(path)

        def change(new):
            tmp = self.write_file(path + ".tmp", new)
            os.replace(tmp, path)
        self.check_rotation(change)

    @unittest.skipIf(WINDOWS, "symlinked token files are not followed on Windows")
    def test_symlink_swap(self):
        self.old = self.new_token()
        versions = self.path("versions")
        target = self.write_file(os.path.join(versions, "v0"), self.old)
        path = self.path("secret", "token")
        os.makedirs(os.path.dirname(path))
        os.symlink(target, path)
        self.start(path)
        n = [0]

        def change(new):
            n[0] += 1
            t = self.write_file(os.path.join(versions, f"v{n[0]}"), new)
            os.symlink(t, path + ".lnk")
            os.replace(path + ".lnk", path)
        self.check_rotation(change)

    @unittest.skipIf(WINDOWS, "symlinked token files are not followed on Windows")
    def test_kubernetes_data_swap(self):
        # A mounted Secret: token -> ..data/token, ..data -> ..<timestamp>/, swapped atomically.
        self.old = self.new_token()
        d = self.path("secret")
        os.makedirs(d)
        self.write_file(os.path.join(d, "..2024_01_01_00_00_00.0", "token"), self.old, mode=0o644)
        os.symlink("..2024_01_01_00_00_00.0", os.path.join(d, "..data"))
        os.symlink("..data/token", os.path.join(d, "token"))
        self.start(os.path.join(d, "token"))
        state = {"n": 0, "cur": "..2024_01_01_00_00_00.0"}

        def change(new):
            state["n"] += 1
            ts = f"..2024_01_01_00_00_0{state['n']}.{state['n']}"
            self.write_file(os.path.join(d, ts, "token"), new, mode=0o644)
            os.symlink(ts, os.path.join(d, "..data_tmp"))
            os.replace(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
            shutil.rmtree(os.path.join(d, state["cur"]))
            state["cur"] = ts
        self.check_rotation(change)

    def test_builtin_local_token_rewritten(self):
        self.old = self.new_token()
        path = self.write_local_token(self.old)
        self.start(path, name="local", builtin=True)

        def change(new):
            os.unlink(path)
            self.write_local_token(new)
        self.check_rotation(change)

    # --- what must not replace a good value ---
    def hold_old(self, seconds=0.6):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.assertSends(self.old)
            time.sleep(0.05)

    def test_empty_file_keeps_old_value(self):
        self.old = self.new_token()
        path = self.write_file("secret/token", self.old)
        self.start(path)
        with open(path, "wb"):
            pass
        self.hold_old()
        self.write_file(path, "\n\n")
        self.hold_old()
        self.rotate_polling(lambda new: self.write_file(path, new))

    def test_deleted_file_keeps_old_value(self):
        self.old = self.new_token()
        path = self.write_file("secret/token", self.old)
        self.start(path)
        os.unlink(path)
        self.hold_old()
        shutil.rmtree(os.path.dirname(path))
        self.hold_old()
        self.rotate_polling(lambda new: self.write_file(path, new))

    def test_missing_directory_created_later(self):
        self.old = None
        path = self.path("later", "a", "b", "token")
        self.svc = self.local_service(token=self.new_token())
        self.px = self.proxy(config([route("/", self.svc.url, "t", "x-zt1-auth")], tokens={"t": {"file": path}}))
        self.assertJsonError(self.px.get("/status"), 503, "token_unavailable")
        new = self.new_token()
        self.svc.token = new
        os.makedirs(os.path.dirname(path))
        time.sleep(0.05)
        self.write_file(path, new)
        t_closed = time.monotonic()
        time.sleep(LATENCY)
        deadline = t_closed + POLL_FOR
        while True:
            r, reqs = self.send()
            if r.status == 200:
                break
            self.assertLess(time.monotonic(), deadline, f"token not picked up within {POLL_FOR}s: {r}")
            time.sleep(0.05)
        self.assertEqual(len(reqs), 1, reqs)
        self.assertTrue(reqs[0].credential == new)
