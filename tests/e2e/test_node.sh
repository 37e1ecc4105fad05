#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The local node of hack/cluster.sh up --node, next to any `make run`
# cluster (own state dir, ports, bridge, pod range and cgroup root): it
# becomes Ready; the images import; a demo pod runs with imagePullPolicy
# Never; kubectl exec (plain and on a pty) runs bash in it; its container ID
# and cgroup paths are what the capture engine expects; pods reach the API
# server through the kubernetes Service; config/default is accepted by the
# API server, its RBAC is what it claims and the agent's own-node policy
# holds (records and ShellAuditNode status); and down leaves no process, mount, interface, iptables rule,
# cgroup or state dir behind.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

CLUSTER=$T_ROOT/hack/cluster.sh
IMAGES=$T_ROOT/hack/images.sh
PTYTYPE=$T_BUILD/tests/tools/ptytype

k() { "$KUBE_BIN/kubectl" "$@"; }

e2e_node_preflight
e2e_node_env

# --- up ----------------------------------------------------------------------------

start=$SECONDS
if ! out=$("$CLUSTER" up --node 2>&1); then
	t_fail "up --node" "$(tail -n 30 <<<"$out")"
	t_summary
	exit
fi
t_pass "up --node (cold, ${SHELLAUDIT_APISERVER_PORT}; $((SECONDS - start))s)"
eval "$("$CLUSTER" env)"
node=$(k get nodes -o jsonpath='{.items[*].metadata.name}')
t_match "one node registered" '^[a-z0-9.-]+$' "$node"
t_eq "node is Ready" "True" \
	"$(k get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
t_eq "node runs containerd" "containerd://" \
	"$(k get node "$node" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}' | grep -o '^containerd://')"
node_ip=$(k get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
t_match "node IP is not loopback" '^[0-9.]+$' "$(grep -v '^127\.' <<<"$node_ip")"
start=$SECONDS
t_run "up --node again is a no-op that checks readiness" "$CLUSTER" up --node
printf '       (warm up --node: %ss)\n' "$((SECONDS - start))"
t_run "status says all is ready" "$CLUSTER" status

# --- images and a pod --------------------------------------------------------------

t_run "images build and import" "$IMAGES" import
sock=$RUN_REAL/node/containerd/containerd.sock
t_eq "the four images are in containerd's k8s.io namespace" \
	"shellaudit.local/demo:dev shellaudit.local/pause:dev shellaudit.local/shellaudit-agent:dev shellaudit.local/shellaudit-controller:dev" \
	"$(ctr --address "$sock" -n k8s.io images ls -q | grep '^shellaudit\.local/' | sort | tr '\n' ' ' | sed 's/ $//')"

t_run "demo pod created" k apply -f - <<-EOF
	apiVersion: v1
	kind: Pod
	metadata:
	  name: demo
	  labels:
	    app: demo
	spec:
	  terminationGracePeriodSeconds: 1
	  containers:
	  - name: shell
	    image: shellaudit.local/demo:dev
	    imagePullPolicy: Never
EOF
t_run "demo pod Ready" k wait --for=condition=Ready pod/demo --timeout=120s
# Only stdout: kubectl 1.32 may log "Unknown stream id 1, discarding
# message" on stderr when an exec without stdin ends.
# shellcheck disable=SC2016 # expanded by the shell in the pod
t_eq "kubectl exec runs bash and a command" "bash 42 2" \
	"$(k exec demo -- bash -c 'echo "${0##*/}" $((6 * 7)) $(wc -l </var/log/demo/app.log)' 2>/dev/null)"
# shellcheck disable=SC2016 # expanded by the shell in the pod
t_eq "the demo image has the programs of the paper's session" "" \
	"$(k exec demo -- bash -c 'for p in ls ip vi cat ps strace apt; do command -v $p >/dev/null || echo missing $p; done' 2>/dev/null)"
if [ -x "$PTYTYPE" ]; then
	# No pty size (kubectl then resizes nothing, and readline never
	# redraws its prompt), each line once its echo and the prompt after it
	# came back, and "exit" to end: ptytype returns the shell's status.
	# shellcheck disable=SC2016 # typed into the pod's shell as it is
	printf 'echo typed-$((6*7))\nexit\n' >"$SHELLAUDIT_RUN.lines"
	t_cleanup "rm -f '$SHELLAUDIT_RUN.lines' '$SHELLAUDIT_RUN.pty'"
	if "$PTYTYPE" --size 0x0 --echo --prompt 'demo:~# ' --lines "$SHELLAUDIT_RUN.lines" --timeout 60 \
		--log "$SHELLAUDIT_RUN.pty" -- "$KUBE_BIN/kubectl" exec -it demo -- bash >/dev/null 2>&1 &&
		grep -q $'^typed-42\r$' "$SHELLAUDIT_RUN.pty"; then
		t_pass "kubectl exec -it: bash on a pty runs typed lines"
	else
		t_fail "kubectl exec -it: bash on a pty runs typed lines" "$(cat -v "$SHELLAUDIT_RUN.pty" 2>/dev/null | tail -5)"
	fi
else
	t_fail "ptytype is built" "$PTYTYPE missing: run make"
fi

# --- what the capture engine sees --------------------------------------------------

cid=$(k get pod demo -o jsonpath='{.status.containerStatuses[0].containerID}')
t_match "containerID is containerd://<64 hex>" '^containerd://[0-9a-f]{64}$' "$cid"
id=${cid#containerd://}
uid=$(k get pod demo -o jsonpath='{.metadata.uid}')
qos=$(k get pod demo -o jsonpath='{.status.qosClass}' | tr '[:upper:]' '[:lower:]')
t_eq "demo pod is BestEffort" "besteffort" "$qos"
pid=$(ctr --address "$sock" -n k8s.io tasks ls 2>/dev/null | awk -v id="$id" '$1 == id { print $2 }')
t_match "containerd knows the container's pid" '^[0-9]+$' "$pid"
want=${SHELLAUDIT_CGROUP_ROOT%/}/kubepods/$qos/pod$uid/$id
v1=$(grep -E '^[0-9]+:[a-z_,=]+:' "/proc/$pid/cgroup" 2>/dev/null | cut -d: -f3 | sort -u)
v2=$(grep '^0::' "/proc/$pid/cgroup" 2>/dev/null | cut -d: -f3)
t_eq "cgroup v1 path of every controller" "$want" "$v1"
t_eq "cgroup v2 path" "$want" "$v2"
missing=""
while IFS=: read -r _ ctrls path; do
	case $ctrls in
	"") dir=/sys/fs/cgroup/unified$path ;;
	name=*) dir=/sys/fs/cgroup/${ctrls#name=}$path ;;
	*) dir=/sys/fs/cgroup/${ctrls%%,*}$path ;;
	esac
	[ -d "$dir" ] && grep -qx "$pid" "$dir/cgroup.procs" || missing+=" $dir"
done <"/proc/$pid/cgroup"
t_eq "every cgroup dir exists on the host and holds the container's pid" "" "$missing"
printf '       cgroup paths of the container (pid %s; cgroup v2 id %s):\n' "$pid" \
	"$(stat -c %i "/sys/fs/cgroup/unified$v2" 2>/dev/null)"
sed 's/^/         /' "/proc/$pid/cgroup"

# --- pods reach the API server -------------------------------------------------------

# shellcheck disable=SC2016 # expanded by the shell in the pod
t_eq "kubernetes Service env in the pod" "10.96.0.1 443" \
	"$(k exec demo -- bash -c 'echo $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT')"
# shellcheck disable=SC2016 # expanded by the shell in the pod
t_match "a pod calls the API server through the kubernetes Service with its token" '"kind": *"APIVersions"' \
	"$(k exec demo -- sh -c 'wget -q -O- --no-check-certificate --header "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api' 2>/dev/null)"

# --- config/default ------------------------------------------------------------------

t_run "kustomize config/default" k kustomize "$T_ROOT/config/default"
# A server-side dry run of namespaced objects needs the namespace to exist.
k create namespace shellaudit-system >/dev/null 2>&1
if out=$(k apply --dry-run=server -k "$T_ROOT/config/default" 2>&1); then
	t_match "apply --dry-run=server -k config/default accepted" 'daemonset.apps/shellaudit-agent created \(server dry run\)' "$out"
else
	t_fail "apply --dry-run=server -k config/default accepted" "$out"
fi
# config/local through the overlay hack/run.sh uses: the agent's spool in
# this node's state dir, not in make run's /var/lib/shellaudit or the host's.
overlay=$SHELLAUDIT_RUN.overlay
t_cleanup "rm -rf '$overlay'"
t_run "local overlay of config/local" "$T_ROOT/hack/local-overlay.sh" "$overlay" config/local \
	Deployment/shellaudit-system/shellaudit-controller/controller \
	DaemonSet/shellaudit-system/shellaudit-agent/agent DaemonSet/shellaudit-system/shellaudit-audit/controller
t_run "apply -k config/local (overlay)" k apply -k "$overlay"
t_eq "the agent's state (spool, signing key) is in the state dir, one per node" \
	"$SHELLAUDIT_RUN/agent \$(NODE_NAME)" \
	"$(k -n shellaudit-system get ds/shellaudit-agent \
		-o jsonpath='{.spec.template.spec.volumes[?(@.name=="state")].hostPath.path} {.spec.template.spec.containers[0].volumeMounts[?(@.name=="state")].subPathExpr}')"
t_eq "pull policy of config/local is Never" "Never Never" \
	"$(k -n shellaudit-system get deploy/shellaudit-controller ds/shellaudit-agent \
		-o jsonpath='{.items[*].spec.template.spec.containers[0].imagePullPolicy}')"

# can SA VERB RESOURCE [ARGS...]: kubectl auth can-i as a shellaudit service account.
can() {
	local sa=$1
	shift
	k auth can-i --as="system:serviceaccount:shellaudit-system:shellaudit-$sa" "$@" 2>/dev/null
}
# answers CMD...: the lines CMD prints, on one line.
answers() { "$@" | tr '\n' ' ' | sed 's/ $//'; }
agent_answers() {
	can agent create auditrecords.shellaudit.io -n default
	can agent update shellauditnodes.shellaudit.io --subresource=status
	can agent watch shellauditnodes.shellaudit.io
	can agent create events.events.k8s.io -n default
	can agent get auditrecords.shellaudit.io -n default
	can agent delete auditrecords.shellaudit.io -n default
	can agent update auditrecords.shellaudit.io -n default
	can agent get secrets -n shellaudit-system
	can agent list secrets -A
	can agent update shellauditnodes.shellaudit.io
	can agent list pods -A
	can agent get pods -A
	can agent create events -n default
}
t_eq "RBAC of the agent" "yes yes yes yes yes no no no no no no no no" "$(answers agent_answers)"
controller_answers() {
	can controller delete auditrecords.shellaudit.io -n default
	can controller create shellauditnodes.shellaudit.io
	can controller update shellauditpolicies.shellaudit.io --subresource=status
	can controller create leases.coordination.k8s.io -n shellaudit-system
	can controller update leases.coordination.k8s.io/shellaudit-controller -n shellaudit-system
	can controller watch pods -A
	can controller get secrets -A
	can controller create auditrecords.shellaudit.io -n default
	can controller update leases.coordination.k8s.io/other -n kube-system
	can controller create events.events.k8s.io -n default
}
t_eq "RBAC of the controller" "yes yes yes yes yes yes no no no no" "$(answers controller_answers)"

# The agent's own-node policy, with the credentials an agent pod has: a
# token bound to a pod of the DaemonSet (it runs or crash-loops; either
# way it is bound to the node).
t_wait 60 k -n shellaudit-system get pods -l app.kubernetes.io/component=node-agent \
	-o jsonpath='{.items[0].spec.nodeName}'
agent_pod=$(k -n shellaudit-system get pods -l app.kubernetes.io/component=node-agent \
	-o jsonpath='{.items[0].metadata.name}')
agent_uid=$(k -n shellaudit-system get pod "$agent_pod" -o jsonpath='{.metadata.uid}' 2>/dev/null)
token=$(k -n shellaudit-system create token shellaudit-agent --bound-object-kind=Pod \
	--bound-object-name="$agent_pod" --bound-object-uid="$agent_uid" 2>&1)
# record NODE: creates an AuditRecord for NODE as the agent; prints the
# HTTP status and the message.
record() {
	curl -s --cacert "$SHELLAUDIT_RUN/pki/ca.crt" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/yaml' -X POST --data-binary @- \
		-o "$SHELLAUDIT_RUN.resp" -w '%{http_code}' \
		"https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT/apis/shellaudit.io/v1alpha1/namespaces/default/auditrecords" \
		< <(sed -e "s/^  node: node-1$/  node: $1/" -e "s/name: demo-6f7c9-shell-0/name: e2e-$1-9f86d08188/" \
			"$T_ROOT/tests/integration/fixtures/auditrecord.yaml")
	printf ' %s' "$(grep -o '"message": *"[^"]*"' "$SHELLAUDIT_RUN.resp" 2>/dev/null)"
}
t_cleanup "rm -f '$SHELLAUDIT_RUN.resp'"
t_match "the agent appends a record of its own node" '^201' "$(record "$node")"
t_match "the agent cannot write a record of another node" "^403 .*may not write records of node other-node" \
	"$(record other-node)"
# The same for ShellAuditNode status: two of them, made here while no
# controller runs (it would delete ShellAuditNodes of nodes without
# targets), the agent's own node's and another's.
k -n shellaudit-system scale deploy/shellaudit-controller --replicas=0 >/dev/null
k -n shellaudit-system wait --for=delete pod -l app.kubernetes.io/component=controller --timeout=120s >/dev/null 2>&1
for n in "$node" other-node; do
	sed "s/name: node-1/name: $n/" "$T_ROOT/tests/integration/fixtures/shellauditnode.yaml" | k apply -f - >/dev/null
done
# node_status NODE: patches NODE's ShellAuditNode status as the agent;
# prints the HTTP status and the message.
node_status() {
	curl -s --cacert "$SHELLAUDIT_RUN/pki/ca.crt" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/merge-patch+json' -X PATCH --data '{"status":{"observedGeneration":1}}' \
		-o "$SHELLAUDIT_RUN.resp" -w '%{http_code}' \
		"https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT/apis/shellaudit.io/v1alpha1/shellauditnodes/$1/status"
	printf ' %s' "$(grep -o '"message": *"[^"]*"' "$SHELLAUDIT_RUN.resp" 2>/dev/null)"
}
t_match "the agent writes its own node's ShellAuditNode status" '^200' "$(node_status "$node")"
t_match "the agent cannot write another node's ShellAuditNode status" \
	"^403 .*may not write ShellAuditNode other-node" "$(node_status other-node)"

# --- down ----------------------------------------------------------------------------

sandbox_netns=$(ip netns identify "$pid" 2>/dev/null)
t_match "the pod's network namespace is known" '^cni-' "$sandbox_netns"
t_match "the pod has a veth on the bridge" 'veth' \
	"$(ip -o link show master "$SHELLAUDIT_CNI_BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }')"
e2e_node_down
t_eq "the container's process is gone" "gone" \
	"$( { [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status"; } && echo "running" || echo gone)"
t_eq "the pod's network namespace is unmounted" "" \
	"$(grep -F "/netns/${sandbox_netns:-unknown} " /proc/self/mountinfo)"

t_summary
