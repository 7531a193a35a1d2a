#!/usr/bin/env bash
# Cross-builds the daemon's dependencies for Windows x86_64 (mingw-w64) from Debian's own
# source packages -- libyaml, libmicrohttpd, libcurl (Schannel) -- as static libraries into a
# cached prefix, and prints that prefix as the last line of stdout (all else goes to stderr):
#
#   prefix=$(tests/windows/deps.sh | tail -n1)
#   meson setup build-win --cross-file windows-service/x86_64-w64-mingw32.ini \
#                         --cross-file "$prefix/paths.ini"      # or just "$prefix/cross.ini"
#
# Runs on a fresh Debian 12 with only Debian's archive reachable. Needs root (or sudo) only
# for apt. Prefix: ${ZTP_WIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-token-proxy}/win64-<key>,
# the key hashing the source package versions, the compiler version and RECIPE.
# All libraries are static, so programs need no DLLs besides Windows' own.

# shellcheck disable=SC2317 # (file-wide) the build steps are called through `timed`
set -euo pipefail

# Bump whenever this script or windows-service/x86_64-w64-mingw32.ini changes what lands in
# the prefix: a finished prefix is never looked at again.
RECIPE=1
HOST=x86_64-w64-mingw32
# wixl and msitools (msibuild) build the installer (windows-service/msi); its test needs ip.
PACKAGES=(mingw-w64 wine wine64 cmake pkg-config ninja-build meson dpkg-dev wixl msitools iproute2)
SOURCES=(libyaml libmicrohttpd curl)

exec 3>&1 1>&2 # stdout is only for the final prefix line
say() { printf 'deps.sh: %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
template=$repo/windows-service/x86_64-w64-mingw32.ini

# --- apt: tools and a deb-src list --------------------------------------------------------

# Is an enabled deb-src entry configured under apt directory $1? (one-line or deb822 format)
has_deb_src() {
	grep -Eqs '^[[:space:]]*deb-src[[:space:]]' "$1"/sources.list "$1"/sources.list.d/*.list && return
	# deb822: a stanza (blank-line separated) whose Types include deb-src, not disabled.
	awk -v RS= '/(^|\n)Types:[^\n]*deb-src/ && !/(^|\n)Enabled:[[:space:]]*no/ {f=1}
		END {exit !f}' /dev/null "$1"/sources.list.d/*.sources 2>/dev/null
}

# Prints deb-src stanzas mirroring the Debian binary entries under apt directory $1, so the
# mirror, suites and keyring are whatever this machine already trusts.
deb_src_from() {
	# deb822 (Debian 12 images): copy each enabled "deb" stanza verbatim but for its Types.
	if [ -f "$1"/sources.list.d/debian.sources ]; then
		awk -v RS= -v ORS='\n\n' '/(^|\n)Types:[^\n]*(^|[[:space:]])deb([[:space:]]|$)/ &&
			!/(^|\n)Enabled:[[:space:]]*no/ {
				sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
			"$1"/sources.list.d/debian.sources
	fi
	# One-line format: "deb [opts] URI SUITE COMPONENT..." lines that point at Debian.
	if [ -f "$1"/sources.list ]; then
		awk '$1 == "deb" && /debian/ {
			opts = ""; if (match($0, /\[[^]]*\]/)) { opts = substr($0, RSTART, RLENGTH); sub(/\[[^]]*\]/, "") }
			$0 = $0; comps = $4; for (i = 5; i <= NF; i++) comps = comps " " $i
			printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", $2, $3, comps
			if (match(opts, /signed-by=[^] ]+/)) printf "Signed-By: %s\n", substr(opts, RSTART + 10, RLENGTH - 10)
			print "" }' "$1"/sources.list
	fi
}

missing=()
for p in "${PACKAGES[@]}"; do
	[ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
need_update=
if ! has_deb_src /etc/apt; then
	list=/etc/apt/sources.list.d/ztp-debian-src.sources
	src=$(deb_src_from /etc/apt)
	[ -n "$src" ] || { say "no Debian entry in /etc/apt to derive a deb-src list from"; exit 1; }
	say "writing $list"
	printf '# Written by zt-token-proxy tests/windows/deps.sh for apt-get source.\n%s\n' "$src" |
		as_root tee "$list" >/dev/null
	need_update=1
fi
# deb-src configured but never fetched (no Sources index yet) also needs an update.
[ -n "$(apt-cache showsrc --only-source libyaml 2>/dev/null)" ] || need_update=1
[ ${#missing[@]} -eq 0 ] || need_update=1
if [ -n "$need_update" ]; then
	as_root apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- cache key and prefix ---------------------------------------------------------------

# The .dsc names are exactly what `apt-get source` would fetch now, e.g. curl_7.88.1-10+deb12u15.
mapfile -t dscs < <(apt-get source --print-uris -qq "${SOURCES[@]}" | awk '$2 ~ /\.dsc$/ {sub(/\.dsc$/, "", $2); print $2}')
[ ${#dscs[@]} -eq ${#SOURCES[@]} ] || { say "apt-get source --print-uris found ${dscs[*]:-nothing}"; exit 1; }
# `gcc -dumpversion` says only "12-win32"; the Debian package versions of the compiler that
# $HOST-gcc resolves to (win32 or posix threads) and of the mingw-w64 headers/CRT are exact.
cc_pkg=$(dpkg-query -S "$(readlink -f "$(command -v "$HOST-gcc")")" | cut -d: -f1)
toolchain=$(dpkg-query -W -f '${Package}_${Version} ' "$cc_pkg" mingw-w64-x86-64-dev)
key_text="recipe=$RECIPE ${dscs[*]} ${toolchain% }"
key=$(printf '%s' "$key_text" | sha256sum | cut -c1-16)
cache=${ZTP_WIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zt-token-proxy}
prefix=$cache/win64-$key

finish() { echo "$prefix" >&3; exit 0; }
[ -e "$prefix/.complete" ] && finish
mkdir -p "$cache"
exec 9>"$prefix.lock" # one builder per prefix; a second caller waits, then sees .complete
flock 9
[ -e "$prefix/.complete" ] && finish

say "building $prefix"
say "key: $key_text"
rm -rf "$prefix" # leftovers of an interrupted build
mkdir -p "$prefix/lib/pkgconfig"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jobs=$(nproc)
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH= # never the build machine's .pc files
timed() { local t=$SECONDS; "$@"; say "$1: $((SECONDS - t)) s"; }

fetch() {
	# As root, apt downloads as user _apt, which must be able to write here.
	[ "$(id -u)" -ne 0 ] || chown _apt "$work"
	(cd "$work" && apt-get source -q "${SOURCES[@]}")
}
srcdir() { local d; for d in "${dscs[@]}"; do [[ $d == "$1"_* ]] && break; done
	d=${d#*_}; echo "$work/$1-${d%-*}"; } # curl_7.88.1-10+deb12u15 -> curl-7.88.1

cat >"$work/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $HOST-gcc)
set(CMAKE_RC_COMPILER $HOST-windres)
# Look for libraries and headers only in mingw's sysroot and our prefix, never in /usr.
set(CMAKE_FIND_ROOT_PATH /usr/$HOST $prefix)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
cmake_build() { # srcdir, extra -D options...
	local s=$1; shift
	cmake -S "$s" -B "$s/_build" -G Ninja --no-warn-unused-cli -Wno-dev \
		-DCMAKE_TOOLCHAIN_FILE="$work/toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF "$@"
	cmake --build "$s/_build" -j "$jobs"
	cmake --install "$s/_build"
}

# Static libraries carry no dependency information, so the .pc files must: Libs gets
# Libs.private and $3 appended, so a plain `pkg-config --libs` -- meson's dependency()
# without static: true -- links too; Cflags gets $2. curl's lists also repeat gcc's implicit
# runtime libraries and -lpthread (CMake's Threads; curl itself uses Win32 threads): those
# and duplicates are dropped.
fix_pc() {
	local pc=$prefix/lib/pkgconfig/$1.pc
	awk -v cflags="$2" -v extra="${3:-}" '
		/^Libs:/ { libs = substr($0, 6); next }
		/^Libs\.private:/ { priv = substr($0, 15); next }
		/^Cflags:/ { $0 = $0 " " cflags }
		{ print }
		END { n = split(libs " " priv " " extra, l, " "); printf "Libs:"
			for (i = 1; i <= n; i++)
				if (l[i] !~ /^-l(mingw32|gcc|gcc_eh|moldname|mingwex|msvcrt|pthread)$/ && !seen[l[i]]++) printf " %s", l[i]
			print "" }' "$pc" >"$pc.new"
	mv "$pc.new" "$pc"
}

build_yaml() {
	local s; s=$(srcdir libyaml)
	cmake_build "$s" -DINSTALL_CMAKE_DIR=lib/cmake/yaml
	# libyaml's CMake installs no .pc file. Without YAML_DECLARE_STATIC yaml.h declares
	# everything dllimport and a static link fails with undefined __imp_yaml_* symbols.
	cat >"$prefix/lib/pkgconfig/yaml-0.1.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: LibYAML
Description: Library to parse and emit YAML
Version: $(basename "$s" | sed 's/^libyaml-//')
Cflags: -I\${includedir} -DYAML_DECLARE_STATIC
Libs: -L\${libdir} -lyaml
EOF
}

build_microhttpd() {
	local s; s=$(srcdir libmicrohttpd)
	# Threads stay "auto", which picks native W32 threads for mingw (no winpthread DLL);
	# an explicit --with-threads=w32 fails in 0.9.75: configure only probes W32 under auto.
	(cd "$s" && ./configure -q --host="$HOST" --prefix="$prefix" --enable-static --disable-shared \
		--disable-https --without-gnutls --disable-doc --disable-examples --disable-curl \
		--disable-nls && make -j "$jobs" install >/dev/null)
	# Its .pc leaves out ws2_32, which configure put into LIBS (only the .la file lists it).
	fix_pc libmicrohttpd '' -lws2_32
}

build_curl() {
	local s; s=$(srcdir curl)
	cmake_build "$s" -DBUILD_CURL_EXE=OFF -DENABLE_MANUAL=OFF \
		-DCURL_USE_SCHANNEL=ON -DCURL_USE_OPENSSL=OFF -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON \
		-DUSE_LIBIDN2=OFF -DUSE_WIN32_IDN=OFF -DCURL_USE_LIBPSL=OFF -DCURL_USE_LIBSSH2=OFF \
		-DCURL_USE_LIBSSH=OFF -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_NGHTTP2=OFF \
		-DCURL_USE_GSSAPI=OFF
	# curl 7.88's CMake leaves CURL_STATICLIB out of libcurl.pc (a TODO there); without it
	# curl.h declares dllimport.
	fix_pc libcurl -DCURL_STATICLIB
}

timed fetch
timed build_yaml
timed build_microhttpd
timed build_curl

# Prove the prefix before calling it complete: one program linked against all three.
cat >"$work/check.c" <<'EOF'
#include <curl/curl.h>
#include <microhttpd.h>
#include <yaml.h>
int main(void) { return !yaml_get_version_string() + !MHD_get_version() + !curl_version(); }
EOF
# shellcheck disable=SC2046 # pkg-config output is a list of flags
"$HOST-gcc" -o "$work/check.exe" "$work/check.c" $(pkg-config --cflags --libs yaml-0.1 libmicrohttpd libcurl)

# Cross files: paths.ini only names the prefix, for use next to the repo's template;
# cross.ini is the template with that constant in front, usable alone.
printf "[constants]\nprefix = '%s'\n" "$prefix" >"$prefix/paths.ini"
{ cat "$prefix/paths.ini"; echo; cat "$template"; } >"$prefix/cross.ini"
printf '%s\n' "$key_text" >"$prefix/key.txt"
touch "$prefix/.complete" # last: anything before it is redone after an interruption
say "done: $prefix"
finish
