#!/usr/bin/python3
"""Runs the black-box scenarios (tests/scenarios/test_*.py) against the daemon binary.

  /usr/bin/python3 tests/scenarios/run.py [--binary PATH] [-k PATTERN]... [-j N]

Each test file runs in its own worker process (its own process group, so daemons left by a
hung test are killed with it); -j N runs N files at once. One line per test, then
"scenarios: N passed, N failed[, N skipped]". Exit status 1 if any test failed.
A test that runs longer than its class's `timeout` (times ZTP_TIMEOUT_SCALE) fails with the
stack of every thread, and the rest of its file runs in a fresh worker.
"""

import argparse
import faulthandler
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def load_ids(module_name):
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    mod = importlib.import_module(module_name)
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)

    def flat(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t
    return [t.id() for t in flat(suite)]


# ----------------------------------------------------------------------------------------------
# Worker: runs the given test ids and writes one JSON line per event to the protocol stream.

class _Result(unittest.TestResult):
    def __init__(self, out):
        super().__init__()
        self.out = out
        self.cur = None

    def _emit(self, **kw):
        self.out.write(json.dumps(kw) + "\n")
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self.cur = {"id": test.id(), "start": time.monotonic(), "outcome": "ok", "detail": []}
        self._emit(event="start", id=test.id())
        timeout = getattr(test, "timeout", 120) * float(os.environ.get("ZTP_TIMEOUT_SCALE", "1") or "1")
        faulthandler.dump_traceback_later(timeout, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        c = self.cur
        self._emit(event="result", id=c["id"], outcome=c["outcome"], time=time.monotonic() - c["start"],
                   detail="\n".join(c["detail"]))
        super().stopTest(test)

    def _fail(self, err, test=None):
        self.cur["outcome"] = "fail"
        prefix = f"[{test}]\n" if test is not None else ""
        self.cur["detail"].append(prefix + self._exc_info_to_string(err, test or self))

    def addFailure(self, test, err):
        self._fail(err)

    def addError(self, test, err):
        self._fail(err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._fail(err, subtest)

    def addSkip(self, test, reason):
        if self.cur["outcome"] == "ok":
            self.cur["outcome"] = "skip"
            self.cur["detail"].append(reason)

    def addExpectedFailure(self, test, err):
        pass

    def addUnexpectedSuccess(self, test):
        self.cur["outcome"] = "fail"
        self.cur["detail"].append("unexpected success")

    def _exc_info_to_string(self, err, test):
        return "".join(traceback.format_exception(*err)).rstrip()


def worker():
    ids = json.load(sys.stdin)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a test prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, HERE)
    result = _Result(out)
    for tid in ids:
        suite = unittest.defaultTestLoader.loadTestsFromName(tid)
        suite.run(result)
    return 0


# ----------------------------------------------------------------------------------------------
# Parent.

class Runner:
    def __init__(self, binary, jobs):
        self.binary = binary
        self.jobs = jobs
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "fail": 0, "skip": 0}
        self.procs = set()

    def report(self, tid, outcome, secs, detail):
        with self.lock:
            self.counts[outcome] += 1
            if outcome == "ok":
                print(f"ok   {tid} ({secs:.2f}s)", flush=True)
            elif outcome == "skip":
                print(f"skip {tid} ({detail})", flush=True)
            else:
                print(f"FAIL {tid} ({secs:.2f}s)", flush=True)
                for line in detail.splitlines():
                    print("    " + line)
                sys.stdout.flush()

    def run_file(self, ids):
        remaining = list(ids)
        while remaining:
            env = dict(os.environ, ZTP_BINARY=self.binary, PYTHONDONTWRITEBYTECODE="1")
            with tempfile.TemporaryFile() as errf:
                p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=errf, env=env, cwd=REPO,
                                     start_new_session=True)
                with self.lock:
                    self.procs.add(p)
                p.stdin.write(json.dumps(remaining).encode())
                p.stdin.close()
                current, started = None, None
                for line in p.stdout:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev["event"] == "start":
                        current, started = ev["id"], time.monotonic()
                    elif ev["event"] == "result":
                        current = None
                        if ev["id"] in remaining:
                            remaining.remove(ev["id"])
                        self.report(ev["id"], ev["outcome"], ev["time"], ev["detail"])
                rc = p.wait()
                self.kill_group(p)
                with self.lock:
                    self.procs.discard(p)
                if not remaining:
                    break
                errf.seek(0)
                err = errf.read().decode("utf-8", "replace")[-12000:]
                victim = current or remaining[0]
                secs = time.monotonic() - started if current else 0.0
                self.report(victim, "fail", secs, f"worker exited with {rc} during this test (timeout or crash);"
                            f" worker stderr:\n{err}")
                remaining.remove(victim)

    @staticmethod
    def kill_group(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def run(self, groups):
        queue = list(groups)
        qlock = threading.Lock()

        def loop():
            while True:
                with qlock:
                    if not queue:
                        return
                    ids = queue.pop(0)
                self.run_file(ids)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(max(1, self.jobs))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            with self.lock:
                for p in list(self.procs):
                    self.kill_group(p)
            raise


def main():
    ap = argparse.ArgumentParser(description="zt-token-proxy black-box scenarios")
    ap.add_argument("--binary", help="daemon binary (default: $ZTP_BINARY, else build/zt-token-proxy or build/daemon/zt-token-proxy)")
    ap.add_argument("-k", dest="patterns", action="append",
                    help="run only tests whose id contains PATTERN (repeatable: any of them)")
    ap.add_argument("-j", dest="jobs", type=int, default=1, help="test files run in parallel (default 1)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker()

    sys.path.insert(0, HERE)
    import harness
    binary = os.path.abspath(args.binary or os.environ.get("ZTP_BINARY") or harness.default_binary())
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"FAIL setup: daemon binary {binary} not found or not executable", flush=True)
        print("scenarios: 0 passed, 1 failed")
        return 1
    os.environ["ZTP_BINARY"] = binary

    groups = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        try:
            ids = load_ids(name[:-3])
        except Exception:
            print(f"FAIL {name} (import)\n" + "".join("    " + ln + "\n"
                                                      for ln in traceback.format_exc().splitlines()))
            groups.append(None)
            continue
        ids = [i for i in ids if not args.patterns or any(p in i for p in args.patterns)]
        if ids:
            groups.append(ids)
    import_failures = groups.count(None)
    groups = [g for g in groups if g]

    runner = Runner(binary, args.jobs)
    t0 = time.monotonic()
    runner.run(groups)
    c = runner.counts
    failed = c["fail"] + import_failures
    print(f"# {time.monotonic() - t0:.1f}s, binary {binary}")
    line = f"scenarios: {c['ok']} passed, {failed} failed"
    if c["skip"]:
        line += f", {c['skip']} skipped"
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
