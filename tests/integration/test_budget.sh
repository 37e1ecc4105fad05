#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# AuditRecords never endanger the control plane, for real: kube-apiserver and
# etcd with config/rbac applied, the controller (ASan) as its service
# account with a small --storage-budget, the agent (ASan) on the real
# kernel as its service account. An exec flood in the audited pod shop/web
# (distinct arguments, so nothing aggregates) against that budget:
#   - the AuditRecord bytes in the API (the objects as stored) stay under
#     the budget; the policy's StorageBudgetExceeded condition turns True
#     with the figures, `kubectl get sap` shows it, a Warning Event is on
#     the policy, the metrics say bytes, budget and records held;
#   - meanwhile the typed lines of a second, quiet pod (another policy) go
#     on as Events, and the cluster takes writes (a ConfigMap); a pod of
#     another namespace (annex/far), under its fair share of the budget,
#     is not held: its lines go on as AuditRecords;
#   - the flood's loss past the held container's share of the spool is a
#     gap entry in its own chain, once the hold ends (the controller started
#     again with a larger budget); what was held is published, and the
#     chains verify;
#   - repeated identical execs become one entry with count, first and
#     last, and the chain holding it verifies;
#   - hostile: a record with a forged size (huge, negative, too small) or
#     policies annotation is refused at admission; a policy whose
#     storageBudget is far beyond the cluster's is held at the cluster's.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup budget-node
tamper=$T_ROOT/tests/integration/records/tamper.py
agent=$T_BUILD/asan/shellaudit-agent
budget=$((3 * 1024 * 1024))

t_run "config/rbac applies (RBAC and the admission policies)" k apply -k "$T_ROOT/config/rbac"

# kc NAME TOKEN: a kubeconfig $dir/NAME.kc with that bearer token.
kc() {
	printf '%s\n' "apiVersion: v1" "kind: Config" "clusters:" "- name: c" "  cluster:" \
		"    server: https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT" \
		"    certificate-authority: $dir/pki/ca.crt" "users:" "- name: u" "  user:" \
		"    token: $2" "contexts:" "- name: c" "  context: {cluster: c, user: u}" \
		"current-context: c" >"$dir/$1.kc"
}
printf '%s\n' "apiVersion: v1" "kind: Pod" \
	"metadata: {name: agent-$node, namespace: shellaudit-system}" "spec:" \
	"  nodeName: $node" "  serviceAccountName: shellaudit-agent" \
	"  containers: [{name: agent, image: shellaudit-agent}]" | k apply -f - >/dev/null
auid=$(k -n shellaudit-system get pod "agent-$node" -o jsonpath='{.metadata.uid}')
kc agent "$(k -n shellaudit-system create token shellaudit-agent --duration 6h \
	--bound-object-kind Pod --bound-object-name "agent-$node" --bound-object-uid "$auid")"
kc controller "$(k -n shellaudit-system create token shellaudit-controller --duration 6h)"

# The quiet pod shop/calm: its own container and cgroup, another policy.
# (Its cgroup's removal registered first: it runs after the container is killed.)
calm_cid=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
calm_cg=/sys/fs/cgroup/unified/shellaudit-test-$$/$calm_cid
mkdir -p "$calm_cg"
t_cleanup "t_wait 10 rmdir '$calm_cg'"
cap_container calm
echo "${CPID[calm]}" >"$calm_cg/cgroup.procs"
echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"calm","namespace":"shop","labels":{"app":"calm"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
	k apply -f - >/dev/null
k patch pod calm -n shop --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$calm_cid"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null

# annex/far: the quiet policy's too, in a namespace of its own.
far_cid=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
far_cg=/sys/fs/cgroup/unified/shellaudit-test-$$/$far_cid
mkdir -p "$far_cg"
t_cleanup "t_wait 10 rmdir '$far_cg'"
cap_container far
echo "${CPID[far]}" >"$far_cg/cgroup.procs"
k create namespace annex >/dev/null
k create serviceaccount default -n annex >/dev/null
echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"far","namespace":"annex","labels":{"app":"calm"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
	k apply -f - >/dev/null
k patch pod far -n annex --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$far_cid"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null

# The flood's policy asks for far more than the cluster's budget: it gets
# the cluster's.
echo '{"apiVersion":"shellaudit.io/v1alpha1","kind":"ShellAuditPolicy","metadata":{"name":"flood"},"spec":{"podSelector":{"matchLabels":{"app":"demo"}},"storageBudget":"100Gi","events":{"ratePerMinute":6000}}}' |
	k apply -f - >/dev/null
echo '{"apiVersion":"shellaudit.io/v1alpha1","kind":"ShellAuditPolicy","metadata":{"name":"quiet"},"spec":{"podSelector":{"matchLabels":{"app":"calm"}},"events":{"ratePerMinute":6000}}}' |
	k apply -f - >/dev/null

cport=$(t_free_port)
start_controller() {
	("$T_BUILD/asan/shellaudit-controller" --kubeconfig "$dir/controller.kc" --port "$cport" \
		--namespace shellaudit-system --storage-budget "$1" --log-level debug \
		>>"$dir/controller.log" 2>&1 & echo $! >"$dir/controller.pid")
	t_cleanup "kill -9 $(cat "$dir/controller.pid") 2>/dev/null"
}
start_controller "$budget"
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
aport=$(t_free_port)
("$agent" --node-name "$node" --kubeconfig "$dir/agent.kc" --spool-dir "$dir/spool" \
	--spool-max-mb 2 --port "$aport" --bpf-dir "$work/bpf/shellaudit" --batch-ms 1000 \
	--batch-entries 20 >>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"
attached3() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 3 ]; }
if t_wait 120 attached3; then
	t_pass "the agent attaches to the three containers"
else
	t_fail "the agent attaches to the three containers" "$(tail -5 "$dir/agent.log")" "$(tail -5 "$dir/controller.log")"
fi
# hold_of CID: the node's holdRecords for the target of container CID.
hold_of() { k get san "$node" -o jsonpath="{.spec.targets[?(@.containerID==\"containerd://$1\")].holdRecords}"; }

cmetric() { curl -sf --max-time 2 "http://127.0.0.1:$cport/metrics" | awk -v m="shellaudit_controller_$1" '$1 == m { print $2 }'; }
ametric() { curl -sf --max-time 2 "http://127.0.0.1:$aport/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
# api_bytes: the AuditRecords as the API server returns them, in bytes.
api_bytes() {
	k get auditrecords -A -o json | python3 -c '
import json, sys
print(sum(len(json.dumps(r, separators=(",", ":")).encode()) for r in json.load(sys.stdin)["items"]))'
}
cond() { k get sap "$1" -o jsonpath='{.status.conditions[?(@.type=="StorageBudgetExceeded")].'"$2"'}'; }
t_eq "the budget metric is the flag's" "$budget" "$(cmetric record_bytes_budget)"
within() { [ "$(cond flood status)" = False ]; }
t_wait 60 within || true
t_eq "within the budget the condition is False" "False" "$(cond flood status)"

# Repeated identical execs: one entry with a count.
nsenter --target "${CPID[audited]}" --mount --pid --root --wd /bin/bash -c \
	'for ((i = 0; i < 30; i++)); do /bin/true same; done'
agg() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    for e in r["spec"]["entries"]:
        if e["kind"] == "exec" and e.get("argv") == ["/bin/true", "same"] and e.get("count"):
            print(e["count"], e["first"] <= e["last"])' | head -1
}
aggregated() { [ -n "$(agg)" ]; }
t_wait 60 aggregated || true
t_match "30 identical execs are one entry (or a few) with count, first and last" '^[0-9]+ True$' "$(agg)"
verify() { "$agent" verify --namespace shop --pod web --container main; }
if t_wait 60 verify; then t_pass "the chain holding it verifies"; else t_fail "the chain holding it verifies" "$(verify 2>&1 | tail -3)"; fi

# The flood: distinct arguments, as fast as bash runs them.
# shellcheck disable=SC2016 # the container's bash expands $i
nsenter --target "${CPID[audited]}" --mount --pid --root --wd /bin/bash -c \
	'for ((i = 0; i < 400000; i++)); do /bin/true flood-$i; done' >/dev/null 2>&1 &
flood=$!
# The loop is nsenter's child (in the container's pid namespace): it goes
# by its parent's pid, then nsenter.
stop_flood() { pkill -KILL -P "$flood" 2>/dev/null || true; kill "$flood" 2>/dev/null || true; }
t_cleanup "pkill -KILL -P $flood 2>/dev/null; kill $flood 2>/dev/null"
held() { [ "$(cond flood status)" = True ]; }
if t_wait 600 held; then
	t_pass "past 90% of the budget the condition StorageBudgetExceeded turns True"
else
	t_fail "past 90% of the budget the condition StorageBudgetExceeded turns True" \
		"$(cmetric record_bytes) of $budget" "$(grep -v '"level":"debug"' "$dir/controller.log" | tail -5)"
fi
t_match "with the figures in its message" 'held [0-9.]+Mi, past 90% of .*budget 3Mi' "$(cond flood message)"
t_match "kubectl get sap shows it" 'flood +[0-9]+ +[0-9]+ +[A-Za-z]+ +True' "$(k get sap flood --no-headers)"
# Each policy's status and the node's spec are writes of their own, in
# flight at once (the controller's writers): each is waited for.
# shellcheck disable=SC2317 # called by t_wait
quiet_held() { [ "$(cond quiet status) $(cond quiet reason)" = "True ClusterBudget" ]; }
t_wait 60 quiet_held || true
t_eq "the quiet policy says so too (the cluster's budget)" "True ClusterBudget" \
	"$(cond quiet status) $(cond quiet reason)"
warning() {
	k get events.events.k8s.io -n default -o json | python3 -c '
import json, sys
print(any(e["type"] == "Warning" and e["reason"] == "StorageBudgetExceeded" and
          e["regarding"]["kind"] == "ShellAuditPolicy" and e["regarding"]["name"] == "flood"
          for e in json.load(sys.stdin)["items"]))'
}
has_warning() { [ "$(warning)" = True ]; }
t_wait 30 has_warning || true
t_eq "a Warning Event is on the policy" "True" "$(warning)"
t_match "the controller's metric says the bytes" '^[0-9.e+]+$' "$(cmetric record_bytes)"
t_eq "and that the budget is exceeded" "1" "$(cmetric storage_budget_exceeded)"
# shellcheck disable=SC2317 # called by t_wait
node_held() { [ "$(hold_of "$cid")" = true ]; }
t_wait 60 node_held || true
t_eq "the flood's target is held" "true" "$(hold_of "$cid")"
t_eq "annex/far, under its fair share, is not" "" "$(hold_of "$far_cid")"
heldrecs() { [ "$(ametric records_held)" -gt 0 ] 2>/dev/null; }
t_wait 60 heldrecs || true
t_match "the agent's metric counts the records it holds" '^[1-9][0-9]*$' "$(ametric records_held)"

# While held: the quiet pod's typed lines are Events, the cluster writable.
# The shell is started on the node (nsenter), which no API request
# admitted: each message says so, "(unattributed): LINE", stripped here.
calm_events() {
	k get events -n shop --field-selector reason=ShellCommand,involvedObject.name=calm \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | sed 's/^(unattributed): //'
}
printf 'echo calm-%s\n' 1 2 3 >"$work/calm.txt"
cap_shell calm "$work/calm.txt" >/dev/null || t_fail "the shell in the quiet container failed"
calm3() { [ "$(calm_events | grep -c '^echo calm-')" -ge 3 ]; }
if t_wait 60 calm3; then
	t_pass "the quiet pod's typed lines go on as Events while records are held"
else
	t_fail "the quiet pod's typed lines go on as Events while records are held" "$(calm_events)"
fi
t_run "the cluster takes writes (a ConfigMap)" k create configmap budget-probe -n shop --from-literal=a=b
# far_lines: the lines of annex/far's AuditRecords.
far_lines() {
	k get auditrecords -n annex -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e["text"])'
}
printf 'echo far-%s\n' 1 2 >"$work/far.txt"
cap_shell far "$work/far.txt" >/dev/null || t_fail "the shell in annex/far failed"
far2() { [ "$(far_lines | grep -c '^echo far-')" -ge 2 ]; }
if t_wait 60 far2; then
	t_pass "annex/far's lines are AuditRecords while the flood's namespace is held"
else
	t_fail "annex/far's lines are AuditRecords while the flood's namespace is held" "$(far_lines)"
fi

# The held container's share of the spool fills: its loss is counted.
lost() { grep -q "the spool's share for held records used" "$dir/agent.log"; }
if t_wait 600 lost; then
	t_pass "past the held container's share of the spool, entries are counted lost"
else
	t_fail "past the held container's share of the spool, entries are counted lost" "$(ametric dropped_total)"
fi
stop_flood
wait "$flood" 2>/dev/null || true
sleep 3
stored=$(api_bytes)
if [ "$stored" -lt "$budget" ]; then
	t_pass "the AuditRecords in the API stay under the budget ($stored of $budget bytes)"
else
	t_fail "the AuditRecords in the API stay under the budget" "$stored of $budget bytes"
fi
printf 'echo calm-%s\n' 4 5 >"$work/calm2.txt"
cap_shell calm "$work/calm2.txt" >/dev/null || t_fail "the second shell in the quiet container failed"
calm5() { [ "$(calm_events | grep -c '^echo calm-')" -ge 5 ]; }
if t_wait 60 calm5; then
	t_pass "and still once the flood's share of the spool is full"
else
	t_fail "and still once the flood's share of the spool is full" "$(calm_events)"
fi
t_run "the cluster still takes writes" k create configmap budget-probe-2 -n shop --from-literal=a=b
t_eq "nothing was deleted before its retention to make room" "0" "$(cmetric records_deleted_total)"

# A larger budget: the hold ends, what was held is published, the loss is a gap.
kill -9 "$(cat "$dir/controller.pid")"
gone() { ! kill -0 "$(cat "$dir/controller.pid")" 2>/dev/null; }
t_wait 30 gone || true
cport=$(t_free_port)
start_controller 64Mi
released() {
	[ "$(cond flood status)" = False ] && [ -z "$(hold_of "$cid")" ]
}
if t_wait 120 released; then t_pass "below the low-water mark the hold ends"; else t_fail "below the low-water mark the hold ends" "$(cond flood message)"; fi
gap() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    if r["spec"]["pod"]["name"] != "web":
        continue
    for e in r["spec"]["entries"]:
        if e["kind"] == "gap" and "storage budget" in e["text"]:
            print(e["count"])'
}
hasgap() { [ -n "$(gap)" ]; }
if t_wait 300 hasgap; then
	t_pass "the flood's loss is a gap entry in its own chain ($(gap | head -1) entries)"
else
	t_fail "the flood's loss is a gap entry in its own chain" "$(tail -3 "$dir/agent.log")"
fi
idle() { [ "$(ametric records_held)" = 0 ]; }
t_wait 120 idle || true
t_eq "what was held is published" "0" "$(ametric records_held)"
if t_wait 120 verify; then t_pass "the flood's chain verifies"; else t_fail "the flood's chain verifies" "$(verify 2>&1 | tail -3)"; fi
calm_verify() { "$agent" verify --namespace shop --pod calm --container main; }
if t_wait 60 calm_verify; then t_pass "the quiet pod's chain verifies"; else t_fail "the quiet pod's chain verifies" "$(calm_verify 2>&1 | tail -3)"; fi

# Hostile: forged sizes and policies are refused at admission.
probe() { "$tamper" make shop "probe-$1" "$node" 1h "${@:2}"; }
expect_denied() {
	local name=$1 expect=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		t_fail "$name" "accepted: $out"
	elif [[ $out == *"(Forbidden)"*"$expect"* ]]; then
		t_pass "$name"
	else
		t_fail "$name" "expected a 403 saying: $expect" "actual: $out"
	fi
}
as_agent() { "$KUBE_BIN/kubectl" --kubeconfig "$dir/agent.kc" "$@"; }
t_run "a record with its true size is accepted" as_agent create -f <(probe ok)
expect_denied "a huge forged size is refused" "shellaudit.io/bytes" as_agent create -f <(probe huge 999999999)
expect_denied "a negative one too" "shellaudit.io/bytes" as_agent create -f <(probe neg -5)
expect_denied "and one smaller than its entries' text" "shellaudit.io/bytes" as_agent create -f <(probe small 3)
probe pol | python3 -c '
import json, sys
r = json.load(sys.stdin)
r["metadata"]["annotations"]["shellaudit.io/policies"] = "someone-else"
print(json.dumps(r))' >"$work/pol.json"
expect_denied "a policies annotation other than spec.policies is refused" "shellaudit.io/policies" \
	as_agent create -f "$work/pol.json"

for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
