#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellaudit-controller (under ASan) against a real etcd + kube-apiserver.
# Pods are API objects on fake nodes with container IDs patched into their
# status (no kubelet); after every change the ShellAuditNodes must equal an
# independent computation (controller/expected.py), and policy status must
# say the right counts and conditions. Then: restart without spurious
# writes, two replicas with failover, and AuditRecord retention.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
dir=$SHELLAUDIT_RUN
ctl=$T_BUILD/asan/shellaudit-controller
expected=$T_ROOT/tests/integration/controller/expected.py
k() { "$KUBE_BIN/kubectl" "$@"; }

k apply -k "$T_ROOT/crds" >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
for ns in team-a team-b shellaudit-system; do k create namespace "$ns" >/dev/null; done
k label namespace team-a env=prod >/dev/null
k label namespace team-b env=dev >/dev/null
# No kube-controller-manager here: the service accounts pods need by hand.
for ns in default team-a team-b; do k create serviceaccount default -n "$ns" >/dev/null; done

# pod NS NAME NODE LABELS CONTAINERS...: a pod bound to a (fake) node.
pod() {
	local ns=$1 name=$2 node=$3 labels=$4 c list=""
	shift 4
	for c in "$@"; do list+="{\"name\":\"$c\",\"image\":\"busybox\"},"; done
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$name\",\"namespace\":\"$ns\",\"labels\":$labels},\"spec\":{\"nodeName\":\"$node\",\"containers\":[${list%,}]}}" |
		k apply -f - >/dev/null
}
# running NAME ID: a running container status entry.
running() {
	printf '{"name":"%s","containerID":"containerd://%s","image":"busybox","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}' "$1" "$2"
}
# status NS NAME JSON: patches the pod's status as a kubelet would.
status() { k patch pod "$2" -n "$1" --subresource=status --type=merge -p "$3" >/dev/null; }

pod team-a web-1 node-1 '{"app":"demo","tier":"web"}' main sidecar
status team-a web-1 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main a1),$(running sidecar a2)]}}"
pod team-a web-2 node-2 '{"app":"demo","tier":"db"}' main
status team-a web-2 '{"status":{"phase":"Pending"}}'
pod team-b api-1 node-1 '{"app":"api"}' main sidecar
status team-b api-1 "{\"status\":{\"phase\":\"Running\",\"initContainerStatuses\":[$(running setup b0)],\"containerStatuses\":[$(running main b1),$(running sidecar b2)]}}"
pod default demo-3 node-3 '{"app":"demo"}' main
status default demo-3 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main c1)],\"ephemeralContainerStatuses\":[$(running debugger c9)]}}"
pod team-b done-1 node-2 '{"app":"demo"}' main
status team-b done-1 '{"status":{"phase":"Succeeded"}}'

# start NAME PORT [ARGS...]: a controller replica, killed at exit.
start() {
	("$ctl" --port "$2" --identity "$1" --namespace shellaudit-system --lease-duration 6 \
		--retention-period 2 --log-level debug "${@:3}" >"$dir/$1.log" 2>&1 & echo $! >"$dir/$1.pid")
	t_cleanup "kill -9 $(cat "$dir/$1.pid") 2>/dev/null"
}
metric() { curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v m="shellaudit_controller_$2" '$1 == m { print $2 }'; }
clean_run() {
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$1.log"; then
		t_fail "$1 ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$1.log" | head -12)"
	else
		t_pass "$1 ran clean under sanitizers"
	fi
}

snapshot() {
	k get shellauditpolicies -o json >"$dir/pols.json"
	k get namespaces -o json >"$dir/nss.json"
	k get pods -A -o json >"$dir/pods.json"
	k get shellauditnodes -o json >"$dir/sans.json"
}
converged() {
	snapshot
	python3 "$expected" targets "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/want"
	python3 "$expected" actual "$dir/sans.json" >"$dir/have"
	cmp -s "$dir/want" "$dir/have"
}
status_right() {
	snapshot
	python3 "$expected" status "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/want-status"
	k get shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name} {.status.matchedPods} {.status.nodes}{"\n"}{end}' |
		sort >"$dir/have-status"
	cmp -s "$dir/want-status" "$dir/have-status"
}
# check NAME: the nodes and the status converge to the independent result.
check() {
	if t_wait 60 converged; then
		t_pass "$1: ShellAuditNodes equal the independent computation ($(wc -l <"$dir/want") targets)"
	else
		t_fail "$1: ShellAuditNodes equal the independent computation" "$(diff "$dir/want" "$dir/have" | head -20)"
	fi
	if t_wait 60 status_right; then
		t_pass "$1: policy status counts"
	else
		t_fail "$1: policy status counts" "$(diff "$dir/want-status" "$dir/have-status" | head -10)"
	fi
}
policy() { k apply -f "$T_ROOT/tests/integration/controller/$1.yaml" >/dev/null; }

# Each replica's metrics port: free ones, so that two runs of this test
# (two worktrees) never read each other's metrics.
pa=$((SHELLAUDIT_APISERVER_PORT + 3))
pb=$(t_free_port)
pc=$(t_free_port)
while [ "$pb" = "$pa" ]; do pb=$(t_free_port); done
while [ "$pc" = "$pa" ] || [ "$pc" = "$pb" ]; do pc=$(t_free_port); done
start ctl-a "$pa"
policy p1
check "one policy"
t_eq "one ShellAuditNode per node with targets" "$(printf 'shellauditnode.shellaudit.io/%s\n' node-1 node-3)" \
	"$(k get shellauditnodes -o name | sort)"

policy p2
check "a second policy with a namespace selector and containers"
t_eq "merged options on a container of both policies" \
	"p1,p2|readline=True exec=True terminal=True|events=True exec=True rate=10|retention=1000h|redact=1" \
	"$(grep '|web-1|sidecar|' "$dir/have" | cut -d'|' -f6-)"

policy p1-edited
check "editing a policy"
status team-a web-2 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main a3)]}}"
check "a container ID reported later"
k label pod api-1 -n team-b app=demo --overwrite >/dev/null
check "relabelling a pod"
k label namespace team-b env=prod --overwrite >/dev/null
check "relabelling a namespace"
k delete pod web-1 -n team-a --grace-period=0 --force >/dev/null 2>&1
check "deleting a pod"
k delete shellauditpolicy p2 >/dev/null
check "deleting a policy"

# Conditions: pending until the agents report the generation they applied.
ready() { k get shellauditpolicy p1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}'; }
t_eq "Ready is False while agents have not applied" "False/NodesPending" "$(ready)"
for n in $(k get shellauditnodes -o jsonpath='{.items[*].metadata.name}'); do
	gen=$(k get shellauditnode "$n" -o jsonpath='{.metadata.generation}')
	k patch shellauditnode "$n" --subresource=status --type=merge -p "{\"status\":{\"observedGeneration\":$gen}}" >/dev/null
done
ready_true() { [ "$(ready)" = "True/Applied" ]; }
if t_wait 60 ready_true; then t_pass "Ready turns True once every node applied"; else t_fail "Ready turns True once every node applied" "$(ready)"; fi
t_eq "InvalidSpec is False for a usable spec" "False" \
	"$(k get shellauditpolicy p1 -o jsonpath='{.status.conditions[?(@.type=="InvalidSpec")].status}')"
t_eq "observedGeneration follows the policy" "$(k get shellauditpolicy p1 -o jsonpath='{.metadata.generation}')" \
	"$(k get shellauditpolicy p1 -o jsonpath='{.status.observedGeneration}')"

# Restart: the new process must find nothing to write.
versions() { k get shellauditnodes,shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}'; }
before=$(versions)
kill -TERM "$(cat "$dir/ctl-a.pid")"
stopped() { ! kill -0 "$(cat "$dir/ctl-a.pid")" 2>/dev/null; }
if t_wait 30 stopped; then t_pass "SIGTERM stops the controller"; else t_fail "SIGTERM stops the controller"; fi
clean_run ctl-a
start ctl-b "$pb"
settled() { [ "$(metric "$pb" leader)" = 1 ] && [ "$(metric "$pb" resolutions_total)" -ge 1 ] &&
	[ "$(metric "$pb" reconciles_total)" -ge 1 ] && [ "$(metric "$pb" workqueue_depth)" = 0 ]; }
if t_wait 60 settled; then t_pass "the restarted controller leads and settles"; else t_fail "the restarted controller leads and settles"; fi
sleep 2
t_eq "a restarted controller writes nothing" "$before" "$(versions)"
t_eq "and says so in its metrics" "0" "$(metric "$pb" writes_total)"

# Chain heads: an agent moves them in its ShellAuditNode status with every
# record it publishes, which is no work for the controller; a node without
# targets stays while its heads' records are kept, and goes after.
# heads SEQ KEEP_UNTIL: a status patch with one chain head.
heads() {
	printf '{"status":{"heads":[{"containerID":"containerd://h1","namespace":"default","pod":"demo-3","container":"main","sequence":%s,"digest":"sha256:%064d","expires":"%s","keepUntil":"%s"}]}}' \
		"$1" 0 "$2" "$2"
}
r0=$(metric "$pb" reconciles_total)
for i in $(seq 1 20); do
	k patch shellauditnode node-1 --subresource=status --type=merge -p "$(heads "$i" 2030-01-01T00:00:00Z)" >/dev/null
done
# A barrier: a tampered spec is written back once the events before it are handled.
k patch shellauditnode node-3 --type=merge -p '{"spec":{"targetCount":0,"targets":[]}}' >/dev/null
check "a tampered spec"
r1=$(metric "$pb" reconciles_total)
if [ $((r1 - r0)) -lt 20 ]; then
	t_pass "20 status updates that only move chain heads cause no comparison ($((r1 - r0)) in all, the barrier's included)"
else
	t_fail "20 status updates that only move chain heads cause no comparison" "$((r1 - r0)) comparisons"
fi
until=$(date -u -d "@$(($(date +%s) + 30))" +%Y-%m-%dT%H:%M:%SZ)
k patch shellauditnode node-3 --subresource=status --type=merge -p "$(heads 1 "$until")" >/dev/null
k delete pod demo-3 -n default --grace-period=0 --force >/dev/null 2>&1
emptied() { [ "$(k get shellauditnode node-3 -o jsonpath='{.spec.targetCount}/{.status.heads[0].keepUntil}' 2>/dev/null)" = "0/$until" ]; }
if t_wait 30 emptied; then
	t_pass "a node without targets whose status names records still kept stays, its spec emptied"
else
	t_fail "a node without targets whose status names records still kept stays, its spec emptied" \
		"$(k get shellauditnode node-3 -o jsonpath='{.spec.targetCount}/{.status.heads[0].keepUntil}' 2>&1)"
fi
san_gone() { ! k get shellauditnode node-3 >/dev/null 2>&1; }
if t_wait 90 san_gone; then t_pass "and goes once they have expired"; else t_fail "and goes once they have expired"; fi
check "a node kept for its heads"

# Two replicas: one acts; the other takes over when it is killed.
start ctl-c "$pc"
c_up() { [ -n "$(metric "$pc" leader)" ]; }
t_wait 30 c_up || true
sleep 3
t_eq "two replicas: only one leads" "1 0" "$(metric "$pb" leader) $(metric "$pc" leader)"
kill -9 "$(cat "$dir/ctl-b.pid")"
pod team-a web-4 node-4 '{"app":"demo","tier":"api"}' main
status team-a web-4 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main d1)]}}"
c_leads() { [ "$(metric "$pc" leader)" = 1 ]; }
if t_wait 90 c_leads; then t_pass "the standby takes over when the leader is killed"; else t_fail "the standby takes over when the leader is killed"; fi
check "after failover"

# Retention: each record keeps its own retention.
record() {
	sed "s/NAME/$1/; s/RETENTION/$2/" "$T_ROOT/tests/integration/controller/record.yaml" | k apply -f - >/dev/null
}
record short 5s
record long 720h
gone() { ! k get auditrecord short -n team-a >/dev/null 2>&1; }
if t_wait 90 gone; then t_pass "a record past its retention is deleted"; else t_fail "a record past its retention is deleted"; fi
t_run "a record within its retention stays" k get auditrecord long -n team-a
clean_run ctl-c

# The session webhook beside the loop: it answers an AdmissionReview while
# the controller runs, and its threads take no SIGTERM from the signalfd
# (a thread that does not block it would take it and kill the process
# before the controller could stop, release its Lease or flush anything).
pw=$(t_free_port)
wport=$(t_free_port)
while [ "$pw" = "$pc" ]; do pw=$(t_free_port); done
while [ "$wport" = "$pc" ] || [ "$wport" = "$pw" ]; do wport=$(t_free_port); done
start ctl-w "$pw" --webhook-port "$wport" --webhook-address 127.0.0.1
w_up() { grep -q 'session webhook on port' "$dir/ctl-w.log"; }
if t_wait 30 w_up; then t_pass "a replica serves the session webhook"; else t_fail "a replica serves the session webhook" "$(tail -5 "$dir/ctl-w.log")"; fi
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"b8f1c0de-0000-4000-8000-000000000001","kind":{"group":"","version":"v1","kind":"PodExecOptions"},"resource":{"group":"","version":"v1","resource":"pods"},"subResource":"exec","name":"web-1","namespace":"team-a","operation":"CONNECT","userInfo":{"username":"alice"},"object":{"kind":"PodExecOptions","apiVersion":"v1","stdin":true,"tty":true,"container":"main","command":["sh"]}}}'
answer=$(curl -sk -m 10 -X POST -H 'Content-Type: application/json' -d "$review" "https://127.0.0.1:$wport/admit" || true)
t_match "it allows an exec and answers its review's uid" \
	'"uid":"b8f1c0de-0000-4000-8000-000000000001".*"allowed":true|"allowed":true.*"uid":"b8f1c0de-0000-4000-8000-000000000001"' "$answer"
kill -TERM "$(cat "$dir/ctl-w.pid")"
w_stopped() { ! kill -0 "$(cat "$dir/ctl-w.pid")" 2>/dev/null; }
t_wait 30 w_stopped || true
if grep -q '"msg":"shutting down"' "$dir/ctl-w.log"; then
	t_pass "SIGTERM stops a replica serving the webhook through its loop"
else
	t_fail "SIGTERM stops a replica serving the webhook through its loop" "$(tail -3 "$dir/ctl-w.log")"
fi
clean_run ctl-w
t_summary
