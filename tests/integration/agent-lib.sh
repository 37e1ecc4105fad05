# SPDX-License-Identifier: Apache-2.0
# The set-up shared by the agent's integration test and its latency bench:
# a control plane with the CRDs, the namespaces shellaudit-system and shop,
# and the pod shop/web (container main) on a node of its own whose
# container is the capture container "audited". Sourced after tests/lib.sh,
# hack/lib.sh and tests/bpf/capture-lib.sh, not run.

k() { "$KUBE_BIN/kubectl" "$@"; }

# ag_setup NODE: all of the above; sets node, dir ($SHELLAUDIT_RUN) and cid
# (the container ID the pod status reports). The audited container's root
# is $AG_ROOT when set, else the test root.
ag_setup() {
	local cg
	node=$1
	cap_setup
	t_cluster_up
	dir=$SHELLAUDIT_RUN
	cid=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
	k apply -k "$T_ROOT/crds" >/dev/null
	k wait --for condition=established --timeout=60s crd --all >/dev/null
	k create namespace shellaudit-system >/dev/null
	k create namespace shop >/dev/null
	k create serviceaccount default -n shop >/dev/null
	# The container's init in a cgroup named after $cid, as the cgroupfs
	# driver names a container's cgroup. Registered first, so it runs
	# last: after the containers are killed.
	cg=/sys/fs/cgroup/unified/shellaudit-test-$$/$cid
	mkdir -p "$cg"
	t_cleanup "t_wait 10 rmdir '$cg'; rmdir '$(dirname "$cg")'"
	cap_container audited "${AG_ROOT:-$RFS}"
	echo "${CPID[audited]}" >"$cg/cgroup.procs"
	echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop","labels":{"app":"demo"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
		k apply -f - >/dev/null
	k patch pod web -n shop --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$cid"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null
}

# ag_pod POD NAME: another pod of shop on the node (labels app=demo), whose
# container main is the capture container NAME, started here in a cgroup
# named after its container ID; POD_CID[POD] gets that ID. After ag_setup.
declare -A POD_CID
ag_pod() {
	local pod=$1 name=$2 id cg
	id=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
	cg=/sys/fs/cgroup/unified/shellaudit-test-$$/$id
	mkdir -p "$cg"
	t_cleanup "t_wait 10 rmdir '$cg'"
	cap_container "$name" "${AG_ROOT:-$RFS}"
	echo "${CPID[$name]}" >"$cg/cgroup.procs"
	echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"'"$pod"'","namespace":"shop","labels":{"app":"demo"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
		k apply -f - >/dev/null
	k patch pod "$pod" -n shop --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$id"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null
	# shellcheck disable=SC2034 # for the scripts that source this file
	POD_CID[$pod]=$id
}

# ag_controller BINARY: the controller in the background, killed at the end.
ag_controller() {
	("$1" --port 0 --namespace shellaudit-system >"$dir/controller.log" 2>&1 & echo $! >"$dir/controller.pid")
	t_cleanup "kill -9 $(cat "$dir/controller.pid") 2>/dev/null"
}

# ag_attached: the agent reports the container attached.
ag_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 1 ]; }
