#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A container is who it is, not whatever shares a number with it (issue 11,
# review findings M5 and M6):
#   - after a PID wrap, a process with a lower pid in the container's cgroup
#     but another mount namespace is not taken for the container: its init
#     is the process its runtime recorded (a runc state.json) or else the
#     oldest of its cgroup;
#   - after a crash of the agent, a container that gets the mount namespace
#     inode of a targeted container that ended meanwhile is not captured,
#     nor attributed to the old one; what the old one ran before it ended is
#     still its own.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
V2ROOT=/sys/fs/cgroup/unified
[ -w "$V2ROOT/cgroup.procs" ] || { t_fail "no writable cgroup v2 hierarchy at $V2ROOT"; t_summary; exit 1; }
newid() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
top=shellaudit-identity-$$
t_cleanup "for c in \$(find $V2ROOT/$top -name cgroup.procs 2>/dev/null); do for p in \$(cat \$c); do echo \$p > $V2ROOT/cgroup.procs; done; done; \
	find $V2ROOT/$top -depth -type d -exec rmdir {} \\;"

# --- M5: a PID wrap ---------------------------------------------------------------

# wrapped NAME: container NAME in a cgroup named after a new container ID
# (in ID[NAME]), and beside its init, in the same cgroup, a process with a
# lower pid in a mount namespace of its own, as a PID wrap makes it
# (/proc/sys/kernel/ns_last_pid set below the init's pid).
declare -A ID LOW
wrapped() {
	local name=$1 cg try
	ID[$name]=$(newid)
	cg=$V2ROOT/$top/kubepods/besteffort/pod-$name/${ID[$name]}
	mkdir -p "$cg"
	for try in $(seq 1 10); do
		cap_container "$name-$try" || return 1
		CPID[$name]=${CPID[$name-$try]}
		# Pids start over at 300 after a wrap: an init below 1300 leaves
		# no room under it. The next container gets a higher pid: the
		# counter is moved past it (a run before this one may have left
		# it low, where ten containers would not get past 1300).
		if [ "${CPID[$name]}" -lt 1300 ]; then
			kill -KILL "${CPID[$name]}"
			echo 1400 >/proc/sys/kernel/ns_last_pid
			continue
		fi
		echo "${CPID[$name]}" >"$cg/cgroup.procs"
		echo $((CPID[$name] - 1000)) >/proc/sys/kernel/ns_last_pid
		sh -c "echo \$\$ > $cg/cgroup.procs && exec unshare --mount /bin/sleep 1000000" &
		LOW[$name]=$!
		t_cleanup "kill -KILL ${LOW[$name]}"
		[ "${LOW[$name]}" -lt "${CPID[$name]}" ] && return 0
		# Another program forked meanwhile: both go, the next container.
		kill -KILL "${LOW[$name]}" "${CPID[$name]}"
		# shellcheck disable=SC2317 # called by t_wait
		gone() { ! grep -qxe "${LOW[$name]}" -e "${CPID[$name]}" "$cg/cgroup.procs"; }
		t_wait 20 gone
	done
	t_fail "a pid below the init's was given to a process of $name" \
		"(10 tries; last init ${CPID[$name]}, last process ${LOW[$name]:-none})"
	return 1
}
wrapped w1 || { t_summary; exit 1; }
wrapped w2 || { t_summary; exit 1; }
mntns() { stat -Lc %i "/proc/$1/ns/mnt"; }
t_eq "(w1: a lower pid in the container's cgroup, in another mount namespace)" "yes yes" \
	"$([ "${LOW[w1]}" -lt "${CPID[w1]}" ] && echo yes) $([ "$(mntns "${LOW[w1]}")" != "$(mntns "${CPID[w1]}")" ] && echo yes)"

# w2's runtime recorded its init, as runc does under containerd's root.
rt=$work/runtime
mkdir -p "$rt/k8s.io/${ID[w2]}"
start=$(awk '{ print $22 }' "/proc/${CPID[w2]}/stat")
printf '{"id":"%s","init_process_pid":%d,"init_process_start":%s,"created":"x"}\n' \
	"${ID[w2]}" "${CPID[w2]}" "$start" >"$rt/k8s.io/${ID[w2]}/state.json"

cap_agent --runtime-roots "$work/nothing-here:$rt" || { t_fail "agent did not start"; t_summary; exit 1; }
printf 'containerd://%s w1\ncontainerd://%s w2\n' "${ID[w1]}" "${ID[w2]}" >"$work/targets"
t_wait 30 grep -q '"target added","container":"w1"' "$work/agent.log"
t_wait 30 grep -q '"target added","container":"w2"' "$work/agent.log"
t_match "w1 is its oldest process, not the lower pid" \
	"\"target added\",\"container\":\"w1\",\"pid\":\"${CPID[w1]}\",\"mntns\":\"$(mntns "${CPID[w1]}")\".*\"init\":\"oldest process of its cgroup\"" \
	"$(cat "$work/agent.log")"
t_match "w2 is the init its runtime recorded" \
	"\"target added\",\"container\":\"w2\",\"pid\":\"${CPID[w2]}\",\"mntns\":\"$(mntns "${CPID[w2]}")\".*\"init\":\"runtime state\"" \
	"$(cat "$work/agent.log")"
# `kubectl exec` into each: the runtime joins the cgroup, then the
# namespaces. What it runs is the container's.
for c in w1 w2; do
	cg=$V2ROOT/$top/kubepods/besteffort/pod-$c/${ID[$c]}
	out=$(sh -c "echo \$\$ > $cg/cgroup.procs && exec nsenter --target ${CPID[$c]} --mount --pid --root --wd \
		${CENV[*]} /bin/bash -c '/bin/echo exec-into-$c'" 2>&1) ||
		t_fail "the exec into $c ran" "$out"
done
for c in w1 w2; do
	# The exec of echo itself: the bash before it names the same marker
	# in its argv and may be written a batch before it.
	t_wait 30 grep -q "\"argv\":\\[\"/bin/echo\",\"exec-into-$c\"\\]" "$work/out.jsonl"
	got=$(grep "\"argv\":\[\"/bin/echo\",\"exec-into-$c\"\]" "$work/out.jsonl" | sed 's/.*"container":"\([^"]*\)".*/\1/')
	if [ "$got" = "$c" ]; then
		t_pass "an exec into $c after the wrap is captured as $c's"
	else
		# What the agent said and captured of it, for a failure seen once.
		t_fail "an exec into $c after the wrap is captured as $c's" "got: '$got'" \
			"$(grep -e "\"container\":\"$c\"" -e '"level":"warn' -e '"level":"error' "$work/agent.log" | tail -8)" \
			"$(grep -c "\"container\":\"$c\"" "$work/out.jsonl") entries of $c in the output"
	fi
done
cap_agent_stop

# --- M6: a mount namespace inode reused after a crash ----------------------------

mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || { t_fail "cannot mount a BPF file system"; t_summary; exit 1; }
t_cleanup "umount '$work/bpf'"
: >"$work/targets"
: >"$work/out.jsonl"
start_agent() {
	local n
	n=$(grep -c '"msg":"capture running"' "$work/agent.log" 2>/dev/null)
	"$AGENT" --targets-file "$work/targets" --output "$work/out.jsonl" --log-level debug \
		--bpf-dir "$work/bpf/shellaudit" 2>>"$work/agent.log" &
	AGENT_PID=$!
	t_cleanup "kill -KILL $AGENT_PID"
	started() { [ "$(grep -c '"msg":"capture running"' "$work/agent.log")" -gt "${n:-0}" ]; }
	t_wait 60 started
}
run_in() { nsenter --target "${CPID[$1]}" --mount --pid --root --wd "${CENV[@]}" /bin/bash -c "$2" >/dev/null; }

# A targeted container runs something while the agent runs and, once the
# agent is killed, something more; then it ends, and new, untargeted ones
# start until one gets its mount namespace's inode. The kernel gives the
# lowest free number, but other tests running beside this one make
# namespaces too and may take it first: a new container below it is kept
# (it fills a hole that would otherwise come first), one above it is
# stopped again; and when 30 s go by without the number (another test's
# long-lived namespace holds it: a full make test once waited 600 s), the
# round starts over with another targeted container.
reused=
r=0
deadline=$((SECONDS + 600))
gone() { [ ! -e "/proc/${CPID[old]}" ]; }
while [ -z "$reused" ] && [ "$SECONDS" -lt "$deadline" ]; do
	r=$((r + 1))
	cap_container old || break
	old_ns=$(mntns "${CPID[old]}")
	echo "${CPID[old]} old" >"$work/targets"
	start_agent || { t_fail "agent did not start"; t_summary; exit 1; }
	t_wait 30 grep -q "\"target added\",\"container\":\"old\",\"pid\":\"${CPID[old]}\"" "$work/agent.log"
	run_in old "/bin/echo old-while-agent-ran-$r"
	t_wait 30 grep -q "old-while-agent-ran-$r\"" "$work/out.jsonl"
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	run_in old "/bin/echo old-while-no-agent-$r"
	kill -KILL "${CPID[old]}"
	t_wait 30 gone
	i=0
	round_end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$round_end" ]; do
		i=$((i + 1))
		cap_container "new$r-$i" || break
		ns=$(mntns "${CPID[new$r-$i]}")
		if [ "$ns" = "$old_ns" ]; then
			reused=new$r-$i
			break
		fi
		[ -n "$ns" ] && [ "$ns" -gt "$old_ns" ] && kill -KILL "${CPID[new$r-$i]}"
		sleep 0.1
	done
done
if [ -z "$reused" ]; then
	t_fail "a new container got the old one's mount namespace inode" "($r rounds, last inode $old_ns)"
	t_summary
	exit 1
fi
t_pass "a new, untargeted container ($reused) got the old one's mount namespace inode"
run_in "$reused" "/bin/echo new-private-marker"
start_agent || t_fail "agent did not restart"
t_wait 30 grep -q "old-while-no-agent-$r\"" "$work/out.jsonl"
sleep 2 # a second turn of the agent: anything of the new container would be out by now
cap_agent_stop
t_eq "nothing of the new container is captured" "" "$(grep new-private-marker "$work/out.jsonl")"
t_eq "what the old one ran while no agent ran is still its own" "old" \
	"$(grep "\"argv\":\\[\"/bin/echo\",\"old-while-no-agent-$r\"\\]" "$work/out.jsonl" | sed 's/.*"container":"\([^"]*\)".*/\1/')"
t_match "the kernel refused the new container's processes for the old target, and counted them" \
	'"stale_targets":"[1-9]' "$(grep '"capture counters"' "$work/agent.log" | tail -1)"
t_match "the agent says so" 'mount namespace that reuses a gone target.s inode were not taken' \
	"$(cat "$work/agent.log")"
t_summary
