#!/usr/bin/env bash
# Proves the README's run command (scripts/run.sh) on this machine: run once with the network,
# it installs what is missing and builds (`scripts/run.sh --version`); started again in a
# network namespace with only loopback, so port 9994 is ours, the daemon on its embedded
# defaults answers http://127.0.0.1:9994/_proxy/health?live, then stops with exit 0 on SIGTERM.
# Ends with "run: N passed, N failed". The namespace is $FRESH_ROOT_NETNS when set (see
# tests/fresh-root.sh), else a new one (needs ip).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
logdir=$(mktemp -d /tmp/ztp-run-check.XXXXXX)
. scripts/tally.sh
finish() {
	echo "run: $passed passed, $failed failed"
	exit $((failed > 0))
}

if ! scripts/run.sh --version >"$logdir/install.log" 2>&1; then
	cat "$logdir/install.log"
	count 0 1 "install-and-build"
	finish
fi
count 1 0 "install-and-build"

if [ -n "${FRESH_ROOT_NETNS:-}" ]; then
	nsenter --net="$FRESH_ROOT_NETNS" scripts/run.sh >"$logdir/daemon.log" 2>&1 &
else
	unshare --net sh -c 'ip link set lo up && exec scripts/run.sh' >"$logdir/daemon.log" 2>&1 &
fi
pid=$! # nsenter, sh and run.sh exec: this becomes the daemon
url='http://127.0.0.1:9994/_proxy/health?live'
answered() {
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 1
		nsenter --net="/proc/$pid/ns/net" curl -sS -f --max-time 2 "$url" && return 0
		sleep 0.2
	done
	return 1
}
if answered >"$logdir/health.log" 2>&1; then
	echo "$url: $(tail -n 1 "$logdir/health.log")"
	count 1 0 "health"
else
	cat "$logdir/health.log" "$logdir/daemon.log"
	count 0 1 "health"
fi

stopped() { # SIGTERM, then up to 10 s for exit status 0
	local rc
	kill -TERM "$pid" 2>/dev/null || return 1
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "still running 10 s after SIGTERM"; }
	wait "$pid"
	rc=$?
	echo "exit status $rc"
	[ "$rc" -eq 0 ]
}
if stopped >"$logdir/stop.log" 2>&1; then
	echo "SIGTERM: $(cat "$logdir/stop.log")"
	count 1 0 "sigterm"
else
	cat "$logdir/stop.log" "$logdir/daemon.log"
	count 0 1 "sigterm"
fi
finish
