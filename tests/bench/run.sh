#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: the capture engine's cost, side by side in one run. Two loops
# in a container, each timed as the CPU time (user + system, children
# included) it took, the best of BENCH_RUNS=3: on a busy machine the wall
# clock mostly measures the wait for a CPU; in-kernel capture is charged to
# the process it runs for. The loops:
#   exec  N fork+exec of /bin/true (a bash loop; BENCH_EXECS=10000)
#   read  M one-byte reads of /dev/zero, each written to /dev/null
#         (busybox dd bs=1; BENCH_READS=1000000): the syscalls a terminal
#         hook is on
#   sys   S getppid() calls (tests/tools/sysloop; BENCH_SYSCALLS=5000000):
#         what every other syscall pays
#   uring U io_uring reads of /dev/zero, 32 per io_uring_enter
#         (tests/tools/uringloop; BENCH_URING_READS=5000000): what every
#         io_uring request pays (the terminal hooks include io_uring's
#         tracepoints)
# with the agent off, and for each agent setting with the container
# untargeted (another container is targeted: the filter map is not empty
# and the hooks are attached) and targeted:
#   --no-terminal          readline and exec capture only
#   terminal, tracepoint   the syscall tracepoints (the default here)
#   tp after a 32-bit exec the same once a 32-bit program ran in a target
#                          (cat32 in the other container): terminal
#                          capture moved to the raw tracepoints
#   terminal, sys_exit     --terminal-hook sys_exit
# plus the agent's RSS. Timings only: never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../bpf/capture-lib.sh"

N=${BENCH_EXECS:-10000}
M=${BENCH_READS:-1000000}
S=${BENCH_SYSCALLS:-5000000}
U=${BENCH_URING_READS:-5000000}
RUNS=${BENCH_RUNS:-3} # each figure is the best of RUNS loops: the machine may be busy
cap_setup
for f in sysloop uringloop cat32; do
	[ -x "$TOOLS/$f" ] || { t_fail "missing $TOOLS/$f (run make all)"; t_summary; exit 1; }
done
# A root of its own, with sysloop, uringloop, cat32 and the devices the
# read loops need.
"$T_ROOT/hack/mkrootfs.sh" "$work/rfs" "$TOOLS/sysloop" "$TOOLS/uringloop" "$TOOLS/cat32" 2>/dev/null ||
	{ t_fail "hack/mkrootfs.sh failed"; t_summary; exit 1; }
if ! mknod "$work/rfs/dev/null" c 1 3 || ! mknod "$work/rfs/dev/zero" c 1 5; then
	t_fail "cannot make /dev/null and /dev/zero in the bench root"
	t_summary
	exit 1
fi
cap_container bench "$work/rfs"
cap_container other "$work/rfs"

in_bench() { nsenter --target "${CPID[bench]}" --mount --pid --root --wd "${CENV[@]}" "$@"; }
exec_once() { in_bench /bin/bash -c "for ((i = 0; i < $N; i++)); do /bin/true; done"; }
read_once() { in_bench /bin/busybox dd if=/dev/zero of=/dev/null bs=1 count="$M" 2>/dev/null; }
sys_once() { in_bench /bin/sysloop "$S"; }
uring_once() { in_bench /bin/uringloop "$U"; }
# best LOOP: the least CPU time (user + system) of RUNS runs of LOOP, in seconds.
best() {
	local r b='' t TIMEFORMAT='%3U %3S'
	for ((r = 0; r < RUNS; r++)); do
		t=$({ time "$1" >/dev/null 2>&1; } 2>&1) || return 1
		t=$(echo "$t" | awk '{ printf "%.3f", $1 + $2 }')
		b=$(echo "$t ${b:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
	done
	echo "$b"
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
ratio() { echo "$1 $2" | awk '{ printf "x%.2f", $1 / $2 }'; }
per_op() { echo "$1 $2 $3" | awk '{ printf "%+.0f ns", ($1 - $2) * 1e9 / $3 }'; }
row() { printf '  %-34s %7s %-6s %6s %-6s %-8s %6s %-6s %-8s %6s %-6s %s\n' "$@"; }
# line LABEL EXEC READ SYS URING: a row of figures, with the ratios to
# agent off.
line() {
	row "$1" "$2" "$(ratio "$2" "$off_exec")" "$3" "$(ratio "$3" "$off_read")" \
		"$(per_op "$3" "$off_read" "$M")" "$4" "$(ratio "$4" "$off_sys")" "$(per_op "$4" "$off_sys" "$S")" \
		"$5" "$(ratio "$5" "$off_uring")" "$(per_op "$5" "$off_uring" "$U")"
}

echo "exec: $N fork+exec, read: $M one-byte reads (and writes), sys: $S getppid(), uring: $U" \
	"io_uring reads, in a container; CPU seconds, best of $RUNS; $(nproc) CPUs, load average" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
row "" exec "" read "" "per read" sys "" "per call" uring "" "per read"
exec_once >/dev/null && read_once && sys_once && uring_once # warm up caches
if ! { off_exec=$(best exec_once) && off_read=$(best read_once) && off_sys=$(best sys_once) &&
	off_uring=$(best uring_once); }; then
	t_fail "loop failed"
	t_summary
	exit 1
fi
row "agent off" "$off_exec" "" "$off_read" "" "" "$off_sys" "" "" "$off_uring" "" ""

# bench_with LABEL AGENT_ARGS...: both loops untargeted, then targeted;
# with IA32=1, after a 32-bit program ran in the other container.
bench_with() {
	local label=$1 e r y u idle busy execs lost
	shift
	: >"$work/targets"
	: >"$work/agent.log"
	: >"$work/out.jsonl"
	cap_agent --log-level info "$@" || { t_fail "agent ($label) did not start"; return 1; }
	echo "${CPID[other]} other" >"$work/targets"
	t_wait 30 grep -q '"target added","container":"other"' "$work/agent.log"
	if [ "${IA32:-0}" = 1 ]; then
		nsenter --target "${CPID[other]}" --mount --pid --root --wd "${CENV[@]}" /bin/cat32 </dev/null
		t_wait 30 grep -q '"msg":"a 32-bit program runs in an audited container' "$work/agent.log" ||
			{ t_fail "the 32-bit programs were not attached ($label)"; return 1; }
	fi
	idle=$(rss_kb "$AGENT_PID" VmRSS)
	if ! { e=$(best exec_once) && r=$(best read_once) && y=$(best sys_once) && u=$(best uring_once); }; then
		t_fail "loop failed ($label)"
		return 1
	fi
	line "$label, untargeted" "$e" "$r" "$y" "$u"
	cap_target bench || { t_fail "target bench not added ($label)"; return 1; }
	if ! { e=$(best exec_once) && r=$(best read_once) && y=$(best sys_once) && u=$(best uring_once); }; then
		t_fail "loop failed ($label)"
		return 1
	fi
	line "$label, targeted" "$e" "$r" "$y" "$u"
	t_wait 120 sh -c "[ \$(grep -c '\"kind\":\"exec\",\"container\":\"bench\"' '$work/out.jsonl') -ge $((N * RUNS)) ]"
	busy=$(rss_kb "$AGENT_PID" VmHWM)
	cap_agent_stop
	execs=$(grep -c '"kind":"exec","container":"bench"' "$work/out.jsonl")
	lost=$("$TOOLS/sa-lines" --kind lost --field lost_execs "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')
	echo "    agent RSS idle ${idle} kB, peak ${busy} kB; exec entries $execs (+ $lost counted as dropped)"
	t_eq "$label: every exec of the targeted loops accounted for" 1 "$((execs + lost >= N * RUNS))"
	t_eq "$label: nothing read from a terminal in these loops" "" \
		"$(grep '"source":"terminal"' "$work/out.jsonl")"
}
bench_with "--no-terminal" --no-terminal
bench_with "terminal, tracepoint" --terminal-hook tracepoint
IA32=1 bench_with "tp after a 32-bit exec" --terminal-hook tracepoint
bench_with "terminal, sys_exit" --terminal-hook sys_exit
t_summary
