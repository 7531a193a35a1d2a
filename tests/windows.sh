#!/usr/bin/env bash
# The Windows part of the tests, run on Linux: installs mingw-w64 and Wine, cross-builds the
# libraries (cached, see tests/windows/deps.sh) and the daemon, then runs under Wine the unit
# tests, the black-box scenarios that apply on Windows, and the service scenario (install,
# sc start, requests, rotation, reload by PARAMCHANGE, sc stop, uninstall, Event Log lines)
# and the installer (msiexec /i, the service answering, msiexec /x, an upgrade).
# Ends with "windows: N passed, N failed". BUILD_PREFIX (default "build") names the build
# directory (<prefix>-win).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD_PREFIX:-build}-win
logdir=$(mktemp -d /tmp/ztp-windows.XXXXXX)
TALLY_PREFIX="windows "
. scripts/tally.sh

finish() {
	exec 9>&-
	if [ -n "${WINEPREFIX:-}" ]; then
		wineserver -k >/dev/null 2>&1
		wineserver -w >/dev/null 2>&1
		rm -rf "$WINEPREFIX"
	fi
	echo "windows: $passed passed, $failed failed"
	exit $((failed > 0))
}

if ! prefix=$(tests/windows/deps.sh 2>"$logdir/deps.log" | tail -n 1) || [ ! -d "$prefix" ]; then
	cat "$logdir/deps.log"
	count 0 1 "dependencies"
	finish
fi
count 1 0 "dependencies"

if ! { rm -rf "$build" && meson setup "$build" --cross-file "$prefix/cross.ini" -Dwerror=true &&
	ninja -C "$build"; } >"$logdir/build.log" 2>&1; then
	cat "$logdir/build.log"
	count 0 1 "cross-build"
	finish
fi
count 1 0 "cross-build"

# A new Wine prefix per run: nothing left from an earlier one. The wineserver stays up between
# the Wine processes of this run (services die ~2 s after the last ordinary process otherwise).
WINEPREFIX=$(mktemp -d /tmp/ztp-wine.XXXXXX)
export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# Wine's background processes outlive the commands that start them: none may hold our stdout.
wineserver -p >/dev/null 2>&1
wineboot -i >"$logdir/wineboot.log" 2>&1
# An idle console for the whole run (until fd 9 closes): Wine then keeps its system processes up
# between the daemons the scenarios start, instead of stopping and starting them around each
# one, which now and then made a daemon's start fail with no word.
mkfifo "$logdir/keeper"
wine cmd /c pause <"$logdir/keeper" >/dev/null 2>&1 &
exec 9>"$logdir/keeper"

# Unit tests: TAP from each test program.
TAP_RUNNER=wine tap unit "$build"/tests/unit/test_*.exe

# The black-box scenarios that apply on Windows, against the .exe under Wine; the tests
# themselves skip what does not apply there (signals, unix sockets, file modes).
ZTP_EXE_WRAPPER=wine ZTP_TARGET=windows ZTP_TIMEOUT_SCALE=3 \
	/usr/bin/python3 tests/scenarios/run.py -j 2 --binary "$build/daemon/zt-token-proxy.exe" \
	-k test_windows. -k test_proxy_local. -k test_errors. -k test_rotation. -k test_central_tls. \
	-k test_keepalive. -k test_replay. -k test_streaming. -k test_status. -k test_metrics. -k test_cli. \
	>"$logdir/scenarios.log" 2>&1
summary scenarios "$logdir/scenarios.log"

# Restarts this prefix's wineserver, so it runs after everything else but the installer.
ZTP_BINARY="$build/daemon/zt-token-proxy.exe" /usr/bin/python3 tests/windows/test_service.py \
	>"$logdir/service.log" 2>&1
summary service "$logdir/service.log"

# The installer: msiexec /i, the service it registers answering, msiexec /x. The configuration
# it installs listens on port 9994, so the test and the Wine processes it starts (the wineserver
# is restarted as by the service test) get a network namespace of their own.
msis=("$build"/windows-service/msi/zt-token-proxy-*-x64.msi)
if [ ! -f "${msis[0]}" ]; then
	count 0 1 "msi (no installer was built: is wixl installed?)"
else
	ZTP_MSI="${msis[0]}" ZTP_BINARY="$build/daemon/zt-token-proxy.exe" \
		unshare -n sh -c 'ip link set lo up && exec /usr/bin/python3 tests/windows/test_msi.py' \
		>"$logdir/msi.log" 2>&1
	summary msi "$logdir/msi.log"
fi
finish
