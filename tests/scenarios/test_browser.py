"""A real browser cannot use the proxy: headless Chromium runs pages that try every way a page
can send a request to it (fetch in cors and no-cors modes with GET, POST and DELETE, XHR,
sendBeacon, an image, a script and a stylesheet, with and without a Referer, auto-submitted
forms), from another loopback port and under a name
mapped to 127.0.0.1, and a DNS-rebinding page whose own origin turns into the proxy. The
upstream stand-in must receive none of it; each page reports to its own server that it ran.

Skipped (not passed) only when chromium is not installed; scripts/bootstrap.sh --test
installs Debian's chromium package.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

from harness import SCALE, ScenarioTest, config, free_port, route, wait_until

CHROMIUM = shutil.which("chromium")

ATTACK_JS = r"""
const bases = BASES;
const outcomes = [];
let attempts = 0;

function timeout(ms) { return new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms)); }
async function attempt(name, fn) {
  attempts++;
  try { outcomes.push(name + "=" + await Promise.race([fn(), timeout(3000)])); }
  catch (e) { outcomes.push(name + "=error"); }
}
function xhr(method, url) {
  return new Promise(resolve => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    x.onload = () => resolve("status" + x.status);
    x.onerror = () => resolve("error");
    x.send(method === "POST" ? "{}" : null);
  });
}
let frames = 0;
function form(method, url) {
  return new Promise(resolve => {
    const name = "frame" + (++frames);
    const f = document.createElement("iframe");
    f.name = name;
    document.body.appendChild(f);
    const fm = document.createElement("form");
    fm.method = method; fm.action = url; fm.target = name;
    const i = document.createElement("input");
    i.type = "hidden"; i.name = "config"; i.value = '{"private": false}';
    fm.appendChild(i);
    document.body.appendChild(fm);
    f.onload = () => resolve("loaded");
    fm.submit();
    setTimeout(() => resolve("sent"), 1500);
  });
}
function img(url, policy) {
  return new Promise(resolve => {
    const i = new Image();
    i.onload = () => resolve("load"); i.onerror = () => resolve("error");
    if (policy) i.referrerPolicy = policy;
    i.src = url;
  });
}
// Without a Referer and Origin, only Sec-Fetch-Site (or Host) gives a page away.
function element(tag, attr, url) {
  return new Promise(resolve => {
    const e = document.createElement(tag);
    if (tag === "link") e.rel = "stylesheet";
    e.referrerPolicy = "no-referrer";
    e.onload = () => resolve("load"); e.onerror = () => resolve("error");
    e[attr] = url;
    document.head.appendChild(e);
  });
}
async function run() {
  for (const b of bases) {
    await attempt("fetch-cors-get", () => fetch(b + "/status", {cache: "no-store"}).then(r => r.status));
    await attempt("fetch-nocors-get", () => fetch(b + "/status?nc", {mode: "no-cors"}).then(r => r.type));
    await attempt("fetch-cors-post", () => fetch(b + "/network/x", {method: "POST", body: "{}",
                  headers: {"Content-Type": "text/plain"}}).then(r => r.status));
    await attempt("fetch-cors-post-json", () => fetch(b + "/network/x", {method: "POST", body: "{}",
                  headers: {"Content-Type": "application/json"}}).then(r => r.status));
    await attempt("fetch-nocors-post", () => fetch(b + "/network/y", {method: "POST", mode: "no-cors",
                  body: "{}"}).then(r => r.type));
    await attempt("fetch-cors-delete", () => fetch(b + "/network/x", {method: "DELETE"}).then(r => r.status));
    await attempt("fetch-nocors-delete", () => fetch(b + "/network/x", {method: "DELETE", mode: "no-cors"})
                  .then(r => r.type));
    await attempt("xhr-get", () => xhr("GET", b + "/status?xhr"));
    await attempt("xhr-post", () => xhr("POST", b + "/network/z"));
    await attempt("beacon", () => Promise.resolve(navigator.sendBeacon(b + "/network/b", "{}")));
    await attempt("img", () => img(b + "/status?img"));
    await attempt("img-noref", () => img(b + "/status?img-noref", "no-referrer"));
    await attempt("fetch-nocors-noref", () => fetch(b + "/status?noref", {mode: "no-cors",
                  referrerPolicy: "no-referrer"}).then(r => r.type));
    await attempt("script-noref", () => element("script", "src", b + "/status?script"));
    await attempt("css-noref", () => element("link", "href", b + "/status?css"));
    await attempt("form-post", () => form("POST", b + "/network/f"));
    await attempt("form-get", () => form("GET", b + "/status"));
  }
  await fetch("/done", {method: "POST", body: JSON.stringify({attempts, outcomes})});
}
run();
"""

REBIND_JS = r"""
// Loaded from attacker.test:PORT; the test then puts the proxy on that same port, so that
// the page's own origin now reaches the proxy (DNS rebinding without the DNS).
const report = REPORT;
const seen = [];
function send(what) { new Image().src = report + "?" + what; }
async function run() {
  send("loaded=1");
  const start = Date.now();
  while (Date.now() - start < 15000) {
    for (const [method, path] of [["GET", "/status"], ["POST", "/network/x"], ["DELETE", "/network/x"]]) {
      try {
        const r = await fetch(path, {method, cache: "no-store", body: method === "POST" ? "{}" : undefined});
        seen.push(method + ":" + r.status + ":" + (r.headers.get("content-type") || ""));
      } catch (e) { seen.push(method + ":error"); }
    }
    if (seen.some(s => s.includes("application/json"))) break;  // the proxy answered
    await new Promise(r => setTimeout(r, 200));
  }
  send("done=" + encodeURIComponent(JSON.stringify(seen.slice(-6))));
}
run();
"""


class PageServer:
    """Serves one page and records what the page reports back (its own origin's /done, or
    /report); everything else is a 404. Its open sockets can be cut to free the port."""

    def __init__(self, page, port=0):
        self.page = page.encode()
        self.reports = []
        self.requests = []
        self.socks = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.handle(self)

            do_POST = do_GET

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):
                s, a = super().get_request()
                with outer.lock:
                    outer.socks.add(s)
                return s, a

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def handle(self, h):
        path, _, query = h.path.partition("?")
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append((h.command, h.path))
            if path in ("/done", "/report"):
                self.reports.append((query, body))
        if path == "/page.html":
            out, ctype, status = self.page, "text/html", 200
        else:
            out, ctype, status = b"", "text/plain", 204 if path in ("/done", "/report") else 404
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Cache-Control", "no-store")
        if status != 204:
            h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


class BrowserTests(ScenarioTest):
    timeout = 120

    def setUp(self):
        super().setUp()
        if CHROMIUM is None:
            self.skipTest("chromium is not installed (scripts/bootstrap.sh --test installs it)")
        self.token = self.new_token()
        self.svc = self.local_service(token=self.token)
        self.pages = []
        self.addCleanup(lambda: [p.stop() for p in self.pages])

    def page_server(self, page, port=0):
        p = PageServer(page, port)
        self.pages.append(p)
        return p

    def chromium(self, url):
        """Starts headless Chromium on url; returns a function that stops it."""
        profile = self.path(f"chromium-{len(os.listdir(self.tmp))}")
        log = open(self.path("chromium.log"), "ab")
        p = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--disable-background-networking", "--disable-component-update",
                              "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
                              "--host-resolver-rules=MAP attacker.test 127.0.0.1", url],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

        def stop():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            log.close()
        self.addCleanup(stop)
        return stop

    def test_pages_cannot_reach_the_proxy(self):
        px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")],
                               tokens={"local": {"value": self.token}}))
        bases = [f"http://127.0.0.1:{px.port}", f"http://localhost:{px.port}", f"http://attacker.test:{px.port}"]
        page = self.page_server("<!doctype html><html><body><script>"
                                + ATTACK_JS.replace("BASES", json.dumps(bases)) + "</script></body></html>")
        for origin in (f"http://127.0.0.1:{page.port}", f"http://attacker.test:{page.port}"):
            with self.subTest(origin=origin):
                mark = len(page.reports)
                stop = self.chromium(origin + "/page.html")
                wait_until(lambda: len(page.reports) > mark, 60, 0.1, f"the page at {origin} to report")
                stop()
                result = json.loads(page.reports[mark][1])
                self.assertEqual(result["attempts"], 17 * len(bases), result)
        self.assertEqual(self.svc.requests, [], "a request from a web page reached the upstream")
        log = px.log_text()
        # The browser did send them: the proxy refused them, not the browser.
        self.assertRegex(log, r"refused a request from 127\.0\.0\.1:\d+ made by a web page")
        self.assertRegex(log, r"refused a request from 127\.0\.0\.1:\d+ for Host 'attacker\.test")
        self.assertRegex(log, r"access: POST /network/f 403")  # the auto-submitted form
        self.assertRegex(log, r"access: GET /status\?img 403|access: GET /status 403")

    def test_dns_rebinding(self):
        port = free_port()
        report = self.page_server("")
        page = self.page_server("<!doctype html><html><body><script>"
                                + REBIND_JS.replace("REPORT", json.dumps(f"http://127.0.0.1:{report.port}/report"))
                                + "</script></body></html>", port=port)
        self.chromium(f"http://attacker.test:{port}/page.html")
        wait_until(lambda: any("loaded=1" in q for q, _ in report.reports), 60, 0.1, "the page to load")
        page.stop()  # the name now points at the proxy: same origin, another server
        px = self.proxy(config([route("/", self.svc.url, "local", "x-zt1-auth")],
                               tokens={"local": {"value": self.token}}, listen=[f"127.0.0.1:{port}"]))
        done = wait_until(lambda: next((q for q, _ in report.reports if q.startswith("done=")), None), 60, 0.1,
                          "the page to report")
        seen = json.loads(urllib.parse.unquote(done[len("done="):]))
        self.assertTrue(any(s.endswith("application/json") for s in seen),
                        f"the page never reached the proxy: {seen}")
        for s in seen:
            if s.endswith("application/json"):
                self.assertEqual(s.split(":")[1], "403", seen)
        self.assertEqual(self.svc.requests, [], "a rebinding page's request reached the upstream")
        self.assertRegex(px.log_text(), rf"for Host 'attacker\.test:{port}'")
        time.sleep(0.1 * SCALE)
