#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run the test suites (all by default: unit bpf integration e2e) and add up
# the "N passed, N failed" line each test program ends with. A program that
# exits non-zero, or prints no summary, counts as failed.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${T_BUILD:-$root/build}
suites=("$@")
[ ${#suites[@]} = 0 ] && suites=(unit bpf integration e2e)

total_pass=0
total_fail=0
broken=()

run_one() {
	local name=$1 out rc line p f
	shift
	printf '== %s\n' "$name"
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	rm -f "$out"
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
}

for s in "${suites[@]}"; do
	case $s in
	unit)
		for t in "$build"/asan/tests/unit/test_*; do
			[ -x "$t" ] || continue
			[[ $t == *.o || $t == *.d ]] && continue
			run_one "unit/$(basename "$t")" "$t"
		done
		;;
	bpf | integration | e2e)
		for t in "$root/tests/$s"/test_*.sh; do
			[ -x "$t" ] || continue
			run_one "$s/$(basename "$t")" "$t"
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
