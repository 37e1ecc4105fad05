#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shells the target's probes did not see start: a bash at a path the agent
# does not know, probed from its exec event after it printed its prompt, and
# a bash already waiting at its prompt when its container was targeted. The
# line each was reading when probed is recovered (flagged "recovered").
# Then shells no exec event names: a private bash forked without an exec
# by a process gone before discovery's turn (found by the scan that a gone
# process owes, by its namespace or by its mark), and a reader forked by a
# thread of such a process, and one forked by a process that then execs
# another program at once; an exec flood of programs that make no process
# owes no scan (their exits say so). And a program known to
# have no readline, rewritten in place with a shell; a probed one rewritten
# in place with another build, and one whose ctime alone changes while it
# reads a line. Last, a private bash whose exec event a full ring buffer
# lost, found by the scan lost execs owe.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
# A root of its own with a second bash file at an unusual path.
cp -a "$RFS" "$work/rfs-n"
mkdir -p "$work/rfs-n/opt/shells"
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/mysh"
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/forked"
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/forked-ns"
cp "$TOOLS/rlmini" "$work/rfs-n/opt/shells/rlthread"
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/gap"
# A name long enough that its shell's exec event takes a larger record
# than a bare /bin/true's (argv over 64 bytes).
LOST=a-shell-whose-exec-found-the-ring-buffer-full
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/$LOST"
cp "$TOOLS/sa-ns" "$work/rfs-n/opt/sa-ns"
cap_container n "$work/rfs-n"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target n || t_fail "target n not added"
t_eq "the unusual path is not probed when the target is added" "" \
	"$(grep '"readline probe attached"' "$work/agent.log" | grep /opt/shells/mysh)"

# The shell enters readline (prints its prompt) within milliseconds of its
# exec, most often before the probes are attached (perf_event_open of a
# uprobe takes ~10 ms here): the readline call already running is then
# recovered when it restores the terminal. The first line is typed once the
# probes are there.
printf 'echo first line of a new shell\necho second\necho third\n' >"$work/n.txt"
cap_shell n "$work/n.txt" --ready "grep -q '\"readline probe attached\".*mysh' '$work/agent.log'" \
	-- /opt/shells/mysh >/dev/null || t_fail "shell in n failed"
t_wait 30 cap_has_line n "echo third" || t_fail "lines of the new shell never arrived"
t_eq "a shell started after the target was added is captured from its first line" \
	"$(cat "$work/n.txt")" "$(cap_lines n)"
# Probed before it reached its prompt (a make test once saw 766 us from
# exec to attach), no call was running: nothing is recovered then.
recovered=$(grep '"recovered":true' "$work/out.jsonl" >"$work/n.rec"; "$TOOLS/sa-lines" --container n "$work/n.rec")
[ -n "$recovered" ] || echo "  note probed before its first readline call: no line recovered"
t_eq "the line of the call running at attach time (if any), and only it, is flagged recovered" \
	"yes" "$(case $recovered in "" | "$(head -n 1 "$work/n.txt")") echo yes ;; *) echo "no: $recovered" ;; esac)"
attach=$(grep '"probed a new program from its exec"' "$work/agent.log" | head -1)
t_match "the new shell was probed from its exec event" '"exec_to_attach_us":"[0-9]+"' "$attach"
us=$(printf '%s' "$attach" | sed -n 's/.*"exec_to_attach_us":"\([0-9]*\)".*/\1/p')
echo "  note exec to attach: ${us:-?} us"

# targeted_at_prompt NAME CHECK: a shell of container NAME waits at its
# prompt, then NAME is targeted, then two lines are typed; CHECK names the
# check that both are captured.
targeted_at_prompt() {
	local name=$1 shell
	printf 'echo typed before the target\necho after\n' >"$work/$name.txt"
	cap_shell "$name" "$work/$name.txt" \
		--ready "grep -q '\"target added\",\"container\":\"$name\"' '$work/agent.log'" >/dev/null &
	shell=$!
	t_wait 30 grep -q "rootfs" "$work/pty-$name.log" || t_fail "shell in $name did not start"
	cap_target "$name" || t_fail "target $name not added"
	wait $shell || t_fail "shell in $name failed"
	t_wait 30 cap_has_line "$name" "echo after" || t_fail "lines of $name never arrived"
	t_eq "$2" "$(cat "$work/$name.txt")" "$(cap_lines "$name")"
}

# A shell already at its prompt when its container is targeted.
cap_container w
targeted_at_prompt w "a shell waiting at its prompt when targeted: its line is recovered"
cap_agent_stop

# Where the recovery programs cannot load (kernels before 6.6; forced here):
# a shell waiting at its prompt in a container targeted while its bash file
# is already probed for another container. Its readline call began
# untargeted; it must still be captured, first line included.
cap_container p1
cap_container p2
: >"$work/targets"
: >"$work/agent.log"
: >"$work/out.jsonl"
SHELLAUDIT_NO_LINE_RECOVERY=1 cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target p1 || t_fail "target p1 not added"
t_match "the agent runs without the recovery programs" '"recovers_running_call":"no"' \
	"$(grep '"readline probe attached"' "$work/agent.log")"
targeted_at_prompt p2 \
	"without recovery, a shell at its prompt when targeted (file already probed): every line"
cap_agent_stop

# A private bash (FILE, at a path no scan of the usual ones probes) whose
# interactive shell is a child it forked without an exec, the parent
# exiting at once: no exec event names the running shell, and the one of
# its parent is gone before discovery's turn (the agent is stopped until
# then). Terminal capture is off: only readline's probes give its lines.
# The scan a gone process owes finds the child and probes its file, though
# no event follows the parent's exit (the wait for the child execs
# nothing).
# forked_shell NAME FILE CHECK [WRAPPER...]: WRAPPER runs the parent (say,
# in a mount namespace of its own). The command ends when the child's loop
# does (the child, orphaned, is never reaped: the container's init sleeps).
# FORKER, when set, is the parent's command instead (a line of sh that
# creates /tmp/NAME.done once its child read every line); FORK_SKIP lines
# are not expected first (a reader without recovery).
forked_shell() {
	local name=$1 file=$2 check=$3
	local parent="/opt/shells/$file -c '(while read -e -r -p \"rl> \" l; do :; done; : >/tmp/$name.done) <&0 &'"
	shift 3
	[ -z "${FORKER:-}" ] || parent=$FORKER
	printf 'echo %s one\necho %s two\n' "$name" "$name" >"$work/$name.txt"
	kill -STOP "$AGENT_PID"
	"$TOOLS/ptytype" --prompt 'rl> ' --lines "$work/$name.txt" --log "$work/pty-$name.log" \
		--timeout 60 \
		--ready "kill -CONT $AGENT_PID; grep -q '\"readline probe attached\".*$file\"' '$work/agent.log'" \
		-- nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" "$@" /bin/bash -c \
		"$parent &&
		coproc { read -r _; } && while [ ! -e /tmp/$name.done ]; do read -r -t 0.2 -u \${COPROC[0]} _; done; :" \
		>/dev/null ||
		t_fail "$name: the forked shell ran" "$(tail -c 300 "$work/pty-$name.log")"
	kill -CONT "$AGENT_PID"
	t_wait 30 cap_has_line f "echo $name two" || t_fail "$name: its lines never arrived"
	t_eq "$check" "$(tail -n +$((1 + ${FORK_SKIP:-0})) "$work/$name.txt")" \
		"$(cap_lines f | grep -F "echo $name ")"
}
cap_container f "$work/rfs-n"
: >"$work/targets"
: >"$work/agent.log"
: >"$work/out.jsonl"
cap_agent --no-terminal || { t_fail "agent did not start"; t_summary; exit 1; }
t_cleanup "kill -CONT $AGENT_PID"
cap_target f || t_fail "target f not added"
forked_shell fork forked "a shell forked by a process gone before its turn: every line"
forked_shell forkns forked-ns \
	"and one in a mount namespace of its own (found by its mark): every line" \
	/opt/sa-ns unshare mnt
# The process's exit says whether it made a process: one made by a thread
# other than its main one counts.
# (rlmini has no rl_prep_terminal to recover the line it was reading when
# probed by.)
FORKER="/opt/shells/rlthread --fork-thread /tmp/thread.done" FORK_SKIP=1 \
	forked_shell thread rlthread \
	"a reader forked by a thread of a process gone before its turn: every line after the first"

# A process that runs a private bash, forks its reader and execs another
# program at once: both execs reach discovery together, the process runs
# the second by its turn, and no process is gone. The second exec says the
# process made processes before: a scan is owed, and finds the reader.
FORKER="/opt/shells/gap -c '(while read -e -r -p \"rl> \" l; do :; done; : >/tmp/gap.done) <&0 & exec /bin/sleep 3'" \
	forked_shell gap gap "a shell forked by a process that then execs another program: every line"

# An exec flood of a program that makes no process (its processes gone
# before discovery's turn, or read with their exits): their exits say so,
# and no scan is owed for them (the discovery log says when one is). The
# loop's own shell, which makes processes, still runs at its turn.
scans() { grep -c '"msg":"processes gone before their turn' "$work/agent.log"; }
s0=$(scans)
# shellcheck disable=SC2016 # expanded by the container's bash
nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" /bin/bash -c \
	'for ((i = 0; i < 300; i++)); do /bin/true quiet-$i; done; sleep 1' ||
	t_fail "the exec loop ran"
# shellcheck disable=SC2317 # called by t_wait
all_quiet() {
	[ "$("$TOOLS/sa-lines" --kind exec --container f --field argv "$work/out.jsonl" |
		grep -c '^/bin/true quiet-')" = 300 ]
}
t_wait 30 all_quiet || t_fail "the loop's execs never all arrived"
sleep 3 # past the 2 s between two such scans
t_eq "an exec flood of a program that makes no process: no scan owed" "$s0" "$(scans)"

# A program the agent found without readline (a sleep padded to bash's
# size), then rewritten in place with bash, its mtime put back, as a user
# of the container can: the same inode, size and mtime, but not the same
# file (its ctime tells). It is read again and its shell's lines come.
cham=$work/rfs-n/opt/shells/chameleon
cp "$RFS/bin/sleep" "$cham"
truncate -s "$(stat -c %s "$RFS/bin/bash")" "$cham"
touch -d 2020-01-01 "$cham"
nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" /opt/shells/chameleon 3 ||
	t_fail "the padded sleep ran"
t_wait 30 grep -q '"ELF file examined".*chameleon.*"result":"[^f]' "$work/agent.log" ||
	t_fail "the padded sleep was examined" "$(grep chameleon "$work/agent.log")"
before=$(stat -c '%i %s %Y' "$cham")
cat "$RFS/bin/bash" >"$cham"
touch -d 2020-01-01 "$cham"
t_eq "(rewritten in place: the same inode, size and mtime)" "$before" "$(stat -c '%i %s %Y' "$cham")"
printf 'echo chameleon one\necho chameleon two\n' >"$work/cham.txt"
cap_shell f "$work/cham.txt" --timeout 60 \
	--ready "grep -q '\"readline probe attached\".*chameleon' '$work/agent.log'" \
	-- /opt/shells/chameleon >/dev/null || t_fail "the rewritten program's shell ran"
t_wait 30 cap_has_line f "echo chameleon two" || t_fail "the rewritten program's lines never arrived"
t_eq "a program rewritten in place with a shell, size and mtime put back: every line" \
	"$(cat "$work/cham.txt")" "$(cap_lines f | grep -F "echo chameleon ")"

# A probed program rewritten in place, once it exited, with another build
# whose readline is 64 KiB further into the file, as a user of the
# container can: the same inode (the same real file), another content.
# Probed where the first build had its readline, the probes would land in
# code the second never runs, and none of its lines would come: the file
# is examined again and probed where its readline is now.
swap=$work/rfs-n/opt/shells/rl-swap
swap_run() {
	"$TOOLS/ptytype" --prompt 'rl> ' --lines "$1" --log "$work/pty-swap.log" --timeout 60 \
		--ready "[ \$(grep -c '\"readline probe attached\".*rl-swap' '$work/agent.log') -ge $2 ]" \
		-- nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" \
		/opt/shells/rl-swap >/dev/null
}
# Its first line goes to the readline call that was running when the probe
# was attached: rlmini has no rl_prep_terminal to recover it by, so that
# one is not expected.
cp "$TOOLS/rlmini" "$swap"
printf 'swap first\nswap one\nswap two\n' >"$work/swap1.txt"
swap_run "$work/swap1.txt" 1 || t_fail "the first build ran" "$(tail -c 300 "$work/pty-swap.log")"
t_wait 30 cap_has_line f "swap two" || t_fail "the first build's lines never arrived"
ino=$(stat -c %i "$swap")
cat "$TOOLS/rlmini-pad" >"$swap"
t_eq "(rewritten in place: the same inode)" "$ino" "$(stat -c %i "$swap")"
printf 'swap first\nswap three\nswap four\n' >"$work/swap2.txt"
swap_run "$work/swap2.txt" 2 || t_fail "the second build ran" "$(tail -c 300 "$work/pty-swap.log")"
t_wait 30 cap_has_line f "swap four" || t_fail "the rewritten program's lines never arrived"
t_eq "a probed program rewritten in place with another build: every line" \
	"$(cat "$work/swap1.txt" "$work/swap2.txt" | grep -v first)" \
	"$(cap_lines f | grep -F "swap " | grep -v first)"
t_match "it was examined again" '"probed file rewritten since it was examined' \
	"$(cat "$work/agent.log")"

# A probed program whose ctime alone changes (touch, chmod, a link: what
# its user can do while it runs), then runs again: its probes stay. Gone
# even for a moment, they would miss the return of the readline call
# running meanwhile, and its line: a way to type unrecorded lines.
changed='"probed file (changed|rewritten) since it was examined'
n0=$(grep -cE "$changed" "$work/agent.log")
printf 'swap in-flight\nswap after\n' >"$work/swap3.txt"
"$TOOLS/ptytype" --prompt 'rl> ' --lines "$work/swap3.txt" --log "$work/pty-swap.log" --timeout 60 \
	--ready "touch '$swap' && nsenter --target '${CPID[f]}' --mount --pid --root --wd \
		${CENV[*]} /opt/shells/rl-swap </dev/null >/dev/null 2>&1 &&
		[ \$(grep -cE '$changed' '$work/agent.log') -gt $n0 ]" \
	-- nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" \
	/opt/shells/rl-swap >/dev/null || t_fail "the touched program ran" "$(tail -c 300 "$work/pty-swap.log")"
t_wait 30 cap_has_line f "swap after" || t_fail "the touched program's lines never arrived"
t_eq "a probed program touched while it reads a line: that line and the next, from readline" \
	"$(printf 'swap in-flight\nswap after')" \
	"$("$TOOLS/sa-lines" --kind line --container f --source readline "$work/out.jsonl" | grep -F -e "swap in-flight" -e "swap after")"
t_match "its probes were kept" '"probed file changed since it was examined, its readline where it was: probes kept"' \
	"$(cat "$work/agent.log")"
cap_agent_stop

# An exec the ring buffer had no room for: a private bash started while
# the agent read nothing (stopped) and its ring buffer of 1 MiB was full.
# Its exec event is lost, and no other event names it (terminal capture
# is off); the lost execs the kernel counted make every container's
# processes scanned again, which finds it: its lines come. What fills
# the ring buffer stays (a process gone before discovery's turn owes a
# scan of its own): 200 bash loops with 8 KiB of arguments each (a large
# record), whose sleeps (small ones) fill what the large ones left, so
# that not even the shell's exec event (argv over 64 bytes) fits.
: >"$work/agent.log"
cap_agent --no-terminal --ringbuf-mb 1 || { t_fail "agent did not start"; t_summary; exit 1; }
t_cleanup "kill -CONT $AGENT_PID"
t_cleanup "pkill -KILL -f ring-filler"
t_wait 30 grep -q '"msg":"target added","container":"f"' "$work/agent.log" || t_fail "target f not added"
kill -STOP "$AGENT_PID"
# shellcheck disable=SC2016 # expanded by the container's bash
nsenter --target "${CPID[f]}" --mount --pid --root --wd "${CENV[@]}" /bin/bash -c \
	'for ((i = 0; i < 200; i++)); do
		/bin/bash -c "while :; do sleep 1000; done" ring-filler "$1" &
	done; wait' - "$(head -c 8000 /dev/zero | tr '\0' r)" </dev/null >/dev/null 2>&1 &
# shellcheck disable=SC2317 # called by t_wait
filled() { [ "$(pgrep -f -c '^sleep 1000$')" -ge 200 ]; }
t_wait 60 filled || t_fail "the 200 loops and their sleeps started"
printf 'echo lost one\necho lost two\n' >"$work/lost.txt"
cap_shell f "$work/lost.txt" --timeout 60 \
	--ready "kill -CONT $AGENT_PID; grep -q '\"readline probe attached\".*$LOST' '$work/agent.log'" \
	-- "/opt/shells/$LOST" >/dev/null || t_fail "the shell whose exec was lost ran" "$(tail -c 300 "$work/pty-f.log")"
kill -CONT "$AGENT_PID"
t_eq "(the shell's exec event was lost)" "" \
	"$("$TOOLS/sa-lines" --kind exec --container f --field argv "$work/out.jsonl" | grep -F "$LOST")"
t_wait 30 cap_has_line f "echo lost two" || t_fail "the lines of the shell whose exec was lost never arrived"
t_eq "a shell whose exec event the full ring buffer lost: every line, from readline" \
	"$(cat "$work/lost.txt")" \
	"$("$TOOLS/sa-lines" --kind line --container f --source readline "$work/out.jsonl" | grep -F "echo lost ")"
pkill -KILL -f ring-filler
cap_agent_stop

t_summary
