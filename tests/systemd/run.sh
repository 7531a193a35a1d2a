#!/bin/bash
# The Debian package and the systemd units under a real systemd (252, PID 1) in a systemd-nspawn
# guest. Builds the .deb from a copy of the tree (the worktree stays clean), lints it, installs it
# into a copy of a cached Debian 12 root (tests/systemd/guest-root.sh), boots the guest and checks
# the service as systemd runs it; then the scenario file test_systemd.py runs inside the guest, and
# the package is purged. One line per check, then "systemd: N passed, N failed".
# Needs root and the host's kernel (not a chroot). ZTP_SYSTEMD_STAGE=package stops after the package
# checks (build, lintian, contents), which do work in a chroot; scripts/test.sh skips the stage
# with ZTP_SYSTEMD_STAGE=skip. KEEP=1 leaves the work directory (logs, the guest's root) in place.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
t0=$SECONDS

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 "$@" -y -qq --no-install-recommends \
		>/dev/null ||
		{ apt-get -o DPkg::Lock::Timeout=900 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 "$@" -y -qq \
				--no-install-recommends >/dev/null; }
}
fatal() {
	echo "FAIL setup: $*"
	echo "systemd: 0 passed, 1 failed"
	exit 1
}

mode=${ZTP_SYSTEMD_STAGE:-run}
[ "$(id -u)" -eq 0 ] || fatal "needs root (apt-get, debootstrap, systemd-nspawn, nsenter)"
tools=(dpkg-dev lintian git)
[ "$mode" = package ] || tools+=(systemd-container debootstrap procps util-linux)
apt_install install "${tools[@]}" || fatal "cannot install the host's tools"

work=$(mktemp -d /var/tmp/ztp-systemd.XXXXXX)
npid=""
gpid=""
cgroups=()
cleanup() {
	if [ -n "$npid" ] && kill -0 "$npid" 2>/dev/null; then
		[ -n "$gpid" ] && g systemctl poweroff >/dev/null 2>&1
		for _ in $(seq 100); do kill -0 "$npid" 2>/dev/null || break; sleep 0.2; done
		kill -TERM "$npid" 2>/dev/null && sleep 3
		kill -KILL "$npid" 2>/dev/null
	fi
	for c in "${cgroups[@]}"; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the package -------------------------------------------------------------------------------

# The tree as git sees it (committed or not, ignored files left out), for the build and the guest.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf "$work/tree.tar" ||
	fatal "cannot list the tree with git"
mkdir "$work/src" && tar -xf "$work/tree.tar" -C "$work/src"
apt_install build-dep "$work/src" || fatal "cannot install the build dependencies (apt-get build-dep)"

passed=0
failed=0
# check NAME FUNCTION: runs FUNCTION under set -e in a subshell; any failing command fails the check.
check() {
	local name=$1 rc
	shift
	(set -e; "$@") >"$work/check.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		sed 's/^/    /' "$work/check.log" | tail -40
	fi
	return $rc
}
expect() { # expect WHAT COMMAND...: fails (saying WHAT) unless COMMAND succeeds
	local what=$1
	shift
	"$@" || { echo "expected: $what"; return 1; }
}
wait_for() { # wait_for SECONDS WHAT COMMAND...
	local end=$((SECONDS + $1)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || { echo "timed out waiting for: $what"; return 1; }
		sleep 0.2
	done
}

version_check() {
	sh "$work/src/debian/check-version"
	# ... and it fails on a mismatch.
	mkdir -p "$work/drift/debian"
	cp "$work/src/meson.build" "$work/drift/"
	cp "$work/src/debian/check-version" "$work/drift/debian/"
	sed '1s/(\([^)]*\))/(\1.1)/' "$work/src/debian/changelog" >"$work/drift/debian/changelog"
	if sh "$work/drift/debian/check-version"; then
		echo "check-version accepted a changelog version that is not meson.build's"
		return 1
	fi
}

build_deb() {
	cd "$work/src"
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; return 1; }
	ls "$work"/zt-token-proxy_*.deb "$work"/zt-token-proxy_*.changes
}

run_lintian() {
	lintian --fail-on error,warning --tag-display-limit 0 "$work"/zt-token-proxy_*.changes
}

package_contents() {
	local deb list
	deb=$(echo "$work"/zt-token-proxy_*_*.deb) # not zt-token-proxy-dbgsym_*
	list=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
	for f in /usr/bin/zt-token-proxy /lib/systemd/system/zt-token-proxy.service \
		/lib/systemd/system/zt-token-proxy.socket /etc/zt-token-proxy/zt-token-proxy.yaml \
		/usr/share/doc/zt-token-proxy/README.md.gz /usr/share/doc/zt-token-proxy/REFERENCE.md.gz \
		/usr/share/doc/zt-token-proxy/copyright; do
		expect "$f in the package" grep -qxF "$f" <<<"$list"
	done
	dpkg-deb -e "$deb" "$work/control"
	expect "the configuration is a conffile" grep -qxF /etc/zt-token-proxy/zt-token-proxy.yaml \
		"$work/control/conffiles"
	# Everything meson install installs (man pages too) is in the package (compressed, maybe).
	DESTDIR="$work/meson-install" meson install -C "$work/src/obj-"* --no-rebuild --quiet
	(cd "$work/meson-install" && find . -type f -o -type l) | sed 's|^\.||' | while read -r f; do
		expect "$f (meson install) in the package" grep -qxE "$f(\\.gz)?" <<<"$list"
	done
}

echo "# building the package"
check version version_check
check build build_deb || fatal "no package to test"
check lintian run_lintian
check package-contents package_contents
if [ "$mode" = package ]; then
	echo "systemd: $passed passed, $failed failed"
	exit $((failed > 0))
fi

# --- the guest ---------------------------------------------------------------------------------

echo "# preparing the guest ($((SECONDS - t0)) s)"
root=$(bash tests/systemd/guest-root.sh) || fatal "no guest root (debootstrap)"
guest=$work/root
cp -a "$root" "$guest"
cp "$work"/zt-token-proxy_*_*.deb "$guest/root/"
mkdir "$guest/root/ztp-src" && tar -xf "$work/tree.tar" -C "$guest/root/ztp-src"
# ZeroTier One's token as it keeps it: root's, mode 0600, in its 0700 home.
token=$(openssl rand -hex 12)
install -d -m 0700 "$guest/var/lib/zerotier-one"
(umask 077 && echo "$token" >"$guest/var/lib/zerotier-one/authtoken.secret")

# nspawn in a cgroup of its own: it leaves payload/ and supervisor/ cgroups where it runs.
name=ztp-systemd-$$
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgroups=("/sys/fs/cgroup/$name")
else
	cgroups=("/sys/fs/cgroup/unified/$name" "/sys/fs/cgroup/systemd/$name")
fi
for c in "${cgroups[@]}"; do mkdir "$c" || fatal "cannot create the cgroup $c"; done
(
	for c in "${cgroups[@]}"; do echo "$BASHPID" >"$c/cgroup.procs"; done
	exec setsid systemd-nspawn -q -b -D "$guest" -M "$name" --register=no --keep-unit --private-network \
		--console=passive
) >"$work/nspawn.log" 2>&1 &
npid=$!

# The guest's PID 1 is the child of nspawn that runs systemd.
for _ in $(seq 100); do
	for p in $(ps -o pid= --ppid "$npid" 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && gpid=$p
	done
	[ -n "$gpid" ] && break
	kill -0 "$npid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$gpid" ] || { cat "$work/nspawn.log"; fatal "the guest did not boot"; }
g() { # g COMMAND...: runs COMMAND in the guest, as root, with a clean environment
	nsenter -t "$gpid" -m -u -i -n -p -C -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 "$@"
}
booted() { case $(g systemctl is-system-running 2>/dev/null) in running | degraded) ;; *) false ;; esac; }
wait_for 60 "the guest's boot" booted || fatal "the guest did not finish booting"
g systemctl --failed --no-legend | sed 's/^/# failed unit in the guest: /'

# Every path in the guest, leaving out what changes by itself (logs, package manager state, runtime
# and temporary directories, the timer stamps and linger directory systemd creates after the boot);
# compared before the installation and after the purge.
guest_files() {
	(cd "$guest" && find . \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp \
		-o -path ./var/tmp -o -path ./var/log -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
		-o -path ./var/cache/apt -o -path ./var/cache/debconf -o -path ./var/cache/ldconfig \
		-o -path ./var/lib/systemd/timers -o -path ./var/lib/systemd/linger \) -prune \
		-o -printf '%y %m %p\n' | sort)
}
guest_files >"$work/files-before"

SVC=zt-token-proxy.service
show() { g systemctl show -P "$1" "${2:-$SVC}"; }
reloads_done_at_least() { # N SINCE: PID 1 left the reload state N times
	[ "$(g journalctl -q -u $SVC --since "$2" -o cat | grep -c 'Changed reload -> running$')" -ge "$1" ]
}
status_has() { grep -q "$1" <<<"$(show StatusText)"; }
pid_changed() { local p; p=$(show MainPID); [ "$p" != "$1" ] && [ "$p" != 0 ]; }
upstream_path() { get "$1" | sed -n 's/.*"path": "\([^"]*\)".*/\1/p'; }
get() { g curl -sS --max-time 10 "$@"; }
code() { g curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
conf=$guest/etc/zt-token-proxy/zt-token-proxy.yaml
dropin=$guest/etc/systemd/system/$SVC.d
put() { # put FILE: writes stdin to FILE in the guest's tree, mode 0644
	install -d -m 0755 "$(dirname "$1")"
	cat >"$1" && chmod 0644 "$1"
}

# --- checks under systemd ----------------------------------------------------------------------

install_pkg() {
	g systemd-run --unit=fake-zt --quiet python3 /root/ztp-src/tests/systemd/fake-zt.py
	g sh -c 'dpkg -i /root/zt-token-proxy_*.deb'
	expect "the service enabled" test "$(g systemctl is-enabled $SVC)" = enabled
	expect "the socket unit not enabled" test "$(g systemctl is-enabled zt-token-proxy.socket)" = disabled
	wait_for 10 "$SVC active" g systemctl is-active $SVC
	expect "READY=1 with a status line, got $(show StatusText)" status_has '^3 routes on 2 listeners; local ok'
}

security() {
	local out level
	out=$(g systemd-analyze security --no-pager $SVC 2>&1)
	level=$(sed -n 's/.*Overall exposure level for zt-token-proxy.service: \([0-9.]*\).*/\1/p' <<<"$out")
	echo "exposure $level"
	expect "an exposure level" test -n "$level"
	expect "exposure $level <= 1.5" awk -v l="$level" 'BEGIN { exit !(l <= 1.5) }'
}

serves() {
	for host in 127.0.0.1 '[::1]'; do
		body=$(get "http://$host:9994/_proxy/health?live")
		expect "alive on $host, got $body" grep -q '"status":"alive"' <<<"$body"
		expect "200 on $host" test "$(code "http://$host:9994/_proxy/health?live")" = 200
	done
}

# DynamicUser= with only CAP_DAC_READ_SEARCH, reading root's 0600 authtoken.secret.
dynamic_user() {
	local pid uid body
	pid=$(show MainPID)
	uid=$(g awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	echo "uid $uid"
	expect "a transient uid (61184-65519), got $uid" test "$uid" -ge 61184 -a "$uid" -le 65519
	for cap in CapEff CapPrm CapBnd CapAmb; do
		expect "$cap only CAP_DAC_READ_SEARCH" \
			test "$(g awk "/^$cap:/ { print \$2 }" "/proc/$pid/status")" = 0000000000000004
	done
	expect "the token file root's and 0600" test "$(stat -c '%u %a' \
		"$guest/var/lib/zerotier-one/authtoken.secret")" = "0 600"
	body=$(get http://127.0.0.1:9994/status)
	expect "the token from authtoken.secret sent upstream, got $body" \
		grep -qF "\"x-zt1-auth\": \"$token\"" <<<"$body"
}

# From here on: a configuration with a Central route whose token comes from LoadCredential=, and a
# short watchdog (the unit's 30 s would make the watchdog check slow).
test_config() {
	cat <<-EOF
		listen: [127.0.0.1:9994, "[::1]:9994"]
		tokens:
		  central: {credential: central}
		routes:
		  - {prefix: /, upstream: "http://127.0.0.1:9993", token: local, auth: x-zt1-auth}
		  - {prefix: /central, upstream: "http://127.0.0.1:9993", token: central, auth: token}
	EOF
}
credential() {
	local body
	test_config | put "$conf"
	(umask 077 && echo "$ctoken" >"$guest/etc/zt-token-proxy/central.token")
	printf '[Service]\nLoadCredential=central:/etc/zt-token-proxy/central.token\nWatchdogSec=2s\n' |
		put "$dropin/test.conf"
	g systemctl daemon-reload
	g systemctl restart $SVC
	body=$(get http://127.0.0.1:9994/central/api/v1/network)
	expect "the credential sent upstream, got $body" grep -qF "\"authorization\": \"token $ctoken\"" <<<"$body"
	expect "central ok in the status line" grep -q '; central ok' <<<"$(show StatusText)"
}

# systemctl reload: RELOADING=1 ... READY=1, same process, the new configuration served. PID 1 logs
# the notifications it gets and its state changes at the debug level.
reload() {
	local pid since log
	pid=$(show MainPID)
	expect "no /extra route yet" test "$(upstream_path http://127.0.0.1:9994/extra/x)" = /extra/x
	{ test_config; echo '  - {prefix: /extra, upstream: "http://127.0.0.1:9993/via", token: local, auth: x-zt1-auth}'; } |
		put "$conf"
	since=$(g date '+%Y-%m-%d %H:%M:%S')
	g systemd-analyze log-level debug
	g systemctl reload $SVC
	# A SIGHUP from elsewhere (kill, logrotate) is a reload too: the daemon says so itself.
	g kill -HUP "$pid"
	wait_for 10 "running again after the SIGHUP" reloads_done_at_least 2 "$since"
	g systemd-analyze log-level info
	log=$(g journalctl -q -u $SVC --since "$since" -o cat | grep -E 'RELOADING=1|READY=1|Changed|Reload')
	echo "$log"
	expect "RELOADING=1 then READY=1, twice" test "$(grep -oE '\((RELOADING|READY)=1' <<<"$log" | tr -d '(' |
		tr '\n' ' ')" = "RELOADING=1 READY=1 RELOADING=1 READY=1 "
	expect "a reload without systemctl entered the reload state" \
		test "$(grep -c "Changed running -> reload$" <<<"$log")" -ge 1
	expect "the same process" test "$(show MainPID)" = "$pid"
	expect "active" test "$(show ActiveState)" = active
	expect "the new route served" test "$(upstream_path http://127.0.0.1:9994/extra/x)" = /via/x
	expect "3 routes in the status line, got $(show StatusText)" status_has '^3 routes on 2 listeners'
}

bad_reload() {
	local pid
	pid=$(show MainPID)
	trap 'test_config | put "$conf"; g systemctl reload $SVC' EXIT # the next checks need a good one
	echo 'routes: [unclosed' | put "$conf"
	g systemctl reload $SVC
	wait_for 10 "the failed reload in the status line" \
		status_has '^reload failed, serving the previous configuration; 3 routes'
	g systemctl status --no-pager $SVC | tee "$work/status.txt"
	expect "systemctl status says the reload failed" grep -q 'Status: "reload failed, serving the previous' \
		"$work/status.txt"
	expect "the same process" test "$(show MainPID)" = "$pid"
	expect "active" test "$(show ActiveState)" = active
	expect "the previous configuration served" test "$(upstream_path http://127.0.0.1:9994/extra/x)" = /via/x
}

# A stopped process stops pinging: systemd kills it (SIGABRT) and Restart=on-failure starts it again.
watchdog() {
	local pid n since
	pid=$(show MainPID)
	n=$(show NRestarts)
	since=$(g date '+%Y-%m-%d %H:%M:%S')
	g kill -STOP "$pid"
	wait_for 20 "a new main process" pid_changed "$pid"
	wait_for 10 "$SVC active again" g systemctl is-active $SVC
	expect "one restart more" test "$(show NRestarts)" -eq $((n + 1))
	expect "the journal says why" grep -q 'Watchdog timeout' <<<"$(g journalctl -q -u $SVC --since "$since")"
	expect "served again" test "$(code 'http://127.0.0.1:9994/_proxy/health?live')" = 200
}

stop() {
	g systemctl stop $SVC
	expect "inactive" test "$(show ActiveState)" = inactive
	expect "Result=success" test "$(show Result)" = success
	expect "exit status 0, got $(show ExecMainStatus)" test "$(show ExecMainStatus)" = 0
	expect "exited, not killed" test "$(show ExecMainCode)" = 1
}

# A configuration error is exit status 78, and a restart cannot fix it.
config_error() {
	local n
	trap 'test_config | put "$conf"; g systemctl stop $SVC; g systemctl reset-failed $SVC' EXIT
	echo 'routes: [unclosed' | put "$conf"
	if g systemctl start $SVC; then
		echo "started with a broken configuration"
		return 1
	fi
	n=$(show NRestarts)
	sleep 2
	expect "exit status 78, got $(show ExecMainStatus)" test "$(show ExecMainStatus)" = 78
	expect "failed, got $(show ActiveState)" test "$(show ActiveState)" = failed
	expect "not restarted" test "$(show NRestarts)" = "$n"
}

socket_activation() {
	local since
	since=$(g date '+%Y-%m-%d %H:%M:%S')
	g systemctl start zt-token-proxy.socket
	expect "the service not started by the socket alone" test "$(show ActiveState)" = inactive
	expect "200 over IPv4" test "$(code 'http://127.0.0.1:9994/_proxy/health?live')" = 200
	expect "started by the connection" test "$(show ActiveState)" = active
	expect "200 over IPv6" test "$(code 'http://[::1]:9994/_proxy/health?live')" = 200
	expect "the token on a passed socket" grep -qF "$token" <<<"$(get 'http://[::1]:9994/x')"
	expect "served on the 2 passed sockets" grep -q 'serving on 2 sockets passed by the service manager' \
		<<<"$(g journalctl -q -u $SVC --since "$since")"
	g systemctl stop zt-token-proxy.socket $SVC
}

# tests/scenarios/test_systemd.py inside the guest, against the installed binary; the systemd-run
# test must run here, not skip.
scenarios() {
	g sh -c 'cd /root/ztp-src && python3 tests/scenarios/run.py -k test_systemd --binary /usr/bin/zt-token-proxy' |
		tee "$work/scenarios.log"
	expect "the systemd-run test ran" grep -q '^ok .*test_load_credential_under_systemd_run' "$work/scenarios.log"
	expect "nothing skipped" test -z "$(grep '^skip' "$work/scenarios.log")"
}

# apt-get purge leaves the guest as it was before the installation.
purge() {
	rm -rf "$dropin" "$guest/etc/zt-token-proxy/central.token"
	g systemctl daemon-reload
	g apt-get purge -y -q zt-token-proxy
	g systemctl stop fake-zt
	g systemctl daemon-reload
	guest_files >"$work/files-after"
	expect "the same files as before the installation" diff "$work/files-before" "$work/files-after"
	expect "no unit left" test -z "$(g systemctl list-unit-files --no-legend 'zt-token-proxy*')"
}

ctoken=$(openssl rand -hex 16)
echo "# checks in the guest ($((SECONDS - t0)) s)"
if check install install_pkg; then
	check security security
	check serves serves
	check dynamic-user dynamic_user
	if check credential credential; then
		check reload reload
		check bad-reload bad_reload
		check watchdog watchdog
		check stop stop
		check config-error config_error
		check socket-activation socket_activation
	fi
fi
check scenarios scenarios
grep -h '^scenarios:' "$work/scenarios.log" | sed 's/^/# /'
check purge purge
if [ "$failed" -gt 0 ]; then
	echo "# the guest's journal for $SVC:"
	g journalctl -q -u $SVC --no-pager | tail -60
fi

echo "# $((SECONDS - t0)) s"
echo "systemd: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
