#!/usr/bin/env bash
# Builds the Windows installer from zt-token-proxy.wxs with msitools (wixl, msibuild):
#
#   build-msi.sh WXS EXE CONFIG VERSION OUTPUT.msi
#
# meson.build here runs it; it can also be run by hand on any build of the .exe.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: build-msi.sh WXS EXE CONFIG VERSION OUTPUT.msi" >&2; exit 64; }
wxs=$(realpath "$1") exe=$(realpath "$2") config=$(realpath "$3") version=$4 out=$(realpath -m "$5")
# An MSI's ProductVersion is numbers only (major.minor.build, each at most 255.255.65535).
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
	{ echo "build-msi.sh: version \"$version\" is not N.N.N, which an MSI needs" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# wixl 0.101 finds a File's Source only by a path relative to where it runs.
ln -s "$exe" "$work/zt-token-proxy.exe"
ln -s "$config" "$work/zt-token-proxy.yaml"
cd "$work"
wixl --arch x64 -D Version="$version" -D Exe=zt-token-proxy.exe -D Config=zt-token-proxy.yaml \
	-o ztp.msi "$wxs"
# What wixl 0.101 cannot say: the configuration's component is NeverOverwrite (128), so an
# existing file is left as it is, and Permanent (16), so uninstall keeps it; 256 is 64-bit.
msibuild ztp.msi -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'ZtpConfigComp'"
mv ztp.msi "$out"
