#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: the capture engine's cost. A loop of N fork+exec of /bin/true
# (bash running /bin/true N times, best of BENCH_RUNS=2) in a container, with the agent off, on
# but not targeting the container (the cost of the in-kernel filter), and on
# targeting it (events, sessions, JSON lines); plus the agent's RSS idle and
# after the targeted loop. Timings only: never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../bpf/capture-lib.sh"

N=${BENCH_EXECS:-20000}
RUNS=${BENCH_RUNS:-2} # each figure is the best of RUNS loops: the machine may be busy
cap_setup
cap_container bench

# loop: the best time of RUNS exec loops in the container, in seconds.
loop() {
	local r best= t
	for ((r = 0; r < RUNS; r++)); do
		t=$(loop_once) || return 1
		best=$(echo "$t ${best:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
	done
	echo "$best"
}

loop_once() {
	local t0 t1
	t0=$(date +%s.%N)
	nsenter --target "${CPID[bench]}" --mount --pid --root --wd "${CENV[@]}" \
		/bin/bash -c "for ((i = 0; i < $N; i++)); do /bin/true; done" || return 1
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

echo "exec loop: $N fork+exec of /bin/true in a container (bash loop), $(nproc) CPUs"
loop_once >/dev/null # warm up caches
off=$(loop) || { t_fail "loop failed"; t_summary; exit 1; }
echo "  agent off:                      ${off} s"

cap_agent --log-level info || { t_fail "agent did not start"; t_summary; exit 1; }
# A target that is not the bench container: the filter map is not empty.
cap_container other
echo "${CPID[other]} other" >"$work/targets"
t_wait 30 grep -q '"target added","container":"other"' "$work/agent.log"
idle=$(rss_kb "$AGENT_PID" VmRSS)
untargeted=$(loop)
echo "  agent on, container untargeted: ${untargeted} s  (x$(ratio "$untargeted" "$off"))"

cap_target bench || { t_fail "target bench not added"; t_summary; exit 1; }
targeted=$(loop)
t_wait 120 sh -c "[ \$(grep -c '\"kind\":\"exec\"' '$work/out.jsonl') -ge $((N * RUNS)) ]"
busy=$(rss_kb "$AGENT_PID" VmHWM)
echo "  agent on, container targeted:   ${targeted} s  (x$(ratio "$targeted" "$off"))"
cap_agent_stop
execs=$(grep -c '"kind":"exec","container":"bench"' "$work/out.jsonl")
lost=$("$TOOLS/sa-lines" --kind lost --field lost_execs "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')
echo "  exec entries written: $execs (+ $lost counted as dropped)"
echo "agent RSS: idle ${idle} kB, peak after the targeted loop ${busy} kB"
t_eq "every exec of the targeted loops accounted for" 1 "$((execs + lost >= N * RUNS))"
t_summary
