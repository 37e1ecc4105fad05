#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run the test suites (all by default: unit bpf integration e2e) and add up
# the "N passed, N failed" line each test program ends with. A program that
# exits non-zero, prints no summary, runs past its suite's time limit, or
# is missing, stale or not executable, counts as failed.
#
# Time limits per test, generous (a hang fails instead of stalling the run;
# a slow, busy machine never reaches them), in seconds:
#   SHELLAUDIT_TEST_TIMEOUT_UNIT (300), SHELLAUDIT_TEST_TIMEOUT_BPF (900),
#   SHELLAUDIT_TEST_TIMEOUT_INTEGRATION (1200), SHELLAUDIT_TEST_TIMEOUT_E2E (1800)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${T_BUILD:-$root/build}
suites=("$@")
[ ${#suites[@]} = 0 ] && suites=(unit bpf integration e2e)

total_pass=0
total_fail=0
broken=()

# limit SUITE: the time limit of one test of SUITE.
limit() {
	case $1 in
	unit) echo "${SHELLAUDIT_TEST_TIMEOUT_UNIT:-300}" ;;
	bpf) echo "${SHELLAUDIT_TEST_TIMEOUT_BPF:-900}" ;;
	integration) echo "${SHELLAUDIT_TEST_TIMEOUT_INTEGRATION:-1200}" ;;
	e2e) echo "${SHELLAUDIT_TEST_TIMEOUT_E2E:-1800}" ;;
	esac
}

# broken_one NAME WHY: a test that could not run counts as one failure.
broken_one() {
	printf '== %s\n  FAIL %s\n' "$1" "$2"
	broken+=("$1 ($2)")
	total_fail=$((total_fail + 1))
}

# run_one NAME SECONDS CMD...: runs CMD with a time limit (TERM, so that a
# test script's cleanup runs; KILL 60 s later) and adds its counts.
run_one() {
	local name=$1 secs=$2 out rc line p f start=$SECONDS
	shift 2
	printf '== %s\n' "$name"
	out=$(mktemp)
	timeout --kill-after=60 "$secs" "$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	rm -f "$out"
	if [ "$rc" = 124 ]; then
		broken+=("$name (timed out after ${secs}s; raise SHELLAUDIT_TEST_TIMEOUT_<SUITE> if the machine is that slow)")
		total_fail=$((total_fail + 1))
		return
	fi
	if [ -z "$line" ]; then
		broken+=("$name (no summary, exit $rc)")
		total_fail=$((total_fail + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed}
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		broken+=("$name (exit $rc)")
		total_fail=$((total_fail + 1))
	elif [ "$f" != 0 ]; then
		broken+=("$name ($f failed)")
	fi
	printf '   (%s: %ss)\n' "$name" "$((SECONDS - start))"
}

for s in "${suites[@]}"; do
	case $s in
	unit)
		# What the sources say, not whatever the build directory holds.
		for src in "$root"/tests/unit/test_*.c; do
			t=$build/asan/tests/unit/$(basename "$src" .c)
			name=unit/$(basename "$t")
			if [ ! -x "$t" ]; then
				broken_one "$name" "not built: run make test-unit"
			elif [ "$t" -ot "$src" ]; then
				broken_one "$name" "older than its source: run make test-unit"
			else
				run_one "$name" "$(limit unit)" "$t"
			fi
		done
		;;
	bpf | integration | e2e)
		for t in "$root/tests/$s"/test_*.sh; do
			if [ ! -x "$t" ]; then
				broken_one "$s/$(basename "$t")" "not executable"
				continue
			fi
			run_one "$s/$(basename "$t")" "$(limit "$s")" "$t"
		done
		;;
	*)
		echo "unknown suite $s" >&2
		exit 2
		;;
	esac
done

echo
for b in "${broken[@]+"${broken[@]}"}"; do echo "FAILED: $b"; done
echo "$total_pass passed, $total_fail failed"
[ $total_fail = 0 ] && [ $total_pass -gt 0 ]
