# SPDX-License-Identifier: Apache-2.0
# Helpers of the e2e tests that run a local node. Sourced after tests/lib.sh
# and hack/lib.sh, not run.

# e2e_node_preflight: root and the node's binaries, or a failed check and
# the end of the test.
e2e_node_preflight() {
	local b
	if [ "$(id -u)" != 0 ]; then
		t_fail "runs as root" "a node needs root (containers, mounts, interfaces)"
		t_summary
		exit
	fi
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		if [ ! -x "$KUBE_BIN/$b" ]; then
			t_fail "$KUBE_BIN/$b exists" "build it with hack/kube-build.sh --node (make kube)"
			t_summary
			exit
		fi
	done
}

# e2e_node_env: t_cluster_env, plus what a node needs to run next to a
# `make run` one: four more ports, a bridge, a pod range, a dummy interface
# and a kubelet cgroup root of its own. Sets RUN_REAL, the state dir as the
# kernel names it in mount tables.
e2e_node_env() {
	local p n
	t_cluster_env
	export KUBECACHEDIR=$SHELLAUDIT_RUN.kube-cache
	# With a down of its own: the kubectl calls of down, when a failed test
	# ends with the node up, would make the cache again after its removal.
	t_cleanup "'$T_ROOT/hack/cluster.sh' down; rm -rf '$KUBECACHEDIR'"
	# Below the ephemeral range (32768 and up on Linux), where an outgoing
	# connection could take one between this check and the bind.
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		t_port_free $p && t_port_free $((p + 1)) && t_port_free $((p + 2)) &&
			t_port_free $((p + 3)) && break
	done
	export SHELLAUDIT_KCM_PORT=$p SHELLAUDIT_SCHEDULER_PORT=$((p + 1))
	export SHELLAUDIT_KUBELET_PORT=$((p + 2)) SHELLAUDIT_KUBELET_HEALTHZ_PORT=$((p + 3))
	n=$((RANDOM % 250 + 1))
	export SHELLAUDIT_CNI_BRIDGE=sa-e2e$n
	export SHELLAUDIT_POD_CIDR=10.245.$n.0/24
	export SHELLAUDIT_NODE_DUMMY=sa-e2ed$n SHELLAUDIT_NODE_DUMMY_CIDR=10.201.$n.1/24
	export SHELLAUDIT_CGROUP_ROOT=/shellaudit-e2e-$SHELLAUDIT_APISERVER_PORT
	RUN_REAL=$(realpath -m "$SHELLAUDIT_RUN")
}

# e2e_node_add_env: the settings of a second node of the same cluster
# (hack/cluster.sh node-add): its own bridge, pod range, kubelet ports and
# cgroup root, none shared with the first node or with another test's.
e2e_node_add_env() {
	local p n
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		t_port_free $p && t_port_free $((p + 1)) && break
	done
	export SHELLAUDIT_ADD_KUBELET_PORT=$p SHELLAUDIT_ADD_KUBELET_HEALTHZ_PORT=$((p + 1))
	# 10.246.x: away from the first nodes' 10.245.x of the e2e tests.
	for _ in $(seq 50); do
		n=$((RANDOM % 250 + 1))
		ip -o link show "sa-e2eb$n" >/dev/null 2>&1 || ip route | grep -q "^10\.246\.$n\.0/24 " || break
	done
	export SHELLAUDIT_ADD_CNI_BRIDGE=sa-e2eb$n
	export SHELLAUDIT_ADD_POD_CIDR=10.246.$n.0/24
	export SHELLAUDIT_ADD_CGROUP_ROOT=$SHELLAUDIT_CGROUP_ROOT-b
}

# e2e_session NAME LINES_FILE WORKDIR PTYTYPE_OPTS... -- CMD...: types the
# lines on a pty (tests/tools/ptytype: a line once the previous one was
# echoed and the prompt came back; the last line is exit) and passes when
# the shell ran them all. ptytype fails with 125; otherwise it returns
# kubectl's status, which is the shell's. Needs PTYTYPE, PROMPT and WAIT.
e2e_session() {
	local name=$1 lines=$2 log=$3/${1// /-}
	shift 3
	"$PTYTYPE" --prompt "$PROMPT" --echo --lines "$lines" --timeout "$WAIT" \
		--log "$log.pty" "$@" >/dev/null 2>"$log.err"
	if [ $? != 125 ]; then
		t_pass "$name: every line typed, the shell exited"
	else
		t_fail "$name: every line typed, the shell exited" "$(cat "$log.err")" \
			"$(cat -v "$log.pty" | tail -n 8)"
	fi
}

# e2e_events POD: the messages of the ShellCommand Events on POD in the
# agent's order: by name, which is the container's and then the entry's
# place in the spool (not by creation time: the agent creates up to 16
# Events at once, and the API server may finish a later one in an earlier
# second).
e2e_events() {
	"$KUBE_BIN/kubectl" get events --field-selector "reason=ShellCommand,involvedObject.name=$1" \
		-o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\t"}{.metadata.name}{"\t"}{.message}{"\n"}{end}' |
		sort -t$'\t' -k2,2 | cut -f3
}

# e2e_record_entries POD CONTAINER KIND [FIELD]: the text of the entries of
# that kind in the AuditRecords of that container, in record sequence
# order; with FIELD node, each record's spec.node instead, once a record.
e2e_record_entries() {
	"$KUBE_BIN/kubectl" get auditrecords -l "shellaudit.io/pod=$1,shellaudit.io/container=$2" -o json |
		python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"])
for r in recs:
    if len(sys.argv) > 2 and sys.argv[2] == "node":
        print(r["spec"]["node"])
        continue
    for e in r["spec"]["entries"]:
        if e["kind"] == sys.argv[1]:
            print(e["text"] if e["kind"] == "line" else e["filename"].rsplit("/", 1)[-1])' "$3" "${4:-}"
}

# e2e_node_down: hack/cluster.sh down, and the checks that nothing of the
# node (nor of a node-add one, with SHELLAUDIT_ADD_* set) is left: no
# process, mount, bridge, veth of its pods, dummy interface, iptables rule,
# cgroup, shim, /var/log/containers link or state dir.
e2e_node_down() {
	local veths v left="" start=$SECONDS
	veths=$(ip -o link show master "$SHELLAUDIT_CNI_BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1)
	[ -z "${SHELLAUDIT_ADD_CNI_BRIDGE:-}" ] || veths+=" $(ip -o link show master "$SHELLAUDIT_ADD_CNI_BRIDGE" 2>/dev/null |
		awk -F': ' '{ print $2 }' | cut -d@ -f1)"
	t_run "down" "$T_ROOT/hack/cluster.sh" down
	printf '       (down: %ss)\n' "$((SECONDS - start))"
	t_eq "no process of the cluster left" "" "$(pgrep -af -- "$SHELLAUDIT_RUN/")"
	t_eq "no mount under the state dir" "" "$(grep -F " $RUN_REAL/" /proc/self/mountinfo)"
	t_eq "no bridge" "absent" "$(ip link show "$SHELLAUDIT_CNI_BRIDGE" >/dev/null 2>&1 && echo present || echo absent)"
	for v in $veths; do ip link show "$v" >/dev/null 2>&1 && left+=" $v"; done
	t_eq "no veth" "" "$left"
	t_eq "no dummy interface" "absent" \
		"$(ip link show "$SHELLAUDIT_NODE_DUMMY" >/dev/null 2>&1 && echo present || echo absent)"
	t_eq "no iptables rule" "" "$(iptables -w -t nat -S | grep -F "shellaudit:$SHELLAUDIT_RUN")"
	t_eq "no cgroup" "" "$(ls -d /sys/fs/cgroup/*"$SHELLAUDIT_CGROUP_ROOT" 2>/dev/null)"
	t_eq "no shim" "" "$(pgrep -af "containerd-shim.*$RUN_REAL/")"
	if [ -n "${SHELLAUDIT_ADD_CNI_BRIDGE:-}" ]; then
		t_eq "no bridge of the added node" "absent" \
			"$(ip link show "$SHELLAUDIT_ADD_CNI_BRIDGE" >/dev/null 2>&1 && echo present || echo absent)"
		t_eq "no cgroup of the added node" "" "$(ls -d /sys/fs/cgroup/*"$SHELLAUDIT_ADD_CGROUP_ROOT" 2>/dev/null)"
	fi
	t_eq "no /var/log/containers link into the state dir" "" \
		"$(find /var/log/containers -maxdepth 1 -lname "$SHELLAUDIT_RUN/*" 2>/dev/null)"
	t_eq "state dir removed" "absent" "$([ -e "$SHELLAUDIT_RUN" ] && echo present || echo absent)"
}
