#!/bin/bash
# Prints the path of a pristine Debian 12 root that can boot systemd under systemd-nspawn, building it
# with debootstrap (~3 min) the first time. The root is cached under /var/cache/zt-token-proxy/, keyed by
# the suite and package list, so a changed list builds a new one; callers copy it (cp -a) and never
# modify the cached one. The key covers this script too, so a changed recipe builds a new root.
set -euo pipefail

suite=bookworm
include=systemd,systemd-sysv,dbus,libmicrohttpd12,libcurl4,libyaml-0-2,curl,python3,openssl,iproute2,procps
key=$({ printf '%s %s\n' "$suite" "$include"; cat "$0"; } | sha256sum | cut -c1-12)
cache=/var/cache/zt-token-proxy/nspawn-$key
if [ -f "$cache/.complete" ]; then
    echo "$cache/root"
    exit 0
fi

# The mirror the host already uses: the first URIs: line of its deb822 source list.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
[ -n "$mirror" ] || { echo "guest-root.sh: no URIs: in /etc/apt/sources.list.d/debian.sources" >&2; exit 1; }

mkdir -p /var/cache/zt-token-proxy
# Build next to the cache and rename at the end so that an interrupted run leaves no half root behind.
tmp=$(mktemp -d /var/cache/zt-token-proxy/nspawn-build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
debootstrap --variant=minbase --include="$include" "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
    { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$tmp/root/etc/hosts"
echo ztp-guest >"$tmp/root/etc/hostname"
# An empty machine-id makes systemd generate a fresh one at each boot instead of running first-boot setup.
: >"$tmp/root/etc/machine-id"
touch "$tmp/.complete"
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "$cache/root"
