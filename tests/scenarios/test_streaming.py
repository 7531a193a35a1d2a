"""Bodies stream both ways with bounded memory (RssAnon growth < 16 MiB), also with slow peers.

Sizes: 1 GiB download and 256 MiB chunked upload; ZTP_BIG=0 shrinks both to 64 MiB.
The memory bound is not checked on AddressSanitizer builds (quarantine keeps freed memory).
"""

import hashlib
import json
import sys
import threading
import time

from harness import BIG, MiB, ScenarioTest, binary_has_asan, config, pattern, pattern_chunks, route

DOWNLOAD = (1024 if BIG else 64) * MiB
UPLOAD = (256 if BIG else 64) * MiB
MEDIUM = 64 * MiB
RSS_LIMIT_KB = 16 * 1024


class RssSampler(threading.Thread):
    def __init__(self, px):
        super().__init__(daemon=True)
        self.px = px
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, self.px.rss_anon_kb())
                self.samples += 1
            except (OSError, AssertionError):
                return
            self._halt.wait(0.05)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join()
        # One sample after the transfer too: a fast one may end between two polls.
        try:
            self.peak = max(self.peak, self.px.rss_anon_kb())
            self.samples += 1
        except (OSError, AssertionError):
            pass


class StreamingTests(ScenarioTest):
    timeout = 600

    def setUp(self):
        super().setUp()
        self.token = self.new_token()
        self.write_local_token(self.token)
        self.svc = self.local_service(token=self.token)
        # Bodies here are far larger than limits.max_body's default (access: 413 beyond it).
        self.px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")], log_level="info",
                                    limits={"max_body": "1GiB"}))
        # Warm up both directions so that buffers allocated once are part of the baseline.
        r = self.px.get("/bytes?n=2000000")
        self.assertEqual(r.status, 200, r)
        r = self.px.request("POST", "/sink", body=b"x" * 2000000)
        self.assertEqual(r.status, 200, r)
        time.sleep(0.2)
        self.baseline = self.px.rss_anon_kb()

    def assertRssBounded(self, sampler, what):
        peak = max(sampler.peak, self.px.rss_anon_kb())
        grew = peak - self.baseline
        print(f"{self.id()}: {what}: RssAnon {self.baseline} kB -> peak {peak} kB ({sampler.samples} samples)",
              file=sys.stderr)
        if binary_has_asan():
            return
        self.assertGreater(sampler.samples, 2, "too few RSS samples to judge")
        self.assertLess(grew, RSS_LIMIT_KB, f"{what}: the daemon's RssAnon grew by {grew} kB "
                        f"(baseline {self.baseline} kB, peak {peak} kB); bodies must stream, not be buffered")

    def download(self, path, n, chunked, pause_after=0, pause=0.0):
        conn = self.px.connection(timeout=120)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            if chunked:
                self.assertIsNone(r.getheader("Content-Length"))
            else:
                self.assertEqual(r.getheader("Content-Length"), str(n))
            off = 0
            paused = False
            while True:
                chunk = r.read(MiB)
                if not chunk:
                    break
                if chunk != pattern(off, len(chunk)):
                    self.fail(f"downloaded bytes differ from the upstream's at offset {off}..{off + len(chunk)}")
                off += len(chunk)
                if pause and not paused and off >= pause_after:
                    paused = True
                    time.sleep(pause)
            self.assertEqual(off, n, "download length")
        finally:
            conn.close()

    def upload(self, path, n, chunked):
        digest = hashlib.sha256()

        def gen():
            for c in pattern_chunks(n):
                digest.update(c)
                yield c
        headers = {"Content-Type": "application/octet-stream"}
        if not chunked:
            headers["Content-Length"] = str(n)
        conn = self.px.connection(timeout=120)
        try:
            conn.request("POST", path, body=gen(), headers=headers)
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        self.assertEqual(r.status, 200, body[:300])
        self.assertEqual(self.svc.requests[-1].path, "/sink")
        got = json.loads(body)
        self.assertEqual(got, {"len": n, "sha256": digest.hexdigest()}, "upstream received other bytes")

    def test_download_content_length(self):
        with RssSampler(self.px) as s:
            self.download(f"/bytes?n={DOWNLOAD}", DOWNLOAD, chunked=False)
        self.assertRssBounded(s, f"{DOWNLOAD // MiB} MiB download")

    def test_download_chunked(self):
        with RssSampler(self.px) as s:
            self.download(f"/bytes?n={MEDIUM}&chunked=1", MEDIUM, chunked=True)
        self.assertRssBounded(s, f"{MEDIUM // MiB} MiB chunked download")

    def test_upload_chunked(self):
        with RssSampler(self.px) as s:
            self.upload("/sink", UPLOAD, chunked=True)
        self.assertRssBounded(s, f"{UPLOAD // MiB} MiB chunked upload")

    def test_upload_content_length(self):
        with RssSampler(self.px) as s:
            self.upload("/sink", MEDIUM, chunked=False)
        self.assertRssBounded(s, f"{MEDIUM // MiB} MiB upload with Content-Length")
        self.assertEqual(self.svc.requests[-1].header("Content-Length"), str(MEDIUM))

    def test_slow_client_download_backpressure(self):
        # The client stops reading for 3 s after 1 MiB: the daemon must pause the upstream, not buffer it.
        with RssSampler(self.px) as s:
            self.download(f"/bytes?n={MEDIUM}", MEDIUM, chunked=False, pause_after=MiB, pause=3.0)
        self.assertRssBounded(s, f"{MEDIUM // MiB} MiB download to a client that pauses")

    def test_slow_upstream_upload_backpressure(self):
        # The upstream waits 3 s before it reads the body: the daemon must stop reading the client.
        with RssSampler(self.px) as s:
            self.upload("/sink?slow_ms=3000", MEDIUM, chunked=True)
        self.assertRssBounded(s, f"{MEDIUM // MiB} MiB upload to an upstream that pauses")

    def test_many_requests_after_streaming_still_work(self):
        self.download(f"/bytes?n={8 * MiB}&chunked=1", 8 * MiB, chunked=True)
        conn = self.px.connection()
        try:
            for i in range(20):
                self.assertEqual(self.px.get(f"/status?i={i}", conn=conn).status, 200)
        finally:
            conn.close()
