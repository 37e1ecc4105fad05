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
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup parked-test-node
ag_container refusedc refused

k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
EOF
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
both_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 2 ]; }
lines_of() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
recs = sorted((r for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == sys.argv[1]),
              key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e.get("text", ""))' "$1"
}
has_line() { lines_of "$1" | t_grep -qxF -- "$2"; }
status() { k get shellauditnode "$node" -o jsonpath="{.status.$1}"; }

# The policy is in force before any record is sent: a dry run is refused.
refusing() {
	! k create --dry-run=server -f <(sed -e 's/^    name: demo-6f7c9$/    name: refused/' \
		"$T_ROOT/tests/integration/fixtures/auditrecord.yaml") 2>/dev/null
}
t_wait 60 refusing || t_fail "the admission policy refuses the records of pod refused"

start_agent
t_wait 120 both_attached || t_stop "the agent attaches to both pods" "$(tail -5 "$dir/agent.log")"

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
t_daemon_stop agent TERM '"msg":"stopped"'
t_daemon_stop controller TERM '"msg":"shutting down"'
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$dir/agent.log" "$dir/controller.log"; then
	t_fail "the agent and the controller ran clean under sanitizers" \
		"$(grep -h 'ERROR: AddressSanitizer\|runtime error:' "$dir/agent.log" "$dir/controller.log" | head -3)"
else
	t_pass "the agent and the controller ran clean under sanitizers"
fi
t_summary
