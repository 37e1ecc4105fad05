#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Each chain is published on its own (#12 part 2), for real (the kernel,
# kube-apiserver, the controller, the agent, ASan builds). A validating
# webhook that cannot be reached, with failurePolicy Fail, matches the
# AuditRecords of pod shop/stuck only: the API server answers each of them
# with 500 (an error that may clear, so nothing is parked or dropped):
#   - the records of pod shop/web, typed after stuck's, are published
#     meanwhile; stuck's lines go on as Events;
#   - stuck's records stay in the spool, counted as failures, not parked;
#   - once the webhook is gone, stuck's records go out in order, and both
#     chains verify.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup chains-test-node
ag_container stuckc stuck

ag_policy
# Port 1 on the loopback: nothing listens, every call fails at once.
k apply -f - >/dev/null <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: test-unreachable}
webhooks:
- name: unreachable.test.shellaudit.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 2
  clientConfig: {url: "https://127.0.0.1:1/validate"}
  rules:
  - apiGroups: [shellaudit.io]
    apiVersions: ["*"]
    operations: [CREATE]
    resources: [auditrecords]
  matchConditions:
  - name: stuck-only
    expression: "object.spec.pod.name == 'stuck'"
EOF

ag_controller "$T_BUILD/asan/shellaudit-controller"
port=$(t_free_port)
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
t_daemon agent "$dir/agent.log" "$T_BUILD/asan/shellaudit-agent" --node-name "$node" \
	--spool-dir "$dir/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" \
	--batch-ms 1000 --batch-entries 4
metric() { curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
both_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 2 ]; }
lines_of() { ag_lines_of "$@"; }
has_line() { lines_of "$1" | t_grep -qxF -- "$2"; }
events_of() {
	k get events -n shop --field-selector "reason=ShellCommand,involvedObject.name=$1" \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | sed 's/^(unattributed): //'
}

# The webhook is in force before any record is sent: a dry run fails with
# its 500 (not a refusal of the record).
failing() {
	{ k create --dry-run=server -f <(sed -e 's/^    name: demo-6f7c9$/    name: stuck/' \
		"$T_ROOT/tests/integration/fixtures/auditrecord.yaml") 2>&1 || true; } |
		t_grep -q 'failed calling webhook'
}
t_wait 60 failing || t_fail "the webhook fails the records of pod stuck"

t_wait 120 both_attached || t_stop "the agent attaches to both pods" "$(tail -5 "$dir/agent.log")"
failures0=$(metric publish_failures_total)
printf 'echo stuck-%s\n' 1 2 3 4 5 6 >"$work/s.txt"
cap_shell stuckc "$work/s.txt" >/dev/null || t_fail "the shell in stuck"
printf 'echo flows-%s\n' 1 2 3 >"$work/w.txt"
cap_shell audited "$work/w.txt" >/dev/null || t_fail "the shell in web"

web_all() { [ "$(lines_of web | grep -c '^echo flows-')" = 3 ]; }
t_wait 120 web_all || true
t_eq "a chain the API server keeps failing holds up no other: web's lines typed after it are published" \
	"$(printf 'echo flows-%s\n' 1 2 3)" "$(lines_of web | grep '^echo flows-')"
stuck_events() { [ "$(events_of stuck | grep -c '^echo stuck-')" = 6 ]; }
t_wait 60 stuck_events || true
t_eq "stuck's lines go on as Events" 6 "$(events_of stuck | grep -c '^echo stuck-')"
t_eq "stuck's records are not in the API server" "" "$(lines_of stuck)"
failing_more() { [ "$(metric publish_failures_total)" -gt "${failures0:-0}" ] 2>/dev/null; }
t_wait 30 failing_more || true
t_match "its failures are counted" '^[1-9]' "$(($(metric publish_failures_total) - ${failures0:-0}))"
t_eq "and nothing is parked (a 500 may clear)" "0" "$(metric records_parked_total)"

k delete validatingwebhookconfiguration test-unreachable >/dev/null
stuck_all() { [ "$(lines_of stuck | grep -c '^echo stuck-')" = 6 ]; }
t_wait 180 stuck_all || true
t_eq "once the webhook is gone, stuck's records are published, in order" \
	"$(printf 'echo stuck-%s\n' 1 2 3 4 5 6)" "$(lines_of stuck | grep '^echo stuck-')"
verify() { "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod "$1" --container main; }
t_eventually "stuck's chain verifies" 60 verify stuck
t_eventually "web's chain verifies" 60 verify web

t_daemon_stop agent TERM '"msg":"stopped"'
t_daemon_stop controller TERM '"msg":"shutting down"'
ag_sanitizers_clean agent controller
t_summary
