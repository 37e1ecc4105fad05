#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellaudit-controller (under ASan) against a real etcd + kube-apiserver.
# Pods are API objects on fake nodes with container IDs patched into their
# status (no kubelet); after every change the ShellAuditNodes must equal an
# independent computation (controller/expected.py), and policy status must
# say the right counts and conditions (NoTargets, InvalidSpec). Then:
# restart without spurious writes, chain heads in a ShellAuditNode status
# (no work for the controller; a node without targets kept while its
# heads' records are), two replicas with failover (the standby on the
# watch transport SHELLAUDIT_TEST_WATCH_TRANSPORT names), a write the API
# server refuses, AuditRecord retention, --writes-per-second, the health
# endpoints, and kubeconfigs it refuses.
# Every replica stopped with SIGTERM must exit 0 and say so.
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

declare -A port
# start NAME [ARGS...]: a controller replica on a port of its own, killed at
# exit.
start() {
	local name=$1
	shift
	port[$name]=$(t_free_port)
	t_daemon "$name" "$dir/$name.log" "$ctl" --port "${port[$name]}" --identity "$name" \
		--namespace shellaudit-system --lease-duration 6 --retention-period 2 --log-level debug "$@"
}
metric() { curl -sf --max-time 2 "http://127.0.0.1:${port[$1]}/metrics" | awk -v m="shellaudit_controller_$2" '$1 == m { print $2 }'; }
# http NAME PATH: "<status> <first word of the body>" of the replica's PATH.
http() { t_http "http://127.0.0.1:${port[$1]}$2"; }
# clean_run NAME: the replica ended, logged its shutdown, and its sanitizers
# (LeakSanitizer runs at exit) found nothing.
clean_run() {
	if ! t_daemon_ended "$1" || ! grep -q '"msg":"shutting down"' "$dir/$1.log" 2>/dev/null; then
		t_fail "$1 ran clean under sanitizers" "it did not shut down cleanly: $(tail -3 "$dir/$1.log" 2>&1)"
	elif grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$1.log"; then
		t_fail "$1 ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$1.log" | head -12)"
	else
		t_pass "$1 ran clean under sanitizers"
	fi
}

# --- what it refuses to start with, and an API server it cannot reach ---------------

# A user whose credentials come from a program: refused, with a message
# that says so, before anything is done.
cat >"$dir/exec.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}}}]
EOF
out=$("$ctl" --kubeconfig "$dir/exec.kubeconfig" --port 0 2>&1) && rc=0 || rc=$?
t_eq "a kubeconfig exec plugin: the controller exits 1" 1 "$rc"
t_match "and says why" 'exec and auth-provider plugins are not supported' "$out"
out=$("$T_BUILD/asan/shellaudit-agent" --node-name n --kubeconfig "$dir/exec.kubeconfig" --port 0 2>&1) && rc=0 || rc=$?
t_eq "a kubeconfig exec plugin: the agent exits 1" 1 "$rc"
t_match "and says why" 'exec and auth-provider plugins are not supported' "$out"

# An API server that is not there: alive, not ready, stops on SIGTERM.
sed "s#server: .*#server: https://127.0.0.1:$(t_free_port)#" "$KUBECONFIG" >"$dir/nowhere.kubeconfig"
start ctl-x --kubeconfig "$dir/nowhere.kubeconfig"
up() { [ "$(http ctl-x /healthz)" = "200 ok" ]; }
t_wait 30 up || true
t_eq "with no API server: /healthz answers" "200 ok" "$(http ctl-x /healthz)"
t_eq "and /readyz says not ready" "503 not" "$(http ctl-x /readyz)"
t_daemon_stop ctl-x TERM '"msg":"shutting down"'

# snapshot: the objects both computations start from; fails when the API
# server does not answer (then nothing is compared).
snapshot() {
	k get shellauditpolicies -o json >"$dir/pols.json" &&
		k get namespaces -o json >"$dir/nss.json" &&
		k get pods -A -o json >"$dir/pods.json" &&
		k get shellauditnodes -o json >"$dir/sans.json"
}
converged() {
	snapshot &&
		python3 "$expected" targets "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/want" &&
		python3 "$expected" actual "$dir/sans.json" >"$dir/have" &&
		[ -s "$dir/want" ] && cmp -s "$dir/want" "$dir/have"
}
status_right() {
	snapshot &&
		python3 "$expected" status "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/want-status" &&
		k get shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name} {.status.matchedPods} {.status.nodes}{"\n"}{end}' \
			>"$dir/have-status.unsorted" &&
		sort "$dir/have-status.unsorted" >"$dir/have-status" &&
		[ -s "$dir/want-status" ] && cmp -s "$dir/want-status" "$dir/have-status"
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

start ctl-a
# shellcheck disable=SC2317 # called by t_wait
ready() { [ "$(http ctl-a /readyz)" = "200 ok" ]; }
if t_wait 60 ready; then t_pass "/readyz says ready once the caches are synced"; else t_fail "/readyz says ready once the caches are synced" "$(http ctl-a /readyz)"; fi
t_eq "/healthz answers" "200 ok" "$(http ctl-a /healthz)"
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

# A policy that matches nothing is Ready, and says why.
k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: p3}
spec:
  podSelector: {matchLabels: {app: nobody}}
EOF
cond() { k get shellauditpolicy "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}/{.status.conditions[?(@.type==\"$2\")].reason}"; }
no_targets() { [ "$(cond p3 Ready)" = "True/NoTargets" ]; }
t_wait 60 no_targets || true
t_eq "a policy matching nothing: Ready, reason NoTargets" "True/NoTargets" "$(cond p3 Ready)"
# What the API server's schema lets through and the controller cannot use
# (a label key whose prefix is longer than a DNS subdomain's 253): the
# policy says so and selects nothing.
k apply -f - >/dev/null <<EOF
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: p4}
spec:
  podSelector:
    matchExpressions: [{key: $(printf 'a%.0s' $(seq 254))/k, operator: In, values: [x]}]
EOF
invalid() { [ "$(cond p4 InvalidSpec)" = "True/InvalidSpec" ]; }
t_wait 60 invalid || true
t_eq "an unusable spec the API server accepted: InvalidSpec True" "True/InvalidSpec" "$(cond p4 InvalidSpec)"
t_eq "and Ready False, for that reason" "False/InvalidSpec" "$(cond p4 Ready)"
t_match "the condition says what is wrong" 'not a valid label key' \
	"$(k get shellauditpolicy p4 -o jsonpath='{.status.conditions[?(@.type=="InvalidSpec")].message}')"
check "two policies that select nothing"

# Restart: the new process must find nothing to write.
versions() { k get shellauditnodes,shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}'; }
before=$(versions)
t_daemon_stop ctl-a TERM '"msg":"shutting down"'
clean_run ctl-a
start ctl-b
settled() { [ "$(metric ctl-b leader)" = 1 ] && [ "$(metric ctl-b resolutions_total)" -ge 1 ] &&
	[ "$(metric ctl-b reconciles_total)" -ge 1 ] && [ "$(metric ctl-b workqueue_depth)" = 0 ]; }
if t_wait 60 settled; then t_pass "the restarted controller leads and settles"; else t_fail "the restarted controller leads and settles"; fi
sleep 2
t_eq "a restarted controller writes nothing" "$before" "$(versions)"
t_eq "and says so in its metrics" "0" "$(metric ctl-b writes_total)"
# A write delayed (rate limit, a retry) would come later: two more
# retention periods and still nothing.
sleep 5
t_eq "nor a few seconds later" "$before 0" "$(versions) $(metric ctl-b writes_total)"

# Chain heads: an agent moves them in its ShellAuditNode status with every
# record it publishes, which is no work for the controller; a node without
# targets stays while its heads' records are kept, and goes after.
# heads SEQ KEEP_UNTIL: a status patch with one chain head.
heads() {
	printf '{"status":{"heads":[{"containerID":"containerd://h1","namespace":"default","pod":"demo-3","container":"main","sequence":%s,"digest":"sha256:%064d","expires":"%s","keepUntil":"%s"}]}}' \
		"$1" 0 "$2" "$2"
}
r0=$(metric ctl-b reconciles_total)
for i in $(seq 1 20); do
	k patch shellauditnode node-1 --subresource=status --type=merge -p "$(heads "$i" 2030-01-01T00:00:00Z)" >/dev/null
done
# A barrier: a tampered spec is written back once the events before it are handled.
k patch shellauditnode node-3 --type=merge -p '{"spec":{"targetCount":0,"targets":[]}}' >/dev/null
check "a tampered spec"
r1=$(metric ctl-b reconciles_total)
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

# Two replicas: one acts; the other takes over when it is killed. Its
# watch transport: SHELLAUDIT_TEST_WATCH_TRANSPORT (chunked; websocket
# replicas do not stop on SIGTERM yet, issue 16).
transport=${SHELLAUDIT_TEST_WATCH_TRANSPORT:-chunked}
start ctl-c --watch-transport "$transport"
c_up() { [ -n "$(metric ctl-c leader)" ]; }
t_wait 30 c_up || true
# Past the lease duration (6 s), sampled every half second.
bad=0
for _ in $(seq 18); do
	[ "$(metric ctl-b leader) $(metric ctl-c leader)" = "1 0" ] || bad=$((bad + 1))
	sleep 0.5
done
t_eq "two replicas: only one leads (samples over 9 s that saw otherwise)" 0 "$bad"
t_daemon_kill ctl-b
pod team-a web-4 node-4 '{"app":"demo","tier":"api"}' main
status team-a web-4 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main d1)]}}"
c_leads() { [ "$(metric ctl-c leader)" = 1 ]; }
if t_wait 90 c_leads; then t_pass "the standby takes over when the leader is killed"; else t_fail "the standby takes over when the leader is killed"; fi
check "after failover ($transport watches)"

# A write the API server refuses (an admission policy, as a hostile
# cluster might have): counted as a reconcile error, retried, and done
# once the refusal is lifted.
k apply -f - >/dev/null <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: refuse-shellauditnodes}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [shellaudit.io], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: [shellauditnodes]}
  validations: [{expression: "false", message: "refused by the test"}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: refuse-shellauditnodes}
spec: {policyName: refuse-shellauditnodes, validationActions: [Deny]}
EOF
refusing() {
	local out
	out=$(sed 's/name: node-1/name: probe/' "$T_ROOT/tests/integration/fixtures/shellauditnode.yaml" |
		k create --dry-run=server -f - 2>&1)
	[[ $out == *"refused by the test"* ]]
}
t_wait 60 refusing || t_fail "the admission policy refuses ShellAuditNode writes"
errors=$(metric ctl-c reconcile_errors_total)
pod team-a web-5 node-5 '{"app":"demo"}' main
status team-a web-5 "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[$(running main e1)]}}"
more_errors() { [ "$(metric ctl-c reconcile_errors_total)" -gt "$errors" ]; }
if t_wait 60 more_errors; then
	t_pass "a refused write counts in reconcile_errors_total"
else
	t_fail "a refused write counts in reconcile_errors_total" "$(metric ctl-c reconcile_errors_total) (was $errors)"
fi
t_match "and is logged with its node" 'node-5' "$(grep 'refused by the test' "$dir/ctl-c.log" | tail -1)"
k delete validatingadmissionpolicybinding,validatingadmissionpolicy refuse-shellauditnodes >/dev/null
check "once the refusal is lifted, the write is retried"

# Retention: each record keeps its own retention, whatever its policy
# says now (p1 wants 720h) or whether it still exists (p2 was deleted).
record() {
	sed "s/NAME/$1/; s/RETENTION/$2/; s/policies: \[p1\]/policies: [$3]/" \
		"$T_ROOT/tests/integration/controller/record.yaml" | k apply -f - >/dev/null
}
deleted=$(metric ctl-c records_deleted_total)
record short 5s p1
record long 720h p2
gone() { ! k get auditrecord short -n team-a >/dev/null 2>&1; }
if t_wait 90 gone; then t_pass "a record past its own retention is deleted"; else t_fail "a record past its own retention is deleted"; fi
t_eq "and counted in records_deleted_total" "$((deleted + 1))" "$(metric ctl-c records_deleted_total)"
sleep 5
t_run "a record of a deleted policy, within its retention, stays (two retention periods later)" \
	k get auditrecord long -n team-a
t_daemon_stop ctl-c TERM '"msg":"shutting down"'
clean_run ctl-c

# The session webhook beside the loop: it answers an AdmissionReview while
# the controller runs, and its threads take no SIGTERM from the signalfd
# (a thread that does not block it would take it and kill the process
# before the controller could stop, release its Lease or flush anything).
wport=$(t_free_port)
start ctl-wh --webhook-port "$wport" --webhook-address 127.0.0.1
w_up() { grep -q 'session webhook on port' "$dir/ctl-wh.log"; }
if t_wait 30 w_up; then t_pass "a replica serves the session webhook"; else t_fail "a replica serves the session webhook" "$(tail -5 "$dir/ctl-wh.log")"; fi
t_match "without --webhook-client-ca, it warns that any peer may post to it" \
	'"level":"warn".*session webhook answers any peer' "$(cat "$dir/ctl-wh.log")"
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"b8f1c0de-0000-4000-8000-000000000001","kind":{"group":"","version":"v1","kind":"PodExecOptions"},"resource":{"group":"","version":"v1","resource":"pods"},"subResource":"exec","name":"web-1","namespace":"team-a","operation":"CONNECT","userInfo":{"username":"alice"},"object":{"kind":"PodExecOptions","apiVersion":"v1","stdin":true,"tty":true,"container":"main","command":["sh"]}}}'
answer=$(curl -sk -m 10 -X POST -H 'Content-Type: application/json' -d "$review" "https://127.0.0.1:$wport/admit" || true)
t_match "it allows an exec and answers its review's uid" \
	'"uid":"b8f1c0de-0000-4000-8000-000000000001".*"allowed":true|"allowed":true.*"uid":"b8f1c0de-0000-4000-8000-000000000001"' "$answer"
# Peers that send large bodies slowly (10 of 7 MiB of 8) hold the
# bodies-in-flight budget (64 MiB) at most: past it they get 503, which the
# metrics count and the log says.
python3 - "$wport" <<'PY' >"$dir/wh-flood.txt" 2>&1 || true
import socket, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
held, answers = [], []
for i in range(10):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
    s.sendall(b"POST /admit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 8388608\r\n\r\n")
    try:
        for _ in range(7):
            s.sendall(b"0" * (1 << 20))
    except OSError:
        pass
    held.append(s)
for s in held:
    try:
        s.settimeout(0.5)
        answers.append(s.recv(64).split(b"\r\n")[0].decode())
    except OSError:
        answers.append("none")
print(" ".join(answers))
PY
t_match "peers sending large bodies slowly are refused past the budget (503)" \
	'HTTP/1.1 503' "$(cat "$dir/wh-flood.txt")"
refused() { [ "$(metric ctl-wh tls_refused_total)" -ge 1 ] 2>/dev/null; }
t_wait 10 refused || true
t_match "and counted in tls_refused_total" '^[1-9][0-9]*$' "$(metric ctl-wh tls_refused_total)"
said() { grep -q 'requests to the webhook or the audit receiver refused' "$dir/ctl-wh.log"; }
t_wait 10 said || true
t_match "and said in the log" 'requests to the webhook or the audit receiver refused' \
	"$(cat "$dir/ctl-wh.log")"
# SIGTERM stops it through its loop: status 0 and its shutdown logged.
t_daemon_stop ctl-wh TERM '"msg":"shutting down"'
clean_run ctl-wh

# --writes-per-second and --write-burst (its environment twin): a policy
# that changes every ShellAuditNode at once is written out no faster than
# the bound (a burst of 3, then the rate). A lower bound on time: a slow
# machine only makes it longer.
SHELLAUDIT_WRITE_BURST=3 start ctl-w --writes-per-second 1
w_settled() { [ "$(metric ctl-w leader)" = 1 ] && [ "$(metric ctl-w workqueue_depth)" = 0 ] &&
	[ "$(metric ctl-w reconciles_total)" -ge 1 ]; }
t_wait 60 w_settled || t_fail "a controller with --writes-per-second 1 leads and settles"
writes=$(metric ctl-w writes_total)
begin=$(date +%s.%N)
k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: p5}
spec:
  podSelector: {}
EOF
check "a policy on every pod, written at 1 write a second"
end=$(date +%s.%N)
n=$(($(metric ctl-w writes_total) - writes))
echo "  note $n writes in $(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
t_match "it took several writes" '^([5-9]|[1-9][0-9]+)$' "$n"
t_eq "and at least (writes - 3) seconds" yes \
	"$(awk -v a="$begin" -v b="$end" -v n="$n" 'BEGIN { print ((b - a >= n - 3) ? "yes" : "no") }')"
t_daemon_stop ctl-w TERM '"msg":"shutting down"'
clean_run ctl-w
t_summary
