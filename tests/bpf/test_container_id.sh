#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Targets given as container IDs, the way the kubelet reports them, found by
# the cgroup paths runtimes create: the systemd driver's
# cri-containerd-<id>.scope on cgroup v1, the cgroupfs driver's
# kubepods/<qos>/pod<uid>/<id> on cgroup v2, and an ID whose container only
# starts after the target was set.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
V1ROOT=/sys/fs/cgroup/pids
V2ROOT=/sys/fs/cgroup/unified
for d in "$V1ROOT" "$V2ROOT"; do
	[ -w "$d/cgroup.procs" ] || { t_fail "no writable cgroup hierarchy at $d"; t_summary; exit 1; }
done
newid() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
id1=$(newid)
id2=$(newid)
id3=$(newid)
top=shellaudit-bpf-$$
v1=$V1ROOT/$top.slice/kubepods-pod$$.slice/cri-containerd-$id1.scope
v2=$V2ROOT/$top/kubepods/besteffort/pod$$-uid/$id2
v3=$V2ROOT/$top/kubepods/pod$$-late/$id3
# Cleanup: processes back to the root cgroups, then the directories.
t_cleanup "for c in $v1 $v2 $v3; do [ -d \$c ] && for p in \$(cat \$c/cgroup.procs); do echo \$p > \${c%%/$top*}/cgroup.procs; done; done; \
	find $V1ROOT/$top.slice $V2ROOT/$top -depth -type d -exec rmdir {} \\;"
mkdir -p "$v1" "$v2" "$v3"

cap_container k1
cap_container k2
echo "${CPID[k1]}" >"$v1/cgroup.procs"
echo "${CPID[k2]}" >"$v2/cgroup.procs"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
{
	echo "containerd://$id1 k1"
	echo "cri-o://$id2 k2"
	echo "containerd://$id3 k3"
} >"$work/targets"
t_wait 30 grep -q '"target added","container":"k1"' "$work/agent.log"
t_match "found by a systemd-driver cgroup v1 path" "\"target added\",\"container\":\"k1\",\"pid\":\"${CPID[k1]}\"" \
	"$(cat "$work/agent.log")"
t_wait 30 grep -q '"target added","container":"k2"' "$work/agent.log"
t_match "found by a cgroupfs-driver cgroup v2 path" "\"target added\",\"container\":\"k2\",\"pid\":\"${CPID[k2]}\"" \
	"$(cat "$work/agent.log")"
# Once the agent has looked for k3 and said it is not there yet.
t_wait 30 grep -q '"target not running here yet[^"]*","container":"k3"' "$work/agent.log" ||
	t_fail "the agent looked for k3" "$(grep k3 "$work/agent.log" | tail -3)"
t_eq "an ID with no container yet is not added" "" \
	"$(grep '"target added","container":"k3"' "$work/agent.log")"

# A shell exec'd into k2 the way a runtime does it: cgroup first, then the
# namespaces. Its entries carry the container's cgroup v2 id.
printf 'echo in k2\n' >"$work/k2.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/k2.txt" -- sh -c \
	"echo \$\$ > $v2/cgroup.procs && exec nsenter --target ${CPID[k2]} --mount --pid --root --wd \
	${CENV[*]} /bin/bash --rcfile /root/.bashrc -i" >/dev/null || t_fail "shell in k2 failed"
printf 'echo in k1\n' >"$work/k1.txt"
cap_shell k1 "$work/k1.txt" >/dev/null || t_fail "shell in k1 failed"
t_wait 30 cap_has_line k1 "echo in k1" || t_fail "line of k1 never arrived"
t_eq "lines of k2 attributed to k2" "echo in k2" "$(cap_lines k2)"
t_eq "entries of k2 carry its cgroup v2 id" "$(stat -c %i "$v2")" \
	"$("$TOOLS/sa-lines" --kind line --container k2 --field cgroup "$work/out.jsonl")"

# The container of k3 starts now: the agent finds it on its next look.
cap_container k3
echo "${CPID[k3]}" >"$v3/cgroup.procs"
t_wait 30 grep -q '"target added","container":"k3"' "$work/agent.log" ||
	t_fail "a container started after its target was set was not found"
printf 'echo late\n' >"$work/k3.txt"
cap_shell k3 "$work/k3.txt" >/dev/null || t_fail "shell in k3 failed"
t_wait 30 cap_has_line k3 "echo late"
t_eq "a container started after its ID was targeted is captured" "echo late" "$(cap_lines k3)"
cap_agent_stop
t_summary
