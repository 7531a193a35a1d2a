#!/usr/bin/env bash
# Installs the Debian 12 packages zt-token-proxy needs to build (and, with
# --test, to run its tests), asking apt only for what is missing.
set -euo pipefail

# curl: every example in README.md uses it.
build_pkgs=(gcc meson ninja-build pkg-config libmicrohttpd-dev libcurl4-openssl-dev libyaml-dev node-llhttp curl)
# One line per purpose, so that each test stage names what it brings in.
test_pkgs=(
	clang clang-format libclang-rt-14-dev python3 openssl procps util-linux python3-prometheus-client libxml2-utils
	systemd      # systemd-analyze and systemd-socket-activate for the service tests
	iproute2     # ip, for the network-namespace scenarios; ss, for the stand-in's listen backlog
	mandoc groff-base    # the manual pages' lint (mandoc -Tlint, groff -ww)
	nodejs prometheus    # the client recipes of docs/CLIENTS.md (test_clients.py), promtool
	g++ libcpp-httplib-dev  # tests/standin: the stand-in on ZeroTier One's own server library
)

# Best effort: the browser test (tests/scenarios/test_browser.py) is skipped, and says so,
# when Debian's chromium cannot be installed.
optional_pkgs=()

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}") && optional_pkgs+=(chromium)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
missing_optional=()
for p in "${optional_pkgs[@]}"; do
	installed "$p" || missing_optional+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] && exit 0

echo "bootstrap: installing ${missing[*]} ${missing_optional[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
[ ${#missing[@]} -eq 0 ] || $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ ${#missing_optional[@]} -eq 0 ] ||
	$sudo apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" >/dev/null ||
	echo "bootstrap: could not install ${missing_optional[*]}; the tests that need it are skipped" >&2
