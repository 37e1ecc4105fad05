#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One refused AuditRecord never blocks or loses the rest, for real (the
# kernel, kube-apiserver, the controller, the agent, ASan builds). A
# ValidatingAdmissionPolicy refuses the records of pod shop/refused (422):
#   - those records are parked beside the spool, not retried at the head of
#     the node's queue: the lines of pod shop/web typed after them are
#     published;
#   - the ShellAuditNode status counts them (parkedRecords, with the API's
#     code and message), a Warning Event AuditRecordParked is on the pod,
#     the metrics count them;
#   - a restarted agent still has them (they are on disk);
#   - once the policy is gone, the parked records are published, none is
#     left, and the refused pod's chain verifies.
# Then the namespace of pod ending/shell is deleted and held Terminating
# (by the finalizer test.shellaudit.io/hold of a ConfigMap in it, and by
# its own "kubernetes" finalizer when no namespace controller runs):
#   - the records of lines typed there are refused (403, NamespaceTerminating)
#     and parked, the status keeps the API's reason and causes, the log says
#     what a user can do; pod shop/web's lines typed after them are
#     published, AuditRecords and Events;
#   - the Events of pod ending/shell are refused too: counted, logged once,
#     not retried, and web's Events go on;
#   - an admin finishes the deletion and creates the namespace again: the
#     parked records are published on a retry, none is left.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup parked-test-node
ag_container refusedc refused
# The namespace that is deleted later, with a pod on this node and a
# ConfigMap whose finalizer holds the namespace Terminating.
k create namespace ending >/dev/null
k create serviceaccount default -n ending >/dev/null
ag_container endingc shell "$RFS" ending
ending_cid=$AG_CID
k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: hold, namespace: ending, finalizers: [test.shellaudit.io/hold]}
data: {why: "holds namespace ending Terminating until the test releases it"}
EOF
# Whatever fails, nothing keeps the namespace.
t_cleanup "k patch configmap hold -n ending --type=merge -p '{\"metadata\":{\"finalizers\":null}}'"

ag_policy
# The refusal: any AuditRecord of pod refused, as an admission policy of a
# cluster might (422: reason Invalid).
k apply -f - >/dev/null <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: test-refuse-records}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [shellaudit.io]
      apiVersions: ["*"]
      operations: [CREATE]
      resources: [auditrecords]
  validations:
  - expression: "object.spec.pod.name != 'refused'"
    message: "the test refuses the records of pod refused"
    reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: test-refuse-records}
spec:
  policyName: test-refuse-records
  validationActions: [Deny]
EOF

ag_controller "$T_BUILD/asan/shellaudit-controller"
port=$(t_free_port)
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
start_agent() {
	t_daemon agent "$dir/agent.log" "$T_BUILD/asan/shellaudit-agent" --node-name "$node" \
		--spool-dir "$dir/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" \
		--batch-ms 1000 --batch-entries 4 --log-level debug
}
metric() { curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
all_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 3 ]; }
# lines_of POD [NS]: the lines of NS/POD (shop by default) in AuditRecords.
lines_of() { ag_lines_of "$@"; }
# has_line POD LINE [NS]
has_line() { lines_of "$1" "${3:-shop}" | t_grep -qxF -- "$2"; }
status() { k get shellauditnode "$node" -o jsonpath="{.status.$1}"; }

# The policy is in force before any record is sent: a dry run is refused.
refusing() {
	! k create --dry-run=server -f <(sed -e 's/^    name: demo-6f7c9$/    name: refused/' \
		"$T_ROOT/tests/integration/fixtures/auditrecord.yaml") 2>/dev/null
}
t_wait 60 refusing || t_fail "the admission policy refuses the records of pod refused"

start_agent
t_wait 120 all_attached || t_stop "the agent attaches to the three pods" "$(tail -5 "$dir/agent.log")"

printf 'echo parked-1\necho parked-2\n' >"$work/r.txt"
cap_shell refusedc "$work/r.txt" >/dev/null || t_fail "the shell in refused"
printf 'echo flows-after\n' >"$work/w.txt"
cap_shell audited "$work/w.txt" >/dev/null || t_fail "the shell in web"

# The others' records go on.
t_wait 120 has_line web "echo flows-after" || true
t_eq "a refused record does not hold the node's queue: web's line typed after it is published" \
	"echo flows-after" "$(lines_of web | grep -x 'echo flows-after')"
parked() { [ "$(status parkedRecords)" -ge 1 ] 2>/dev/null; }
t_wait 60 parked || true
t_match "the ShellAuditNode status counts the parked records" '^[1-9]' "$(status parkedRecords)"
t_eq "  with the API server's code and message" "422 yes" \
	"$(status 'parked[0].code') $(status 'parked[0].message' | grep -q 'the test refuses the records of pod refused' && echo yes || echo no)"
t_match "kubectl get shellauditnode -o wide shows them" "$node +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[1-9]" \
	"$(k get shellauditnode "$node" -o wide --no-headers)"
warning() {
	k get events -n shop --field-selector reason=AuditRecordParked,involvedObject.name=refused \
		-o jsonpath='{range .items[*]}{.type} {.message}{"\n"}{end}'
}
has_warning() { [ -n "$(warning)" ]; }
t_wait 30 has_warning || true
t_match "a Warning Event AuditRecordParked on the pod says why" '^Warning AuditRecord .*422.*the test refuses' \
	"$(warning | head -1)"
t_match "the metrics count them" '^[1-9]' "$(metric records_parked)"
t_eq "nothing of pod refused is in the API server" "" "$(lines_of refused)"
t_match "they are on disk beside the spool" '[1-9]' "$(find "$dir/spool/parked" -name '*.json' | wc -l)"

# A restarted agent still has them.
t_daemon_stop agent TERM '"msg":"stopped"'
start_agent
again() { grep -q 'parked by a previous agent' "$dir/agent.log"; }
t_wait 60 again || true
t_match "a restarted agent takes the parked records over" 'refused AuditRecords parked by a previous agent' \
	"$(grep 'parked by a previous agent' "$dir/agent.log" | tail -1)"

# The cause clears: the records go out, none is left.
k delete validatingadmissionpolicybinding test-refuse-records >/dev/null
k delete validatingadmissionpolicy test-refuse-records >/dev/null
published() { has_line refused "echo parked-2"; }
t_wait 180 published || true
t_eq "once the policy is gone, the parked records are published, in order" \
	"$(printf 'echo parked-1\necho parked-2')" "$(lines_of refused | grep '^echo parked-')"
none() { [ "$(status parkedRecords)" = 0 ]; }
t_wait 60 none || true
t_eq "and none is left parked" "0" "$(status parkedRecords)"
t_eq "  nor on disk" "0" "$(find "$dir/spool/parked" -name '*.json' | wc -l)"
t_eventually "the refused pod's chain verifies" 60 \
	"$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod refused --container main
t_eventually "web's chain verifies" 60 \
	"$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main

# --- A namespace held Terminating while another pod's lines flow ------------
ns_phase() { k get namespace ending -o jsonpath='{.status.phase}' 2>/dev/null; }
k delete namespace ending --wait=false >/dev/null
terminating() { [ "$(ns_phase)" = Terminating ]; }
t_wait 30 terminating || true
t_match "kubectl get ns shows namespace ending Terminating" '^ending +Terminating ' \
	"$(k get namespace ending --no-headers)"
# Which holds it: with a namespace controller (kube-controller-manager), the
# ConfigMap's finalizer (the controller waits for the namespace's content
# to go); without one, as in this control plane, also the namespace's own
# finalizer "kubernetes", which only that controller removes.
if k get lease kube-controller-manager -n kube-system >/dev/null 2>&1; then
	finalizers_remaining() {
		k get namespace ending -o jsonpath='{.status.conditions[?(@.type=="NamespaceFinalizersRemaining")].message}' |
			t_grep -F test.shellaudit.io/hold
	}
	t_wait 60 finalizers_remaining || true
	t_match "namespace ending is held Terminating by the finalizer test.shellaudit.io/hold of ConfigMap ending/hold" \
		'test.shellaudit.io/hold' "$(finalizers_remaining)"
else
	t_eq "namespace ending is held Terminating by its finalizer \"kubernetes\" (no kube-controller-manager runs in this control plane to remove it; the ConfigMap's finalizer would hold it otherwise)" \
		"kubernetes" "$(k get namespace ending -o jsonpath='{.spec.finalizers[*]}')"
fi
t_eq "  the ConfigMap's finalizer is still there" "test.shellaudit.io/hold" \
	"$(k get configmap hold -n ending -o jsonpath='{.metadata.finalizers[0]}')"

refused_before=$(metric events_refused_total)
printf 'echo typed-while-ending-1\necho typed-while-ending-2\n' >"$work/e.txt"
cap_shell endingc "$work/e.txt" >/dev/null || t_fail "the shell in ending/shell"
# Web's line is typed after them: the spool holds ending's first.
printf 'echo flows-while-ending\n' >"$work/w2.txt"
cap_shell audited "$work/w2.txt" >/dev/null || t_fail "the shell in web"

t_wait 120 has_line web "echo flows-while-ending" || true
t_eq "a namespace held Terminating does not hold the node's queue: web's line typed after is published" \
	"echo flows-while-ending" "$(lines_of web | grep -x 'echo flows-while-ending')"
web_event() {
	k get events -n shop --field-selector reason=ShellCommand,involvedObject.name=web \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | t_grep -F 'echo flows-while-ending'
}
t_wait 60 web_event || true
t_match "  and its ShellCommand Event too" 'echo flows-while-ending' "$(web_event)"

# jsonpath filters: the parked entry of namespace ending.
ending_parked() { status "parked[?(@.namespace==\"ending\")].$1"; }
parked_ending() { [ -n "$(ending_parked code)" ]; }
t_wait 60 parked_ending || true
t_match "the ShellAuditNode status has the parked records of namespace ending, refused 403 Forbidden" \
	'^403( 403)* Forbidden' "$(ending_parked code) $(ending_parked reason | cut -d' ' -f1)"
t_match "  with the API's message" 'because it is being terminated' "$(ending_parked message)"
t_match "  and its cause: NamespaceTerminating on metadata.namespace" \
	'NamespaceTerminating metadata.namespace namespace ending is being terminated' \
	"$(status 'parked[?(@.namespace=="ending")].causes[0].reason' | cut -d' ' -f1) $(status 'parked[?(@.namespace=="ending")].causes[0].field' | cut -d' ' -f1) $(status 'parked[?(@.namespace=="ending")].causes[0].message' | sed 's/terminated .*/terminated/')"
t_match "  its parked file keeps them too" '"causes":\[\{"field":"metadata.namespace","reason":"NamespaceTerminating"' \
	"$(cat "$dir/spool/parked"/ending_*.json 2>/dev/null)"
t_match "the agent's log says why and what a user can do" \
	'AuditRecord refused \(403 Forbidden: .*being terminated \(metadata.namespace: namespace ending is being terminated\)\): parked beside the spool.*created again' \
	"$(grep '"ns":"ending"' "$dir/agent.log" | grep 'AuditRecord refused' | head -1)"
t_eq "nothing of pod ending/shell is in the API server meanwhile" "" "$(lines_of shell ending 2>/dev/null)"

# Its Events are refused as well (403): counted, not retried, said once.
refused_more() { [ "$(metric events_refused_total)" -ge $((refused_before + 2)) ]; }
t_wait 60 refused_more || true
t_eq "its ShellCommand Events are refused and counted (shellaudit_agent_events_refused_total)" \
	"yes" "$(refused_more && echo yes || echo "no: $(metric events_refused_total), $refused_before before")"
t_eq "  and logged once, not once a line" "1" \
	"$(grep '"msg":"Event refused by the API server (403)' "$dir/agent.log" | grep -c '"ns":"ending","pod":"shell","reason":"ShellCommand"')"
t_eq "  and not retried: no Event of namespace ending is tried again" "0" \
	"$(grep 'cannot deliver Event' "$dir/agent.log" | grep -c '"ns":"ending"')"

# An admin releases the namespace (the ConfigMap's finalizer removed, and
# without a namespace controller, the deletion finished through the
# namespace's finalize subresource, as for a namespace stuck Terminating),
# then creates it again.
k patch configmap hold -n ending --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
if [ "$(k get namespace ending -o jsonpath='{.spec.finalizers[*]}' 2>/dev/null)" = kubernetes ]; then
	k get namespace ending -o json |
		python3 -c 'import json, sys; n = json.load(sys.stdin); n["spec"]["finalizers"] = []; print(json.dumps(n))' |
		k replace --raw /api/v1/namespaces/ending/finalize -f - >/dev/null
fi
gone() { ! k get namespace ending >/dev/null 2>&1; }
t_eventually "the namespace goes once released" 60 gone
k create namespace ending >/dev/null
k create serviceaccount default -n ending >/dev/null 2>&1 || true
# The pod as it was (etcd may still hold it, its namespace controller gone).
ag_pod shell "$ending_cid" ending
published_ending() { has_line shell "echo typed-while-ending-2" ending && has_line shell "echo typed-while-ending-1" ending; }
t_wait 180 published_ending || true
t_eq "once the namespace is created again, the parked records are published on a retry" \
	"$(printf 'echo typed-while-ending-1\necho typed-while-ending-2')" \
	"$(lines_of shell ending | grep '^echo typed-while-ending-')"
t_wait 60 none || true
t_eq "  and none is left parked" "0" "$(status parkedRecords)"
t_eq "    nor on disk" "0" "$(find "$dir/spool/parked" -name '*.json' | wc -l)"
t_eventually "the ending pod's chain verifies" 60 \
	"$T_BUILD/asan/shellaudit-agent" verify --namespace ending --pod shell --container main
t_daemon_stop agent TERM '"msg":"stopped"'
t_daemon_stop controller TERM '"msg":"shutting down"'
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$dir/agent.log" "$dir/controller.log"; then
	t_fail "the agent and the controller ran clean under sanitizers" \
		"$(grep -h 'ERROR: AddressSanitizer\|runtime error:' "$dir/agent.log" "$dir/controller.log" | head -3)"
else
	t_pass "the agent and the controller ran clean under sanitizers"
fi
t_summary
