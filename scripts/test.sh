#!/usr/bin/env bash
# One command on a fresh Debian 12: install what is missing, build, and run
# every test: format check, manual page lint, unit tests, black-box scenarios
# (once per upstream client: h1, then libcurl),
# a benchmark smoke run, the same under AddressSanitizer + UndefinedBehaviorSanitizer, the
# scenarios again with libmicrohttpd's epoll mode (-Dhttp_wait=epoll), the
# Windows build under Wine (tests/windows.sh), the Debian package and the units
# under a real systemd in a systemd-nspawn guest (tests/systemd/run.sh), and the
# fuzz targets.
# Ends with "tests: N passed, N failed". FUZZ_SECONDS (default 60) sets the
# time per fuzz target; SKIP_FUZZ=1, SKIP_ASAN=1, SKIP_BENCH=1, SKIP_WINDOWS=1 and SKIP_SYSTEMD=1
# shorten a local run; runners inside a chroot, where the systemd stage cannot boot a guest,
# set ZTP_SYSTEMD_STAGE=package (only the package: build, lintian, contents) or skip (and run
# tests/systemd/run.sh on the host);
# BUILD_PREFIX (default "build") names the build directories.
set -uo pipefail
cd "$(dirname "$0")/.."
ci=${BUILD_PREFIX:-build}-ci
asan=${BUILD_PREFIX:-build}-asan
epl=${BUILD_PREFIX:-build}-epoll
scripts/bootstrap.sh --test || { echo "tests: 0 passed, 1 failed"; exit 1; }

logdir=$(mktemp -d /tmp/ztp-test.XXXXXX)
. scripts/tally.sh

unit_bins() {
	find "$1/tests/unit" -maxdepth 1 -type f -perm -u+x -name 'test_*' | sort
}

step format bash -c 'clang-format --dry-run --Werror daemon/*.[ch] windows-service/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c \
	tests/bench/*.c tests/standin/*.cpp'

# The manual pages: every mandoc warning and style message, and groff's warnings (man on
# Linux renders with groff), except references to pages this machine lacks (sd_notify(3),
# launchd(8), the two pages themselves before they are installed).
step man-lint bash -c '{ mandoc -Tlint -W style man/*.[58]; groff -mdoc -ww -z man/*.[58]; } 2>&1 |
	grep -v -e "referenced manual not found" -e "lacks .* entry, run makewhatis" | grep . && exit 1
	exit 0'

# Release-like build with warnings as errors.
if step build bash -c "rm -rf $ci && meson setup $ci -Dwerror=true && ninja -C $ci"; then
	mapfile -t bins < <(unit_bins $ci)
	tap unit "${bins[@]}"
	python3 tests/scenarios/run.py -j 2 --binary $ci/daemon/zt-token-proxy >"$logdir/scenarios.log" 2>&1
	summary scenarios "$logdir/scenarios.log"
	# Once more with libcurl on the routes the h1 client serves by default (client: curl).
	ZTP_CLIENT=curl python3 tests/scenarios/run.py -j 2 --binary $ci/daemon/zt-token-proxy \
		>"$logdir/scenarios-curl.log" 2>&1
	summary scenarios-curl "$logdir/scenarios-curl.log"
fi

# A tiny benchmark run (< 60 s) so it cannot rot: fails when a client sees an error or a
# process breaks, never for slowness. The full benchmark is tests/bench/run.sh.
[ "${SKIP_BENCH:-0}" != 1 ] && step bench-smoke bash tests/bench/run.sh --smoke

# The same under AddressSanitizer + UndefinedBehaviorSanitizer.
if [ "${SKIP_ASAN:-0}" != 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	if step $asan bash -c "rm -rf $asan && meson setup $asan -Dwerror=true \
			-Db_sanitize=address,undefined -Db_lundef=false && ninja -C $asan"; then
		mapfile -t bins < <(unit_bins $asan)
		tap unit-asan "${bins[@]}"
		ZTP_BIG=0 ZTP_SANITIZED=1 python3 tests/scenarios/run.py -j 2 --binary $asan/daemon/zt-token-proxy \
			>"$logdir/scenarios-asan.log" 2>&1
		summary scenarios-asan "$logdir/scenarios-asan.log"
	fi
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# libmicrohttpd's epoll mode, the build option for hundreds of idle clients.
if step build-epoll bash -c "rm -rf $epl && meson setup $epl -Dwerror=true -Dhttp_wait=epoll \
		&& ninja -C $epl"; then
	python3 tests/scenarios/run.py -j 2 --binary $epl/daemon/zt-token-proxy \
		>"$logdir/scenarios-epoll.log" 2>&1
	summary scenarios-epoll "$logdir/scenarios-epoll.log"
fi

# Windows: cross-built with mingw-w64, run under Wine (unit, scenarios, the service).
if [ "${SKIP_WINDOWS:-0}" != 1 ]; then
	bash tests/windows.sh >"$logdir/windows.log" 2>&1
	summary windows "$logdir/windows.log"
fi

# The Debian package (built, linted, installed, purged) and the units under systemd as PID 1 in a
# systemd-nspawn guest. Needs root on the host itself, not a chroot (see ZTP_SYSTEMD_STAGE above).
if [ "${SKIP_SYSTEMD:-0}" != 1 ] && [ "${ZTP_SYSTEMD_STAGE:-run}" != skip ]; then
	bash tests/systemd/run.sh >"$logdir/systemd.log" 2>&1
	summary systemd "$logdir/systemd.log"
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
	FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$PWD/${BUILD_PREFIX:-build}-fuzz} FUZZ_SECONDS=${FUZZ_SECONDS:-60} \
		bash tests/fuzz/run.sh >"$logdir/fuzz.log" 2>&1
	summary fuzz "$logdir/fuzz.log"
fi

echo "logs: $logdir"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
