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
	t_cleanup "rm -rf '$KUBECACHEDIR'"
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
