"""zt-token-proxy benchmark (issue 7). Run it through tests/bench/run.sh, which builds
the release binary and the upstream stand-in and installs wrk, nginx and haproxy.

Everything runs on loopback as the current user, from one temporary directory:
  nginx-up   the upstream stand-in for throughput and TLS: checks X-ZT1-Auth against a
             fixed token, answers a small JSON document; HTTP on one port, HTTPS + HTTP/2 on
             another
  delay      a TCP forwarder in front of nginx-up's HTTPS port that waits 20 ms before
             connecting each new connection (the cost of a far-away TLS upstream)
  rotating   tests/bench/upstream.c: accepts only the token that authtoken.secret holds now
             (rotation, endurance) and streams big bodies both ways
  zt-token-proxy, nginx (proxy_set_header, upstream keepalive) and haproxy (set-header,
             http-reuse always), each one process with one worker thread, injecting the token
Phase zt (issue 13) measures against ZeroTier One's own server library instead:
  zt-api-standin  tests/standin/zt_api.cpp, cpp-httplib on its defaults as ZeroTier One runs
             it, restarted before every load so that no connection a load left open holds
             one of its workers into the next
  nginx-zt   nginx with its default proxy_pass (HTTP/1.0, a new connection per request) on
             one port and with an upstream keepalive 16 block on another
  zt-token-proxy-zt  zt-token-proxy on its built-in routes, ZEROTIER_HOME pointing at the
             stand-in's token and port files; no upstream settings of its own
Its clients are the asyncio ones below (each request timed on its own, clients that vanish
mid-request), not wrk.

It prints one markdown table, and one more for phase zt. Exit status: 0, or 1 when
something is broken (a client saw an error, a body came back short, a process died); missed
targets are reported in the tables but never change the exit status, because shared machines
are noisy.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1024 * 1024
GiB = 1024 * MiB
# The same document tests/bench/upstream.c answers, so both stand-ins cost the same to relay.
SMALL_JSON = ('{"address":"1234567890","online":true,"tcpFallbackActive":false,'
              '"version":"1.14.0","planetWorldId":149604618,"clock":1700000000000}')
PROXIES = ("zt-token-proxy", "nginx", "haproxy")
# The stand-in phase: direct to the cpp-httplib stand-in, then through each proxy.
ZT_TARGETS = ("direct", "nginx", "nginx-keepalive", "zt-token-proxy")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


_taken = set()


def free_port():
    """A free port below the ephemeral range, where neither an outgoing connection nor another
    program's bind(0) can take it between this check and the server's own bind."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    for _ in range(1000):
        port = random.randrange(10000, max(ephemeral_low, 10001))
        if port in _taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _taken.add(port)
        return port
    raise Broken("no free port below the ephemeral range")


def new_token():
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(24))


def write_in_place(path, text):
    """Rewrites path the way ZeroTier One does: truncate and write, no rename."""
    with open(path, "w") as f:
        f.write(text)


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError(f"no RssAnon for pid {pid}")


def cpu_seconds(pid):
    """User plus system CPU time of a process and its descendants (nginx's workers)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            total += sum(cpu_seconds(int(c)) for c in f.read().split())
    return total


def open_fds(pid):
    """(all open fds, of which sockets)."""
    d = f"/proc/{pid}/fd"
    links = [os.readlink(os.path.join(d, fd)) for fd in os.listdir(d)]
    return len(links), sum(link.startswith("socket:") for link in links)


class PeakSampler:
    """Samples a process's RssAnon every 10 ms in a thread; .peak is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, rss_anon_kb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_anon_kb(self.pid))

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_kb(self.pid))
        return self.peak


class Broken(Exception):
    """Something a benchmark must never see: the run is not a measurement any more."""


# ---- the delay forwarder (runs as its own process: bench.py --delay-forwarder) ----

def delay_forwarder(listen_port, target_port, delay_s):
    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        await asyncio.sleep(delay_s)  # before the upstream even sees the connection
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, uwriter), pipe(ureader, writer))

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


# ---- a raw HTTP/1.1 client for the stand-in phase: each request timed on its own ----

class KeepAliveClient:
    """One HTTP/1.1 client on 127.0.0.1:port that keeps its connection as long as the server
    does, as a browser or a library would: it reconnects when an answer says Connection: close
    (or the server closed an idle connection: the request is then sent again once, on a new
    one). get() returns (status, seconds) from the first byte sent, or the connect it needed,
    to the last byte of the answer."""

    def __init__(self, port, headers=""):
        self.port, self.headers = port, headers
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _answer(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        h = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            h[k.strip().lower()] = v.strip().lower()
        if "chunked" in h.get("transfer-encoding", ""):
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)  # the chunk and its CRLF
                if size == 0:
                    break
        elif "content-length" in h:
            await self.reader.readexactly(int(h["content-length"]))
        else:
            await self.reader.read()  # to the end of the connection
            h["connection"] = "close"
        close = h.get("connection") == "close" or (version == "HTTP/1.0" and
                                                  h.get("connection") != "keep-alive")
        return int(status), close

    async def get(self, path):
        t0 = time.perf_counter()
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.headers}\r\n".encode()
        for again in (False, True):
            reused = self.writer is not None
            if not reused:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(req)
                status, close = await self._answer()
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if reused and not again:
                    continue
                raise
            if close:
                self.close()
            return status, time.perf_counter() - t0


def percentile(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))]


async def client_loop(port, path, headers, end, times, at_least=0):
    """One keep-alive client sending its next request as soon as the last is answered, until
    the monotonic time end and at least at_least requests: appends each one's seconds."""
    c = KeepAliveClient(port, headers)
    try:
        while time.monotonic() < end or len(times) < at_least:
            status, took = await asyncio.wait_for(c.get(path), 60)
            if status != 200:
                raise Broken(f"GET {path} on port {port} answered {status}")
            times.append(took)
    finally:
        c.close()


async def sequential_load(port, path, headers, seconds, at_least):
    """One keep-alive client, one request after another: the seconds each took."""
    times = []
    await client_loop(port, path, headers, time.monotonic() + seconds, times, at_least)
    return times


async def concurrent_load(port, path, headers, clients, seconds):
    """clients keep-alive clients, each sending its next request as soon as the last is
    answered, for seconds: (each request's seconds, wall time until the last answer)."""
    times, end, t0 = [], time.monotonic() + seconds, time.monotonic()
    await asyncio.gather(*(client_loop(port, path, headers, end, times) for _ in range(clients)))
    return times, time.monotonic() - t0


async def vanishing_clients(port, path, headers, clients, hold_s):
    """clients connections each send one request and, hold_s later, before any answer,
    vanish: closed with a RST, as a killed client's would be."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode()
    for _, w in conns:
        w.write(req)
        await w.drain()
    await asyncio.sleep(hold_s)
    for _, w in conns:
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack("ii", 1, 0))
        w.transport.abort()


# ---- the benchmark ----

class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="ztp-bench-")
        self.procs = {}  # name -> Popen, stopped by PID in reverse order
        self.broken = []
        self.results = {}
        self.static_token = new_token()
        self.local_token_path = os.path.join(self.dir, "authtoken.secret")
        self.static_token_path = os.path.join(self.dir, "static.secret")
        for path, tok in ((self.local_token_path, new_token()),
                          (self.static_token_path, self.static_token)):
            write_in_place(path, tok)
            os.chmod(path, 0o600)
        self.port = {name: free_port() for name in
                     ("up", "uptls", "delay", "rotating", "zt-token-proxy", "nginx", "haproxy",
                      "startup", "zt-api", "zt-nginx", "zt-nginx-keepalive", "zt-ztp")}
        self.upstream_lines = []
        self.url = {
            "direct": f"http://127.0.0.1:{self.port['up']}/status",
            **{p: f"http://127.0.0.1:{self.port[p]}/status" for p in PROXIES},
        }

    def path(self, name):
        return os.path.join(self.dir, name)

    def fail(self, what):
        log(f"BROKEN: {what}")
        self.broken.append(what)

    # -- processes --

    def spawn(self, name, argv, port=None, **kw):
        out = open(self.path(f"{name}.log"), "wb")
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs[name] = p
        if port is not None:
            self.wait_port(port, p, name)
        return p

    def wait_port(self, port, proc, name, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise Broken(f"{name} exited with {proc.returncode} at start-up; see "
                             f"{self.path(name + '.log')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.05)
                if proc.poll() is None:  # not someone else's server on our port
                    return
            except OSError:
                time.sleep(0.005)
        raise Broken(f"{name} did not listen on port {port} within {timeout} s")

    def check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise Broken(f"{name} died (exit status {p.returncode}); see "
                             f"{self.path(name + '.log')}")

    def stop_all(self):
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                code = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait()
                self.fail(f"{name} ignored SIGTERM for 10 s")
                continue
            if name.startswith("zt-token-proxy") and code != 0:
                self.fail(f"zt-token-proxy exited with status {code} on SIGTERM")

    # -- set-up --

    def make_certs(self):
        def openssl(*a):
            subprocess.run(["openssl", *a], cwd=self.dir, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                "-subj", "/CN=zt-token-proxy bench CA", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj",
                "/CN=localhost")
        with open(self.path("ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")

    def nginx_conf(self, name, servers):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        temp = "\n".join(f"  {k}_temp_path {d}/{k};" for k in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{temp}
  keepalive_requests 1000000;
  keepalive_timeout 75s;
{servers}
}}
"""
        with open(f"{d}.conf", "w") as f:
            f.write(conf)
        return ["nginx", "-p", d + "/", "-e", f"{d}/error.log", "-c", f"{d}.conf"]

    def start_upstreams(self):
        p, d = self.port, self.dir
        self.spawn("nginx-up", self.nginx_conf("nginx-up", f"""
  server {{
    listen 127.0.0.1:{p['up']};
    listen 127.0.0.1:{p['uptls']} ssl http2;
    ssl_certificate {d}/server.crt;
    ssl_certificate_key {d}/server.key;
    default_type application/json;
    location / {{
      if ($http_x_zt1_auth != "{self.static_token}") {{ return 401 '{{}}'; }}
      return 200 '{SMALL_JSON}\n';
    }}
  }}"""), port=p["up"])
        self.spawn("delay", [sys.executable, __file__, "--delay-forwarder", str(p["delay"]),
                             str(p["uptls"]), str(self.args.connect_delay_ms / 1000)],
                   port=p["delay"])
        self.spawn("rotating", [self.args.upstream, str(p["rotating"]), self.local_token_path],
                   port=p["rotating"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_upstream, daemon=True).start()

    def _read_upstream(self):
        for line in self.procs["rotating"].stdout:
            self.upstream_lines.append(line)

    def upstream_counts(self):
        """(requests, unauthorized) the rotating stand-in has answered so far."""
        n = len(self.upstream_lines)
        self.procs["rotating"].send_signal(signal.SIGUSR1)
        end = time.monotonic() + 5
        while len(self.upstream_lines) == n and time.monotonic() < end:
            time.sleep(0.005)
        if len(self.upstream_lines) == n:
            raise Broken("the rotating upstream stopped answering SIGUSR1")
        f = self.upstream_lines[-1].split()
        return int(f[1]), int(f[3])

    def ztp_config(self, port):
        p, d = self.port, self.dir
        path = self.path(f"zt-token-proxy-{port}.yaml")
        # The bodies phase sends more than the 16MiB default limits.max_body; older builds
        # (measured for comparison) have no such key and no limit.
        defaults = subprocess.run([self.args.binary, "--print-config"], capture_output=True,
                                  text=True).stdout
        limits = "limits: {max_body: 1GiB}\n" if "max_body:" in defaults else ""
        # These x-zt1-auth routes lead to fast upstreams, not to cpp-httplib: keep-alive and no
        # cap, as nginx and haproxy are configured (ZeroTier One's defaults are the zt phase's).
        pool = ", connections: {max: 0, keepalive: 60s}" if "connections:" in defaults else ""
        # No access log: nginx and haproxy log no requests either (the same job for all three).
        with open(path, "w") as f:
            f.write(f"""log_level: info
access_log: false
listen: "127.0.0.1:{port}"
{limits}tokens:
  static: {{file: {self.static_token_path}}}
  local: {{file: {self.local_token_path}}}
routes:
  - {{prefix: /, upstream: "http://127.0.0.1:{p['up']}/", token: static, auth: x-zt1-auth{pool}}}
  - {{prefix: /r, upstream: "http://127.0.0.1:{p['rotating']}/", token: local, auth: x-zt1-auth{pool}}}
  - {{prefix: /tls, upstream: "https://127.0.0.1:{p['delay']}/", token: static, auth: x-zt1-auth,
     ca_file: {d}/ca.crt{pool}}}
""")
        return path

    def start_proxies(self):
        p, d, tok = self.port, self.dir, self.static_token
        self.spawn("zt-token-proxy", [self.args.binary, "--config",
                                      self.ztp_config(p["zt-token-proxy"])],
                   port=p["zt-token-proxy"])
        self.spawn("nginx", self.nginx_conf("nginx", f"""
  upstream plain {{ server 127.0.0.1:{p['up']}; keepalive 64; keepalive_requests 1000000; }}
  upstream tls {{ server 127.0.0.1:{p['delay']}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{p['nginx']};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-ZT1-Auth "{tok}";
    location / {{ proxy_pass http://plain; }}
    location /tls/ {{
      proxy_pass https://tls/;
      proxy_ssl_trusted_certificate {d}/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }}
  }}"""), port=p["nginx"])
        with open(self.path("haproxy.cfg"), "w") as f:
            f.write(f"""global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:{p['haproxy']}
  use_backend tls if {{ path_beg /tls/ }}
  default_backend plain
backend plain
  http-request set-header X-ZT1-Auth {tok}
  server s1 127.0.0.1:{p['up']}
backend tls
  http-request set-header X-ZT1-Auth {tok}
  http-request set-path %[path,regsub(^/tls/,/)]
  server s2 127.0.0.1:{p['delay']} ssl verify required ca-file {d}/ca.crt verifyhost localhost sni str(localhost) alpn h2,http/1.1
""")
        self.spawn("haproxy", ["haproxy", "-db", "-f", self.path("haproxy.cfg")],
                   port=p["haproxy"])
        self.pid = {name: self.procs[name].pid for name in PROXIES}
        self.results["rss_start"] = {name: rss_anon_kb(pid) for name, pid in self.pid.items()}

    # -- load --

    def wrk(self, url, conns, seconds, direct=False, check=True):
        argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s",
                os.path.join(HERE, "report.lua")]
        if direct:
            argv += ["-H", f"X-ZT1-Auth: {self.static_token}"]
        out = subprocess.run(argv + [url], check=True, capture_output=True, text=True).stdout
        line = [l for l in out.splitlines() if l.startswith("BENCH ")][-1]
        r = json.loads(line[6:])
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        r["errors"] = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
        if check and r["errors"]:
            self.fail(f"wrk {url} -c{conns}: {r['status']} non-2xx responses, socket errors "
                      f"connect {r['connect']} read {r['read']} write {r['write']} "
                      f"timeout {r['timeout']}")
        if check and r["requests"] == 0:
            self.fail(f"wrk {url}: no responses at all")
        self.check_alive()
        return r

    def targets(self):
        return [("direct", self.url["direct"], True)] + [(p, self.url[p], False)
                                                         for p in PROXIES]

    def phase_throughput(self):
        a = self.args
        log(f"throughput: wrk -t1 -c32, {a.rounds} rounds of {a.seconds} s per target")
        for _, url, direct in self.targets():
            self.wrk(url, 32, max(1, a.seconds // 2), direct)  # warm-up
        runs = {name: [] for name, _, _ in self.targets()}
        for i in range(a.rounds):
            for name, url, direct in self.targets():
                pid = self.pid.get(name)
                before = cpu_seconds(pid) if pid else 0
                r = self.wrk(url, 32, a.seconds, direct)
                if pid:
                    r["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1, r["requests"])
                runs[name].append(r)
            log(f"  round {i + 1}: " + ", ".join(
                f"{name} {rs[-1]['rps']:,.0f}/s" + (f" {rs[-1]['cpu_us']:.1f} µs CPU"
                                                   if "cpu_us" in rs[-1] else "")
                for name, rs in runs.items()))
        self.results["throughput"] = {
            name: {"rps": statistics.median(r["rps"] for r in rs),
                   "p99_us": statistics.median(r["p99_us"] for r in rs),
                   "cpu_us": statistics.median(r.get("cpu_us", 0) for r in rs),
                   "vs_nginx": {k: paired(rs, runs["nginx"], k, lambda a, b: a / b)
                                for k in ("rps", "p99_us", "cpu_us") if k in rs[0]}}
            for name, rs in runs.items()}

    def phase_latency(self):
        a = self.args
        log(f"low-load latency: wrk -t1 -c1, {a.rounds} rounds of {a.seconds} s per target")
        runs = {name: [] for name, _, _ in self.targets()}
        for i in range(a.rounds):
            for name, url, direct in self.targets():
                runs[name].append(self.wrk(url, 1, a.seconds, direct))
            # Each round, so that the spread behind the medians is on record.
            log(f"  round {i + 1}: p50 " + ", ".join(f"{name} {rs[-1]['p50_us']:.0f} µs"
                                                  for name, rs in runs.items()))
        self.results["latency"] = {name: statistics.median(r["p50_us"] for r in rs)
                                   for name, rs in runs.items()}
        self.results["latency_vs_nginx"] = {
            name: paired(rs, runs["nginx"], "p50_us", lambda a, b: a - b)
            for name, rs in runs.items()}

    def phase_clients(self):
        log("memory: 256 concurrent keep-alive clients")
        peaks = {}
        for name in PROXIES:
            s = PeakSampler(self.pid[name])
            self.wrk(self.url[name], 256, max(2, self.args.seconds))
            peaks[name] = s.stop()
        self.results["rss_clients"] = peaks

    def phase_bodies(self):
        size = self.args.body_mib * MiB
        base = f"http://127.0.0.1:{self.port['zt-token-proxy']}/r"
        pid = self.pid["zt-token-proxy"]
        res = {}
        big = self.path("upload.bin")
        with open(big, "wb") as f:
            f.truncate(size)  # sparse: reading it costs the client almost nothing
        for kind, argv in (
                ("download", ["curl", "-sS", "-o", "/dev/null", "-w",
                              "%{http_code} %{size_download}", f"{base}/big/{size}"]),
                ("upload", ["curl", "-sS", "-T", big, "-w", " %{http_code} %{size_upload}",
                            f"{base}/upload"])):
            log(f"memory: {self.args.body_mib} MiB {kind} through zt-token-proxy")
            time.sleep(0.2)
            before = rss_anon_kb(pid)
            s = PeakSampler(pid)
            t0 = time.monotonic()
            out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
            took = time.monotonic() - t0
            peak = s.stop()
            fields = out.split()
            ok = len(fields) >= 2 and fields[-2] == "200" and int(fields[-1]) == size
            if kind == "upload":
                ok = ok and f'"received":{size}' in out
            if not ok:
                self.fail(f"{kind} of {size} bytes through the proxy: curl said {out!r}")
            res[kind] = {"before": before, "peak": peak, "mibps": size / MiB / took}
            self.check_alive()
        os.unlink(big)
        self.results["bodies"] = res

    def rotating_load(self, what, seconds, every_s, reload_every=0, until_requests=None):
        """wrk -c32 on the rotated route while authtoken.secret is rewritten every every_s
        seconds (and the proxy gets SIGHUP every reload_every rewrites). With until_requests
        = (N, R) the load runs, instead of for seconds, until R rewrites are done and the
        upstream has answered N client requests."""
        url = f"http://127.0.0.1:{self.port['zt-token-proxy']}/r/status"
        log_path = self.path("zt-token-proxy.log")
        log_start = os.path.getsize(log_path)
        req0, unauth0 = self.upstream_counts()
        duration = 24 * 3600 if until_requests else seconds
        argv = ["wrk", "-t1", "-c32", f"-d{duration}s", "--timeout", "5s", "-s",
                os.path.join(HERE, "report.lua"), url]
        w = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        rotations = reloads = 0
        t0 = time.monotonic()
        next_at = t0 + every_s
        while w.poll() is None:
            now = time.monotonic()
            if until_requests and rotations >= until_requests[1]:
                req, unauth = self.upstream_counts()
                # Replays reach the upstream twice; the margin covers wrk's requests in flight.
                if (req - unauth) - (req0 - unauth0) >= until_requests[0] + 100:
                    w.send_signal(signal.SIGINT)  # wrk prints its report and exits
                    break
            if now >= next_at and (not until_requests or rotations < until_requests[1]):
                write_in_place(self.local_token_path, new_token())
                rotations += 1
                if reload_every and rotations % reload_every == 0:
                    self.procs["zt-token-proxy"].send_signal(signal.SIGHUP)
                    reloads += 1
                next_at += every_s
            time.sleep(min(0.005, max(0.0, next_at - time.monotonic())))
        out = w.communicate()[0]
        took = time.monotonic() - t0
        r = json.loads([l for l in out.splitlines() if l.startswith("BENCH ")][-1][6:])
        req1, unauth1 = self.upstream_counts()
        with open(log_path, errors="replace") as f:
            f.seek(log_start)
            text = f.read()
        r.update(rotations=rotations, reloads=reloads, seconds=took,
                 rps=r["requests"] / (r["duration_us"] / 1e6),
                 errors=r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"],
                 upstream_401=unauth1 - unauth0, upstream_requests=req1 - req0,
                 replays=text.count("upstream answered 401"),  # the replay's log line
                 reloaded=text.count("configuration reloaded"),
                 reload_failed=text.count("reload failed"))
        if r["errors"]:
            self.fail(f"{what}: clients saw {r['status']} non-2xx responses and "
                      f"{r['errors'] - r['status']} socket errors in {r['requests']} requests")
        if r["reload_failed"] or r["reloaded"] != reloads:
            self.fail(f"{what}: {reloads} SIGHUPs sent, {r['reloaded']} reloads logged, "
                      f"{r['reload_failed']} failed")
        self.check_alive()
        return r

    def phase_rotation(self):
        s = self.args.rotation_seconds
        log(f"token rotation: authtoken.secret rewritten every 100 ms for {s} s under wrk -c32")
        self.results["rotation"] = self.rotating_load("token rotation", s, 0.1)

    def one_shots(self, url, n, direct):
        argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"]
        if direct:
            argv += ["--cacert", self.path("ca.crt"), "-H", f"X-ZT1-Auth: {self.static_token}"]
        t0 = time.monotonic()
        for _ in range(n):
            code = subprocess.run(argv + [url], capture_output=True, text=True).stdout
            if code != "200":
                self.fail(f"one-shot curl {url} answered {code!r}")
                break
        return time.monotonic() - t0

    def phase_tls(self):
        n = self.args.curls
        log(f"one-shot clients: {n} sequential curl runs to a TLS upstream, "
            f"+{self.args.connect_delay_ms} ms per new connection")
        # The floor under any one-shot client: curl's own start-up plus one plain request.
        res = {"floor": self.one_shots(self.url["direct"], n, True),
               "direct": self.one_shots(f"https://127.0.0.1:{self.port['delay']}/status", n,
                                        True)}
        for name in PROXIES:
            res[name] = self.one_shots(f"http://127.0.0.1:{self.port[name]}/tls/status", n,
                                       False)
        self.check_alive()
        self.results["tls"] = res

    def phase_startup(self):
        n, port = self.args.startups, self.port["startup"]
        log(f"start-up: exec to first accepted connection, {n} runs")
        cfg = self.ztp_config(port)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            p = subprocess.Popen([self.args.binary, "--config", cfg], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if p.poll() is not None or time.perf_counter() - t0 > 10:
                        p.kill()
                        raise Broken(f"zt-token-proxy did not start (status {p.poll()})")
            times.append((time.perf_counter() - t0) * 1000)
            p.send_signal(signal.SIGTERM)
            if p.wait(10) != 0:
                self.fail(f"zt-token-proxy exited with status {p.returncode} on SIGTERM")
        # The floor under any start-up: exec, loading the shared libraries, exit.
        floor = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([self.args.binary, "--version"], check=True,
                           stdout=subprocess.DEVNULL)
            floor.append((time.perf_counter() - t0) * 1000)
        self.results["startup"] = {"min": min(times), "median": statistics.median(times),
                                   "floor_min": min(floor),
                                   "floor_median": statistics.median(floor)}

    def phase_endurance(self):
        a = self.args
        pid = self.pid["zt-token-proxy"]
        url = f"http://127.0.0.1:{self.port['zt-token-proxy']}/r/status"
        self.wrk(url, 32, 2)  # fills the connection pools the end is compared with
        time.sleep(0.5)
        start = {"rss": rss_anon_kb(pid), "fds": open_fds(pid)}
        log(f"endurance: at the start RssAnon {start['rss']} kB, fds {start['fds']}")
        est = self.wrk(url, 32, 2)["rps"]
        every = max(0.005, a.endurance_requests / est / a.endurance_rotations * 0.8)
        log(f"endurance: {a.endurance_requests} requests, {a.endurance_rotations} rotations "
            f"(one every {every * 1000:.0f} ms), a SIGHUP every {a.endurance_reload_every}")
        r = self.rotating_load("endurance", 0, every, a.endurance_reload_every,
                               (a.endurance_requests, a.endurance_rotations))
        self.wrk(url, 32, 2)  # the same last load as before the start figures
        time.sleep(0.5)
        r["start"], r["end"] = start, {"rss": rss_anon_kb(pid), "fds": open_fds(pid)}
        self.results["endurance"] = r

    # -- against ZeroTier One's server library (the cpp-httplib stand-in) --

    def start_standin(self):
        """(Re)starts the stand-in on its port, with a clean slate: no connection that an
        earlier load left open holds one of its workers."""
        old = self.procs.pop("zt-api-standin", None)
        if old is not None and old.poll() is None:
            old.send_signal(signal.SIGTERM)
            old.wait(10)
        home = self.path("zt-home")
        p = self.spawn("zt-api-standin", [self.args.standin, "--port-file",
                                          os.path.join(home, "zerotier-one.port"),
                                          str(self.port["zt-api"]),
                                          os.path.join(home, "authtoken.secret")],
                       stdout=subprocess.PIPE, text=True)
        lines = [p.stdout.readline(), p.stdout.readline()]
        if not lines[1].startswith("control on 127.0.0.1:"):
            raise Broken(f"zt-api-standin did not start: {lines!r}; see "
                         f"{self.path('zt-api-standin.log')}")
        self.standin_control = int(lines[1].rsplit(":", 1)[1])

    def standin_counts(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.standin_control}/connections",
                                    timeout=10) as r:
            return json.loads(r.read())

    def start_zt(self):
        """The stand-in as ZeroTier One (its home: authtoken.secret, zerotier-one.port), and in
        front of it nginx with its default proxy_pass (HTTP/1.0, a new connection per request),
        nginx with an upstream keepalive pool, and zt-token-proxy on its built-in routes (no
        routes in its configuration: the local one comes from ZEROTIER_HOME)."""
        p, home = self.port, self.path("zt-home")
        os.makedirs(home, mode=0o700)
        self.zt_token = new_token()
        write_in_place(os.path.join(home, "authtoken.secret"), self.zt_token)
        os.chmod(os.path.join(home, "authtoken.secret"), 0o600)
        self.start_standin()
        up = f"127.0.0.1:{p['zt-api']}"
        self.spawn("nginx-zt", self.nginx_conf("nginx-zt", f"""
  upstream zt {{ server {up}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{p['zt-nginx']};
    proxy_set_header X-ZT1-Auth "{self.zt_token}";
    location / {{ proxy_pass http://{up}; }}
  }}
  server {{
    listen 127.0.0.1:{p['zt-nginx-keepalive']};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-ZT1-Auth "{self.zt_token}";
    location / {{ proxy_pass http://zt; }}
  }}"""), port=p["zt-nginx"])
        cfg = self.path("zt-token-proxy-zt.yaml")
        with open(cfg, "w") as f:
            f.write(f'log_level: info\naccess_log: false\nlisten: "127.0.0.1:{p["zt-ztp"]}"\n')
        self.spawn("zt-token-proxy-zt", [self.args.binary, "--config", cfg], port=p["zt-ztp"],
                   env=dict(os.environ, ZEROTIER_HOME=home))
        return {"direct": (p["zt-api"], f"X-ZT1-Auth: {self.zt_token}\r\n"),
                "nginx": (p["zt-nginx"], ""),
                "nginx-keepalive": (p["zt-nginx-keepalive"], ""),
                "zt-token-proxy": (p["zt-ztp"], "")}

    def after_vanish(self, port, headers):
        """Clients vanish mid-request on port; then one direct request to the stand-in, on a
        new connection: (its seconds or None after 60 s, stand-in counts just before it)."""
        a = self.args
        asyncio.run(vanishing_clients(port, f"/hang?ms={a.zt_hang_ms}", headers, a.zt_clients,
                                      a.zt_vanish_after_ms / 1000))
        time.sleep(0.1)  # what a proxy does within 100 ms of its clients going away
        counts = self.standin_counts()
        direct = f"X-ZT1-Auth: {self.zt_token}\r\n"
        try:
            took = asyncio.run(sequential_load(self.port["zt-api"], "/status", direct, 0, 1))[0]
        except asyncio.TimeoutError:
            took = None
        return took, counts

    def phase_zt(self):
        a = self.args
        log(f"ZeroTier One's server library: one client for {a.seconds} s, {a.zt_clients} "
            f"clients for {a.seconds} s, then {a.zt_clients} clients vanishing mid-request; "
            "a fresh stand-in for every load")
        res = {}
        for name, (port, headers) in self.start_zt().items():
            r = res[name] = {}
            try:
                self.start_standin()
                r["sequential"] = asyncio.run(sequential_load(port, "/status", headers,
                                                              a.seconds, 20))
                self.start_standin()
                r["concurrent"] = asyncio.run(concurrent_load(port, "/status", headers,
                                                              a.zt_clients, a.seconds))
                self.start_standin()
                r["vanish"] = self.after_vanish(port, headers)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                raise Broken(f"stand-in phase, {name}: {e!r}") from None
            self.check_alive()
        self.results["zt"] = res

    def run(self):
        phases = [("throughput", self.phase_throughput), ("latency", self.phase_latency),
                  ("clients", self.phase_clients), ("bodies", self.phase_bodies),
                  ("rotation", self.phase_rotation), ("tls", self.phase_tls),
                  ("startup", self.phase_startup), ("zt", self.phase_zt),
                  ("endurance", self.phase_endurance)]
        try:
            self.make_certs()
            self.start_upstreams()
            self.start_proxies()
            for name, fn in phases:
                if name in self.args.only:
                    fn()
        except Broken as e:
            self.fail(str(e))
        finally:
            self.stop_all()


# ---- the table ----

def fmt_int(x):
    return f"{x:,.0f}"


def mib(kb):
    return f"{kb / 1024:.1f}"


def paired(rounds, nginx_rounds, key, compare):
    """The median over rounds of compare(this target's figure, nginx's in the same round).

    The whole machine (a shared VM) speeds up and slows down by 10-30 % over tens of seconds;
    a round runs the targets one after the other, so neighbours in a round share its state and
    comparing within rounds cancels most of it."""
    return statistics.median(compare(a[key], b[key]) for a, b in zip(rounds, nginx_rounds))


def verdict(ok):
    return "met" if ok else "**missed**"


def table(res, args):
    rows = []

    def row(measure, cells, target, ok):
        rows.append([measure, *[cells.get(k, "–") for k in ("direct", *PROXIES)], target,
                     verdict(ok) if ok is not None else "–"])

    if "throughput" in res:
        t = res["throughput"]
        zt = t["zt-token-proxy"]["vs_nginx"]

        def vs(k, v, key, text):
            return text if k == "nginx" else f"{text} ({v['vs_nginx'][key]:.2f}×)"

        ratio = {k: f"{fmt_int(v['rps'])} ({v['vs_nginx']['rps']:.2f}× nginx)" for k, v in t.items()}
        ratio["nginx"] = fmt_int(t["nginx"]["rps"])
        row(f"throughput, requests/s (wrk -t1 -c32, median of {args.rounds}×{args.seconds} s; "
            "× nginx here and below: median of the rounds' ratios)",
            ratio, "≥ 1.0× nginx", zt["rps"] >= 1.0)
        row("p99 latency at that load, ms",
            {k: vs(k, v, "p99_us", f"{v['p99_us'] / 1000:.2f}") for k, v in t.items()},
            "≤ nginx", zt["p99_us"] <= 1.0)
        row("CPU per request at that load, µs (the proxy's processes, user + system)",
            {k: vs(k, v, "cpu_us", f"{v['cpu_us']:.1f}") for k, v in t.items() if k != "direct"},
            "≤ nginx", zt["cpu_us"] <= 1.0)
    if "latency" in res:
        lat, diff = res["latency"], res["latency_vs_nginx"]
        d = lat["direct"]
        cells = {k: f"{v:.0f} (+{v - d:.0f}; {diff[k]:+.1f} vs nginx)" for k, v in lat.items()}
        cells["direct"] = f"{d:.0f}"
        cells["nginx"] = f"{lat['nginx']:.0f} (+{lat['nginx'] - d:.0f})"
        row(f"p50 latency at low load, µs (wrk -t1 -c1, median of {args.rounds}×{args.seconds} s; "
            "vs nginx: median of the rounds' differences)",
            cells, "added ≤ nginx's", diff["zt-token-proxy"] <= 0)
    if "rss_start" in res:
        r = res["rss_start"]
        row("RssAnon after start, MiB", {k: mib(v) for k, v in r.items()}, "≤ 2 MiB",
            r["zt-token-proxy"] <= 2 * 1024)
    if "rss_clients" in res:
        r = res["rss_clients"]
        row("RssAnon peak, 256 keep-alive clients (wrk -c256), MiB",
            {k: mib(v) for k, v in r.items()}, "≤ 16 MiB", r["zt-token-proxy"] <= 16 * 1024)
    if "bodies" in res:
        for kind, b in res["bodies"].items():
            grew = b["peak"] - b["before"]
            row(f"{args.body_mib} MiB {kind} streamed: RssAnon growth, MiB",
                {"zt-token-proxy": f"+{mib(grew)} (peak {mib(b['peak'])}, "
                                   f"{b['mibps']:.0f} MiB/s)"},
                "≤ +8 MiB", grew <= 8 * 1024)
    if "rotation" in res:
        r = res["rotation"]
        row(f"token rotation every 100 ms for {args.rotation_seconds} s under wrk -c32: "
            "client-visible errors",
            {"zt-token-proxy": f"{r['errors']} in {fmt_int(r['requests'])} requests "
                               f"({fmt_int(r['rps'])}/s, slowest {r['max_us'] / 1000:.0f} ms; "
                               f"{r['rotations']} rotations; {r['upstream_401']} upstream "
                               f"401s, {r['replays']} replayed)"},
            "0", r["errors"] == 0)
    if "tls" in res:
        t = dict(res["tls"])
        floor, d = t.pop("floor"), t["direct"]
        cells = {k: f"{v:.2f} ({v / d:.2f}×)" for k, v in t.items()}
        cells["direct"] = f"{d:.2f} (the same runs to plain HTTP: {floor:.2f})"
        row(f"{args.curls} one-shot curl runs, TLS upstream +{args.connect_delay_ms} ms per "
            "connection, s", cells, "≤ 0.5× direct", t["zt-token-proxy"] <= 0.5 * d)
    if "startup" in res:
        s = res["startup"]
        row(f"start-up: exec to first accepted connection, ms (min / median of {args.startups})",
            {"zt-token-proxy": f"{s['min']:.1f} / {s['median']:.1f} (`--version` alone: "
                               f"{s['floor_min']:.1f} / {s['floor_median']:.1f})"},
            "– (informational)", None)
    if "endurance" in res:
        e = res["endurance"]
        grew = e["end"]["rss"] - e["start"]["rss"]
        (fd0, sock0), (fd1, sock1) = e["start"]["fds"], e["end"]["fds"]
        # Idle upstream connections stay pooled, so sockets may differ by a pool's worth (32);
        # any other descriptor must match exactly.
        fds_flat = fd1 - sock1 == fd0 - sock0 and sock1 <= sock0 + 32
        row(f"endurance: {fmt_int(e['requests'])} requests, {e['rotations']} rotations, "
            f"{e['reloads']} SIGHUP reloads",
            {"zt-token-proxy": f"{e['errors']} errors ({e['upstream_401']} upstream 401s, "
                               f"{e['replays']} replayed); RssAnon {mib(e['start']['rss'])} → "
                               f"{mib(e['end']['rss'])} MiB; open fds {fd0} → {fd1} "
                               f"(sockets {sock0} → {sock1})"},
            "0 errors; RssAnon +≤ 1 MiB; fds flat", e["errors"] == 0 and grew <= 1024 and fds_flat)
    head = ["measure", "direct", *PROXIES, "target", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def zt_table(res, args):
    """The stand-in phase's table: its own columns (two nginx set-ups, no haproxy)."""
    rows = []
    ms = {k: 1000 * percentile(r["sequential"], 50) for k, r in res.items()}

    def row(measure, cells, target, ok):
        rows.append([measure, *[cells[k] for k in ZT_TARGETS], target, verdict(ok)])

    seq = {k: f"{ms[k]:.1f} / {1000 * percentile(r['sequential'], 99):.1f}" for k, r in res.items()}
    row("one keep-alive client, sequential GET /status: p50 / p99, ms", seq, "p50 ≤ 2 ms",
        ms["zt-token-proxy"] <= 2)
    conc = {}
    for k, r in res.items():
        times, wall = r["concurrent"]
        conc[k] = {"p99": 1000 * percentile(times, 99), "max": 1000 * max(times),
                   "over_1s": sum(t > 1 for t in times), "rps": len(times) / wall}
    z = conc["zt-token-proxy"]
    c = args.zt_clients
    row(f"{c} keep-alive clients for {args.seconds} s: p99 / max, ms",
        {k: f"{v['p99']:.1f} / {v['max']:.0f}" for k, v in conc.items()}, "p99 ≤ 50 ms",
        z["p99"] <= 50)
    row(f"{c} keep-alive clients: requests over 1 s",
        {k: f"{v['over_1s']}" for k, v in conc.items()}, "0", z["over_1s"] == 0)
    row(f"{c} keep-alive clients: throughput, requests/s",
        {k: fmt_int(v["rps"]) for k, v in conc.items()}, "≥ direct, ≥ both nginx",
        all(z["rps"] >= v["rps"] for v in conc.values()))
    van = {}
    for k, r in res.items():
        took, counts = r["vanish"]
        van[k] = (f"{1000 * took:.1f}" if took is not None else "> 60,000") + \
            f" ({counts['open']} open, {counts['busy']} busy)"
    took = res["zt-token-proxy"]["vanish"][0]
    row(f"after {c} clients vanish mid-request (GET /hang, RST after "
        f"{args.zt_vanish_after_ms / 1000:g} s): 100 ms later a direct GET /status, ms "
        "(stand-in connections open, workers busy just before)", van, "≤ 50 ms",
        took is not None and took <= 0.05)
    head = ["measure (cpp-httplib stand-in of ZeroTier One)", "direct", "nginx proxy_pass",
            "nginx keepalive 16", "zt-token-proxy", "target", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(argv, pick):
        try:
            out = subprocess.run(argv, capture_output=True, text=True)
            return pick((out.stdout + out.stderr).split())
        except OSError:
            return "?"

    return (f"{os.cpu_count()} × {cpu}, Linux {platform.release()}; "
            f"nginx {version(['nginx', '-v'], lambda w: w[2].split('/')[1])}, "
            f"haproxy {version(['haproxy', '-v'], lambda w: w[2])}, "
            f"wrk {version(['wrk', '-v'], lambda w: w[1])}, "
            f"curl {version(['curl', '--version'], lambda w: w[1])}; {time.strftime('%Y-%m-%d')}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--delay-forwarder":
        delay_forwarder(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--upstream", required=True, help="the built tests/bench/upstream.c")
    ap.add_argument("--standin", help="the built tests/standin/zt_api.cpp (phase zt)")
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny run (< 60 s) that fails only when something is broken")
    ap.add_argument("--endurance", action="store_true",
                    help="also run 1,000,000 requests with 500 rotations and 50 reloads")
    ap.add_argument("--only", help="comma-separated phases: throughput,latency,clients,"
                                   "bodies,rotation,tls,startup,zt,endurance")
    ap.add_argument("--rotation-seconds", type=int, default=60)
    ap.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="wrk runs per target")
    ap.add_argument("--body-mib", type=int, default=1024)
    ap.add_argument("--curls", type=int, default=200)
    ap.add_argument("--connect-delay-ms", type=int, default=20)
    ap.add_argument("--startups", type=int, default=20)
    ap.add_argument("--zt-clients", type=int, default=32,
                    help="phase zt: concurrent and vanishing clients")
    ap.add_argument("--zt-hang-ms", type=int, default=5000,
                    help="phase zt: how long the stand-in holds a request nobody cancels")
    # Long enough for connections the stand-in's backlog of 5 dropped to be retried (after
    # 1 s) and reach it: the clients vanish when every request has had its chance to arrive.
    ap.add_argument("--zt-vanish-after-ms", type=int, default=1500,
                    help="phase zt: how long the vanishing clients wait for an answer")
    ap.add_argument("--endurance-requests", type=int, default=1_000_000)
    ap.add_argument("--endurance-rotations", type=int, default=500)
    ap.add_argument("--endurance-reload-every", type=int, default=10,
                    help="a SIGHUP every N rotations (50 reloads for 500 rotations)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.rotation_seconds = 1, 1, 2
        args.body_mib, args.curls, args.startups = 32, 10, 3
        args.endurance_requests, args.endurance_rotations = 20_000, 10
        args.endurance_reload_every = 5
        # Fewer clients than the stand-in has workers: nothing waits for one, so the phase
        # takes seconds, not the minutes its queues can take at 32 clients.
        args.zt_clients, args.zt_hang_ms, args.zt_vanish_after_ms = 4, 300, 150
    phases = "throughput,latency,clients,bodies,rotation,tls,startup,zt"
    args.only = set((args.only or phases + (",endurance" if args.endurance else "")).split(","))
    if "zt" in args.only and not args.standin:
        ap.error("phase zt needs --standin (tests/bench/run.sh builds it)")

    bench = Bench(args)
    log(f"working in {bench.dir}")
    load0, t0 = os.getloadavg()[0], time.monotonic()
    bench.run()
    if set(bench.results) - {"zt", "rss_start"}:
        print(table(bench.results, args) + "\n")
    if "zt" in bench.results:
        print(zt_table(bench.results["zt"], args) + "\n")
    print(f"{machine()}; {time.monotonic() - t0:.0f} s; 1-minute load average "
          f"{load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    if bench.broken:
        print("\nBROKEN:\n" + "\n".join(f"- {b}" for b in bench.broken))
        log(f"logs kept in {bench.dir}")
        return 1
    if args.keep:
        log(f"kept {bench.dir}")
    else:
        shutil.rmtree(bench.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
