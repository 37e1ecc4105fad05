#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Records that tenants cannot erase or forge, for real: kube-apiserver and
# etcd with config/rbac applied (RBAC and the ValidatingAdmissionPolicies),
# the controller (ASan) as its service account, the agent (ASan) on the
# real kernel as its service account with a token bound to a pod of its
# node, as a DaemonSet pod has.
#   - A tenant with every verb on every resource of the namespace cannot
#     delete, relabel, annotate, patch, unfinalize or create AuditRecords,
#     nor put them under a ResourceQuota; neither can a cluster admin
#     while the policy is bound.
#   - The agent of another node cannot write records of this node, nor under
#     a name that is not its record's own (so it cannot take names first);
#     what it may write (its own node's record claiming our container) makes
#     verify fail.
#   - The agent's Events are about pods and of its reasons only.
#   - The controller's service account cannot delete a record before its
#     retention (its DELETE only marks it), and deletes it after.
#   - The real agent's chain, signed and with its head published in the
#     ShellAuditNode status, verifies; a policy deleted while the container
#     runs ends it with an audit_stopped entry and a Warning Event.
#   - Once a cluster admin unbinds the policy, verify fails (exit 1, saying
#     which) after the oldest, a middle or the newest record is deleted,
#     after a record is edited and re-created with its digest and the later
#     links recomputed, after a signature is swapped, after every record is
#     gone; and passes again once the records are put back.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup rec-node-a
node_b=rec-node-b
tamper=$T_ROOT/tests/integration/records/tamper.py
agent=$T_BUILD/asan/shellaudit-agent
vap_binding=validatingadmissionpolicybinding/shellaudit-auditrecords

t_run "config/rbac applies (RBAC and the admission policies)" k apply -k "$T_ROOT/config/rbac"

# kc NAME TOKEN: a kubeconfig $dir/NAME.kc with that bearer token (and the
# token in $dir/NAME.token).
kc() {
	printf '%s' "$2" >"$dir/$1.token"
	cat >"$dir/$1.kc" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: c
	  cluster:
	    server: https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT
	    certificate-authority: $dir/pki/ca.crt
	users:
	- name: u
	  user:
	    token: $2
	contexts:
	- name: c
	  context: {cluster: c, user: u}
	current-context: c
	EOF
}
# as NAME ARGS...: kubectl with $dir/NAME.kc.
as() {
	local who=$1
	shift
	"$KUBE_BIN/kubectl" --kubeconfig "$dir/$who.kc" "$@"
}
# agent_kc NODE NAME: a pod of the agent's service account on NODE (never
# run: there is no kubelet) and NAME.kc with a token bound to it, which
# carries the node's name as a DaemonSet pod's does.
agent_kc() {
	local uid
	k apply -f - >/dev/null <<-EOF
	apiVersion: v1
	kind: Pod
	metadata: {name: agent-$1, namespace: shellaudit-system}
	spec:
	  nodeName: $1
	  serviceAccountName: shellaudit-agent
	  containers: [{name: agent, image: shellaudit-agent}]
	EOF
	uid=$(k -n shellaudit-system get pod "agent-$1" -o jsonpath='{.metadata.uid}')
	kc "$2" "$(k -n shellaudit-system create token shellaudit-agent --duration 6h \
		--bound-object-kind Pod --bound-object-name "agent-$1" --bound-object-uid "$uid")"
}
agent_kc "$node" agent-a
agent_kc "$node_b" agent-b
kc controller "$(k -n shellaudit-system create token shellaudit-controller --duration 6h)"
k create serviceaccount tenant -n shop >/dev/null
k create role everything -n shop --verb='*' --resource='*.*' >/dev/null
k create rolebinding tenant-everything -n shop --role=everything --serviceaccount=shop:tenant >/dev/null
kc tenant "$(k -n shop create token tenant --duration 6h)"
t_eq "the agent's token names its node, as the policies read it" "$node" \
	"$(as agent-a auth whoami -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["userInfo"]["extra"]["authentication.kubernetes.io/node-name"][0])')"

# The admission policies act once the API server has loaded them.
# probe NAME NODE RETENTION: a record of pod probe-NAME as an agent makes one.
probe() { "$tamper" make shop "probe-$1" "$2" "$3"; }
policy_acts() { ! k create --dry-run=server -f <(probe x "$node" 1h) 2>&1 | t_grep -q created; }
t_wait 60 policy_acts || t_fail "the admission policies act" "$(k create --dry-run=server -f <(probe x "$node" 1h) 2>&1)"

# expect_refused NAME EXPECTED CMD...: CMD fails saying EXPECTED.
expect_refused() {
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
# expect_denied NAME EXPECTED CMD...: the same, by an admission policy (403,
# never 422: the agent retries a refused record rather than dropping it).
expect_denied() {
	local name=$1 expect=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		t_fail "$name" "accepted: $out"
	elif [[ $out == *"(Forbidden)"*"ValidatingAdmissionPolicy"*"denied request"*"$expect"* ]]; then
		t_pass "$name"
	else
		t_fail "$name" "expected a 403 from an admission policy: $expect" "actual: $out"
	fi
}

# --- the real agent's chain ----------------------------------------------------------

k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: records}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
EOF
t_daemon controller "$dir/controller.log" "$T_BUILD/asan/shellaudit-controller" --kubeconfig "$dir/controller.kc" \
	--port 0 --namespace shellaudit-system --retention-period 2 --log-level debug
mkdir -p "$work/bpf" "$dir/agent-a"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
port=$((SHELLAUDIT_APISERVER_PORT + 3))
t_daemon agent "$dir/agent.log" "$agent" --node-name "$node" --kubeconfig "$dir/agent-a.kc" \
	--spool-dir "$dir/agent-a/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" --batch-ms 500 \
	--batch-entries 2 --log-level debug
if t_wait 120 ag_attached; then
	t_pass "the agent, as its service account, attaches to the programmed container"
else
	t_fail "the agent, as its service account, attaches to the programmed container" \
		"$(tail -5 "$dir/agent.log")" "$(tail -5 "$dir/controller.log")"
fi
t_wait 60 ag_probed || t_fail "the container's bash is probed" "$(tail -5 "$dir/agent.log")"
for i in $(seq 1 12); do echo "echo record-$i"; done >"$work/session.txt"
cap_shell audited "$work/session.txt" >/dev/null || t_fail "the shell in the audited container failed"

records() { k get auditrecords -n shop -o json >"$dir/all.json" && "$tamper" pick "$dir/all.json" web main; }
names() { records | python3 -c 'import json,sys; [print(json.loads(l)["metadata"]["name"]) for l in sys.stdin]'; }
enough() { [ "$(records | wc -l)" -ge 6 ]; }
t_wait 120 enough || t_fail "the session makes six records or more" "$(records | wc -l)"
verify() { "$agent" verify --namespace shop --pod web --container main; }
# The head follows each record within a second: a broken chain never passes.
if t_wait 60 verify; then t_pass "the real agent's chain verifies"; else t_fail "the real agent's chain verifies" "$(verify 2>&1)"; fi
t_match "the node's signing key is in its ShellAuditNode status" '^ed25519:[0-9a-f]{16}$' \
	"$(k get san "$node" -o jsonpath='{.status.signingKey.keyID}')"
t_eq "and signs the records" "$(k get san "$node" -o jsonpath='{.status.signingKey.keyID}')" \
	"$(records | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["signature"]["keyID"])')"
t_eq "the key stays on the node, 0600" "600" "$(stat -c %a "$dir/agent-a/node.key")"
t_match "the chain's head is published" '^[0-9]+ sha256:' \
	"$(k get san "$node" -o jsonpath='{.status.heads[0].sequence} {.status.heads[0].digest}')"

# --- a tenant with every right in the namespace -------------------------------------

victim=$(names | sed -n 2p)
before=$(k get auditrecords -n shop -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}')
t_eq "RBAC alone lets the tenant delete AuditRecords" "yes" \
	"$(as tenant auth can-i delete auditrecords.shellaudit.io -n shop)"
expect_denied "a tenant cannot delete an AuditRecord" "only the shellaudit controller deletes" \
	as tenant delete auditrecord -n shop "$victim" --wait=false
expect_denied "nor all of them" "only the shellaudit controller deletes" \
	as tenant delete auditrecords -n shop --all --wait=false
expect_denied "nor relabel one" "cannot be changed, labels and annotations included" \
	as tenant label auditrecord -n shop "$victim" shellaudit.io/pod=elsewhere --overwrite
expect_denied "nor annotate one" "cannot be changed" \
	as tenant annotate auditrecord -n shop "$victim" note=hidden
expect_refused "nor patch its spec (the CRD refuses it first)" "AuditRecords are append-only" \
	as tenant patch auditrecord -n shop "$victim" --type=merge -p '{"spec":{"node":"elsewhere"}}'
expect_denied "nor remove its finalizer" "cannot be changed" \
	as tenant patch auditrecord -n shop "$victim" --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'
expect_denied "nor create one" "only the shellaudit agent creates" as tenant create -f <(probe tenant "$node" 1h)
records | sed -n 2p >"$dir/victim.json"
expect_denied "nor re-create a real one under another name" "only the shellaudit agent creates" \
	as tenant create -f <("$tamper" forge "$dir/victim.json" "$node")
expect_denied "nor put AuditRecords under a quota, which would refuse the agent's" \
	"cannot be put under a ResourceQuota" \
	as tenant create -n shop -f <(printf '%s\n' 'apiVersion: v1' 'kind: ResourceQuota' \
		'metadata: {name: no-records}' 'spec: {hard: {count/auditrecords.shellaudit.io: "0"}}')
t_run "a quota on anything else is the tenant's own" \
	as tenant create quota some-pods -n shop --hard=count/pods=100
expect_denied "and cannot be changed into one on AuditRecords" "cannot be put under a ResourceQuota" \
	as tenant patch quota some-pods -n shop --type=merge \
	-p '{"spec":{"hard":{"count/auditrecords.shellaudit.io":"0"}}}'
k delete quota some-pods -n shop >/dev/null
expect_denied "a cluster admin cannot delete one either while the policy is bound" \
	"only the shellaudit controller deletes" k delete auditrecord -n shop "$victim" --wait=false
expect_denied "nor relabel it" "cannot be changed" k label auditrecord -n shop "$victim" reviewed=yes
t_eq "every record is still there, unchanged" "$before" \
	"$(k get auditrecords -n shop -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}')"

# --- another node's agent ------------------------------------------------------------

expect_denied "the agent of another node cannot write this node's records" \
	"may not write records of node $node" as agent-b create -f <(probe b "$node" 1h)
# The old names (pod, container, container hash, sequence) were predictable.
predictable=$(sed -E 's/-[0-9a-f]{10}$//' <<<"$victim")
expect_denied "nor a record under a name that is not its own record's (taking names first)" \
	"name ends in '-' and the first 10 (or 20) hex digits of its spec.digest" \
	as agent-b create -f <("$tamper" forge "$dir/victim.json" "$node_b" | sed "s/\"name\": \"[^\"]*\"/\"name\": \"$predictable\"/")
expect_refused "nor delete one (RBAC refuses it first)" 'cannot delete resource "auditrecords"' \
	as agent-b delete auditrecord -n shop "$victim" --wait=false

# --- the agent's Events -------------------------------------------------------------

# event NAME REASON KIND: an events.k8s.io Event as the agent writes them.
event() {
	cat <<-EOF
	apiVersion: events.k8s.io/v1
	kind: Event
	metadata: {name: $1, namespace: shop}
	eventTime: "2026-11-25T00:00:00.000000Z"
	reportingController: shellaudit.io/agent
	reportingInstance: shellaudit-agent-$node
	action: Typed
	reason: $2
	type: Normal
	note: probe
	regarding: {apiVersion: v1, kind: $3, name: web, namespace: shop}
	EOF
}
t_run "the agent reports Events of its reasons about pods" as agent-a create -f <(event ev-1 ShellCommand Pod)
expect_denied "but no Event of another reason" "does not report Events of reason Evicted" \
	as agent-a create -f <(event ev-2 Evicted Pod)
expect_denied "nor about anything but a pod" "Events about pods only" \
	as agent-a create -f <(event ev-3 ShellCommand Node)

# --- the controller's service account and retention --------------------------------------

as controller delete auditrecord -n shop "$victim" --wait=false >/dev/null 2>&1 || true
t_match "the controller's DELETE of a record within its retention only marks it" '^[0-9TZ:-]+ shellaudit.io/retention$' \
	"$(k get auditrecord -n shop "$victim" -o jsonpath='{.metadata.deletionTimestamp} {.metadata.finalizers[*]}')"
# patch_as NAME PATH JSON: a merge patch with NAME's token, as the controller
# sends it (kubectl patch would get the object first, which it may not);
# prints the HTTP status and the message.
patch_as() {
	curl -s --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/$1.token")" \
		-H 'Content-Type: application/merge-patch+json' -X PATCH --data "$3" \
		-o "$dir/patch.resp" -w '%{http_code}' "https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT$2"
	printf ' %s' "$(grep -o '"message": *"[^"]*"' "$dir/patch.resp")"
}
t_match "and it cannot release it before its retention" "^403 .*only once it was deleted after its retention" \
	"$(patch_as controller "/apis/shellaudit.io/v1alpha1/namespaces/shop/auditrecords/$victim" '{"metadata":{"finalizers":[]}}')"
t_run "so the record is still there and the chain verifies" verify
probe short "$node" 5s >"$dir/short.json"
probe long "$node" 720h >"$dir/long.json"
t_run "the agent creates records of its own node, named after their digest" \
	as agent-a create -f "$dir/short.json" -f "$dir/long.json"
short=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$dir/short.json")
long=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$dir/long.json")
gone() { ! k get auditrecord -n shop "$1" >/dev/null 2>&1; }
if t_wait 90 gone "$short"; then
	t_pass "the controller deletes a record once its retention has passed"
else
	t_fail "the controller deletes a record once its retention has passed" \
		"$(k get auditrecord -n shop "$short" -o yaml 2>&1 | head -12)" "$(grep -i 'auditrecord' "$dir/controller.log" | tail -3)"
fi
t_run "and leaves one within its retention" k get auditrecord -n shop "$long"

# --- auditing stopped while the container runs ---------------------------------------------

t_run "the policy is deleted while the container runs" k delete shellauditpolicy records
stopped_entry() {
	records | tail -1 | python3 -c 'import json,sys; e=json.load(sys.stdin)["spec"]["entries"][-1]; print(e["kind"], e["text"])'
}
has_stop() { stopped_entry | t_grep -q '^audit_stopped '; }
if t_wait 60 has_stop; then
	t_pass "the chain ends with an audit_stopped entry"
else
	t_fail "the chain ends with an audit_stopped entry" "$(stopped_entry 2>&1)" "$(grep -i stopped "$dir/agent.log" | tail -3)"
fi
t_match "which says why" 'target removed by the controller' "$(stopped_entry)"
warning() {
	k get events -n shop --field-selector reason=AuditStopped,involvedObject.name=web \
		-o jsonpath='{range .items[*]}{.type} {.message}{"\n"}{end}'
}
has_warning() { warning | t_grep -q '^Warning auditing stopped'; }
if t_wait 60 has_warning; then t_pass "and the pod gets a Warning Event AuditStopped"; else t_fail "and the pod gets a Warning Event AuditStopped" "$(warning)"; fi
t_eq "the ShellAuditNode, with no target left, stays while its records are kept" "0 ed25519" \
	"$(k get san "$node" -o jsonpath='{.spec.targetCount} {.status.signingKey.keyID}' | cut -c1-9)"
t_daemon_stop agent TERM '"msg":"stopped"'
if t_wait 30 verify; then t_pass "the chain, audit_stopped included, verifies"; else t_fail "the chain, audit_stopped included, verifies" "$(verify 2>&1)"; fi

# --- what a cluster admin can still do, and what verify then says ---------------------------

# expect_broken NAME REGEX: verify exits 1 and its output matches REGEX.
expect_broken() {
	local out rc=0
	out=$(verify 2>&1) || rc=$?
	if [ "$rc" = 1 ] && [[ $out =~ $2 ]]; then
		t_pass "$1"
	else
		t_fail "$1" "exit $rc, expected 1 and: $2" "$out"
	fi
}

records >"$dir/saved.jsonl"
t_match "six or more records saved" '^([6-9]|[1-9][0-9]+)$' "$(wc -l <"$dir/saved.jsonl")"
# Another node's agent may write records of its own node: one claiming our
# container is taken, and verify says so.
"$tamper" forge "$dir/victim.json" "$node_b" >"$dir/forged.json"
t_run "the other node's agent may write a record of its own node naming our container" \
	as agent-b create -f "$dir/forged.json"
expect_broken "verify fails: one container claimed by two nodes" "records of one container claim nodes $node and $node_b"
t_match "the test recomputes digests as the agent does" "^$(sed -n 2p "$dir/saved.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["digest"])')\$" \
	"$(sed -n 2p "$dir/saved.jsonl" >"$dir/one.json"; "$tamper" digest "$dir/one.json")"
t_run "a cluster admin unbinds the policy" k delete "$vap_binding"
unbound() { k label --dry-run=server auditrecord -n shop "$victim" probe=1 >/dev/null 2>&1; }
t_wait 60 unbound || t_fail "the records policy no longer acts"

# admin_delete NAME: what a cluster admin does to remove a record.
admin_delete() {
	k patch auditrecord -n shop "$1" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
	k delete auditrecord -n shop "$1" --ignore-not-found --wait=true --timeout=60s >/dev/null
}
# put_back: every saved record as it was, nothing else of the container.
put_back() {
	local line name spec
	for name in $(names); do
		grep -q "\"name\": \"$name\"" "$dir/saved.jsonl" || admin_delete "$name"
	done
	while read -r line; do
		printf '%s\n' "$line" >"$dir/one.json"
		name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$dir/one.json")
		spec=$(k get auditrecord -n shop "$name" -o jsonpath='{.spec.digest} {.spec.signature.value}' 2>/dev/null || true)
		[ "$spec" = "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["spec"]; print(s["digest"], s["signature"]["value"])' "$dir/one.json")" ] &&
			continue
		admin_delete "$name"
		"$tamper" clean "$dir/one.json" | k create -f - >/dev/null
	done <"$dir/saved.jsonl"
}
# saved N: the Nth saved record (1 is sequence 0 or the oldest left) into $dir/nth.json.
saved() { sed -n "${1}p" "$dir/saved.jsonl" >"$dir/nth.json"; python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$dir/nth.json"; }
n=$(wc -l <"$dir/saved.jsonl")
intact_again() {
	put_back
	if t_wait 30 verify; then t_pass "  put back, it verifies again"; else t_fail "  put back, it verifies again" "$(verify 2>&1)"; fi
}

admin_delete "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$dir/forged.json")"
if t_wait 30 verify; then t_pass "without the forged record it verifies"; else t_fail "without the forged record it verifies" "$(verify 2>&1)"; fi

admin_delete "$(saved 1)"
expect_broken "the oldest record deleted: verify fails" 'missing: sequence 0\.\.0, the oldest: deleted before their retention'
intact_again

admin_delete "$(saved 3)"
expect_broken "a middle record deleted: verify fails" 'missing: sequence 2\.\.2'
intact_again

admin_delete "$(saved "$n")"
expect_broken "the newest record deleted: verify fails through the published head" \
	"missing: sequence $((n - 1))\\.\\.$((n - 1)), the newest: node $node published"
intact_again

# A middle record edited and re-created under its name with its digest
# recomputed, and every later record relinked and re-created too: the chain
# of digests holds, the signatures (and the published head) do not.
prev=""
for i in $(seq 3 "$n"); do
	name=$(saved "$i")
	if [ "$i" = 3 ]; then
		"$tamper" edit "$dir/nth.json" "echo nothing-to-see" >"$dir/edited.json"
	else
		"$tamper" relink "$dir/nth.json" "$prev" >"$dir/edited.json"
	fi
	prev=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["digest"])' "$dir/edited.json")
	admin_delete "$name"
	k create -f "$dir/edited.json" >/dev/null
done
out=$(verify 2>&1 || true)
expect_broken "a record edited and re-created with its digest recomputed: verify fails" \
	"$(saved 3) \\(sequence 2\\): signature: the signature does not match its node and digest"
if [[ $out == *"content does not match its digest"* || $out == *"previousDigest does not match"* ]]; then
	t_fail "  (the digests and links were recomputed right: only signatures and the head tell)" "$out"
else
	t_pass "  (the digests and links were recomputed right: only signatures and the head tell)"
fi
intact_again

name=$(saved 2)
cp "$dir/nth.json" "$dir/two.json"
saved 4 >/dev/null
admin_delete "$name"
"$tamper" swap "$dir/two.json" "$dir/nth.json" | k create -f - >/dev/null
expect_broken "a record's signature swapped for another's: verify fails" \
	"$name \\(sequence 1\\): signature: the signature does not match"
intact_again

for name in $(names); do admin_delete "$name"; done
expect_broken "every record of the container deleted: verify fails" "no record left"
intact_again

t_daemon_stop controller TERM '"msg":"shutting down"'
for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
