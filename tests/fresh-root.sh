#!/usr/bin/env bash
# Runs one command in a fresh Debian 12 minbase root holding a clone of this repository at its
# HEAD, the way a new machine would run it:
#
#   tests/fresh-root.sh [NAME=VALUE]... COMMAND [ARG]...
#
# e.g. tests/fresh-root.sh SKIP_FUZZ=1 scripts/test.sh. COMMAND runs as root in the clone
# (/root/zt-token-proxy) with a clean environment plus the NAME=VALUE pairs, and its exit status
# is ours. Inside, FRESH_ROOT_NETNS names a network namespace that has only loopback (for
# `nsenter --net=$FRESH_ROOT_NETNS`); the command itself has the machine's network, as apt does.
# FRESH_ROOT_SAVE=DIR keeps the root's /tmp, where the test scripts leave their logs, as DIR.
#
# The pristine root is made once with debootstrap from the mirror in this machine's
# debian.sources and cached in $FRESH_ROOT_CACHE (default /var/cache/zt-token-proxy); each run
# copies it (cp -a). Only caches of things the scripts download or build are shared: apt's
# downloaded .deb files (hard links, so the root's apt never waits on this machine's lock) and
# the Windows libraries of tests/windows/deps.sh (bind mount). Everything runs in its own mount
# and PID namespaces: no mount is visible outside, and no process outlives the command.
# Needs root; installs debootstrap, iproute2 and git when missing.

# shellcheck disable=SC2317 # (file-wide) unmount and cleanup are called through trap
set -euo pipefail

say() { printf 'fresh-root: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# --- inside the namespaces: mount, run, unmount -------------------------------------------
if [ "${1:-}" = --inside ]; then
	root=$2
	shift 2
	unmount() {
		# Lazily: a process may still hold a file open. (The namespace ends with us anyway.)
		umount -R -l "$root$win_cache" "$root/run" "$root/dev" "$root/sys" "$root/proc" 2>/dev/null ||
			true
	}
	trap unmount EXIT
	# This PID namespace's /proc, here too: unshare and nsenter below look up PIDs in it.
	mount -t proc proc /proc
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --bind /dev "$root/dev"
	mount --bind /dev/pts "$root/dev/pts"
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
	mount -t tmpfs -o mode=755,nosuid,nodev run "$root/run"
	# At the same path: a finished prefix names itself in its cross.ini.
	mkdir -p "$win_cache" "$root$win_cache"
	mount --bind "$win_cache" "$root$win_cache"
	# A loopback-only network namespace, kept by a bind mount on a file.
	touch "$root/run/fresh-root-netns"
	unshare --net="$root/run/fresh-root-netns" ip link set lo up
	# Each NAME=VALUE before the command goes into its environment.
	vars=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
		TERM="${TERM:-dumb}" FRESH_ROOT_NETNS=/run/fresh-root-netns ZTP_WIN_CACHE="$win_cache")
	while [[ ${1:-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
		vars+=("$1")
		shift
	done
	rc=0
	chroot "$root" /usr/bin/env -i "${vars[@]}" /bin/bash -c 'cd /root/zt-token-proxy && exec "$@"' \
		fresh-root "$@" || rc=$?
	exit $rc
fi

# --- outside: the pristine root, a copy of it, the clone ----------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mount, chroot)"
[ $# -gt 0 ] || die "usage: tests/fresh-root.sh [NAME=VALUE]... COMMAND [ARG]..."
missing=()
for tool in debootstrap:debootstrap ip:iproute2 git:git unshare:util-linux findmnt:mount; do
	command -v "${tool%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${FRESH_ROOT_CACHE:-/var/cache/zt-token-proxy}
# The --inside half (a new process) reads it from the environment.
export win_cache=${ZTP_WIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-token-proxy}

# The mirror: the first URI of the stanza of this machine's debian.sources that carries bookworm.
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || die "no $sources to take the Debian mirror from"
mirror=$(awk -v RS= '/(^|\n)Suites:[^\n]*bookworm([[:space:]]|\n|$)/ {
	if (match($0, /(^|\n)URIs:[[:space:]]*[^[:space:]]+/)) { s = substr($0, RSTART, RLENGTH)
		sub(/.*URIs:[[:space:]]*/, "", s); print s; exit } }' "$sources")
[ -n "$mirror" ] || die "no bookworm URI in $sources"

# Bump RECIPE when the making of the pristine root changes: a finished one is never redone.
RECIPE=1
# shellcheck disable=SC2054 # --include takes a comma-separated list
args=(--variant=minbase --include=git,ca-certificates,sudo bookworm)
key=$(printf '%s\n' "$RECIPE" "${args[*]}" "$mirror" | sha256sum | cut -c1-12)
pristine=$cache/fresh-root-$key
mkdir -p "$cache"
exec 8>"$pristine.lock"
flock 8 # one maker; a second caller waits, then finds it complete
if [ ! -e "$pristine/.complete" ]; then
	say "making $pristine (debootstrap ${args[*]})"
	t=$SECONDS
	rm -rf --one-file-system "$pristine.new"
	debootstrap "${args[@]}" "$pristine.new" "$mirror" >"$pristine.log" 2>&1 ||
		{ tail -n 30 "$pristine.log" >&2; die "debootstrap failed; log: $pristine.log"; }
	# As on a Debian 12 image: the sources in deb822 form only, the standard /etc/hosts.
	rm -f "$pristine.new/etc/apt/sources.list"
	cp "$sources" "$pristine.new/etc/apt/sources.list.d/debian.sources"
	printf '%s\n' '127.0.0.1	localhost' '::1		localhost ip6-localhost ip6-loopback' \
		'ff02::1		ip6-allnodes' 'ff02::2		ip6-allrouters' >"$pristine.new/etc/hosts"
	touch "$pristine.new/.complete"
	rm -rf --one-file-system "$pristine"
	mv "$pristine.new" "$pristine"
	say "made in $((SECONDS - t)) s"
fi
exec 8>&-

t=$SECONDS
work=$(mktemp -d /var/tmp/ztp-fresh-root.XXXXXX)
root=$work/root
cleanup() {
	# Every mount lived in the namespace that just ended; refuse to delete through one anyway.
	if findmnt -rn -o TARGET | grep -q "^$root/"; then
		say "still mounted under $root, left in place:"
		findmnt -rn -o TARGET | grep "^$root/" >&2
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
cp -a "$pristine" "$root"
rm -f "$root/.complete"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No init runs here: services that packages would start (nginx on port 80) stay down, and
# cannot take this machine's ports, as in any container.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# apt's downloads, as hard links (same file system) or not at all; apt checks each against
# its index before use.
cp -al /var/cache/apt/archives/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
head=$(git -C "$repo" rev-parse HEAD)
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] ||
	say "note: uncommitted changes in $repo are not in the clone"
git clone -q --no-checkout "$repo" "$root/root/zt-token-proxy"
git -C "$root/root/zt-token-proxy" checkout -q --detach "$head"
say "root $root ready in $((SECONDS - t)) s (clone of $head)"

# A TERM or INT that reaches unshare ends the namespaces (--kill-child), then ours runs cleanup.
trap 'exit 143' TERM
trap 'exit 130' INT
rc=0
unshare --mount --propagation private --pid --kill-child -- "$repo/tests/fresh-root.sh" --inside "$root" "$@" ||
	rc=$?
if [ -n "${FRESH_ROOT_SAVE:-}" ]; then # the root's /tmp (where the test scripts keep their logs)
	mkdir -p "$(dirname "$FRESH_ROOT_SAVE")"
	mv "$root/tmp" "$FRESH_ROOT_SAVE" || cp -a "$root/tmp" "$FRESH_ROOT_SAVE"
	say "its /tmp is kept in $FRESH_ROOT_SAVE"
fi
exit $rc
