#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Whose session a process is (execFrom Sessions keeps the execs of the
# processes that entered the container and of theirs, not those of the
# container's own tree): the kernel gives a task it first sees in the
# container its parent's session. A process of the container forked by one
# the agent's sweep had not marked yet (it runs just after the target is
# added), or by one whose mark could not be made, is the container's own
# when its in-container parents lead to the init, and in the session of its
# nearest marked parent otherwise; one that entered from outside (its
# parent is outside) is its session's root. The sweep's race is made
# certain here by removing marks from the pinned map (tests/tools/sa-unmark).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
[ -x "$TOOLS/sa-unmark" ] || { t_fail "missing $TOOLS/sa-unmark (run make all)"; t_summary; exit 1; }
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || { t_fail "cannot mount a BPF file system"; t_summary; exit 1; }
# Registered first, so it runs last: the pins go with the mount.
t_cleanup "umount '$work/bpf'"

# A forker (dash -c "$F" - TAG CHILD_TAG "$F"): starts a forker CHILD_TAG
# in the background when one is named, and on each SIGUSR1 forks and runs
# /bin/true TAG N (N counting the signals).
# shellcheck disable=SC2016 # expanded by the container's dash
F='[ -z "$2" ] || /bin/dash -c "$3" - "$2" "" "" &
n=0
trap '\''n=$((n + 1)); /bin/true "$1" "$n"'\'' USR1
/bin/sleep 1000000 &
s=$!
while :; do wait "$s"; done'

# The container: its init is the forker own-init, whose child is own-child.
# Its /dev has the null device dash starts background commands on.
# shellcheck disable=SC2016 # the inner shell's arguments
unshare --mount --pid --fork --kill-child=KILL /bin/sh -c '
	set -e
	mount -t tmpfs -o mode=755 tmpfs "$1/dev"
	touch "$1/dev/null"
	mount --bind /dev/null "$1/dev/null"
	exec chroot "$1" /bin/dash -c "$2" - own-init own-child "$2"' - "$RFS" "$F" 2>"$work/container.err" &
up=$!
disown "$up"
t_cleanup "kill -KILL $up"
# forker TAG: the pid of forker TAG (its fifth argument).
forker() {
	local p
	for p in $(pgrep -x dash); do
		[ "$(tr '\n\0' ' \n' <"/proc/$p/cmdline" 2>/dev/null | sed -n 5p)" = "$1" ] && echo "$p" && return 0
	done
	return 1
}
t_wait 20 forker own-child >/dev/null ||
	{ t_fail "the container started" "$(cat "$work/container.err")"; t_summary; exit 1; }
CPID[c]=$(pgrep -P "$up")
own_child=$(forker own-child)

cap_agent --bpf-dir "$work/bpf/shellaudit" || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target c || { t_fail "container c became a target"; t_summary; exit 1; }
marks=$(find "$work/bpf/shellaudit" -mindepth 2 -maxdepth 2 -name map_marks | head -1)

# A session entered from outside as kubectl exec does (nsenter, whose
# child is its root), with a child of its own.
nsenter --target "${CPID[c]}" --mount --pid --root --wd /bin/dash -c "$F" - sess-root sess-child "$F" \
	2>/dev/null &
t_cleanup "kill -KILL $!"
t_wait 20 forker sess-child >/dev/null || t_fail "the session started"
sess_root=$(forker sess-root)
sess_child=$(forker sess-child)

# true_execs: "TAG N ROOT" of each /bin/true exec of container c, ROOT
# empty for the container's own.
true_execs() {
	"$TOOLS/sa-lines" --kind exec --container c --field argv,session_root "$work/out.jsonl" |
		awk -F'\t' '$1 ~ /^\/bin\/true / { sub(/^\/bin\/true /, "", $1); print $1 " " $2 }' | sort
}
# poke ROUND PID...: signals each forker, waits until its exec is captured.
poke() {
	local round=$1 p n
	shift
	n=$(true_execs | wc -l)
	for p in "$@"; do kill -USR1 "$p"; done
	# shellcheck disable=SC2317 # called by t_wait
	all_in() { [ "$(true_execs | wc -l)" -ge $((n + $#)) ]; }
	t_wait 30 all_in "$@" || t_fail "round $round: every forker ran /bin/true" "$(true_execs)"
}

# Round 1, every forker marked (the sweep, the exec, the fork).
poke 1 "${CPID[c]}" "$own_child" "$sess_root" "$sess_child"
# Round 2: the marks of own-init, own-child and sess-child gone, so what
# they fork now is unmarked until its exec.
t_run "the marks of three forkers are removed" "$TOOLS/sa-unmark" "$marks" \
	"${CPID[c]}" "$own_child" "$sess_child"
poke 2 "${CPID[c]}" "$own_child" "$sess_child"

t_eq "each exec in the session of where it was forked" \
	"own-child 1 
own-child 2 
own-init 1 
own-init 2 
sess-child 1 $sess_root
sess-child 2 $sess_root
sess-root 1 $sess_root" "$(true_execs)"
cap_agent_stop
t_summary
