"""A 401 from the upstream makes the daemon re-read the token and, if it changed, replay once.

The token uses `watch: false`, so only the 401 can make the daemon notice the new value.
"""

import hashlib
import threading
import time

from harness import ScenarioTest, config, route


class ReplayTests(ScenarioTest):
    def start(self, **cfg):
        self.old = self.new_token()
        self.tokfile = self.write_file("secret/token", self.old)
        self.svc = self.local_service(token=self.old)
        self.px = self.proxy(config([route("/", self.svc.url, "t", "x-zt1-auth")],
                                    tokens={"t": {"file": self.tokfile, "watch": False}}, **cfg))
        r = self.px.get("/status")
        self.assertEqual(r.status, 200, r)
        return self.px

    def rotate(self, upstream_expects=None):
        """Rewrites the token file in place; the stand-in then accepts only the new value (or another)."""
        new = self.new_token()
        self.write_file(self.tokfile, new)
        self.svc.token = upstream_expects or new
        return new

    def assertAttempts(self, reqs, expected):
        """expected: list of (credential, status) the upstream saw, in order."""
        got = [(r.credential, r.status) for r in reqs]
        self.assertEqual(len(got), len(expected), f"upstream attempts: {reqs}")
        for i, ((cred, status), (ecred, estatus)) in enumerate(zip(got, expected)):
            self.assertEqual(status, estatus, f"attempt {i}: {reqs}")
            self.assertTrue(cred == ecred, f"attempt {i} carried the wrong token: {reqs}")

    def test_get_replayed_with_new_token(self):
        px = self.start()
        new = self.rotate()
        mark = self.svc.mark()
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json().get("online"), True)
        self.assertAttempts(self.svc.since(mark), [(self.old, 401), (new, 200)])
        mark = self.svc.mark()
        self.assertEqual(px.get("/status").status, 200)
        self.assertAttempts(self.svc.since(mark), [(new, 200)])

    def test_small_post_body_replayed(self):
        px = self.start()
        new = self.rotate()
        body = bytes(range(256)) * 4
        mark = self.svc.mark()
        r = px.request("POST", "/sink", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        reqs = self.svc.since(mark)
        self.assertAttempts(reqs, [(self.old, 401), (new, 200)])
        for req in reqs:
            self.assertEqual((req.method, req.body_len), ("POST", len(body)), "each attempt must carry the body")

    def test_body_at_replay_limit_replayed(self):
        px = self.start(limits={"replay_body": 1024})
        new = self.rotate()
        mark = self.svc.mark()
        r = px.request("PUT", "/sink", body=b"p" * 1024)
        self.assertEqual(r.status, 200, r)
        self.assertAttempts(self.svc.since(mark), [(self.old, 401), (new, 200)])

    def test_body_above_replay_limit_not_replayed(self):
        px = self.start(limits={"replay_body": 1024})
        new = self.rotate()
        mark = self.svc.mark()
        r = px.request("POST", "/sink", body=b"q" * 4096)
        self.assertEqual(r.status, 401, r)
        self.assertAttempts(self.svc.since(mark), [(self.old, 401)])
        self.assertEqual(self.svc.since(mark)[0].body_len, 4096)
        r = px.get("/status")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.svc.requests[-1].credential, new)

    def test_unchanged_token_401_reaches_client(self):
        px = self.start()
        self.svc.token = self.new_token()  # the upstream wants a token the daemon cannot know
        mark = self.svc.mark()
        r = px.get("/status")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json(), {}, "the upstream's 401 body should reach the client")
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertAttempts(self.svc.since(mark), [(self.old, 401)])

    def test_replayed_at_most_once(self):
        px = self.start()
        new = self.rotate(upstream_expects=self.new_token())
        mark = self.svc.mark()
        r = px.get("/status")
        self.assertEqual(r.status, 401, r)
        self.assertAttempts(self.svc.since(mark), [(self.old, 401), (new, 401)])

    def test_no_reread_without_401(self):
        # watch: false and no 401: the old value stays in use even though the file changed.
        px = self.start()
        self.write_file(self.tokfile, self.new_token())
        self.svc.accept(self.old)
        for _ in range(5):
            mark = self.svc.mark()
            self.assertEqual(px.get("/status").status, 200)
            self.assertAttempts(self.svc.since(mark), [(self.old, 200)])


class WatchedReplayTests(ScenarioTest):
    """With the watcher on, the new token may be seen before the 401 arrives: still replay."""

    def test_rotation_during_request_is_replayed(self):
        old = self.new_token()
        tokfile = self.write_file("secret/token", old)
        svc = self.local_service(token=old)
        px = self.proxy(config([route("/", svc.url, "t", "x-zt1-auth")],
                               tokens={"t": {"file": tokfile}}))
        self.assertEqual(px.get("/status").status, 200)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=px.get("/status?check_after_ms=700")))
        mark = svc.mark()
        t.start()
        time.sleep(0.2)  # the request is at the upstream, carrying the old token
        new = self.new_token()
        self.write_file(tokfile, new)
        svc.token = new
        t.join(10)
        self.assertEqual(result["r"].status, 200, result.get("r"))
        got = [(r.credential, r.status) for r in svc.since(mark)]
        self.assertEqual(got, [(old, 401), (new, 200)])
