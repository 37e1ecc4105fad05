#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Capture that outlives the agent: with --bpf-dir on a BPF file system the
# programs, links and ring buffer are pinned, so lines typed while the agent
# is dead (kill -9) or stopped (SIGTERM, SIGINT) are read by the next one,
# each once; a stop with no targets and `shellaudit-agent uninstall` remove
# everything; an agent with other settings replaces the old state; targets
# dropped while no agent ran are swept (from the kernel's map too); a probed
# program touched while no agent ran keeps its pinned probes, and so do the
# raw tracepoints attached for a 32-bit program. Whenever
# capture was really off for a target, its stream says so (an "off" entry,
# with why); when it was not, it says nothing. A ring buffer that fills
# while no agent reads it ends in counted drops; without a BPF file system
# capture stops with the agent.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || { t_fail "cannot mount a BPF file system"; t_summary; exit 1; }
# Registered first, so it runs last: the pins go with the mount.
t_cleanup "umount '$work/bpf'"
pins=$work/bpf/shellaudit

# start_agent [ARGS...]: one more agent on the targets file, pinned; waits
# until it runs (its own "capture running" line).
start_agent() {
	local n
	n=$(grep -c '"msg":"capture running"' "$work/agent.log" 2>/dev/null)
	"$AGENT" --targets-file "$work/targets" --output "$work/out.jsonl" --log-level debug \
		--bpf-dir "$pins" "$@" 2>>"$work/agent.log" &
	AGENT_PID=$!
	t_cleanup "kill -KILL $AGENT_PID"
	started() { [ "$(grep -c '"msg":"capture running"' "$work/agent.log")" -gt "${n:-0}" ]; }
	t_wait 60 started
}
count() { cap_lines c1 | grep -c "^echo $1-" || true; }

cap_container c1
cap_container c2
start_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target c1
cap_target c2
t_eq "pinned: maps and links are in the BPF file system" "yes" \
	"$(ls "$pins"/*/map_events "$pins"/*/link_sched_exec >/dev/null 2>&1 && echo yes || echo no)"

# A 600-line burst, 10 ms apart; the agent is killed a third of the way in
# and started again a second later, while the burst goes on.
n=600
seq 1 $n | sed 's/^/echo burst-/' >"$work/burst.txt"
cap_shell c1 "$work/burst.txt" --delay 10 --timeout 300 >/dev/null &
shell=$!
read200() { [ "$(count burst)" -ge 200 ]; }
t_wait 60 read200 || t_fail "the burst did not start"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
at_kill=$(count burst)
sleep 1
if kill -0 "$shell" 2>/dev/null; then
	t_pass "the shell was still typing while no agent ran"
else
	t_fail "the shell was still typing while no agent ran" "it ended before the restart"
fi
start_agent || t_fail "agent did not restart"
wait "$shell" || t_fail "the burst shell failed"
readall() { [ "$(count burst)" -ge $n ]; }
t_wait 60 readall
echo "  note $at_kill of $n lines were read when the agent was killed"
cap_same "after kill -9 mid-burst and a restart, every line once, in order" \
	"$(cat "$work/burst.txt")" "$(cap_lines c1 | grep '^echo burst-')"
t_match "the new agent says it took the state over" 'took over the capture state' \
	"$(cat "$work/agent.log")"
t_match "and took over the readline probe instead of attaching a second" \
	'"readline probe attached",.*"from_previous_agent":"yes"' "$(cat "$work/agent.log")"

# Dropped while no agent ran: c2 leaves the targets file before the restart.
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
echo "${CPID[c1]} c1" >"$work/targets"
start_agent || t_fail "agent did not restart"
t_wait 30 grep -q '"removed 1 targets' "$work/agent.log"
t_match "a target dropped while no agent ran is swept from the kernel's map" \
	'removed 1 targets' "$(cat "$work/agent.log")"
printf 'echo c2-after-sweep\n' >"$work/c2.txt"
printf 'echo c1-after-sweep\n' >"$work/c1.txt"
cap_shell c2 "$work/c2.txt" >/dev/null || t_fail "the shell in c2 failed"
cap_shell c1 "$work/c1.txt" >/dev/null || t_fail "the shell in c1 failed"
t_wait 30 cap_has_line c1 "echo c1-after-sweep" || t_fail "c1 is still captured"
t_eq "and its lines are not captured" "" "$(cap_lines c2 | grep after-sweep)"
# The agent would drop c2's events anyway (no target of its own names c2):
# the kernel's map must not hold it, and must hold c1.
mntns() { stat -L -c %i "/proc/$1/ns/mnt"; }
keys=$(bpftool -j map dump pinned "$(find "$pins" -mindepth 2 -maxdepth 2 -name map_targets | head -1)" 2>&1)
in_map() { grep -q "\"mntns\":$(mntns "${CPID[$1]}")[,}]" <<<"$keys" && echo yes || echo no; }
t_eq "the sweep removed c2 from the kernel's target map, and kept c1" "c1 yes, c2 no" \
	"c1 $(in_map c1), c2 $(in_map c2)"

# offs NAME: the reasons of the off entries of container NAME, in order.
offs() { "$TOOLS/sa-lines" --kind off --container "$1" --field reason "$work/out.jsonl" | tr '\n' ' '; }
t_eq "the first start says capture was off before it, the restarts after kill -9 do not" \
	"no-capture-state " "$(offs c1)"

# A probed program touched while no agent ran (touch, chmod, a link: its
# times change, not its content nor where its readline is): the next agent
# takes its pinned probes over, as a running agent keeps them, and attaches
# no second probe. c4 has a root of its own: the others' bash stays as it is.
cp -a "$RFS" "$work/rfs4"
bash4=$(readlink -f "$work/rfs4/bin/bash")
ino4=$(stat -c %i "$bash4")
# attached4 YES|NO: how many times c4's bash was probed, by a previous
# agent's pins or not.
attached4() {
	grep '"msg":"readline probe attached"' "$work/agent.log" |
		grep "\"inode\":\"[0-9]*:[0-9]*:$ino4\"" | grep -c "\"from_previous_agent\":\"$1\""
}
cap_container c4 "$work/rfs4"
echo "${CPID[c4]} c4" >>"$work/targets"
probed4() { [ "$(attached4 no)" -ge 1 ]; }
t_wait 30 probed4 || t_fail "c4's bash was probed"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
touch -d '2001-02-03 04:05:06' "$bash4"
start_agent || t_fail "agent did not restart"
adopted4() { [ "$(attached4 yes)" -ge 1 ]; }
t_wait 30 adopted4
t_eq "a probed program touched while no agent ran: the next agent takes its pinned probes over, no second probe" \
	"1 attach, 1 take-over" "$(attached4 no) attach, $(attached4 yes) take-over"
printf 'echo c4-after-touch\n' >"$work/c4.txt"
cap_shell c4 "$work/c4.txt" >/dev/null || t_fail "the shell in c4 failed"
t_wait 30 cap_has_line c4 "echo c4-after-touch"
t_eq "and what is typed into it comes from readline, once" "echo c4-after-touch" \
	"$("$TOOLS/sa-lines" --kind line --source readline --container c4 "$work/out.jsonl")"
echo "${CPID[c1]} c1" >"$work/targets"
t_wait 30 grep -q '"target removed","container":"c4"' "$work/agent.log"

# A 32-bit program run in c5 attaches the raw tracepoints for 32-bit
# syscalls: pinned too, they go on while no agent runs, and the next agent
# takes them over. (dash: its lines come from the terminal, no probe.)
{ cp -a "$RFS" "$work/rfs5" && cp "$TOOLS/cat32" "$work/rfs5/bin/"; } || t_fail "a root with cat32"
cap_container c5 "$work/rfs5"
cap_target c5 || t_fail "target c5 not added"
# ia32 WORD: cat32 in dash in c5, WORD typed a second after it started.
ia32() {
	printf '%s\n' 'cat32 > /dev/null' "$1" >"$work/c5.txt"
	"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/c5.txt" --log "$work/pty-c5.log" \
		--fast --delay 1000 -- nsenter --target "${CPID[c5]}" --mount --pid --root --wd \
		"${CENV[@]}" PS1="$PROMPT" /bin/dash -i >/dev/null
	# (dash ends in 2 here: it cannot take the terminal back at its exit.)
	[ $? != 125 ] || t_fail "the shell in c5: every line typed" "$(tail -c 300 "$work/pty-c5.log")"
}
ia32 ia32-before-kill
t_wait 30 cap_has_line c5 ia32-before-kill || t_fail "the 32-bit reader's line was captured"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
ia32 ia32-while-dead
start_agent || t_fail "agent did not restart"
t_wait 30 cap_has_line c5 ia32-while-dead
t_eq "a 32-bit reader's line typed while no agent ran is read by the next agent, each line once" \
	"$(printf '%s\t%s\n' dash 'cat32 > /dev/null' cat32 ia32-before-kill dash 'cat32 > /dev/null' \
		cat32 ia32-while-dead)" \
	"$("$TOOLS/sa-lines" --kind line --source terminal --container c5 --field comm,line "$work/out.jsonl")"
# ia32s: taken_over of each move to the raw programs, in order.
ia32s() {
	grep '"msg":"a 32-bit program runs in an audited container: terminal capture moves' \
		"$work/agent.log" | grep -o '"taken_over":"[a-z]*"' | cut -d'"' -f4 | tr '\n' ' '
}
t_eq "the raw programs that took terminal capture over: attached, then taken over by the next agent" \
	"no yes " "$(ia32s)"
# The next agent takes them over even with no 32-bit exec left to read
# (it detaches them with the hook).
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
start_agent || t_fail "agent did not restart"
three() { [ "$(ia32s)" = "no yes yes " ]; }
t_wait 30 three
t_eq "and by the one after, with no 32-bit exec left to read, the tracepoints' links gone" \
	"no yes yes , pinned: raw yes, tracepoint no" \
	"$(ia32s), pinned: raw $(ls "$pins"/*/link_tty_ia32_exit >/dev/null 2>&1 && echo yes || echo no), tracepoint $(ls "$pins"/*/link_tty_read >/dev/null 2>&1 && echo yes || echo no)"
echo "${CPID[c1]} c1" >"$work/targets"
t_wait 30 grep -q '"target removed","container":"c5"' "$work/agent.log"

# Other settings: the old state goes, with a line that says so.
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
old=$(ls "$pins")
printf 'echo typed-for-the-old-build\n' >"$work/c1a.txt"
cap_shell c1 "$work/c1a.txt" >/dev/null || t_fail "the shell in c1 failed"
start_agent --max-line 100 || t_fail "agent did not restart"
t_match "an agent with other settings removes the old state" \
	'removing the capture state of another agent build or settings' "$(cat "$work/agent.log")"
t_eq "and keeps only its own" "1 no" \
	"$(find "$pins" -mindepth 1 -maxdepth 1 | wc -l) $([ -e "$pins/$old" ] && echo yes || echo no)"
t_wait 30 sh -c "grep -q capture-state-replaced '$work/out.jsonl'"
t_eq "and c1's stream says capture was off, and why" "no-capture-state capture-state-replaced " "$(offs c1)"
t_match "counting what the old state held unread" \
	'"kind":"off","container":"c1".*"text":"the capture state of another agent build or settings was replaced: [1-9][0-9]* events' \
	"$(cat "$work/out.jsonl")"

# A stop with targets (SIGINT here; SIGTERM alike) keeps capturing: a
# rolling update or a liveness restart loses nothing typed meanwhile.
cap_agent_stop
t_eq "a stop with targets leaves capture pinned" "yes" \
	"$(ls "$pins"/*/map_events "$pins"/*/link_sched_exec "$pins"/*/link_sched_fork >/dev/null 2>&1 && echo yes || echo no)"
t_eq "  a stdin tick per CPU among it" "$(getconf _NPROCESSORS_ONLN)" \
	"$(find "$pins" -name 'link_stdin_tick_*' | wc -l)"
printf 'echo typed-while-stopped\n' >"$work/c1b.txt"
cap_shell c1 "$work/c1b.txt" >/dev/null || t_fail "the shell in c1 failed"
start_agent --max-line 100 || t_fail "agent did not restart"
t_wait 30 cap_has_line c1 "echo typed-while-stopped"
t_eq "so lines typed while no agent ran after a stop are read by the next one, once" \
	"echo typed-while-stopped" "$(cap_lines c1 | grep typed-while-stopped)"
t_eq "and no off entry: capture never stopped" "no-capture-state capture-state-replaced " "$(offs c1)"
# A target the pinned state did not have: capture starts now, and says so.
cap_container c3
echo "${CPID[c3]} c3" >>"$work/targets"
t_wait 30 grep -q '"target added","container":"c3"' "$work/agent.log"
t_wait 30 sh -c "grep -q '\"kind\":\"off\",\"container\":\"c3\"' '$work/out.jsonl'"
t_eq "a target added to a resumed state says auditing starts" "target-added " "$(offs c3)"
t_match "since the container's start" '"kind":"off","container":"c3".*"since":"20[0-9-]+T' \
	"$(cat "$work/out.jsonl")"

# No targets left: a stop takes capture down, nothing stays pinned.
: >"$work/targets"
t_wait 30 grep -q '"target removed","container":"c3"' "$work/agent.log"
cap_agent_stop
t_eq "a stop with no targets leaves nothing pinned" "" "$(ls -A "$pins" 2>/dev/null)"
t_match "and says so" 'no targets on this node: capture state removed' "$(cat "$work/agent.log")"

# Uninstall: a stopped agent's pins go, capture ends, and the next agent's
# stream says capture was off.
echo "${CPID[c1]} c1" >"$work/targets"
start_agent || t_fail "agent did not restart"
cap_agent_stop
t_eq "(pinned again after a stop with a target)" "yes" \
	"$(ls "$pins"/*/map_events >/dev/null 2>&1 && echo yes || echo no)"
t_run "shellaudit-agent uninstall" "$AGENT" uninstall --bpf-dir "$pins"
t_eq "uninstall leaves nothing pinned" "absent" "$([ -e "$pins" ] && echo present || echo absent)"
printf 'echo after-uninstall\n' >"$work/c1c.txt"
cap_shell c1 "$work/c1c.txt" >/dev/null || t_fail "the shell in c1 failed"
t_run "uninstall again: nothing to do is not an error" "$AGENT" uninstall --bpf-dir "$pins"
start_agent || t_fail "agent did not restart"
t_wait 30 sh -c "[ \"\$(grep -c '\"kind\":\"off\",\"container\":\"c1\"' '$work/out.jsonl')\" -ge 4 ]"
t_eq "lines typed after an uninstall are not captured later" "" "$(cap_lines c1 | grep after-uninstall)"
# (c1 was untargeted then re-targeted with nothing pinned: one more.)
t_eq "and the next agent's stream says capture was off" \
	"no-capture-state capture-state-replaced no-capture-state no-capture-state " "$(offs c1)"
cap_agent_stop

# Typical lines take the ring buffer room they need, not --max-line's: a
# 1 MiB ring buffer (about 240 records of --max-line, 2,800 of 256 bytes
# of line) keeps 5,000 short lines typed while no agent reads it (each in
# a record of 176 bytes), all of them, in order.
lost() { "$TOOLS/sa-lines" --kind lost --field lost_lines "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }'; }
lost_before=$(lost)
start_agent --ringbuf-mb 1 || t_fail "agent with --ringbuf-mb 1 did not start"
# A new capture state (another ring size): killed before it probed c1's
# bash, the agent would leave the lines to the terminal capture, a record
# per key read (a full make test once caught it so: 390 lines out, 73,202
# terminal reads reported lost). A line readline gave says it probed (one
# typed before that comes from the terminal: typed again until then).
printf 'echo short-probed\n' >"$work/short-probed.txt"
probed() {
	"$TOOLS/sa-lines" --kind line --source readline --container c1 "$work/out.jsonl" |
		t_grep -qxF 'echo short-probed' && return
	cap_shell c1 "$work/short-probed.txt" >/dev/null
	return 1
}
t_wait 60 probed || t_fail "the new agent probed readline in c1"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
n=5000
seq 1 $n | sed 's/^/echo short-/' >"$work/short.txt"
cap_shell c1 "$work/short.txt" --timeout 600 >/dev/null || t_fail "the shell in c1 failed"
start_agent --ringbuf-mb 1 || t_fail "agent with --ringbuf-mb 1 did not restart"
all_short() { [ "$(cap_lines c1 | grep -c '^echo short-[0-9]')" -ge $n ]; }
t_wait 60 all_short || true
got=$(cap_lines c1 | grep '^echo short-[0-9]')
cap_same "a 1 MiB ring buffer keeps 5,000 short lines typed while no agent ran, in order" \
	"$(cat "$work/short.txt")" "$got"
# (What the agent said, should it fail again.)
[ "$(cat "$work/short.txt")" = "$got" ] || printf '       %s\n' \
	"$(grep -c '"kind":"line","container":"c1"' "$work/out.jsonl") line entries of c1" \
	"$(grep '"capture counters"' "$work/agent.log" | tail -1 | cut -c1-400)" \
	"$(grep -E '"level":"(warn|error)"' "$work/agent.log" | tail -3 | cut -c1-300)"
t_eq "  and loses none" "$lost_before" "$(lost)"
cap_agent_stop

# A full ring buffer while no agent reads it (--ringbuf-mb 1: about 240
# lines of 1,000 bytes, each in a record of --max-line): the lines past it
# are counted, and the next agent reports them as lost; those kept are the
# first, in order.
lost_before=$(lost)
start_agent --ringbuf-mb 1 || t_fail "agent with --ringbuf-mb 1 did not start"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
n=400
pad=$(printf '%1000s' '' | tr ' ' r)
seq 1 $n | sed "s/^/echo ring-/; s/\$/-$pad/" >"$work/ring.txt"
cap_shell c1 "$work/ring.txt" --timeout 300 >/dev/null || t_fail "the shell in c1 failed"
start_agent --ringbuf-mb 1 || t_fail "agent with --ringbuf-mb 1 did not restart"
reported() { [ "$(lost)" -gt "$lost_before" ]; }
t_wait 30 reported || true
kept=$(cap_lines c1 | grep -c '^echo ring-')
ring_lost=$(($(lost) - lost_before))
echo "  note a 1 MiB ring buffer kept $kept of $n long lines typed while no agent ran"
# Once full it stays full (no agent reads): every long line after the
# first lost is lost too; the Ctrl-D that ended the shell, a small record,
# may still fit.
t_match "a full ring buffer: lines kept + lines reported lost = lines typed (+ the Ctrl-D)" \
	"^($n|$((n + 1)))\$" "$((kept + ring_lost))"
t_match "and some were lost (the test filled it)" '^[1-9]' "$ring_lost"
cap_same "the lines kept are the first ones, in order" "$(head -n "$kept" "$work/ring.txt")" \
	"$(cap_lines c1 | grep '^echo ring-')"
t_match "the agent warns that the ring buffer was full" '"ring buffer full: lost [1-9]' "$(cat "$work/agent.log")"
cap_agent_stop

# Without a BPF file system the agent warns and captures while it runs;
# nothing is pinned, so what is typed while no agent runs is not captured.
mkdir -p "$work/plain"
start_agent --bpf-dir "$work/plain/shellaudit" || t_fail "agent without a BPF file system did not start"
t_match "without a BPF file system the agent says capture stops with it" \
	'not a BPF file system.*capture stops whenever the agent does' "$(cat "$work/agent.log")"
printf 'echo plain-while-running\n' >"$work/p1.txt"
cap_shell c1 "$work/p1.txt" >/dev/null || t_fail "the shell in c1 failed"
t_wait 30 cap_has_line c1 "echo plain-while-running" || t_fail "without a BPF file system, c1 is captured"
t_eq "and pins nothing" "" "$(ls -A "$work/plain")"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
printf 'echo plain-no-agent\n' >"$work/p2.txt"
cap_shell c1 "$work/p2.txt" >/dev/null || t_fail "the shell in c1 failed"
start_agent --bpf-dir "$work/plain/shellaudit" || t_fail "agent did not restart"
printf 'echo plain-marker\n' >"$work/p3.txt"
cap_shell c1 "$work/p3.txt" >/dev/null || t_fail "the shell in c1 failed"
t_wait 30 cap_has_line c1 "echo plain-marker" || t_fail "c1 is captured after the restart"
t_eq "lines typed while no agent ran are not captured later" "" "$(cap_lines c1 | grep plain-no-agent)"
cap_agent_stop
t_summary
