#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make run` and `make down` (hack/run.sh) on a node of their own: the
# samples and shellaudit are deployed from config/, the demo pods are
# Ready, the commands to try are printed, a second run changes nothing, and
# down leaves nothing behind.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

RUN_SH=$T_ROOT/hack/run.sh
k() { "$KUBE_BIN/kubectl" "$@"; }

e2e_node_preflight
e2e_node_env
for b in shellaudit-controller shellaudit-agent; do
	if [ ! -x "$T_BUILD/$b" ]; then
		t_fail "$T_BUILD/$b is built" "run make"
		t_summary
		exit
	fi
done

start=$SECONDS
if ! out=$("$RUN_SH" 2>&1); then
	t_fail "hack/run.sh" "$(tail -n 30 <<<"$out")"
	t_summary
	exit
fi
t_pass "hack/run.sh ($((SECONDS - start))s)"
for want in "KUBECONFIG=$SHELLAUDIT_RUN/kubeconfig" "kubectl exec -it deploy/demo -- bash" \
	"kubectl get events --field-selector reason=ShellCommand" "kubectl get auditrecords"; do
	if grep -qF -- "$want" <<<"$out"; then t_pass "prints $want"; else t_fail "prints $want" "$out"; fi
done
export KUBECONFIG=$SHELLAUDIT_RUN/kubeconfig

t_eq "demo and untargeted are available" "1 1" \
	"$(k get deploy demo untargeted -o jsonpath='{.items[*].status.availableReplicas}')"
t_eq "only demo carries app=demo" "demo" \
	"$(k get pods -l app=demo -o jsonpath='{.items[*].metadata.labels.app}')"
t_eq "the sample policy exists" "audit-demo" "$(k get sap -o jsonpath='{.items[*].metadata.name}')"
t_eq "the controller, the agent and the audit receiver are deployed" \
	"deployment.apps/shellaudit-controller daemonset.apps/shellaudit-agent daemonset.apps/shellaudit-audit" \
	"$(k -n shellaudit-system get deploy,ds -o name | tr '\n' ' ' | sed 's/ $//')"
t_eq "they never pull" "Never Never" \
	"$(k -n shellaudit-system get deploy/shellaudit-controller ds/shellaudit-agent \
		-o jsonpath='{.items[*].spec.template.spec.containers[0].imagePullPolicy}')"

pods=$(k get pods -A -o jsonpath='{.items[*].metadata.uid}')
start=$SECONDS
if out=$("$RUN_SH" 2>&1); then
	t_pass "hack/run.sh again ($((SECONDS - start))s)"
else
	t_fail "hack/run.sh again" "$(tail -n 20 <<<"$out")"
fi
t_eq "a second run with the same images restarts no pod" "$pods" \
	"$(k get pods -A -o jsonpath='{.items[*].metadata.uid}')"

t_run "hack/run.sh down" "$RUN_SH" down
t_eq "no process of the cluster left" "" "$(pgrep -af -- "$SHELLAUDIT_RUN/")"
t_eq "no mount under the state dir" "" "$(grep -F " $RUN_REAL/" /proc/self/mountinfo)"
t_eq "no bridge" "absent" "$(ip link show "$SHELLAUDIT_CNI_BRIDGE" >/dev/null 2>&1 && echo present || echo absent)"
t_eq "state dir removed" "absent" "$([ -e "$SHELLAUDIT_RUN" ] && echo present || echo absent)"

t_summary
