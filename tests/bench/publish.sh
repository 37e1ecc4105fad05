#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench, part 2: the agent's pipeline, the figures of issue 12, each
# beside a reference measured in the same run, on the real control plane
# with the controller (plain builds, default batching and publishing):
#
#   1. two exec loops in parallel in a targeted container (BENCH_EXECS
#      /bin/true each, 10000; both cores busy), in BENCH_RUNS (3) rounds
#      of the loops untraced then traced: the best CPU time (the loops'
#      plus the tracer's) traced over the best untraced, agent on
#      (Kubernetes mode) over agent off, and the same for the wall clock;
#      beside it the same loops traced by bpftrace (printing every exec),
#      by auditd (an execve rule), by bpftrace with only the agent's
#      readline probes in the container's bash (what any readline capture
#      costs a bash that forks), and under the standalone agent.
#   2. the agent's CPU (utime + stime, all threads) per 1,000 execs of
#      those loops, in Kubernetes mode with the spool; the reference is
#      the standalone agent writing JSON lines. The agent's idle CPU over
#      the same time is subtracted.
#   3. capture -> Event and capture -> AuditRecord (median, p99) at 10 and
#      at 1,000 lines a second. Capture time is the entry's time (the
#      kernel's timestamp), arrival is when a watch (kubectl get -w) sees
#      the object. The reference: 2,000 Events created at 1,000 a second
#      by a bare client (16 connections), due time to the same watch: what
#      the API server and the machine allow at that rate without an agent.
#   4. the agent's RSS, idle and after BENCH_MANY_LINES (10,000) lines
#      typed at 1,000 a second, split into the BPF map mappings (the ring
#      buffer, mapped once), files (the binary, shared libraries) and
#      anonymous memory; the reference is the same agent with
#      --ringbuf-mb 1.
#   5. capture -> export line (--output) of BENCH_SLOW_LINES (200) lines
#      typed at 10 a second, without, with 100 connections held open on
#      the agent's --port (one of them trickling a byte every half
#      second), and without again.
#
# BENCH_PARTS picks parts ("1 3 4 5", all; 1 covers 2; 2 alone: the loops
# under the two agents only, without bpftrace and auditd) and BENCH_AGENT_ARGS
# adds options to every Kubernetes-mode agent, to weigh one against the
# defaults. BENCH_PERF=PREFIX records each agent's CPU profile under the
# loops into PREFIX.LABEL.ROUND (perf record, DWARF call graphs; its cost is in the figures).
# After each BPF tracer's rounds, one more with kernel.bpf_stats_enabled
# measures its programs' time in the kernel per exec (BENCH_BPF_STATS=0:
# not).
#
# bpftrace and auditd are installed when missing (hack/install-deps.sh
# bench). auditd runs from a private configuration, only while its loops
# run: its rule is removed, the daemon stopped and the kernel's audit
# switch put back as it was, whatever way the bench ends. It is skipped
# (a failed check) when another audit daemon is registered.
#
# Ends with one table: figure, measured, reference, goal. Timings only,
# never part of make test; the checks only say the measurement was whole.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

N=${BENCH_EXECS:-10000}
RUNS=${BENCH_RUNS:-3}
MANY=${BENCH_MANY_LINES:-10000}
# part N: whether BENCH_PARTS ("1 3 4 5": all; 1 covers 2) asks for part N.
part() {
	[[ " ${BENCH_PARTS:-1 3 4 5} " == *" $1 "* ]] || { [ "$1" = 2 ] && part 1; }
}
SLOW_LINES=${BENCH_SLOW_LINES:-200}
HZ=$(getconf CLK_TCK)
PY=$T_ROOT/tests/bench/pipeline.py
bench_start=$SECONDS

[ "$(id -u)" != 0 ] || "$T_ROOT/hack/install-deps.sh" bench ||
	echo "  note hack/install-deps.sh bench failed: the references that need it are skipped"

ag_setup bench-node
k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: bench}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
EOF
ag_controller "$T_BUILD/shellaudit-controller"

# Watches stamping each object with its arrival time.
k get auditrecords -n shop --watch-only -o json 2>/dev/null | python3 "$PY" stamp >"$work/records.jsonl" &
t_cleanup "kill $! 2>/dev/null"
k get events.events.k8s.io -n shop --watch-only -o json 2>/dev/null | python3 "$PY" stamp >"$work/events.jsonl" &
t_cleanup "kill $! 2>/dev/null"

# The figures of the table at the end, by name.
declare -A FIG

# cpu_ms PID: the CPU time (user + system, all its threads) of PID so far,
# in ms: its threads' run times summed (schedstat, in ns; the times in
# stat are in clock ticks, 10 ms, as much as the agent spends on 1,000
# execs), or from stat where there is no schedstat. A thread that ended
# no longer counts: the agent's and the references' live as long as they.
cpu_ms() {
	if [ -r "/proc/$1/schedstat" ]; then
		cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.3f\n", ns / 1e6 }'
	else
		awk -v hz="$HZ" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
	fi
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# rss PID: "RSS (M ring + F files + A anon)" in MiB: the BPF map mappings
# (the ring buffer, mapped once), files (the binary and its libraries,
# shared with other processes that map them) and the rest (heap, stacks).
rss() {
	local m f a
	read -r m f a < <(python3 "$PY" smaps "$1")
	echo "$(mib $((m + f + a))) ($(mib "$m" | cut -d' ' -f1) ring + $(mib "$f" | cut -d' ' -f1) files" \
		"+ $(mib "$a" | cut -d' ' -f1) anon)"
}
# settle PID: waits (120 s at most) until PID's CPU time stays within a
# tick for 5 s: what a burst left it to do (records, Events) is done.
settle() {
	local a b same=0
	a=$(cpu_ms "$1")
	for _ in $(seq 240); do
		sleep 0.5
		b=$(cpu_ms "$1")
		if awk -v a="$a" -v b="$b" -v t=$((1000 / HZ)) 'BEGIN { exit !(b - a <= t) }'; then
			same=$((same + 1))
			[ $same -lt 10 ] || return 0
		else
			same=0
			a=$b
		fi
	done
}

# --- 1 and 2: the exec loops ---
exec_loop() {
	nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
		/bin/bash -c "for ((i = 0; i < $N; i++)); do /bin/true; done"
}
exec_pair() {
	local a b rc=0
	exec_loop &
	a=$!
	exec_loop &
	b=$!
	wait "$a" || rc=1
	wait "$b" || rc=1
	return $rc
}
# pair_once [PID...]: one pair of loops; prints "WALL CPU" in seconds: its
# wall clock, and the loops' CPU plus what the PIDs (a tracer) used meanwhile.
pair_once() {
	local t p before=0 after=0 TIMEFORMAT='%3R %3U %3S'
	for p in "$@"; do before=$(awk -v a="$before" -v b="$(cpu_ms "$p")" 'BEGIN { print a + b }'); done
	t=$({ time exec_pair >/dev/null 2>&1; } 2>&1) || return 1
	for p in "$@"; do after=$(awk -v a="$after" -v b="$(cpu_ms "$p")" 'BEGIN { print a + b }'); done
	echo "$t $before $after" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 + ($5 - $4) / 1000 }'
}
min() { echo "$1 ${2:-$1}" | awk '{ print ($1 < $2) ? $1 : $2 }'; }
# bpf_runs PID: "NAME RUN_NS RUNS" of each BPF program PID holds a
# descriptor of (their counts grow while kernel.bpf_stats_enabled is 1),
# from its fdinfo (Debian's bpftool does not list a program's holders).
bpf_runs() {
	local fd id ns cnt
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = anon_inode:bpf-prog ] || continue
		awk '$1 == "prog_id:" { id = $2 } $1 == "run_time_ns:" { ns = $2 }
			$1 == "run_cnt:" { cnt = $2 } END { if (id) print id, ns + 0, cnt + 0 }' \
			"/proc/$1/fdinfo/${fd##*/}" 2>/dev/null
	done | sort -u -k1,1n | while read -r id ns cnt; do
		echo "$(bpftool -j prog show id "$id" 2>/dev/null | jq -r '.name // "?"') $ns $cnt"
	done
}
# bpf_round START STOP: one more pair of loops traced, with the kernel's
# BPF statistics on (not in the figures: they cost two clock reads per
# program run). Sets BPFX, what the tracer's programs ran in the kernel per
# exec of the loops, "1.23 us (sched_exec 0.80, stdin_sleep 0.20, ...)",
# and BPFT its total, "1.23 us"; the caller sets both to "?" first (left
# so when the tracer holds no program).
bpf_round() {
	local was b a
	"$1" || { "$2"; return 1; }
	# The counts grow only while the statistics are on: read before.
	# Auditd holds no program: no round.
	b=$(bpf_runs "${TRACER[0]}")
	[ -n "$b" ] || { "$2"; return 0; }
	was=$(sysctl -n kernel.bpf_stats_enabled) || { "$2"; return 1; }
	sysctl -qw kernel.bpf_stats_enabled=1
	t_cleanup "sysctl -qw kernel.bpf_stats_enabled=$was"
	pair_once "${TRACER[@]}" >/dev/null
	a=$(bpf_runs "${TRACER[0]}")
	sysctl -qw kernel.bpf_stats_enabled="$was"
	"$2"
	[ -n "$a" ] || return 0
	BPFX=$(printf '%s\n' "$b" "--" "$a" | awk -v execs=$((2 * N)) '
		$1 == "--" { after = 1; next }
		!after { ns[$1] -= $2; next }
		{ ns[$1] += $2 }
		END {
			n = 0
			for (k in ns) {
				order[++n] = k
				total += ns[k]
			}
			printf "%.2f us (", total / execs / 1000
			for (i = 1; i <= n; i++)
				for (j = i + 1; j <= n; j++)
					if (ns[order[j]] > ns[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
			for (i = 1; i <= n && i <= 4; i++)
				printf "%s%s %.2f", (i > 1 ? ", " : ""), order[i], ns[order[i]] / execs / 1000
			printf ")"
		}')
	BPFT="${BPFX%% (*}"
}
ratio() { echo "$1 $2" | awk '{ printf "x%.2f", $1 / $2 }'; }
# versus LABEL START STOP [agent]: RUNS rounds of a pair of loops untraced,
# then a pair traced: START starts the tracer and sets TRACER to the PIDs
# whose CPU counts (an agent's first, and IDLE to its idle CPU in ms/s),
# STOP ends it. Each time is the best of its RUNS, and a ratio is to the
# untraced pairs of the same rounds: the machine is shared, its load
# changes from minute to minute. Sets VS, "x1.05 (wall x1.02)": the CPU
# ratio first. With both cores busy the wall clock would be it (what the
# tracer spends is taken from the loops), but the wall clock also measures
# the other users of the machine, the CPU time of the loops and of the
# tracer much less (the rounds of one run vary by a third in wall clock at
# a load average of 9, by a few percent in CPU). With
# "agent", KEXEC too: the agent's CPU per 1,000 execs in ms, less its idle
# CPU over the same time, counted until what the loops left it to do is done.
versus() {
	part 2 || return 1
	local label=$1 start=$2 stop=$3 agent=${4:-} r ow='' oc='' w='' c='' x y c0 t0 spent=0 perf=
	for ((r = 0; r < RUNS; r++)); do
		read -r x y < <(pair_once) || { t_fail "$label: the untraced loops run"; return 1; }
		ow=$(min "$x" "$ow") oc=$(min "$y" "$oc")
		"$start" || { t_fail "$label starts"; "$stop"; return 1; }
		[ -z "$agent" ] || settle "${TRACER[0]}" # its start-up
		c0=$(cpu_ms "${TRACER[0]}") t0=$EPOCHREALTIME
		[ -z "${BENCH_PERF:-}" ] || [ -z "$agent" ] || {
			perf record -q --call-graph dwarf -p "${TRACER[0]}" -o "$BENCH_PERF.${label%% *}.$r" 2>/dev/null &
			perf=$!
		}
		read -r x y < <(pair_once "${TRACER[@]}") || { t_fail "$label: the loops run"; "$stop"; return 1; }
		[ -z "${perf:-}" ] || { kill -INT "$perf"; wait "$perf"; perf=; }
		w=$(min "$x" "$w") c=$(min "$y" "$c")
		if [ -n "$agent" ]; then
			settle "${TRACER[0]}"
			spent=$(echo "$spent $(cpu_ms "${TRACER[0]}") $c0 $EPOCHREALTIME $t0 $IDLE" |
				awk '{ print $1 + $2 - $3 - ($4 - $5) * $6 }')
		fi
		"$stop"
	done
	VS="$(ratio "$c" "$oc") (wall $(ratio "$w" "$ow"))"
	KEXEC=$(echo "$spent $((2 * N * RUNS))" | awk '{ printf "%.1f", $1 / ($2 / 1000) }')
	printf '  %-32s off %6.2f s (CPU %6.2f s), on %6.2f s (CPU %6.2f s): %s\n' "$label" "$ow" "$oc" "$w" "$c" "$VS"
	[ -z "$agent" ] || echo "    its CPU: $KEXEC ms per 1,000 execs (idle $IDLE ms/s subtracted)"
	BPFX="?" BPFT="?"
	[ "${BENCH_BPF_STATS:-1}" = 0 ] || bpf_round "$start" "$stop" || true
	[ "$BPFX" = "?" ] || echo "    its BPF programs, in the kernel: $BPFX per exec (one more round, kernel.bpf_stats_enabled)"
}
# idle_rate PID: PID's CPU in ms per second over 10 s of nothing.
idle_rate() {
	local c0
	c0=$(cpu_ms "$1")
	sleep 10
	echo "$(cpu_ms "$1") $c0" | awk '{ printf "%.2f", ($1 - $2) / 10 }'
}
# alive PID: PID runs (a zombie does not).
alive() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
gone() { ! alive "$1"; }

echo "1. two parallel loops of $N fork+exec of /bin/true in a targeted container, best of $RUNS" \
	"rounds (untraced, traced); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec_pair >/dev/null 2>&1 # warm up caches

# bpftrace, printing every exec. Its own mount namespace gets tracefs.
bt_start() {
	# shellcheck disable=SC2016 # bpftrace's program, not the shell's
	unshare --mount sh -c 'mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
		mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
		exec bpftrace -B full -e "$1"' sh "$BT_PROG" >>"$work/bpftrace.out" 2>>"$work/bpftrace.err" &
	bt=$!
	TRACER=("$bt")
	t_cleanup "kill -INT $bt 2>/dev/null"
	bt_starts=$((bt_starts + 1))
	t_wait 60 sh -c "[ \$(grep -c '^Attaching' '$work/bpftrace.out') -ge $bt_starts ]"
}
bt_stop() {
	kill -INT "$bt" 2>/dev/null
	wait "$bt"
}
if ! part 1; then
	:
elif command -v bpftrace >/dev/null; then
	: >"$work/bpftrace.out"
	bt_starts=0
	BT_PROG='tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, comm); }'
	versus "bpftrace, printing every exec" bt_start bt_stop && FIG[bpftrace]=$VS FIG[bpf_bt]=$BPFT
	grep -i lost "$work/bpftrace.out" "$work/bpftrace.err" | sed 's/^/    /'
	t_eq "bpftrace printed every exec of the loops" 1 \
		"$(($(grep -c ' true$' "$work/bpftrace.out") >= 2 * N * RUNS))"
	# The agent's probes in the container's bash, and nothing else: what
	# capturing readline costs the loops' forks, whoever does it (a
	# breakpoint is a private page in the text mapping: each fork of a
	# bash copies that mapping's page table, each exec after unmaps it).
	b=/proc/${CPID[audited]}/root/bin/bash
	BT_PROG="uprobe:$b:readline, uprobe:$b:rl_prep_terminal, uprobe:$b:rl_deprep_terminal { }
		uretprobe:$b:readline { printf(\"%d %s\\n\", pid, str(retval)); }"
	n=$bt_starts
	versus "bpftrace, bash's readline probes" bt_start bt_stop && FIG[bt_readline]=$VS
	t_eq "bpftrace attached the four probes of the agent each time" "$((bt_starts - n))" \
		"$(grep -c '^Attaching 4 probes' "$work/bpftrace.out")"
else
	t_fail "bpftrace is installed (hack/install-deps.sh bench)"
fi

# auditd with an execve rule, from a private configuration and log.
audit_key=shellaudit-bench-$$
audit_on=
audit_lost=0
ad=
# audit_end: the rule removed, auditd stopped, the switch as it was.
audit_end() {
	auditctl -D -k "$audit_key" >/dev/null 2>&1
	if [ -n "$ad" ] && alive "$ad" && [ "$(cat "/proc/$ad/comm")" = auditd ]; then
		kill -TERM "$ad"
		t_wait 30 gone "$ad" || kill -KILL "$ad"
		wait "$ad" 2>/dev/null
	fi
	[ -z "$audit_on" ] || auditctl -e "$audit_on" >/dev/null 2>&1
}
audit_lost() { auditctl -s | awk '$1 == "lost" { print $2 }'; }
audit_start() {
	auditd -n -s enable -c "$work/audit" >>"$work/audit/auditd.out" 2>&1 &
	ad=$!
	TRACER=("$ad" "$(pgrep -x kauditd | head -1)")
	audit_lost0=$(audit_lost)
	t_wait 30 sh -c "auditctl -s | grep -qx 'pid $ad'" &&
		auditctl -a always,exit -F arch=b64 -S execve -k "$audit_key" >/dev/null
}
audit_stop() {
	audit_lost=$((audit_lost + $(audit_lost) - audit_lost0))
	audit_end
}
if ! part 1; then
	:
elif command -v auditd >/dev/null && command -v auditctl >/dev/null; then
	audit_on=$(auditctl -s | awk '$1 == "enabled" { print $2 }')
	if [ "$(auditctl -s | awk '$1 == "pid" { print $2 }')" != 0 ]; then
		t_fail "no other audit daemon runs (the auditd reference needs the kernel's audit to itself)"
	else
		mkdir -p "$work/audit/plugins.d"
		sed -e "s|^log_file = .*|log_file = $work/audit/audit.log|" \
			-e "s|^plugin_dir = .*|plugin_dir = $work/audit/plugins.d|" \
			-e 's/^\(max_log_file_action\|[a-z_]*space_left_action\|disk_[a-z]*_action\) = .*/\1 = IGNORE/' \
			/etc/audit/auditd.conf >"$work/audit/auditd.conf"
		chmod 0640 "$work/audit/auditd.conf"
		t_cleanup audit_end
		versus "auditd, an execve rule" audit_start audit_stop && FIG[auditd]=$VS
		echo "    audit records lost: $audit_lost"
		t_eq "auditd logged every exec of the loops" 1 \
			"$(($(grep -c '^type=EXECVE.*a0="/bin/true"' "$work/audit/audit.log") + audit_lost >= 2 * N * RUNS))"
		t_eq "auditd is stopped" no "$(alive "$ad" && echo yes || echo no)"
		t_eq "the execve rule is removed" "" "$(auditctl -l | grep -- "$audit_key")"
		t_eq "the kernel's audit switch is as it was" "enabled $audit_on" "$(auditctl -s | grep '^enabled')"
	fi
else
	t_fail "auditd is installed (hack/install-deps.sh bench)"
fi

# The standalone agent (JSON lines): the reference of the CPU per exec.
sa_start() {
	: >"$work/agent.log"
	: >"$work/targets"
	cap_agent --log-level info || return 1
	cap_target audited || return 1
	TRACER=("$AGENT_PID")
	[ -n "${IDLE_SA:-}" ] || IDLE_SA=$(idle_rate "$AGENT_PID")
	IDLE=$IDLE_SA
}
sa_stop() { cap_agent_stop; }
versus "standalone agent (JSON lines)" sa_start sa_stop agent && FIG[standalone]=$VS FIG[cpu_standalone]=$KEXEC \
	FIG[bpf_sa]=$BPFT
part 2 && t_eq "the standalone agent wrote every exec of the loops" 1 \
	"$(($(grep -c '"kind":"exec","container":"audited"' "$work/out.jsonl") >= 2 * N * RUNS))"

# k8s_agent NAME ARGS...: the agent in Kubernetes mode on the node's spool
# (one spool for all: a restart, as of a DaemonSet's pod), until it has
# attached to the container.
port=$(t_free_port "$SHELLAUDIT_APISERVER_PORT")
k8s_agent() {
	local name=$1
	shift
	# shellcheck disable=SC2086 # BENCH_AGENT_ARGS: options, split
	t_daemon "$name" "$dir/$name.log" "$T_BUILD/shellaudit-agent" --node-name "$node" \
		--spool-dir "$dir/spool" --bpf-dir '' --port "$port" --http-address 127.0.0.1 \
		${BENCH_AGENT_ARGS:-} "$@"
	# shellcheck disable=SC2317 # called by t_wait
	added() { t_daemon_log "$name" | t_grep -q '"msg":"target added"'; }
	t_wait 120 added && t_wait 60 ag_attached
}
k8s_start() {
	k8s_agent agent || return 1
	TRACER=("${T_DAEMON_PID[agent]}")
	[ -n "${IDLE_K8S:-}" ] || IDLE_K8S=$(idle_rate "${T_DAEMON_PID[agent]}")
	IDLE=$IDLE_K8S
}
k8s_stop() { t_daemon_stop agent TERM '"msg":"stopped"'; }
versus "agent, Kubernetes mode (spool)" k8s_start k8s_stop agent && FIG[exec]=$VS FIG[cpu]=$KEXEC \
	FIG[bpf]=$BPFT
# The same agent with the policy capturing execs only (neither readline
# nor terminal capture): no readline probe, so no breakpoint in the
# container's bash, and no terminal hook. Its ratio beside the one above
# and bpftrace's readline probes' says what the probes cost the loops.
# readline_cap BOOL: the policy's readline and terminal capture, once the
# node's targets say so.
readline_cap() {
	k patch shellauditpolicy bench --type merge \
		-p "{\"spec\":{\"capture\":{\"readline\":$1,\"terminal\":$1}}}" >/dev/null || return 1
	# shellcheck disable=SC2317 # called by t_wait
	resolved() {
		k get shellauditnode "$node" -o json | jq -e --argjson b "$1" \
			'[.spec.targets[]?.capture | .readline, .terminal] | length > 0 and all(. == $b)' >/dev/null
	}
	t_wait 60 resolved "$1"
}
norl_start() {
	readline_cap false || return 1
	k8s_agent norl || return 1
	TRACER=("${T_DAEMON_PID[norl]}")
	IDLE=$IDLE_K8S
}
norl_stop() {
	t_daemon_stop norl TERM '"msg":"stopped"'
	readline_cap true
}
if part 1; then
	versus "agent, execs only" norl_start norl_stop agent && FIG[exec_norl]=$VS
	t_eq "capturing execs only, the agent attached no readline probe" 0 \
		"$(t_daemon_log norl | grep -c 'readline probe attached')"
fi
echo
echo "2. agent CPU per 1,000 execs: Kubernetes mode ${FIG[cpu]:-?} ms, standalone ${FIG[cpu_standalone]:-?} ms"

# --- 3: latency to the API server ---
k8s_agent agent || t_stop "the agent attaches" "$(t_daemon_log agent | tail -5)"
agent=${T_DAEMON_PID[agent]}
sleep 10
FIG[rss_idle]=$(rss "$agent")
# type_lines PREFIX N RATE [READY]: N lines "PREFIXi" typed at RATE a
# second, once the shell command READY succeeds (ptytype --ready).
type_lines() {
	seq 1 "$2" | sed "s/^/$1/" >"$work/lines.txt"
	"$TOOLS/ptytype" --prompt "$PROMPT" --fast --delay "$(awk -v r="$3" 'BEGIN { print 1000 / r }')" \
		${4:+--ready "$4"} --lines "$work/lines.txt" --timeout 900 -- \
		nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
		/bin/bash --rcfile /root/.bashrc -i >/dev/null || t_fail "the shell typing $2 lines at $3 a second exits 0"
}
# api_snap, then api_time: the API server's own mean time per AuditRecord
# and per Event created in between (its /metrics before and after).
api_snap() { k get --raw /metrics >"$work/api-before.txt"; }
api_time() {
	k get --raw /metrics >"$work/api-after.txt"
	python3 "$PY" apitime "$work/api-before.txt" "$work/api-after.txt"
}
# run RATE N [decided]: N lines typed at RATE a second, then the figures
# once all arrived (or 300 s passed); sets P99_REC and P99_EV. From the
# shell's first prompt, the lines of the session's first second wait for
# its attribution (who opened it: the agent decides 1 s after the
# session's exec); with "decided", the lines are typed once it is decided
# (the session's SessionOpened Event seen), as a person types them.
run() {
	local rate=$1 n=$2 p="echo r$1-" out ready=
	if [ "${3:-}" = decided ]; then
		p="echo d$1-"
		ready="[ \$(grep -c '\"reason\": \"SessionOpened\"' '$work/events.jsonl') -gt $(grep -c '"reason": "SessionOpened"' "$work/events.jsonl") ]"
	fi
	python3 "$PY" cpusnap "$work/cpu.json"
	api_snap
	type_lines "$p" "$n" "$rate" "$ready"
	# shellcheck disable=SC2317 # called by t_wait
	arrived() { python3 "$PY" report "$p" "$n" "$work/records.jsonl" "$work/events.jsonl" | grep -qx "RESULT $n $n"; }
	t_wait 300 arrived || true
	echo "at $rate lines/s${3:+ ($3)}:"
	python3 "$PY" cpu "$work/cpu.json"
	api_time
	out=$(python3 "$PY" report "$p" "$n" "$work/records.jsonl" "$work/events.jsonl")
	grep -v '^RESULT\|^P99' <<<"$out"
	read -r _ P99_REC P99_EV < <(grep '^P99' <<<"$out")
	t_eq "at $rate lines/s every line arrived, as an entry and as an Event" "RESULT $n $n" "$(grep '^RESULT' <<<"$out")"
}
echo
echo "3. from a typed line to the API server (records at 100 entries or --batch-ms, default 1 s)"
# bare RATE N [typed]: the reference of capture -> Event: N Events created
# by a bare client (16 connections) at RATE a second, due time -> seen by
# the same watch: what this API server and machine allow at that rate, with
# no agent in the way. With "typed", N lines are typed at RATE a second
# meanwhile into a shell of the host, which no policy targets (the agent's
# programs leave it at their filter): the typing's own load (the shell, the
# pty, the typist) that the agent's runs share the machine with. Sets
# P99_BARE.
bare() {
	local p="bare$1${3:-}-" due="$work/due-$1${3:-}.txt" out typist=
	mkdir -p "$work/admin"
	k config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/admin/ca"
	k config view --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$work/admin/cert"
	k config view --raw -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$work/admin/key"
	python3 "$PY" cpusnap "$work/cpu.json"
	api_snap
	if [ -n "${3:-}" ]; then
		printf 'PS1=%q\nHISTFILE=/dev/null\n' "$PROMPT" >"$work/host.bashrc"
		seq 1 "$2" | sed "s/^/echo h$1-/" >"$work/host-lines.txt"
		"$TOOLS/ptytype" --prompt "$PROMPT" --fast \
			--delay "$(awk -v r="$1" 'BEGIN { print 1000 / r }')" \
			--lines "$work/host-lines.txt" --timeout 900 -- \
			/bin/bash --rcfile "$work/host.bashrc" -i >/dev/null &
		typist=$!
	fi
	python3 "$PY" post "$(k config view --raw -o jsonpath='{.clusters[0].cluster.server}')" \
		"$work/admin" shop "$p" "$2" "$1" 16 >"$due" ||
		t_fail "the bare client created $2 Events"
	[ -z "$typist" ] || wait "$typist" || t_fail "the host's shell typing $2 lines exits 0"
	# shellcheck disable=SC2317 # called by t_wait
	seen() { python3 "$PY" postreport "$p" "$due" "$work/events.jsonl" | grep -qx "RESULT $2"; }
	t_wait 120 seen "$1" "$2" || true
	out=$(python3 "$PY" postreport "$p" "$due" "$work/events.jsonl")
	echo "the same watch, $2 Events from a bare client (16 connections) at $1 a second${3:+, $2 lines typed meanwhile into an untargeted shell}:"
	python3 "$PY" cpu "$work/cpu.json"
	api_time
	grep -v '^RESULT\|^P99' <<<"$out"
	read -r _ P99_BARE < <(grep '^P99' <<<"$out")
	t_eq "the bare client's $2 Events were all seen" "RESULT $2" "$(grep '^RESULT' <<<"$out")"
}
if part 3; then
	run 10 100
	FIG[rec10]=$P99_REC FIG[ev10]=$P99_EV
	run 1000 2000
	FIG[rec1000]=$P99_REC FIG[ev1000start]=$P99_EV
	run 1000 2000 decided
	FIG[ev1000]=$P99_EV
	bare 1000 2000
	FIG[bare1000]=$P99_BARE
	bare 1000 2000 typed
	FIG[bare1000typed]=$P99_BARE
fi

# --- 4: RSS ---
# many PREFIX: MANY lines typed at 1,000 a second, then until all are in
# AuditRecords.
many() {
	type_lines "$1" "$MANY" 1000
	# shellcheck disable=SC2317 # called by t_wait
	all_in() { [ "$(python3 "$PY" count "$1" "$work/records.jsonl")" = "$MANY" ]; }
	t_eq "all $MANY lines are in AuditRecords" 0 "$(t_wait 600 all_in "$1"; echo $?)"
}
# The agent gives back what a burst grew every AGENT_TRIM_TICKS (10) s:
# RSS after the burst is measured once that ran since it settled.
TRIM_S=11
if part 4; then
	many "echo m-"
	settle "$agent"
	sleep "$TRIM_S"
	FIG[rss_many]=$(rss "$agent")
	FIG[hwm]=$(mib "$(rss_kb "$agent" VmHWM)")
	echo
	echo "4. agent RSS: idle ${FIG[rss_idle]}; after $MANY lines ${FIG[rss_many]}; peak ${FIG[hwm]}"
fi
t_daemon_stop agent TERM '"msg":"stopped"'

if part 4; then
	k8s_agent ring1 --ringbuf-mb 1 || t_stop "the agent (--ringbuf-mb 1) attaches" "$(t_daemon_log ring1 | tail -5)"
	sleep 10
	FIG[rss_idle1]=$(rss "${T_DAEMON_PID[ring1]}")
	many "echo m4-"
	settle "${T_DAEMON_PID[ring1]}"
	sleep "$TRIM_S"
	FIG[rss_many1]=$(rss "${T_DAEMON_PID[ring1]}")
	echo "   with --ringbuf-mb 1: idle ${FIG[rss_idle1]}; after $MANY lines ${FIG[rss_many1]}"
	t_daemon_stop ring1 TERM '"msg":"stopped"'
fi

# --- 5: capture -> export line, without, with, and again without slow HTTP clients ---
if part 5; then
	: >"$work/export.jsonl"
	python3 "$PY" follow "$work/export.jsonl" >"$work/export-stamped.jsonl" &
	t_cleanup "kill $! 2>/dev/null"
	k8s_agent export --output "$work/export.jsonl" ||
		t_stop "the agent (--output) attaches" "$(t_daemon_log export | tail -5)"
	# exported PREFIX N: the export figures of N lines; sets P99.
	exported() {
		local out
		# shellcheck disable=SC2317 # called by t_wait
		all_out() { python3 "$PY" export "$1" "$2" "$work/export-stamped.jsonl" | grep -qx "RESULT $2"; }
		t_wait 300 all_out "$1" "$2" || true
		out=$(python3 "$PY" export "$1" "$2" "$work/export-stamped.jsonl")
		grep -v '^RESULT\|^P99' <<<"$out"
		read -r _ P99 < <(grep '^P99' <<<"$out")
		t_eq "$3: every line was exported" "RESULT $2" "$(grep '^RESULT' <<<"$out")"
	}
	echo
	echo "5. capture -> export line (--output), $SLOW_LINES lines at 10 a second"
	echo " without other clients:"
	type_lines "echo q0-" "$SLOW_LINES" 10
	exported "echo q0-" "$SLOW_LINES" "without clients"
	FIG[quiet]=$P99
	python3 "$PY" slow "$port" 100 >"$work/slow.log" 2>&1 &
	slow=$!
	t_cleanup "kill $slow 2>/dev/null"
	t_wait 60 grep -q '^ready' "$work/slow.log" || t_fail "the slow clients connect" "$(tail -3 "$work/slow.log")"
	echo "   slow clients: $(grep '^ready' "$work/slow.log")"
	sleep 2
	echo " with 100 connections held open on --port, one trickling a byte every 0.5 s:"
	type_lines "echo q1-" "$SLOW_LINES" 10
	exported "echo q1-" "$SLOW_LINES" "with slow clients"
	FIG[slow]=$P99
	kill "$slow"
	wait "$slow" 2>/dev/null
	echo "   the agent closed $(tail -1 "$work/slow.log" | awk '$1 == "reopened" { n = $2 } END { print n + 0 }')" \
		"of the slow connections (each opened again half a second later)"
	echo " without other clients again:"
	type_lines "echo q2-" "$SLOW_LINES" 10
	exported "echo q2-" "$SLOW_LINES" "without clients, after them"
	FIG[quiet2]=$P99
	t_eq "the agent answers /healthz once the slow clients are gone" "200" \
		"$(t_http "http://127.0.0.1:$port/healthz" | cut -d' ' -f1)"
	t_daemon_stop export TERM '"msg":"stopped"'
fi

# --- the table ---
# A part not run (BENCH_PARTS) shows "?".
for k in exec exec_norl bpftrace bt_readline auditd standalone cpu cpu_standalone ev10 ev1000 ev1000start bare1000 bare1000typed rec10 rec1000 \
	rss_idle rss_idle1 rss_many rss_many1 hwm slow quiet quiet2; do
	FIG[$k]=${FIG[$k]:-?}
done
# met MEASURED OP GOAL: yes or no.
met() {
	[[ $1 =~ ^[0-9.]+$ ]] || { echo "?"; return; }
	awk -v m="$1" -v g="$3" "BEGIN { print (m $2 g) ? \"yes\" : \"no\" }"
}
num() { echo "$1" | sed 's/^x//; s/ .*//'; }
tab() { printf '%-44s %-36s %-44s %-12s %s\n' "$@"; }
echo
echo "issue 12's figures ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); bench took $((SECONDS - bench_start)) s)"
tab figure measured reference goal met
tab "2 exec loops, agent on / off (CPU)" "${FIG[exec]:-?}" "bpftrace ${FIG[bpftrace]:-?}" "<= x1.03" \
	"$(met "$(num "${FIG[exec]:-?}")" '<=' 1.03)"
tab "" "" "auditd ${FIG[auditd]:-?}" "" ""
tab "" "" "bpftrace, bash's readline probes ${FIG[bt_readline]:-?}" "" ""
tab "" "" "standalone agent ${FIG[standalone]:-?}" "" ""
tab "" "" "agent, execs only (no probes) ${FIG[exec_norl]:-?}" "" ""
tab "  BPF programs in the kernel, per exec" "${FIG[bpf]:-?}" "bpftrace ${FIG[bpf_bt]:-?}" "" ""
tab "" "" "standalone agent ${FIG[bpf_sa]:-?}" "" ""
tab "agent CPU per 1,000 execs (Kubernetes mode)" "${FIG[cpu]} ms" "standalone ${FIG[cpu_standalone]} ms" \
	"<= 10 ms" "$(met "${FIG[cpu]}" '<=' 10)"
tab "capture -> Event p99, 1,000 lines/s" "${FIG[ev1000]} s" "at 10 lines/s: ${FIG[ev10]} s" "<= 0.2 s" \
	"$(met "${FIG[ev1000]}" '<=' 0.2)"
tab "  (typed once the session is attributed)" "" "from its first prompt: ${FIG[ev1000start]} s" "" ""
tab "" "" "bare client, 1,000 Events/s: ${FIG[bare1000]} s" "" ""
tab "" "" "  1,000 lines/s typed beside: ${FIG[bare1000typed]} s" "" ""
tab "capture -> AuditRecord p99, 10 lines/s" "${FIG[rec10]} s" "at 1,000 lines/s: ${FIG[rec1000]} s" "<= 2 s" \
	"$(met "${FIG[rec10]}" '<=' 2)"
tab "agent RSS, Kubernetes mode, idle" "${FIG[rss_idle]%% (*}" "--ringbuf-mb 1: ${FIG[rss_idle1]%% (*}" "<= 16 MiB" \
	"$(met "$(num "${FIG[rss_idle]}")" '<=' 16)"
tab "" "${FIG[rss_idle]#* MiB }" "  ${FIG[rss_idle1]#* MiB }" "" ""
tab "agent RSS, after $MANY lines" "${FIG[rss_many]%% (*}" "--ringbuf-mb 1: ${FIG[rss_many1]%% (*}" "<= 16 MiB" \
	"$(met "$(num "${FIG[rss_many]}")" '<=' 16)"
tab "" "${FIG[rss_many]#* MiB }" "  ${FIG[rss_many1]#* MiB }" "" ""
# No measurable difference: at most the worse of the runs before and after
# them, plus 50 ms (what p99 varies by from run to run on a shared machine).
tab "capture -> export p99, 100 slow HTTP clients" "${FIG[slow]:-?} s" \
	"without, before / after: ${FIG[quiet]:-?} / ${FIG[quiet2]:-?} s" "ref +0.05 s" \
	"$(met "${FIG[slow]:-?}" '<=' "$(echo "${FIG[quiet]:-9} ${FIG[quiet2]:-9}" | awk '{ print ($1 > $2 ? $1 : $2) + 0.05 }')")"
t_summary
