#!/usr/bin/env bash
# The benchmark of issue 7 in one command: installs the bench-only Debian
# packages (wrk, nginx, haproxy, cpp-httplib), builds zt-token-proxy in release
# mode in its own build directory plus the upstream stand-ins, runs every load
# against the proxy, nginx and haproxy side by side, and prints one markdown
# table, then the table against ZeroTier One's server library (issue 13).
#
#   tests/bench/run.sh                  the full run (~5 min)
#   tests/bench/run.sh --smoke          a tiny run (< 60 s): exits 1 only if something is broken
#   tests/bench/run.sh --endurance      adds 1,000,000 requests with 500 rotations, 50 reloads
#   tests/bench/run.sh --help           every knob (durations, sizes, --only PHASES)
#
# BENCH_BUILD_DIR (default ${BUILD_PREFIX:-build}-bench) names the build directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BENCH_BUILD_DIR:-${BUILD_PREFIX:-build}-bench}

scripts/bootstrap.sh
bench_pkgs=(wrk nginx haproxy curl openssl python3 gcc g++ libcpp-httplib-dev pkg-config)
missing=()
for p in "${bench_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

quiet() { # quiet COMMAND...: its output only when it fails
	local out
	out=$("$@" 2>&1) || { echo "$out" >&2; echo "bench: failed: $*" >&2; return 1; }
}
[ -f "$build/build.ninja" ] || quiet meson setup "$build" --buildtype=release -Db_ndebug=true
quiet ninja -C "$build" daemon/zt-token-proxy
gcc -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$build/bench-upstream" tests/bench/upstream.c
# shellcheck disable=SC2046 # pkg-config prints several words
g++ -O2 -std=c++14 -Wall -Wextra -Werror -pthread -o "$build/zt-api-standin" tests/standin/zt_api.cpp \
	$(pkg-config --cflags --libs cpp-httplib)

exec /usr/bin/python3 tests/bench/bench.py --binary "$build/daemon/zt-token-proxy" \
	--upstream "$build/bench-upstream" --standin "$build/zt-api-standin" "$@"
