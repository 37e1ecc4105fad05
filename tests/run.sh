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
#
# The bpf, integration and e2e scripts run SHELLAUDIT_TEST_JOBS (3) at a
# time, at most SHELLAUDIT_TEST_BPF_JOBS (2) bpf scripts at once (their
# floods keep a core busy each), at most one e2e script at once (each
# brings a node up) and none beside a bpf script; the e2e scripts as
# early as that allows (they are the longest chain), the integration
# scripts around them; each keeps its own ports, state dir, BPF file
# system and cgroups, and mostly waits on a cluster or a kernel. A
# script's output is printed whole when it ends.
# SHELLAUDIT_TEST_JOBS=1 runs them one by one with their output as it comes.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${T_BUILD:-$root/build}
suites=("$@")
[ ${#suites[@]} = 0 ] && suites=(unit bpf integration e2e)

total_pass=0
total_fail=0
broken=()
failures=() # each failed script's FAIL lines, printed again at the end

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
	tally "$name" "$rc" "$out" "$((SECONDS - start))" "$secs"
	rm -f "$out"
}

# tally NAME RC OUTFILE SECS_TAKEN LIMIT: adds the counts of a finished test.
tally() {
	local name=$1 rc=$2 out=$3 took=$4 secs=$5 line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
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
	if [ "$f" != 0 ]; then
		# The failed checks with their details, a few lines each: the end
		# of the output is what a CI log shows.
		# A shell test's details follow its FAIL line, indented (tests/lib.sh);
		# a unit test's are "    file:line: ..." lines on stderr (unit.h).
		failures+=("== $name"$'\n'"$(awk '/^  FAIL/ { p = 1; n = 0; print; next }
			p && /^     / && n < 6 { n++; print; next } { p = 0 }
			/^    [^ ][^:]*:[0-9]+: / { print }' "$out" | head -60)")
	fi
	printf '   (%s: %ss)\n' "$name" "$took"
}

# The scripts to run: name, suite, time limit, path.
q_name=()
q_suite=()
q_secs=()
q_path=()
queue() { q_name+=("$1"); q_suite+=("$2"); q_secs+=("$3"); q_path+=("$4"); }

# next_script: the index of the queued script to start next, or -1 when
# none may start now. At most one e2e script at once (each brings a node
# up), and none beside a bpf script (whose kernel-wide checks, a mount
# namespace number coming back, say, a node's containers would disturb):
# the bpf scripts first, bpf_jobs at most at once; then an e2e script
# whenever none runs, since they run one after another and are the
# longest chain; integration scripts in the slots left, beside and
# between them. Queued order otherwise.
next_script() {
	local k bpf_left=0 bpf_may=0 pick=-1
	for ((k = 0; k < n; k++)); do
		[ "${q_suite[$k]}" = bpf ] && [ -z "${done_or_run[$k]+x}" ] && bpf_left=1
	done
	[ "$bpf_left" = 1 ] && [ "$running_e2e" = 0 ] && [ "$running_bpf" -lt "$bpf_jobs" ] && bpf_may=1
	for ((k = 0; k < n; k++)); do
		[ -z "${done_or_run[$k]+x}" ] || continue
		case ${q_suite[$k]} in
		bpf) [ "$bpf_may" = 1 ] && echo "$k" && return ;;
		e2e) [ "$running_e2e" = 0 ] && [ "$running_bpf" = 0 ] && [ "$bpf_left" = 0 ] &&
			echo "$k" && return ;;
		*) [ "$pick" -ge 0 ] || [ "$bpf_may" = 1 ] || pick=$k ;;
		esac
	done
	echo "$pick"
}

# run_queue: the queued scripts, SHELLAUDIT_TEST_JOBS at a time, in the
# order next_script picks.
run_queue() {
	local jobs=${SHELLAUDIT_TEST_JOBS:-3} bpf_jobs=${SHELLAUDIT_TEST_BPF_JOBS:-2} i n=${#q_name[@]}
	local running_e2e=0 running_bpf=0 pid idx dir
	local -A pid_idx=() started=() done_or_run=()
	[ "$bpf_jobs" -ge 1 ] 2>/dev/null || bpf_jobs=1
	if [ "$jobs" -le 1 ]; then
		for ((i = 0; i < n; i++)); do run_one "${q_name[$i]}" "${q_secs[$i]}" "${q_path[$i]}"; done
		return
	fi
	dir=$(mktemp -d /tmp/shellaudit-run.XXXXXX)
	while [ ${#done_or_run[@]} -lt "$n" ] || [ ${#pid_idx[@]} -gt 0 ]; do
		while [ ${#pid_idx[@]} -lt "$jobs" ] && i=$(next_script) && [ "$i" -ge 0 ]; do
			printf '== %s (started)\n' "${q_name[$i]}"
			(
				timeout --kill-after=60 "${q_secs[$i]}" "${q_path[$i]}" >"$dir/$i.out" 2>&1
				echo $? >"$dir/$i.rc"
			) </dev/null &
			pid_idx[$!]=$i
			started[$i]=$SECONDS
			done_or_run[$i]=1
			case ${q_suite[$i]} in
			e2e) running_e2e=$((running_e2e + 1)) ;;
			bpf) running_bpf=$((running_bpf + 1)) ;;
			esac
		done
		[ ${#pid_idx[@]} -gt 0 ] || break # (nothing runs and nothing may start: never)
		wait -n -p pid "${!pid_idx[@]}" || true
		{ [ -n "${pid:-}" ] && [ -n "${pid_idx[$pid]+x}" ]; } || continue
		idx=${pid_idx[$pid]}
		unset "pid_idx[$pid]"
		case ${q_suite[$idx]} in
		e2e) running_e2e=$((running_e2e - 1)) ;;
		bpf) running_bpf=$((running_bpf - 1)) ;;
		esac
		printf '== %s\n' "${q_name[$idx]}"
		cat "$dir/$idx.out"
		tally "${q_name[$idx]}" "$(cat "$dir/$idx.rc" 2>/dev/null || echo 255)" "$dir/$idx.out" \
			"$((SECONDS - started[$idx]))" "${q_secs[$idx]}"
	done
	for ((i = 0; i < n; i++)); do
		[ -n "${done_or_run[$i]+x}" ] || broken_one "${q_name[$i]}" "never started"
	done
	rm -rf "$dir"
}

# The longest scripts of a suite are queued first (their times in a warm
# run of 2026-12-07: bpf test_terminal 318 s, test_stdin 230 s, test_restart
# 211 s; e2e test_audit 319 s; integration test_agent 362 s), so that the
# slots end together rather than one long script alone at the end: in
# that run, queued by name, the bpf scripts (beside which no e2e script
# may run) ended at 683 s with test_terminal alone for its last 200 s,
# and the e2e chain came after them.
first="test_terminal.sh test_stdin.sh test_restart.sh test_audit.sh test_agent.sh"
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
		scripts=()
		for f in $first; do [ -e "$root/tests/$s/$f" ] && scripts+=("$root/tests/$s/$f"); done
		for t in "$root/tests/$s"/test_*.sh; do
			case " $first " in *" $(basename "$t") "*) continue ;; esac
			scripts+=("$t")
		done
		for t in "${scripts[@]}"; do
			if [ ! -x "$t" ]; then
				broken_one "$s/$(basename "$t")" "not executable"
				continue
			fi
			queue "$s/$(basename "$t")" "$s" "$(limit "$s")" "$t"
		done
		;;
	*)
		echo "unknown suite $s" >&2
		exit 2
		;;
	esac
done
run_queue

echo
for b in "${failures[@]+"${failures[@]}"}"; do echo "$b"; done
for b in "${broken[@]+"${broken[@]}"}"; do echo "FAILED: $b"; done
echo "$total_pass passed, $total_fail failed"
[ $total_fail = 0 ] && [ $total_pass -gt 0 ]
