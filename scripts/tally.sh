# Sourced by scripts/test.sh and tests/windows.sh: counts tests over the steps of a run.
# Needs $logdir; sets $passed and $failed; TALLY_PREFIX names the run in the "==" lines.
passed=0
failed=0

count() { # count PASSED FAILED NAME
	passed=$((passed + $1))
	failed=$((failed + $2))
	echo "== ${TALLY_PREFIX:-}$3: $1 passed, $2 failed"
}

step() { # step NAME COMMAND...: a step that is one test
	local name=$1
	shift
	if "$@" >"$logdir/$name.log" 2>&1; then
		count 1 0 "$name"
	else
		cat "$logdir/$name.log"
		count 0 1 "$name"
	fi
}

tap() { # tap NAME BINARY...: every TAP line of unit test binaries, run by $TAP_RUNNER if set
	local name=$1 p=0 f=0 out
	shift
	for bin in "$@"; do
		out=$(${TAP_RUNNER:-} "$bin" 2>&1 | tr -d '\r')
		p=$((p + $(grep -c '^ok ' <<<"$out")))
		f=$((f + $(grep -c '^not ok ' <<<"$out")))
		if grep -q '^not ok ' <<<"$out" || ! grep -q '^1\.\.' <<<"$out"; then
			echo "--- $bin"
			echo "$out"
			grep -q '^1\.\.' <<<"$out" || f=$((f + 1)) # crashed before its plan
		fi
	done
	count "$p" "$f" "$name"
}

summary() { # summary NAME LOG: a runner that prints "...: N passed, N failed"
	local line
	line=$(grep -E '^[a-z ]*: [0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
	if [ -z "$line" ]; then
		cat "$2"
		count 0 1 "$1 (no summary line)"
		return
	fi
	grep -E '^(FAIL|ERROR)' -A 30 "$2" | head -200
	count "$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")" \
		"$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")" "$1"
}
