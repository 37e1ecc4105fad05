#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CRDs against a real kube-apiserver (hack/cluster.sh, in a state dir and
# on ports of its own): they are accepted and established, defaults and
# printer columns work, every file in invalid-policies/ is rejected with the
# message its "# expect:" line names, AuditRecords cannot be changed and
# must be signed (their attribution too, whose status is one of four),
# ShellAuditSessions are selected by node and their spec never changes, and
# the cluster leaves no process or file behind. (Who may create, change or
# delete AuditRecords and ShellAuditSessions at all is the admission
# policies', tested by test_records.sh and tests/e2e/attribution.sh.)
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

HERE=$T_ROOT/tests/integration
CLUSTER=$T_ROOT/hack/cluster.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shellaudit-test-crds.XXXXXX")
t_cleanup "rm -rf '$tmp'"
export SHELLAUDIT_RUN=$tmp/cluster
# kubectl caches discovery per server address; keep that out of ~/.kube.
export KUBECACHEDIR=$tmp/kube-cache

# Three consecutive free ports away from the defaults (6443, 2379, 2380) that
# a `make run` cluster uses, and below the ephemeral range (32768 and up),
# where a client's connection can hold a port nothing listens on.
for _ in $(seq 50); do
	base=$((20000 + RANDOM % 12000))
	t_port_free $base && t_port_free $((base + 1)) && t_port_free $((base + 2)) && break
done
export SHELLAUDIT_APISERVER_PORT=$base
export SHELLAUDIT_ETCD_CLIENT_PORT=$((base + 1))
export SHELLAUDIT_ETCD_PEER_PORT=$((base + 2))

k() { "$KUBE_BIN/kubectl" "$@"; }

# columns OUTPUT LINE: line LINE of `kubectl get` output (1 is the header),
# with runs of two or more spaces squeezed into one tab.
columns() { sed -n "${2}p" <<<"$1" | sed -E 's/  +/\t/g; s/ +$//'; }

for b in etcd kube-apiserver kubectl; do
	if [ ! -x "$KUBE_BIN/$b" ]; then
		t_fail "$KUBE_BIN/$b exists" "build it with hack/kube-build.sh (make kube)"
		t_summary
		exit
	fi
done

t_cleanup "'$CLUSTER' down"
start=$SECONDS
if ! out=$("$CLUSTER" up 2>&1); then
	t_fail "cluster up" "$out"
	t_summary
	exit
fi
t_pass "cluster up (apiserver on :$SHELLAUDIT_APISERVER_PORT, ready in $((SECONDS - start))s)"

eval "$("$CLUSTER" env)"
t_eq "env points KUBECONFIG at the state dir" "$SHELLAUDIT_RUN/kubeconfig" "$KUBECONFIG"

t_run "up again is a no-op that checks readiness" "$CLUSTER" up
t_match "server version is v1.32" 'Server Version: v1\.32\.[0-9]+' "$(k version 2>&1)"

# --- CRDs ----------------------------------------------------------------------

crds=(shellauditpolicies.shellaudit.io auditrecords.shellaudit.io shellauditnodes.shellaudit.io
	shellauditsessions.shellaudit.io)
t_run "apply -k crds" k apply -k "$T_ROOT/crds"
t_run "CRDs established" k wait --for=condition=Established --timeout=60s "${crds[@]/#/crd/}"

# --- ShellAuditPolicy ------------------------------------------------------------

t_run "apply -k config/samples" k apply -k "$T_ROOT/config/samples"

t_run "minimal policy accepted" k create -f - <<-EOF
	apiVersion: shellaudit.io/v1alpha1
	kind: ShellAuditPolicy
	metadata:
	  name: minimal
	spec:
	  podSelector: {}
EOF
t_eq "defaults of a minimal policy" "true true true true false 60 720h" \
	"$(k get sap minimal -o jsonpath='{.spec.capture.readline} {.spec.capture.exec} {.spec.capture.terminal} {.spec.events.enabled} {.spec.events.execEvents} {.spec.events.ratePerMinute} {.spec.retention}')"

n=0
for f in "$HERE"/invalid-policies/*.yaml; do
	name=$(basename "$f" .yaml)
	expect=$(sed -n 's/^# expect: //p' "$f" | head -1)
	if [ -z "$expect" ]; then
		t_fail "invalid policy $name has an '# expect:' line"
		continue
	fi
	n=$((n + 1))
	if out=$(k create --validate=strict -f "$f" 2>&1); then
		t_fail "invalid policy $name rejected" "accepted: $out"
		k delete --wait=false -f "$f" >/dev/null 2>&1
	elif [[ $out == *"$expect"* ]]; then
		t_pass "invalid policy $name rejected: $expect"
	else
		t_fail "invalid policy $name rejected with the expected message" "expected: $expect" "actual:   $out"
	fi
done
t_match "at least 10 invalid policies" '^([1-9][0-9]+)$' "$n"

out=$(k get sap audit-demo)
t_eq "sap columns" $'NAME\tMATCHED PODS\tNODES\tREADY\tOVER BUDGET\tAGE' "$(columns "$out" 1)"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_run "policy status patched" k patch sap audit-demo --subresource=status --type=merge -p "{\"status\":{
	\"observedGeneration\":1,\"matchedPods\":3,\"nodes\":2,\"conditions\":[{\"type\":\"Ready\",
	\"status\":\"True\",\"reason\":\"Programmed\",\"message\":\"all targets attached\",
	\"lastTransitionTime\":\"$now\",\"observedGeneration\":1}]}}"
out=$(k get sap audit-demo)
t_match "sap row shows the status" $'^audit-demo\t3\t2\tTrue\t[0-9]+[smhd]$' "$(columns "$out" 2)"
t_run "policy over its storage budget" k patch sap audit-demo --subresource=status --type=json -p "[
	{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"StorageBudgetExceeded\",
	\"status\":\"True\",\"reason\":\"ClusterBudget\",\"message\":\"held\",
	\"lastTransitionTime\":\"$now\",\"observedGeneration\":1}}]"
out=$(k get sap audit-demo)
t_match "sap row shows it over budget" $'^audit-demo\t3\t2\tTrue\tTrue\t[0-9]+[smhd]$' "$(columns "$out" 2)"

# With a status subresource, the main resource ignores status.
k patch sap audit-demo --type=merge -p '{"status":{"matchedPods":99}}' >/dev/null 2>&1
t_eq "status is only written through the subresource" "3" \
	"$(k get sap audit-demo -o jsonpath='{.status.matchedPods}')"
t_eq "a status write leaves generation alone" "1" "$(k get sap audit-demo -o jsonpath='{.metadata.generation}')"

# --- AuditRecord -----------------------------------------------------------------

t_run "AuditRecord created" k create -f "$HERE/fixtures/auditrecord.yaml"
out=$(k get ar -n default demo-6f7c9-shell-0)
t_eq "ar columns" $'NAME\tPOD\tCONTAINER\tUSER\tENTRIES\tFIRST\tAGE' "$(columns "$out" 1)"
t_match "ar row: USER is who opened the session" \
	$'^demo-6f7c9-shell-0\tdemo-6f7c9\tshell\talice\t3\tcat /etc/shadow\t[0-9]+[smhd]$' \
	"$(columns "$out" 2)"
out=$(k get ar -n default demo-6f7c9-shell-0 -o wide)
t_match "ar wide columns add SEQ and NODE" $'^NAME\tPOD\tCONTAINER\tUSER\tENTRIES\tFIRST\tSEQ\tNODE\tAGE$' \
	"$(columns "$out" 1)"

# expect_rejected NAME EXPECTED CMD...: CMD fails and says EXPECTED.
expect_rejected() {
	local name=$1 expect=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		t_fail "$name" "accepted: $out"
	elif [[ $out == *"$expect"* ]]; then
		t_pass "$name"
	else
		t_fail "$name" "expected: $expect" "actual:   $out"
	fi
}

expect_rejected "AuditRecord spec cannot be patched" "AuditRecords are append-only" \
	k patch ar -n default demo-6f7c9-shell-0 --type=merge -p '{"spec":{"node":"elsewhere"}}'
expect_rejected "AuditRecord entries cannot be replaced" "AuditRecords are append-only" \
	k replace -f <(sed 's#text: cat /etc/shadow#text: ls#' "$HERE/fixtures/auditrecord.yaml")
t_eq "AuditRecord entries unchanged" "cat /etc/shadow" \
	"$(k get ar -n default demo-6f7c9-shell-0 -o jsonpath='{.spec.entries[0].text}')"
t_eq "a line entry keeps its source and inexact" "terminal true" \
	"$(k get ar -n default demo-6f7c9-shell-0 -o jsonpath='{.spec.entries[0].source} {.spec.entries[0].inexact}')"

# record_variant NEWNAME SED-SCRIPT: the fixture under another name, edited.
record_variant() {
	sed -e "s/name: demo-6f7c9-shell-0/name: $1/" -e "$2" "$HERE/fixtures/auditrecord.yaml"
}
expect_rejected "AuditRecord with a wrong entryCount rejected" "entryCount must equal the number of entries" \
	k create -f <(record_variant bad-count 's/entryCount: 3/entryCount: 2/')
expect_rejected "AuditRecord after the first without previousDigest rejected" \
	"previousDigest is required unless sequence is 0" \
	k create -f <(record_variant bad-chain 's/sequence: 0/sequence: 1/')
expect_rejected "line entry without text rejected" "a line entry needs text" \
	k create -f <(record_variant bad-line '0,\#    text: cat /etc/shadow#{\#    text: cat /etc/shadow#d}')
expect_rejected "entry of an unknown kind rejected" 'Unsupported value: "keystroke"' \
	k create -f <(record_variant bad-kind 's/kind: gap/kind: keystroke/')
expect_rejected "line of an unknown source rejected" 'Unsupported value: "keyboard"' \
	k create -f <(record_variant bad-source 's/source: terminal/source: keyboard/')
expect_rejected "malformed digest rejected" "spec.digest in body should match" \
	k create -f <(record_variant bad-digest 's/digest: sha256:9f86/digest: md5:9f86/')
expect_rejected "AuditRecord without a signature rejected" "spec.signature: Required value" \
	k create -f <(record_variant no-sig '/^  signature:/,/^    value:/d')
expect_rejected "malformed signature rejected" "spec.signature.value in body should match" \
	k create -f <(record_variant bad-sig 's/^    value: .*/    value: not-base64/')
expect_rejected "malformed signing key ID rejected" "spec.signature.keyID in body should match" \
	k create -f <(record_variant bad-keyid 's/keyID: ed25519:0123456789abcdef/keyID: rsa:0123/')
expect_rejected "audit_stopped entry without text rejected" "an audit_stopped entry needs text" \
	k create -f <(record_variant bad-stop 's/kind: gap/kind: audit_stopped/; /text: 3 events lost/d')
expect_rejected "exec entry without filename rejected" "an exec entry needs filename" \
	k create -f <(record_variant bad-exec '\#    filename: /usr/bin/cat#d')
expect_rejected "aggregated exec entry without first and last rejected" \
	"an aggregated exec entry needs first and last" \
	k create -f <(record_variant bad-agg 's#^    filename: /usr/bin/cat#&\n    count: 2#')
t_run "aggregated exec entry with first and last accepted" \
	k create --dry-run=server -f <(record_variant agg-ok 's#^    filename: /usr/bin/cat#&\n    count: 2\n    first: "2025-11-25T16:00:01.130000Z"\n    last: "2025-11-25T16:00:01.140000Z"#')
expect_rejected "gap entry without count rejected" "a gap entry needs count" \
	k create -f <(record_variant bad-gap '/^    count: 3/d')
expect_rejected "namespace entry without how and namespaces rejected" \
	"a namespace entry needs how and namespaces" \
	k create -f <(record_variant bad-ns 's/kind: gap/kind: namespace/')
expect_rejected "off entry without reason rejected" "an off entry needs reason" \
	k create -f <(record_variant bad-off 's/kind: gap/kind: "off"/')
expect_rejected "attribution of an unknown status rejected" 'Unsupported value: "Trusted"' \
	k create -f <(record_variant bad-attr 's/status: Matched/status: Trusted/')
expect_rejected "attribution without a status rejected" "spec.attribution.status: Required value" \
	k create -f <(record_variant no-status '/^    status: Matched/d')
expect_rejected "the attribution cannot be changed either" "AuditRecords are append-only" \
	k patch ar -n default demo-6f7c9-shell-0 --type=merge \
	-p '{"spec":{"attribution":{"user":{"username":"mallory"}}}}'

# --- ShellAuditSession ------------------------------------------------------------

# session NAME NODE: a pending session as the webhook writes it.
session() {
	cat <<-EOF
	apiVersion: shellaudit.io/v1alpha1
	kind: ShellAuditSession
	metadata:
	  name: $1
	spec:
	  kind: Exec
	  node: $2
	  namespace: default
	  pod: demo-6f7c9
	  podUID: 0b7c8d1e-2f3a-4b5c-8d6e-7f8091a2b3c4
	  container: shell
	  command: [bash]
	  tty: true
	  stdin: true
	  user: {username: alice, uid: alice-uid, groups: [devs]}
	  admittedAt: "2025-11-25T15:59:59.900000Z"
	  expiresAt: "2025-11-25T16:00:59Z"
	EOF
}
t_run "ShellAuditSession created" k create -f <(session 5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d node-1)
t_run "and another, on another node" k create -f <(session 6c2b8f2d-0000-4000-8000-000000000000 node-2)
out=$(k get sas 5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d)
t_eq "sas columns" $'NAME\tUSER\tKIND\tNAMESPACE\tPOD\tCONTAINER\tAGE' "$(columns "$out" 1)"
t_match "sas row" $'^5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d\talice\tExec\tdefault\tdemo-6f7c9\tshell\t' \
	"$(columns "$out" 2)"
t_eq "a node's agent selects its own node's sessions (field selector spec.node)" \
	"shellauditsession.shellaudit.io/5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d" \
	"$(k get sas --field-selector spec.node=node-1 -o name)"
expect_rejected "a session's spec cannot be changed" "a ShellAuditSession's spec cannot be changed" \
	k patch sas 5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d --type=merge -p '{"spec":{"user":{"username":"mallory"}}}'
t_run "its status takes what the audit log says" k patch sas 5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d \
	--subresource=status --type=merge -p '{"status":{"audit":{"auditID":"a-1","sourceIPs":["10.0.0.7"],"responseCode":101}}}'
expect_rejected "a session of an unknown kind rejected" 'Unsupported value: "Ssh"' \
	k create -f <(session 7d3c9a3e-0000-4000-8000-000000000000 node-1 | sed 's/kind: Exec/kind: Ssh/')
expect_rejected "a session without a user rejected" "spec.user: Required value" \
	k create -f <(session 8e4d0b4f-0000-4000-8000-000000000000 node-1 | sed '/user:/d')

# --- ShellAuditNode --------------------------------------------------------------

t_run "ShellAuditNode created" k create -f "$HERE/fixtures/shellauditnode.yaml"
out=$(k get san node-1)
t_eq "san columns" $'NAME\tTARGETS\tATTACHED\tOBSERVED\tAGE' "$(columns "$out" 1)"
t_run "node status patched" k patch san node-1 --subresource=status --type=merge -p '{"status":{
	"observedGeneration":1,"attached":1,"agentVersion":"test","drops":0,"targets":[
	{"containerID":"containerd://4f1c2a3b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708","attached":true},
	{"containerID":"containerd://a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","attached":false,
	"reason":"ContainerNotFound","message":"no process of the container on the node"}],
	"terminal":{"hook":"tracepoint","attached":true}}}'
t_eq "node status keeps the terminal hook" "tracepoint true" \
	"$(k get san node-1 -o jsonpath='{.status.terminal.hook} {.status.terminal.attached}')"
t_eq "a target's capture keeps terminal" "true" \
	"$(k get san node-1 -o jsonpath='{.spec.targets[0].capture.terminal}')"
out=$(k get san node-1)
t_match "san row shows targets and status" $'^node-1\t2\t1\t1\t[0-9]+[smhd]$' "$(columns "$out" 2)"
expect_rejected "ShellAuditNode with a wrong targetCount rejected" "targetCount must equal the number of targets" \
	k create -f <(sed -e 's/name: node-1/name: node-2/' -e 's/targetCount: 2/targetCount: 1/' \
		"$HERE/fixtures/shellauditnode.yaml")

# --- names -------------------------------------------------------------------------

t_eq "short name sap" "shellauditpolicy.shellaudit.io/audit-demo shellauditpolicy.shellaudit.io/minimal" \
	"$(k get sap -o name | tr '\n' ' ' | sed 's/ $//')"
t_eq "short name ar" "auditrecord.shellaudit.io/demo-6f7c9-shell-0" "$(k get ar -n default -o name)"
t_eq "short name san" "shellauditnode.shellaudit.io/node-1" "$(k get san -o name)"
t_eq "short name sas" "shellauditsession.shellaudit.io/5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d shellauditsession.shellaudit.io/6c2b8f2d-0000-4000-8000-000000000000" \
	"$(k get sas -o name | tr '\n' ' ' | sed 's/ $//')"
t_eq "category shellaudit lists all four kinds" \
	"auditrecord.shellaudit.io/demo-6f7c9-shell-0 shellauditnode.shellaudit.io/node-1 shellauditpolicy.shellaudit.io/audit-demo shellauditpolicy.shellaudit.io/minimal shellauditsession.shellaudit.io/5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d shellauditsession.shellaudit.io/6c2b8f2d-0000-4000-8000-000000000000" \
	"$(k get shellaudit -A -o name | sort | tr '\n' ' ' | sed 's/ $//')"

# --- down ----------------------------------------------------------------------------

t_run "cluster down" "$CLUSTER" down
t_eq "no process of the cluster left" "" "$(pgrep -af -- "$SHELLAUDIT_RUN/")"
t_eq "state dir removed" "absent" "$([ -e "$SHELLAUDIT_RUN" ] && echo present || echo absent)"

t_summary
