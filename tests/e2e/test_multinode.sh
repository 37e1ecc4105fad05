#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellaudit on two real nodes of one cluster (issue 13 part 3, issue 16),
# next to any `make run` cluster: `hack/cluster.sh up --node` and
# `node-add`, each node a kubelet and a containerd of its own on this
# machine. The controller and node A's agent watch over websockets, node
# B's agent over chunked HTTP (one DaemonSet: its pods are replaced one by
# one, OnDelete). Then
#   - the sample policy, whose demo Deployment has a pod on each node,
#     programs both agents;
#   - the paper's session typed into the pod on node A (kubectl exec -it on
#     a pty) comes out as Events and AuditRecords as with chunked, and a
#     session on node B too; each agent's records carry its node;
#   - agent A's bound token cannot write node B's ShellAuditNode status or
#     records (the admission policy on the real API server), only its own;
#   - draining node B moves its demo pod to node A, and its auditing with
#     it: the new pod's lines come from node A's agent;
#   - no watch of the controller or of either agent, over either
#     transport, logged a failure (connect errors included) meanwhile;
#   - down leaves nothing of either node behind.
# Waits are generous; no check depends on how fast the machine is.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

CLUSTER=$T_ROOT/hack/cluster.sh
PTYTYPE=$T_BUILD/tests/tools/ptytype
AGENT=$T_BUILD/shellaudit-agent
PROMPT='demo:~# '
WAIT=${SHELLAUDIT_E2E_TIMEOUT:-180}
A=e2e-a
B=e2e-b

k() { "$KUBE_BIN/kubectl" "$@"; }


e2e_node_preflight
for f in "$PTYTYPE" "$AGENT" "$T_BUILD/shellaudit-controller"; do
	[ -x "$f" ] || t_stop "$f is built" "run make"
done
e2e_node_env
e2e_node_add_env
export SHELLAUDIT_NODE_NAME=$A
work=$(mktemp -d /tmp/shellaudit-multinode.XXXXXX)
t_cleanup "rm -rf '$work'"
total=$SECONDS

# --- two nodes, shellaudit and the samples ----------------------------------------

start=$SECONDS
for attempt in 1 2 3; do
	out=$("$CLUSTER" up --node 2>&1) && out=$("$CLUSTER" node-add "$B" 2>&1) && break
	[ "$attempt" = 3 ] && t_stop "up --node and node-add" "$(tail -n 30 <<<"$out")"
	echo "  note up --node or node-add failed (attempt $attempt): $(grep -m1 'error' <<<"$out")"
	"$CLUSTER" down >/dev/null 2>&1 || true
done
eval "$("$CLUSTER" env)"
t_eq "two nodes in one cluster, both Ready" "$A=True $B=True" \
	"$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}' | sed 's/ $//')"
t_run "status says both nodes are ready" "$CLUSTER" status
out=$("$T_ROOT/hack/images.sh" import 2>&1) || t_stop "images build and import" "$(tail -n 30 <<<"$out")"
t_match "the images are imported into both nodes" "imported shellaudit.local/demo:dev \\(2 nodes\\)" "$out"
printf '       (two nodes up, images imported: %ss)\n' "$((SECONDS - start))"

# apply BASE ARGS... [-- PATCH]: kubectl apply -k of BASE through
# hack/local-overlay.sh (ARGS are its --env and workload arguments) with
# PATCH (an entry of its patches list) added.
apply() {
	local base=$1 dir rc=0 a=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1") && shift; done
	mkdir -p "$T_ROOT/build/run"
	dir=$(mktemp -d "$T_ROOT/build/run/e2e-multinode.XXXXXX")
	if "$T_ROOT/hack/local-overlay.sh" "$dir" "$base" "${a[@]}" >"$work/apply.log" 2>&1; then
		# Into its patches list, which other lists (a secretGenerator) follow.
		if [ $# -ge 2 ]; then
			P=$2 awk '{ print } /^patches:$/ { print ENVIRON["P"] }' "$dir/kustomization.yaml" \
				>"$dir/k.tmp" && mv "$dir/k.tmp" "$dir/kustomization.yaml"
		fi
		k apply -k "$dir" >>"$work/apply.log" 2>&1 || rc=1
	else
		rc=1
	fi
	rm -rf -- "$dir"
	return $rc
}
CTRL=Deployment/shellaudit-system/shellaudit-controller
DS=DaemonSet/shellaudit-system/shellaudit-agent
# The agents are replaced one by one, by deleting their pod.
ONDELETE=$(
	cat <<-EOF
	- patch: |-
	    apiVersion: apps/v1
	    kind: DaemonSet
	    metadata:
	      name: shellaudit-agent
	      namespace: shellaudit-system
	    spec:
	      updateStrategy:
	        type: OnDelete
	        rollingUpdate: null
	EOF
)
deploy() {
	apply config/local --env "$CTRL/SHELLAUDIT_WATCH_TRANSPORT=websocket" \
		--env "$DS/SHELLAUDIT_WATCH_TRANSPORT=$1" "$CTRL/controller" "$DS/agent" \
		DaemonSet/shellaudit-system/shellaudit-audit/controller -- "$ONDELETE"
}
deploy websocket || t_stop "apply -k config/local, websocket everywhere" "$(tail -n 20 "$work/apply.log")"
k wait --for=condition=Established --timeout=60s crd/shellauditpolicies.shellaudit.io \
	crd/auditrecords.shellaudit.io crd/shellauditnodes.shellaudit.io >/dev/null ||
	t_stop "the CRDs are established"
k -n shellaudit-system rollout status deployment/shellaudit-controller --timeout="${WAIT}s" >/dev/null ||
	t_stop "the controller is available" "$(k -n shellaudit-system get pods -o wide 2>&1)"

# agent_pod NODE: the name of the agent pod on NODE.
agent_pod() {
	k -n shellaudit-system get pods -l app.kubernetes.io/component=node-agent \
		--field-selector "spec.nodeName=$1" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null
}
# agent_running NODE [NOT]: an agent pod runs on NODE (not named NOT).
agent_running() {
	local p
	p=$(agent_pod "$1") && [ -n "$p" ] && [ "$p" != "${2:-}" ] &&
		[ "$(k -n shellaudit-system get pod "$p" -o jsonpath='{.status.containerStatuses[0].ready}')" = true ]
}
transport_of() {
	k -n shellaudit-system get "$1" \
		-o jsonpath='{.spec.containers[0].env[?(@.name=="SHELLAUDIT_WATCH_TRANSPORT")].value}'
}
# agent_logs NODE: the last lines of the agent of NODE, for a failed check.
agent_logs() {
	local p
	p=$(agent_pod "$1")
	echo "agent on $1 ($p):"
	[ -z "$p" ] && return
	k -n shellaudit-system logs --tail=15 "$p" 2>&1
	# The probes' failures (refused, timed out) are the pod's events.
	k -n shellaudit-system get events --field-selector "involvedObject.name=$p" \
		-o custom-columns=REASON:.reason,MESSAGE:.message 2>&1 | tail -n 8
}
{ t_wait "$WAIT" agent_running "$A" && t_wait "$WAIT" agent_running "$B"; } ||
	t_stop "an agent runs on each node" "$(k -n shellaudit-system get pods -o wide 2>&1)" \
		"$(agent_logs "$A")" "$(agent_logs "$B")"
# Node B's agent over chunked: the DaemonSet says so, and its pod is replaced.
old=$(agent_pod "$B")
k -n shellaudit-system logs "$old" >"$work/agent-b-websocket.log" 2>&1
deploy chunked || t_stop "apply -k config/local, node B's agent chunked" "$(tail -n 20 "$work/apply.log")"
k -n shellaudit-system delete pod "$old" --wait=true --timeout="${WAIT}s" >/dev/null
t_wait "$WAIT" agent_running "$B" "$old" || t_stop "node B's agent is replaced" "$(k -n shellaudit-system get pods -o wide 2>&1)"
ctrl=$(k -n shellaudit-system get pods -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].metadata.name}')
t_eq "watch transports: the controller and node A's agent websocket, node B's agent chunked" \
	"websocket websocket chunked" \
	"$(transport_of "pod/$ctrl") $(transport_of "pod/$(agent_pod "$A")") $(transport_of "pod/$(agent_pod "$B")")"

# The samples, with the demo Deployment spread over both nodes (a node
# cordoned is no place to spread to), a long retention and room for every
# line as an Event.
SPREAD=$(
	cat <<-EOF
	- patch: |-
	    apiVersion: apps/v1
	    kind: Deployment
	    metadata:
	      name: demo
	      namespace: default
	    spec:
	      replicas: 2
	      template:
	        spec:
	          topologySpreadConstraints:
	          - maxSkew: 1
	            topologyKey: kubernetes.io/hostname
	            whenUnsatisfiable: DoNotSchedule
	            nodeTaintsPolicy: Honor
	            labelSelector:
	              matchLabels:
	                app: demo
	- patch: |-
	    apiVersion: shellaudit.io/v1alpha1
	    kind: ShellAuditPolicy
	    metadata:
	      name: audit-demo
	    spec:
	      retention: 1h
	      events:
	        ratePerMinute: 600
	EOF
)
apply config/samples Deployment/default/demo/demo Deployment/default/untargeted/demo -- "$SPREAD" ||
	t_stop "apply -k config/samples" "$(tail -n 20 "$work/apply.log")"
k rollout status deployment/demo --timeout="${WAIT}s" >/dev/null ||
	t_stop "the demo Deployment is available" "$(k get pods -o wide 2>&1)"
demo_on() {
	k get pods -l app=demo --field-selector "spec.nodeName=$1,status.phase=Running" \
		-o jsonpath='{.items[0].metadata.name}' 2>/dev/null
}
podA=$(demo_on "$A")
podB=$(demo_on "$B")
{ [ -n "$podA" ] && [ -n "$podB" ]; } || t_stop "a demo pod on each node" "$(k get pods -o wide 2>&1)"
t_pass "a demo pod on each node ($podA, $podB)"
policy_ready() {
	[ "$(k get sap audit-demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
t_wait "$WAIT" policy_ready || t_stop "the policy turns Ready" "$(k get sap audit-demo -o yaml 2>&1 | tail -n 25)"
# Ready may come first with one node, while the other pod's container is
# not running yet: the count follows.
two_nodes() { [ "$(k get sap audit-demo -o jsonpath='{.status.nodes}')" = 2 ] && policy_ready; }
t_wait "$WAIT" two_nodes || true
t_eq "one policy programs both agents: the policy counts two nodes" 2 \
	"$(k get sap audit-demo -o jsonpath='{.status.nodes}')"
# attached NODE POD: NODE's agent reports POD's shell container attached.
attached() {
	local cid
	cid=$(k get pod "$2" -o jsonpath='{.status.containerStatuses[?(@.name=="shell")].containerID}') &&
		[ -n "$cid" ] &&
		k get shellauditnode "$1" -o jsonpath='{range .status.targets[?(@.attached==true)]}{.containerID}{"\n"}{end}' |
		t_grep -qxF "$cid"
}
if t_wait "$WAIT" attached "$A" "$podA"; then
	t_pass "node A's agent attaches to its demo pod"
else
	t_fail "node A's agent attaches to its demo pod" "$(k get shellauditnode "$A" -o yaml 2>&1 | tail -n 25)"
fi
if t_wait "$WAIT" attached "$B" "$podB"; then
	t_pass "node B's agent attaches to its demo pod"
else
	t_fail "node B's agent attaches to its demo pod" "$(k get shellauditnode "$B" -o yaml 2>&1 | tail -n 25)"
fi
t_eq "each ShellAuditNode targets its own node's pod only" "$podA $podB" \
	"$(k get shellauditnode "$A" -o jsonpath='{.spec.targets[*].pod}') $(k get shellauditnode "$B" -o jsonpath='{.spec.targets[*].pod}')"

# --- sessions on both nodes ----------------------------------------------------------

count_at_least() { [ "$("${@:2}" | wc -l)" -ge "$1" ]; }
# The paper's session, on node A (its agent watches over a websocket).
cat >"$work/exec.txt" <<'EOF'
ls
ip a
mkdir -p /etc/nginx
echo 'worker_processes 1;' > /etc/nginx/nginx.conf
sed -i 's/1;/4;/' /etc/nginx/nginx.conf
cat /var/log/demo/app.log
cat /var/log/demo/access.log
ps aux
apt update
apt install -y vim
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
timeout 2 strace -p 1
exit
EOF
sed 's#^export AWS_SECRET_ACCESS_KEY=.*#export aws_secret_access_key=[REDACTED]#' "$work/exec.txt" >"$work/exec.want"
want=$(cat "$work/exec.want")
n=$(wc -l <"$work/exec.want")
e2e_session "node A (websocket): kubectl exec -it" "$work/exec.txt" "$work" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$podA" -c shell -- bash
t_wait "$WAIT" count_at_least "$n" e2e_events "$podA" || true
t_eq "node A: one ShellCommand Event per typed line, in order, naming its user" \
	"$(sed 's/^/shellaudit-admin: /' "$work/exec.want")" "$(e2e_events "$podA")"
t_wait "$WAIT" count_at_least "$n" e2e_record_entries "$podA" shell line || true
t_eq "node A: the AuditRecords hold the typed lines, in order, the key redacted" "$want" \
	"$(e2e_record_entries "$podA" shell line)"
t_eq "node A: and the programs run" "ls ip sed cat cat ps apt apt timeout strace " \
	"$(e2e_record_entries "$podA" shell exec | grep -xE 'ls|ip|sed|cat|ps|apt|timeout|strace' | tr '\n' ' ')"
t_eq "node A's records carry node A" "$A" "$(e2e_record_entries "$podA" shell line node | sort -u)"
# Heads are published each second: a chain of one record just published
# may have none yet.
t_eventually "node A: the chain verifies" 30 "$AGENT" verify --namespace default --pod "$podA" --container shell

# A session on node B (its agent watches over chunked HTTP).
printf 'echo on-node-b\nhostname\nexit\n' >"$work/b.txt"
e2e_session "node B (chunked): kubectl exec -it" "$work/b.txt" "$work" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$podB" -c shell -- bash
t_wait "$WAIT" count_at_least 3 e2e_record_entries "$podB" shell line || true
# Records go out before the Events of their lines: those are waited for too.
t_wait "$WAIT" count_at_least 3 e2e_events "$podB" || true
t_eq "node B: the AuditRecords hold the typed lines" "$(cat "$work/b.txt")" \
	"$(e2e_record_entries "$podB" shell line)"
t_eq "node B: one Event per line, naming its user" "$(sed 's/^/shellaudit-admin: /' "$work/b.txt")" \
	"$(e2e_events "$podB")"
t_eq "node B's records carry node B" "$B" "$(e2e_record_entries "$podB" shell line node | sort -u)"

# --- one node's agent cannot write for the other -------------------------------------

agent_a=$(agent_pod "$A")
token=$(k -n shellaudit-system create token shellaudit-agent --bound-object-kind=Pod \
	--bound-object-name="$agent_a" \
	--bound-object-uid="$(k -n shellaudit-system get pod "$agent_a" -o jsonpath='{.metadata.uid}')" 2>&1)
api=https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT/apis/shellaudit.io/v1alpha1
# as_agent_a METHOD PATH CONTENT_TYPE: a request as node A's agent, the body
# on stdin; prints the HTTP status and the message.
as_agent_a() {
	curl -s --cacert "$SHELLAUDIT_RUN/pki/ca.crt" -H "Authorization: Bearer $token" \
		-H "Content-Type: $3" -X "$1" --data-binary @- -o "$work/resp" -w '%{http_code}' "$api$2"
	printf ' %s' "$(grep -o '"message": *"[^"]*"' "$work/resp" 2>/dev/null)"
}
# record_of NODE: the fixture as NODE's agent would write it (a name that
# ends in the first 10 hex digits of its digest, as the records policy wants).
record_of() {
	sed -e "s/^  node: node-1$/  node: $1/" -e "s/name: demo-6f7c9-shell-0/name: e2e-multinode-$1-9f86d08188/" \
		"$T_ROOT/tests/integration/fixtures/auditrecord.yaml"
}
# Admission denials are Forbidden (403), so that an agent retries, never drops.
t_match "agent A cannot write node B's ShellAuditNode status" "^403 .*may not write ShellAuditNode $B" \
	"$(echo '{"status":{"lastError":"forged"}}' | as_agent_a PATCH "/shellauditnodes/$B/status" application/merge-patch+json)"
t_match "agent A cannot write records of node B" "^403 .*may not write records of node $B" \
	"$(record_of "$B" | as_agent_a POST /namespaces/default/auditrecords application/yaml)"
t_match "agent A writes its own node's ShellAuditNode status" '^200' \
	"$(echo '{"status":{}}' | as_agent_a PATCH "/shellauditnodes/$A/status" application/merge-patch+json)"
t_match "and records of its own node" '^201' \
	"$(record_of "$A" | as_agent_a POST /namespaces/default/auditrecords application/yaml)"
t_eq "node B's status was not forged" "" "$(k get shellauditnode "$B" -o jsonpath='{.status.lastError}')"

# --- node B drained: its pod and its auditing move to node A -------------------------

t_run "kubectl drain node B" k drain "$B" --ignore-daemonsets --delete-emptydir-data --force \
	--grace-period=1 --timeout="${WAIT}s"
moved() {
	local p
	p=$(k get pods -l app=demo --field-selector "spec.nodeName=$A,status.phase=Running" \
		-o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | grep -vxF "$podA" | head -1)
	[ -n "$p" ] && echo "$p"
}
t_wait "$WAIT" moved || t_stop "the Deployment reschedules node B's demo pod on node A" "$(k get pods -o wide 2>&1)"
podM=$(moved)
t_pass "the Deployment reschedules node B's demo pod on node A ($podM)"
if t_wait "$WAIT" attached "$A" "$podM"; then
	t_pass "node A's agent attaches to the moved pod"
else
	t_fail "node A's agent attaches to the moved pod" "$(k get shellauditnode "$A" -o yaml 2>&1 | tail -n 25)"
fi
untargeted_b() { ! k get shellauditnode "$B" -o jsonpath='{.spec.targets[*].pod}' 2>/dev/null | t_grep -q .; }
if t_wait "$WAIT" untargeted_b; then
	t_pass "node B has nothing left to audit"
else
	t_fail "node B has nothing left to audit" "$(k get shellauditnode "$B" -o yaml 2>&1 | tail -n 20)"
fi
printf 'echo moved-to-a\nexit\n' >"$work/m.txt"
e2e_session "the moved pod: kubectl exec -it" "$work/m.txt" "$work" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$podM" -c shell -- bash
t_wait "$WAIT" count_at_least 2 e2e_record_entries "$podM" shell line || true
t_wait "$WAIT" count_at_least 2 e2e_events "$podM" || true
t_eq "the moved pod's lines are in its records" "$(cat "$work/m.txt")" "$(e2e_record_entries "$podM" shell line)"
t_eq "written by node A's agent" "$A" "$(e2e_record_entries "$podM" shell line node | sort -u)"
t_eq "and its Events" "$(sed 's/^/shellaudit-admin: /' "$work/m.txt")" "$(e2e_events "$podM")"
t_eq "node B's pod's records outlive its move" "$(cat "$work/b.txt")" "$(e2e_record_entries "$podB" shell line)"

# --- no watch failed ---------------------------------------------------------------

# Every watch of the controller and of the agents (both transports, and
# node B's first agent, on websocket), in a healthy cluster: no failure,
# connect errors included, logged by the informers.
k -n shellaudit-system logs "$ctrl" >"$work/controller.log" 2>&1
k -n shellaudit-system logs "$(agent_pod "$A")" >"$work/agent-a.log" 2>&1
k -n shellaudit-system logs "$(agent_pod "$B")" >"$work/agent-b-chunked.log" 2>&1
bad=$(grep -hE '"level":"(warn|error)"' "$work"/controller.log "$work"/agent-*.log |
	grep -E 'informer: watch|websocket|connect|SSL|TLS' | head -5)
t_eq "no watch over either transport logged a failure or a connect error" "" "$bad"
t_match "the logs were read" '"msg":"capture running"' "$(cat "$work"/agent-a.log)"

# --- down ----------------------------------------------------------------------------

k uncordon "$B" >/dev/null 2>&1
e2e_node_down
printf '       (test_multinode.sh: %ss)\n' "$((SECONDS - total))"
t_summary
