#!/bin/sh
# Builds the libFuzzer targets with clang, ASan and UBSan in their own build
# directory, then runs each for FUZZ_SECONDS (default 60) on a copy of its
# seed corpus. Exits non-zero if any target crashed, leaked or tripped a
# sanitizer. FUZZ_BUILD_DIR overrides the build directory (default build-fuzz
# at the top of the tree); crashing inputs are kept in <build>/fuzz-artifacts.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets="config target headers access h1"

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false || exit 1
fi
set --
for t in $targets; do
	set -- "$@" "tests/fuzz/fuzz_$t"
done
ninja -C "$build" "$@" || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/ztp-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

passed=0
failed=0
for t in $targets; do
	mkdir "$work/$t"
	cp "$here/corpus/$t"/* "$work/$t/" 2>/dev/null
	log="$work/$t.log"
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1 \
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
		-rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
		"$work/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ] &&
		! grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		echo "fuzz $t: ok ($runs runs)"
		passed=$((passed + 1))
	else
		echo "fuzz $t: FAILED (exit $rc); last lines of its output:"
		tail -n 40 "$log" | sed 's/^/    /'
		echo "    inputs that failed are kept in $artifacts/"
		failed=$((failed + 1))
	fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
