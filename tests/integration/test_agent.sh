#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent in Kubernetes mode, for real: kube-apiserver + etcd, the
# controller, the agent (ASan builds) and the kernel. A "container" made
# with unshare is put in a cgroup named after the container ID its pod
# object reports; a second one is not targeted. The session typed into
# bash in the first must come out, in order, as Events on the pod and in
# AuditRecords whose chain verifies; nothing from the second. Deleting a
# record makes the verifier fail.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup agent-test-node
data=$T_ROOT/tests/integration/agent
cap_container other

k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
  redact:
  - name: aws
    pattern: '(?i)aws_secret_access_key\s*[=:]\s*\S+'
    replacement: 'aws_secret_access_key=[REDACTED]'
EOF

ag_controller "$T_BUILD/asan/shellaudit-controller"
port=$((SHELLAUDIT_APISERVER_PORT + 3))
# The agent pins its capture state on a BPF file system of this test alone;
# unmounted (registered first, so last) after the agent is killed.
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
start_agent() {
	("$T_BUILD/asan/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port "$port" \
		--bpf-dir "$work/bpf/shellaudit" --output "$dir/export.jsonl" \
		--batch-ms 1000 --batch-entries 4 --log-level debug >>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
	t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"
}
start_agent
if t_wait 120 ag_attached; then
	t_pass "the agent attaches to the container the controller programmed"
else
	t_fail "the agent attaches to the container the controller programmed" \
		"$(k get shellauditnode -o yaml 2>&1 | tail -20)" "$(tail -5 "$dir/agent.log")"
fi
ready() { [ "$(k get shellauditpolicy demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
if t_wait 60 ready; then t_pass "the policy turns Ready once the agent applied"; else t_fail "the policy turns Ready once the agent applied"; fi

cap_shell audited "$data/session.txt" >/dev/null || t_fail "the shell in the audited container failed"
printf 'echo from-the-other-container\n' >"$work/other.txt"
cap_shell other "$work/other.txt" >/dev/null || t_fail "the shell in the other container failed"

want=$(cat "$data/expected-lines.txt")
events() {
	k get events -n shop --field-selector reason=ShellCommand,involvedObject.name=web \
		-o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\t"}{.metadata.name}{"\t"}{.message}{"\n"}{end}' |
		sort -t$'\t' -k1,1 -k2,2 | cut -f3
}
record_lines() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e["text"])'
}
all_events() { [ "$(events | wc -l)" -ge "$(wc -l <"$data/expected-lines.txt")" ]; }
all_records() { [ "$(record_lines | wc -l)" -ge "$(wc -l <"$data/expected-lines.txt")" ]; }
t_wait 120 all_records || grep -v '"level":"debug"' "$dir/agent.log" | tail -15
t_eq "AuditRecords hold exactly the typed lines, in order, redacted" "$want" "$(record_lines)"
t_wait 60 all_events || true
# Events created within one second sort by name, which follows the spool
# position; the empty line is an empty note.
t_eq "one ShellCommand Event per line on the pod, in order" "$want" "$(events)"
t_match "kubectl get auditrecords shows them" 'web-main-' "$(k get auditrecords -n shop)"
t_eq "exec entries are recorded too" "yes" \
	"$(k get auditrecords -n shop -o json | grep -q '"kind": "exec"' && echo yes || echo no)"
if k get auditrecords -A -o json | grep -q from-the-other-container ||
	k get events -A -o json | grep -q from-the-other-container; then
	t_fail "nothing from the untargeted container"
else
	t_pass "nothing from the untargeted container"
fi
# --output: the same entries as JSON lines for a log pipeline, each with
# where it came from, redacted as in the records, nothing of the other
# container.
export_lines() {
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "line" and e.get("pod") == "web":
        print(e["text"])' "$dir/export.jsonl"
}
t_eq "--output: the typed lines as JSON lines, in order, redacted" "$want" "$(export_lines)"
t_eq "--output: each says its node, namespace, pod and container" "$node shop web main" \
	"$(python3 -c '
import json, sys
seen = {(e.get("node"), e.get("namespace"), e.get("pod"), e.get("container"))
        for e in map(json.loads, open(sys.argv[1])) if e.get("kind") == "line"}
print(" ".join(map(str, next(iter(seen)))) if len(seen) == 1 else seen)' "$dir/export.jsonl")"
t_eq "--output: exec entries too, with their session" yes \
	"$(grep '"kind":"exec"' "$dir/export.jsonl" | grep -q '"session":{"id"' && echo yes || echo no)"
if grep -q 'from-the-other-container\|abc123' "$dir/export.jsonl"; then
	t_fail "--output: nothing of the untargeted container, no secret"
else
	t_pass "--output: nothing of the untargeted container, no secret"
fi
t_match "--output: counted in the metrics" '^[1-9]' \
	"$(curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk '$1 == "shellaudit_agent_exported_total" { print $2 }')"
# The chain's head follows its newest record within a second.
t_eventually "the chain verifies" 30 "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main

# Terminal capture (on by default): a busybox sh, whose own line editor
# readline capture cannot see, is in the records as terminal lines; the
# bash session above was readline's only. Turned off in the policy, the
# agent detaches the hook and records nothing of what shells without
# readline read; turned on again, it does.
record_sources() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e.get("source", "-") + " " + e["text"])'
}
ash() {
	"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$1" --log "$work/pty-ash.log" -- \
		nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
		PS1="$PROMPT" HISTFILE=/dev/null /bin/busybox sh -i >/dev/null
	[ $? != 125 ] || t_fail "busybox sh in the audited container: every line typed"
}
san() { k get shellauditnode "$node" -o jsonpath="$1"; }
in_records() { k get auditrecords -n shop -o json | grep -q -- "$1"; }
printf 'echo ash-marker-1\n' >"$work/ash1.txt"
ash "$work/ash1.txt"
t_wait 60 in_records ash-marker-1 || true
t_eq "busybox sh: a terminal line; bash's lines were readline's" \
	"$(sed 's/^/readline /' "$data/expected-lines.txt"; echo 'terminal echo ash-marker-1')" \
	"$(record_sources)"
t_eq "the node reports the terminal hook attached" "tracepoint true" \
	"$(san '{.status.terminal.hook} {.status.terminal.attached}')"
# terminal WANT: the spec says WANT and the agent applied it (attached: WANT).
terminal() {
	[ "$(san '{.spec.targets[0].capture.terminal}')" = "$1" ] &&
		[ "$(san '{.status.observedGeneration}')" = "$(san '{.metadata.generation}')" ] &&
		[ "$(san '{.status.terminal.attached}')" = "$1" ]
}
k patch shellauditpolicy demo --type=merge -p '{"spec":{"capture":{"terminal":false}}}' >/dev/null
t_wait 60 terminal false || t_fail "capture.terminal false reaches the agent, which detaches the hook" \
	"$(san '{.spec.targets[0].capture} {.status.terminal}')"
printf 'echo ash-marker-2\n/bin/true ash-off-exec\n/bin/bash --noediting\n' >"$work/ash2.txt"
printf 'echo noediting-marker-2\nexit\n' >>"$work/ash2.txt"
ash "$work/ash2.txt"
k patch shellauditpolicy demo --type=merge -p '{"spec":{"capture":{"terminal":true}}}' >/dev/null
t_wait 60 terminal true || t_fail "capture.terminal true again reaches the agent"
printf 'echo ash-marker-3\n' >"$work/ash3.txt"
ash "$work/ash3.txt"
t_wait 60 in_records ash-marker-3 || t_fail "terminal lines recorded again once the policy turns it on"
# Records are published in the order their sessions ended: the session
# typed while it was off is out, with its execs but no line.
t_eq "capture.terminal false: nothing read from the terminal recorded" "" \
	"$(k get auditrecords -n shop -o json | grep -oE 'ash-marker-2|noediting-marker-2')"
t_match "but the programs it ran are" 'ash-off-exec' "$(k get auditrecords -n shop -o json)"

# count TEXT-PREFIX: how many record entries and how many Events start so.
entries_with() { record_lines | grep -c "^$1" || true; }
events_with() { events | grep -c "^$1" || true; }
metric() { curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }

# A 1,000-command burst typed 5 ms apart; the agent is killed (-9) once
# 300 are spooled, while the rest is typed and the first are published, and
# started again a second later. Capture goes on in the kernel meanwhile
# (pinned), the spool replays what was not published: every command is in
# the AuditRecords once and has one Event, and the chain verifies.
n=1000
for i in $(seq 1 $n); do echo "echo burst-$i"; done >"$work/burst.txt"
base=$(metric captured_total)
cap_shell audited "$work/burst.txt" --delay 5 --timeout 600 >/dev/null &
shell=$!
spooled() { [ "$(metric captured_total)" -ge $((base + 300)) ]; }
t_wait 60 spooled || t_fail "300 lines of the burst spooled" "$(metric captured_total) (base $base)"
kill -9 "$(cat "$dir/agent.pid")"
published_before=$(entries_with 'echo burst-')
sleep 1
if kill -0 "$shell" 2>/dev/null; then
	t_pass "the burst was still being typed while the agent was dead"
else
	t_fail "the burst was still being typed while the agent was dead"
fi
start_agent
wait "$shell" || t_fail "the burst shell failed"
burst_done() { [ "$(entries_with 'echo burst-')" -ge $n ] && [ "$(events_with 'echo burst-')" -ge $n ]; }
t_wait 300 burst_done || true
# Not an assertion (it depends on speed): how far publishing had got.
echo "  note $published_before of $n burst lines were published when the agent was killed"
t_eq "after kill -9 mid-burst and a restart, every command is in the AuditRecords once" "$n $n" \
	"$(entries_with 'echo burst-') $(record_lines | grep '^echo burst-' | sort -u | wc -l)"
t_eq "in the order typed" "$(cat "$work/burst.txt")" "$(record_lines | grep '^echo burst-')"
t_eq "and has exactly one Event" "$n $n" \
	"$(events_with 'echo burst-') $(events | grep '^echo burst-' | sort -u | wc -l)"
t_match "the restarted agent took the capture state over" 'took over the capture state' \
	"$(cat "$dir/agent.log")"
t_eventually "the chain still verifies" 30 "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main

# The API server away for a while (two minutes by default) while lines are typed.
outage=${SHELLAUDIT_TEST_OUTAGE_S:-120}
kill -9 "$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")"
for i in $(seq 1 20); do echo "echo outage-$i"; done >"$work/outage.txt"
cap_shell audited "$work/outage.txt" >/dev/null || t_fail "the shell during the outage failed"
sleep "$outage"
t_run "the API server comes back after ${outage}s" "$T_ROOT/hack/cluster.sh" up
outage_done() { [ "$(entries_with 'echo outage-')" -ge 20 ] && [ "$(events_with 'echo outage-')" -ge 20 ]; }
t_wait 180 outage_done || true
t_eq "lines typed during the outage all arrive, once" "20 20 20" \
	"$(entries_with 'echo outage-') $(record_lines | grep '^echo outage-' | sort -u | wc -l) $(events_with 'echo outage-')"
t_eventually "the chain verifies after the outage" 30 "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main

# SIGTERM drains; a record deleted behind the agent's back is reported.
kill -TERM "$(cat "$dir/agent.pid")"
stopped() { ! kill -0 "$(cat "$dir/agent.pid")" 2>/dev/null; }
if t_wait 60 stopped; then t_pass "SIGTERM stops the agent"; else t_fail "SIGTERM stops the agent"; fi
records=$(k get auditrecords -n shop -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
if [ "$(wc -l <<<"$records")" -ge 3 ]; then
	victim=$(sed -n 2p <<<"$records")
	# (No admission policy here: the cluster admin removes the finalizer.)
	k patch auditrecord -n shop "$victim" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
	k delete auditrecord -n shop "$victim" >/dev/null
	set +e
	out=$("$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main 2>&1)
	rc=$?
	set -e
	t_eq "the verifier fails on a deleted record" "1" "$rc"
	t_match "and says which sequence is missing" 'missing: sequence' "$out"
else
	t_fail "enough records to delete one" "$records"
fi
for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
