#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A container is who it is, not whatever shares a number with it (issue 11,
# review finding M5): after a PID wrap, a process with a lower pid in the
# container's cgroup but another mount namespace is not taken for the
# container: its init is the process its runtime recorded (a runc
# state.json) or else the oldest of its cgroup.
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
	cap_container "$name" || return 1
	echo "${CPID[$name]}" >"$cg/cgroup.procs"
	for try in 1 2 3 4 5; do
		echo $((CPID[$name] - 400)) >/proc/sys/kernel/ns_last_pid
		sh -c "echo \$\$ > $cg/cgroup.procs && exec unshare --mount /bin/sleep 1000000" &
		LOW[$name]=$!
		t_cleanup "kill -KILL ${LOW[$name]}"
		[ "${LOW[$name]}" -lt "${CPID[$name]}" ] && return 0
		kill -KILL "${LOW[$name]}"
	done
	t_fail "a pid below the init's was given (the machine forks too much)"
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
	sh -c "echo \$\$ > $cg/cgroup.procs && exec nsenter --target ${CPID[$c]} --mount --pid --root --wd \
		${CENV[*]} /bin/bash -c '/bin/echo exec-into-$c'" >/dev/null
done
t_wait 30 grep -q exec-into-w2 "$work/out.jsonl"
for c in w1 w2; do
	t_eq "an exec into $c after the wrap is captured as $c's" "$c" \
		"$(grep "\"argv\":\[\"/bin/echo\",\"exec-into-$c\"\]" "$work/out.jsonl" | sed 's/.*"container":"\([^"]*\)".*/\1/')"
done
cap_agent_stop

t_summary
