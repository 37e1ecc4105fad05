#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A node on a machine with no address but loopback (simulated: the
# advertise address is forced to 127.0.0.1): hack/cluster.sh makes an
# interface of its own for the node IP, the node becomes Ready on it, the
# API server reaches the kubelet there (kubectl exec), pods reach the API
# server through the kubernetes Service, and down removes the interface.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

CLUSTER=$T_ROOT/hack/cluster.sh
k() { "$KUBE_BIN/kubectl" "$@"; }

e2e_node_preflight
e2e_node_env
export SHELLAUDIT_ADVERTISE_ADDRESS=127.0.0.1
ip=${SHELLAUDIT_NODE_DUMMY_CIDR%/*}

if ! out=$("$CLUSTER" up --node 2>&1); then
	t_fail "up --node" "$(tail -n 30 <<<"$out")"
	t_summary
	exit
fi
t_pass "up --node with only loopback"
eval "$("$CLUSTER" env)"
t_match "interface $SHELLAUDIT_NODE_DUMMY holds $SHELLAUDIT_NODE_DUMMY_CIDR" "inet ${ip//./\\.}/" \
	"$(ip -4 -o addr show "$SHELLAUDIT_NODE_DUMMY" 2>&1)"
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')
t_eq "node IP is the interface's" "$ip" \
	"$(k get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')"
t_eq "node is Ready" "True" \
	"$(k get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
t_eq "kubernetes endpoint is the node IP" "$ip:$SHELLAUDIT_APISERVER_PORT" \
	"$(k get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}')"

t_run "demo image imported" "$T_ROOT/hack/images.sh" import demo
t_run "pod created" k run demo --image=shellaudit.local/demo:dev --image-pull-policy=Never
t_run "pod Ready" k wait --for=condition=Ready pod/demo --timeout=120s
t_eq "kubectl exec through the kubelet on the node IP" "exec-ok" \
	"$(k exec demo -- bash -c 'echo exec-ok' 2>/dev/null)"
# api_version: the pod's GET of /version through the Service, its errors
# too (busybox wget, whose own -T crashes it on https: timeout instead).
api_version() {
	# shellcheck disable=SC2016 # expanded by the shell in the pod
	k exec demo -- sh -c 'echo "KUBERNETES_SERVICE_HOST=$KUBERNETES_SERVICE_HOST"
		timeout 20 wget -q -O- --no-check-certificate "https://$KUBERNETES_SERVICE_HOST/version" 2>&1' 2>&1
}
# reaches_api: the pod got the API server's version; else what it saw, the
# host's rule, the routes and the Service.
reaches_api() {
	local out
	out=$(api_version)
	t_grep -q '"gitVersion": *"v1\.32\.' <<<"$out" && return
	printf '%s\n' "$out"
	iptables -w -t nat -S PREROUTING 2>&1 | grep -F "$SHELLAUDIT_CNI_BRIDGE"
	ip -4 route 2>&1
	k get svc,endpoints kubernetes -o wide 2>&1
	return 1
}
# A minute, as a pod's first connection may wait for the node's neighbour
# and conntrack state.
t_eventually "the pod reaches the API server through the kubernetes Service" 60 reaches_api

t_run "down" "$CLUSTER" down
t_eq "interface removed" "absent" \
	"$(ip link show "$SHELLAUDIT_NODE_DUMMY" >/dev/null 2>&1 && echo present || echo absent)"
t_eq "no bridge" "absent" "$(ip link show "$SHELLAUDIT_CNI_BRIDGE" >/dev/null 2>&1 && echo present || echo absent)"
t_eq "no process of the cluster left" "" "$(pgrep -af -- "$SHELLAUDIT_RUN/")"
t_eq "no mount under the state dir" "" "$(grep -F " $RUN_REAL/" /proc/self/mountinfo)"

t_summary
