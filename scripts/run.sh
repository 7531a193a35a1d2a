#!/usr/bin/env bash
# One command on a fresh Debian 12: install what is missing, build, and run
# zt-token-proxy in the foreground on its embedded defaults (Ctrl-C stops it).
# Arguments are passed to the daemon, e.g. scripts/run.sh --config my.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/daemon/zt-token-proxy "$@"
