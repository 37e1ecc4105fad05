#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent in Kubernetes mode, for real: kube-apiserver + etcd, the
# controller, the agent (ASan builds) and the kernel. "Containers" made with
# unshare are put in cgroups named after the container IDs their pod
# objects report (shop/web and shop/web2); a third one is not targeted, and
# the pod shop/ghost has no container on this node. The session typed into
# bash in web must come out, in order, as Events on the pod and in
# AuditRecords whose chain verifies; nothing from the untargeted one. Then:
#   - kill -9 in the middle of a burst, and an API server outage: nothing
#     lost, nothing twice;
#   - SIGTERM publishes what the spool holds (--drain-seconds), or gives up
#     in time when the API server is away, the next agent publishing it;
#   - a full spool (--spool-max-mb) and a full ring buffer (--ringbuf-mb)
#     end in gap entries that count what was lost;
#   - the per-pod Events rate limit and ShellCommandsSuppressed, and
#     ProgramExecuted Events;
#   - the ShellAuditNode status (NotRunningHere, RedactRulesInvalid, the
#     agent's version, its drops), /healthz, /readyz and the metrics;
#   - --output: the same entries as JSON lines; terminal capture (a busybox
#     sh) on by default, off and on again by policy;
#   - records carry the retention of their time and outlive their policy;
#   - `shellaudit-agent verify` with a kubeconfig whose token is in a
#     tokenFile, and on a deleted record (test_records.sh has the rest).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

# section NAME: prints how long the section before took.
section_start=$SECONDS
section() {
	printf '       (%ss)\n-- %s\n' "$((SECONDS - section_start))" "$1"
	section_start=$SECONDS
}

# stop MESSAGE [DETAIL...]: a failed step that leaves nothing to test after it.

ag_setup agent-test-node
data=$T_ROOT/tests/integration/agent
cap_container other
ag_container audited2 web2
cid2=$AG_CID
ghost=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
ag_pod ghost "$ghost"

k apply -f - >/dev/null <<'EOF' || t_stop "the policy is applied"
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

ctl_port=$(t_free_port)
ag_controller "$T_BUILD/asan/shellaudit-controller" --port "$ctl_port" --retention-period 2
port=$((SHELLAUDIT_APISERVER_PORT + 3))
# The agent pins its capture state on a BPF file system of this test alone;
# unmounted (registered first, so last) after the agent is killed.
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_stop "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
# start_agent [ARGS...]: the agent (t_daemon "agent"), its log appended to
# $dir/agent.log.
start_agent() {
	t_daemon agent "$dir/agent.log" "$T_BUILD/asan/shellaudit-agent" --node-name "$node" \
		--spool-dir "$dir/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" \
		--output "$dir/export.jsonl" --batch-ms 1000 --batch-entries 4 --log-level debug "$@"
}
# target CID FIELD: the agent's status of that container in the ShellAuditNode.
target() {
	k get shellauditnode "$node" -o jsonpath="{.status.targets[?(@.containerID==\"containerd://$1\")].$2}" 2>/dev/null
}
attached() { [ "$(target "$1" attached)" = true ]; }
both_attached() { attached "$cid" && attached "$cid2"; }
# agent_up: the agent started last has added both containers (its probes
# are attached then) and is ready; the ShellAuditNode status may still be
# the previous agent's.
agent_up() {
	local log
	log=$(t_daemon_log agent)
	grep -q "\"msg\":\"target added\",\"container\":\"containerd://$cid\"" <<<"$log" &&
		grep -q "\"msg\":\"target added\",\"container\":\"containerd://$cid2\"" <<<"$log" &&
		[ "$(t_http "http://127.0.0.1:$port/readyz")" = "200 ok" ]
}
metric() { curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
ctl_metric() { curl -sf --max-time 2 "http://127.0.0.1:$ctl_port/metrics" | awk -v m="shellaudit_controller_$1" '$1 == m { print $2 }'; }
# api_down / api_up: the API server killed -9, then started again.
api_down() { kill -9 "$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")"; }
api_up() { t_run "the API server comes back $1" "$T_ROOT/hack/cluster.sh" up; }

start_agent
if t_wait 120 both_attached; then
	t_pass "the agent attaches to the containers the controller programmed"
else
	t_stop "the agent attaches to the containers the controller programmed" \
		"$(k get shellauditnode -o yaml 2>&1 | tail -30)" "$(grep -v '"level":"debug"' "$dir/agent.log" | tail -5)"
fi
ready() { [ "$(k get shellauditpolicy demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
if t_wait 60 ready; then t_pass "the policy turns Ready once the agent applied"; else t_fail "the policy turns Ready once the agent applied"; fi

# --- what the agent reports --------------------------------------------------------
section "what the agent reports"

not_here() { [ "$(target "$ghost" reason)" = NotRunningHere ]; }
t_wait 60 not_here || true
t_eq "a container with no process on the node: not attached, reason NotRunningHere" "false NotRunningHere" \
	"$(target "$ghost" attached) $(target "$ghost" reason)"
t_eq "the status names the agent's version" "$("$T_BUILD/asan/shellaudit-agent" --version | awk '{ print $2 }')" \
	"$(k get shellauditnode "$node" -o jsonpath='{.status.agentVersion}')"
t_eq "and no drops" "0" "$(k get shellauditnode "$node" -o jsonpath='{.status.drops}')"
t_eq "metrics: 3 targets, 2 of them attached" "3 2" "$(metric targets) $(metric attached)"
t_eq "agent /healthz" "200 ok" "$(t_http "http://127.0.0.1:$port/healthz")"
t_eq "agent /readyz: ready once it knows its targets" "200 ok" "$(t_http "http://127.0.0.1:$port/readyz")"
t_eq "controller /healthz and /readyz" "200 ok 200 ok" \
	"$(t_http "http://127.0.0.1:$ctl_port/healthz") $(t_http "http://127.0.0.1:$ctl_port/readyz")"

# --- a session -----------------------------------------------------------------------
section "a session"

# The untargeted container types first: had it been captured, its line
# would be out before the audited session's.
printf 'echo from-the-other-container\n' >"$work/other.txt"
cap_shell other "$work/other.txt" >/dev/null || t_fail "the shell in the other container failed"
cap_shell audited "$data/session.txt" >/dev/null || t_fail "the shell in the audited container failed"
printf 'echo in-web2\n' >"$work/web2.txt"
cap_shell audited2 "$work/web2.txt" >/dev/null || t_fail "the shell in the second audited container failed"

want=$(cat "$data/expected-lines.txt")
# events [POD [REASON]]: the Events' messages in the agent's order: by
# name, which follows the spool position (not by creation time: up to 16
# are created at once, and the API server may finish a later one in an
# earlier second). The shells here
# are started on the node (nsenter), which no API request admitted: each
# message says so, "(unattributed): LINE"; events strips that, raw_events
# keeps it.
raw_events() {
	k get events -n shop --field-selector "reason=${2:-ShellCommand},involvedObject.name=${1:-web}" \
		-o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\t"}{.metadata.name}{"\t"}{.message}{"\n"}{end}' |
		sort -t$'\t' -k2,2 | cut -f3
}
events() { raw_events "$@" | sed 's/^(unattributed): //'; }
# entries [POD [KIND [FIELD]]]: that field (text) of the entries of that
# kind (line) in the AuditRecords of POD (web), in chain order; an exec's
# text is its file's base name.
entries() {
	k get auditrecords -n shop -l "shellaudit.io/pod=${1:-web}" -o json | python3 -c '
import json, sys
kind, field = sys.argv[1], sys.argv[2]
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: (r["spec"]["containerID"], r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == kind:
            v = e.get(field, "")
            print(v.rsplit("/", 1)[-1] if kind == "exec" and field == "filename" else v)' "${2:-line}" "${3:-text}"
}
record_lines() { entries web; }
all_events() { [ "$(events | wc -l)" -ge "$(wc -l <"$data/expected-lines.txt")" ]; }
all_records() { [ "$(record_lines | wc -l)" -ge "$(wc -l <"$data/expected-lines.txt")" ]; }
t_wait 120 all_records || grep -v '"level":"debug"' "$dir/agent.log" | tail -15
t_eq "AuditRecords hold exactly the typed lines, in order, redacted" "$want" "$(record_lines)"
t_wait 60 all_events || true
t_eq "one ShellCommand Event per line on the pod, in order" "$want" "$(events)"
t_eq "  each saying no one could be named (a shell started on the node)" "" \
	"$(raw_events | grep -v '^(unattributed): ')"
t_match "kubectl get auditrecords shows them" 'web-main-' "$(k get auditrecords -n shop)"
# The programs the session ran (a pipeline's two start in either order;
# the container has no ip and no ps: not found, never run).
t_eq "exec entries: the programs of the session" "cat cat ls wc" \
	"$(entries web exec filename | grep -xE 'ls|ip|cat|wc|ps' | sort | tr '\n' ' ' | sed 's/ $//')"
# shellcheck disable=SC2016 # eval expands it at each try
t_wait 60 eval '[ "$(entries web2)" = "echo in-web2" ]' || true
t_eq "the second container's line, in its own records" "echo in-web2" "$(entries web2)"
if ar=$(k get auditrecords -A -o json) && ev=$(k get events -A -o json); then
	t_eq "nothing from the untargeted container" "" "$(grep -o from-the-other-container <<<"$ar$ev")"
else
	t_fail "nothing from the untargeted container" "cannot list AuditRecords and Events"
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
t_eq "--output: each says its node, namespace, pod and container (both audited containers)" \
	"$node shop web main"$'\n'"$node shop web2 main" \
	"$(python3 -c '
import json, sys
seen = {(e.get("node"), e.get("namespace"), e.get("pod"), e.get("container"))
        for e in map(json.loads, open(sys.argv[1])) if e.get("kind") == "line"}
for s in sorted(seen, key=str):
    print(" ".join(map(str, s)))' "$dir/export.jsonl")"
t_eq "--output: exec entries too, with their session" yes \
	"$(grep '"kind":"exec"' "$dir/export.jsonl" | t_grep -q '"session":{"id"' && echo yes || echo no)"
if grep -q 'from-the-other-container\|abc123' "$dir/export.jsonl"; then
	t_fail "--output: nothing of the untargeted container, no secret"
else
	t_pass "--output: nothing of the untargeted container, no secret"
fi
t_match "--output: counted in the metrics" '^[1-9]' \
	"$(curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk '$1 == "shellaudit_agent_exported_total" { print $2 }')"
# Its threads say what they do (top -H, perf, /proc/PID/task).
t_eq "the agent's threads are named" "sa-capture sa-httpd sa-informer" \
	"$(cat /proc/"${T_DAEMON_PID[agent]}"/task/*/comm | grep -x 'sa-capture\|sa-httpd\|sa-informer' | sort -u | tr '\n' ' ' | sed 's/ $//')"
# The chain's head follows its newest record within a second.
t_eventually "the chain verifies" 30 "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main

# Metrics, once all is out: what was published, and how long it took.
n_records() { k get auditrecords -A --no-headers 2>/dev/null | wc -l; }
# The agent's Events: ShellCommand, and SessionOpened for who opened each.
n_events() { k get events -A -o jsonpath='{range .items[*]}{.reportingComponent}{"\n"}{end}' 2>/dev/null | grep -c '^shellaudit.io/agent$'; }
published() { [ "$(metric records_published_total)" = "$(n_records)" ] && [ "$(metric events_published_total)" = "$(n_events)" ]; }
t_wait 60 published || true
t_eq "records_published_total and events_published_total count what is in the API server" \
	"$(n_records) $(n_events)" "$(metric records_published_total) $(metric events_published_total)"
t_match "captured_total counts what was spooled" '^[1-9]' "$(metric captured_total)"
t_match "publish_latency_seconds is set" '^[0-9.e+-]+$' "$(metric publish_latency_seconds | grep -v '^0$')"
t_match "event_latency_seconds counts the Events" '^[1-9]' "$(metric event_latency_seconds_count)"
t_match "record_latency_seconds counts the records" '^[1-9]' "$(metric record_latency_seconds_count)"
t_eq "events_in_flight: none once every Event is answered" "0" "$(metric events_in_flight)"
t_eq "publish_failures_total: none yet" "0" "$(metric publish_failures_total)"

# Terminal capture (on by default): a busybox sh, whose own line editor
# readline capture cannot see, is in the records as terminal lines; the
# bash session above was readline's only. Turned off in the policy, the
# agent detaches the hook and records nothing of what shells without
# readline read; turned on again, it does.
# record_sources: "SOURCE TEXT" of web's lines, by session, the session
# that began first first (session IDs are pids: no order).
record_sources() {
	k get auditrecords -n shop -l shellaudit.io/pod=web -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
sid = lambda r: r["spec"].get("session", {}).get("id", "")
first = {}
for r in items:
    for e in r["spec"]["entries"]:
        first[sid(r)] = min(first.get(sid(r), e["time"]), e["time"])
recs = sorted(items, key=lambda r: (first.get(sid(r), ""), r["spec"]["sequence"]))
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
in_records() { k get auditrecords -n shop -o json | t_grep -q -- "$1"; }
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
# Neither readline nor terminal capture (execs only): the agent lets go
# of the container's readline probes, so that no breakpoint is left in its
# bash (each fork of a probed bash copies the page table of its text), and
# its programs are still recorded; turned on again, the probes are back and
# readline's lines are recorded again.
# text_anon PID: the anonymous kB in the executable mappings of PID's
# program (a breakpoint is a private copy of its page).
text_anon() {
	awk -v exe="$(readlink "/proc/$1/exe")" '
		/^[0-9a-f]+-[0-9a-f]+ / { inexe = ($2 ~ /x/ && $6 == exe) }
		inexe && $1 == "Anonymous:" { s += $2 }
		END { print s + 0 }' "/proc/$1/smaps"
}
# sleeping_bash: a bash of the audited container that waits, its host pid
# in SB (nsenter's child, once it is bash).
sleeping_bash() {
	local ns
	nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" /bin/bash -c \
		'sleep 600; :' </dev/null >/dev/null 2>&1 &
	ns=$!
	t_cleanup "kill $ns 2>/dev/null"
	# shellcheck disable=SC2317 # called by t_wait
	is_bash() { SB=$(pgrep -P "$ns") && [ "$(cat "/proc/$SB/comm" 2>/dev/null)" = bash ]; }
	t_wait 30 is_bash || t_fail "a bash waits in the audited container"
}
capture() {
	[ "$(san '{.spec.targets[0].capture.readline} {.spec.targets[0].capture.terminal}')" = "$1 $1" ] &&
		[ "$(san '{.status.observedGeneration}')" = "$(san '{.metadata.generation}')" ]
}
sleeping_bash
t_run "readline capture on: a bash of the container holds the probes' breakpoints" \
	test "$(text_anon "$SB")" -gt 0
k patch shellauditpolicy demo --type=merge -p '{"spec":{"capture":{"readline":false,"terminal":false}}}' \
	>/dev/null
t_wait 60 capture false || t_fail "capture.readline and capture.terminal false reach the agent"
let_go() { t_daemon_log agent | t_grep -q 'readline probes let go'; }
t_wait 60 let_go || t_fail "the agent lets go of the readline probes"
# (The bash that ran under the probes keeps the private copies of their
# pages, restored: only what starts since is spared.)
sleeping_bash
t_eq "execs only: no breakpoint in a bash started since" 0 "$(text_anon "$SB")"
printf 'echo rl-off-marker\n/bin/true rl-off-exec\n' >"$work/rloff.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/rloff.txt" --log "$work/pty-rloff.log" -- \
	nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
	PS1="$PROMPT" HISTFILE=/dev/null /bin/bash --norc -i >/dev/null
k patch shellauditpolicy demo --type=merge -p '{"spec":{"capture":{"readline":true,"terminal":true}}}' \
	>/dev/null
t_wait 60 capture true || t_fail "capture.readline and capture.terminal true again reach the agent"
back() { t_daemon_log agent | t_grep -q 'readline probes searched for again'; }
t_wait 60 back || t_fail "the agent searches for the readline probes again"
t_run "readline capture on again: the waiting bash holds the breakpoints again" \
	test "$(text_anon "$SB")" -gt 0
printf 'echo rl-on-marker\n' >"$work/rlon.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/rlon.txt" --log "$work/pty-rlon.log" -- \
	nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
	PS1="$PROMPT" HISTFILE=/dev/null /bin/bash --norc -i >/dev/null
t_wait 60 in_records rl-on-marker || t_fail "readline's lines recorded again once the policy turns it on"
t_wait 60 in_records rl-off-exec || true
t_eq "execs only: no line of the bash session typed meanwhile" "" \
	"$(k get auditrecords -n shop -o json | grep -oE 'echo rl-off-marker')"
t_match "execs only: but the programs it ran" 'rl-off-exec' "$(k get auditrecords -n shop -o json)"

# A 32-bit program in the audited container (run from the host's file
# system, in the container's namespaces) moves terminal capture to the raw
# tracepoints, which see its reads; the node says so, and lines go on.
nsenter --target "${CPID[audited]}" --mount --pid "$TOOLS/cat32" </dev/null ||
	t_fail "cat32 ran in the audited container"
moved() { [ "$(san '{.status.terminal.hook}')" = sys_exit ]; }
t_wait 60 moved
t_eq "a 32-bit program ran: the node reports terminal capture moved to sys_exit" \
	"sys_exit true moved from the syscall tracepoints: a 32-bit program ran in an audited container" \
	"$(san '{.status.terminal.hook} {.status.terminal.attached} {.status.terminal.message}')"
printf 'echo ash-marker-4\n' >"$work/ash4.txt"
ash "$work/ash4.txt"
t_wait 60 in_records ash-marker-4 || t_fail "terminal lines recorded after the move"
# Its exec entry says it is 32-bit, and it is a Warning Event on the pod,
# though the policy asks for no Events of programs.
warnings() {
	k get events -n shop --field-selector "type=Warning,reason=ProgramExecuted,involvedObject.name=web" \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | sed 's/^(unattributed): //'
}
ia32_event() { warnings | t_grep -q cat32; }
t_wait 60 ia32_event || true
t_eq "a 32-bit program: a Warning ProgramExecuted Event, execEvents off" "32-bit program: $TOOLS/cat32" \
	"$(warnings)"
ia32_entries() { paste -d' ' <(entries web exec filename) <(entries web exec ia32) | grep ' True$'; }
t_wait 60 ia32_entries >/dev/null || true
t_eq "a 32-bit program: its exec entry alone says ia32" "cat32 True" "$(ia32_entries)"

# count TEXT-PREFIX: how many record entries and how many Events start so.
entries_with() { record_lines | grep -c "^$1" || true; }
events_with() { events | grep -c "^$1" || true; }

# --- kill -9 in the middle of a burst --------------------------------------------------
section "kill -9 in the middle of a burst"

# A 1,000-command burst typed 8 ms apart; the agent is killed (-9) once
# 300 are spooled, while the rest is typed and the first are published, and
# started again a second later. Capture goes on in the kernel meanwhile
# (pinned), the spool replays what was not published: every command is in
# the AuditRecords once and has one Event, and the chain verifies.
n=1000
for i in $(seq 1 $n); do echo "echo burst-$i"; done >"$work/burst.txt"
base=$(metric captured_total)
cap_shell audited "$work/burst.txt" --delay 8 --timeout 600 >/dev/null &
shell=$!
spooled() { [ "$(metric captured_total)" -ge $((base + 300)) ]; }
t_wait 60 spooled || t_fail "300 lines of the burst spooled" "$(metric captured_total) (base $base)"
t_daemon_kill agent
if kill -0 "$shell" 2>/dev/null; then
	t_pass "the burst was still being typed while the agent was dead"
else
	t_fail "the burst was still being typed while the agent was dead"
fi
published_before=$(entries_with 'echo burst-')
sleep 1
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

# --- SIGTERM with the API server there: the spool is published -----------------------
section "SIGTERM with the API server there: the spool is published"

t_daemon_stop agent TERM '"msg":"stopped"'
t_match "SIGTERM publishes what the spool holds first" '"msg":"spool drained"' "$(t_daemon_log agent)"
# From here on: a spool of 1 MiB and a ring buffer of 1 MiB (about 240
# lines), both small enough to fill.
small=(--spool-max-mb 1 --ringbuf-mb 1 --drain-seconds 3)
start_agent "${small[@]}"
t_wait 120 agent_up || t_stop "the agent with a small spool and ring buffer attaches"

# --- an API server outage, and a full spool -------------------------------------------
section "an API server outage, and a full spool"

# The API server away for a while (two minutes by default) while lines are
# typed: first 20 that fit, then 300 of 4,000 bytes, more than the 1 MiB
# spool holds. What did not fit is counted, and once there is room again it
# becomes a gap entry with that count: every typed line is in the records
# or counted, none twice.
outage=${SHELLAUDIT_TEST_OUTAGE_S:-120}
restarts=$(ctl_metric watch_restarts_total)
failures=$(metric publish_failures_total)
outage_start=$SECONDS
api_down
for i in $(seq 1 20); do echo "echo outage-$i"; done >"$work/outage.txt"
cap_shell audited "$work/outage.txt" >/dev/null || t_fail "the shell during the outage failed"
long=300
for i in $(seq 1 $long); do printf '#full-%04d %3989s\n' "$i" '' | tr ' ' f; done >"$work/full.txt"
cap_shell audited "$work/full.txt" --timeout 600 >/dev/null || t_fail "the shell filling the spool failed"
full() { [ "$(metric dropped_total)" -ge 1 ]; }
t_wait 120 full || t_fail "the spool filled" "dropped_total $(metric dropped_total)"
t_eq "the agent stays ready while the API server is away (it knows its targets)" "200 ok" \
	"$(t_http "http://127.0.0.1:$port/readyz")"
left=$((outage - (SECONDS - outage_start)))
[ $left -le 0 ] || sleep $left
api_up "after ${outage}s"
outage_done() { [ "$(entries_with 'echo outage-')" -ge 20 ] && [ "$(events_with 'echo outage-')" -ge 20 ]; }
t_wait 180 outage_done || true
t_eq "lines typed during the outage all arrive, once" "20 20 20" \
	"$(entries_with 'echo outage-') $(record_lines | grep '^echo outage-' | sort -u | wc -l) $(events_with 'echo outage-')"
t_match "the outage shows in publish_failures_total" "^[0-9]+$" "$(metric publish_failures_total)"
t_eq "it grew during the outage" yes "$([ "$(metric publish_failures_total)" -gt "${failures:-0}" ] && echo yes || echo no)"
# Once what was kept is out (each line's Event after its record), one more
# line: the gap is written with the next entry there is room for.
drained() {
	local a b
	a="$(entries_with '#full-') $(events_with '#full-')"
	sleep 2
	b="$(entries_with '#full-') $(events_with '#full-')"
	[ "$a" = "$b" ] && [ "${b% *}" = "${b#* }" ] && [ "${b% *}" -gt 0 ]
}
t_wait 180 drained || t_fail "what the full spool kept is published"
printf 'echo after-full\n' >"$work/after-full.txt"
cap_shell audited "$work/after-full.txt" >/dev/null || t_fail "the shell after the outage failed"
# shellcheck disable=SC2016 # eval expands it at each try
t_wait 120 eval '[ "$(entries_with "echo after-full")" = 1 ]' || t_fail "the line after the outage arrives"
# gaps POD WHY: the sum of the counts of POD's gap entries saying WHY.
gaps() { entries "$1" gap text | awk -v why="$2" 'index($0, why) { s += $1 } END { print s + 0 }'; }
spool_lost=$(($(gaps web "spool was full") + $(gaps web2 "spool was full")))
ring_lost=$(gaps web "ring buffer was full")
ring_lost2=$(gaps web2 "ring buffer was full")
kept=$(entries_with '#full-')
echo "  note the 1 MiB spool kept $kept of $long long lines; $spool_lost counted lost ($ring_lost in the ring buffer)"
t_match "a full spool: lines were lost, and a gap entry says how many" '^[1-9]' "$spool_lost"
t_eq "lines in the records + lines counted in gaps = lines typed" "$long" "$((kept + spool_lost + ring_lost))"
t_eq "the lines kept are the first ones, in order" "$(head -n "$kept" "$work/full.txt")" "$(record_lines | grep '^#full-')"
t_eq "dropped_total counts them" "$((spool_lost + ring_lost))" "$(metric dropped_total)"
for p in web web2; do
	t_eventually "the chain of $p verifies after the outage" 30 \
		"$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod "$p" --container main
done
t_match "the controller's watches restarted across the outage (watch_restarts_total)" '^[1-9]' \
	"$(($(ctl_metric watch_restarts_total) - ${restarts:-0}))"

# --- SIGTERM with the API server away: the drain gives up in time ---------------------
section "SIGTERM with the API server away: the drain gives up in time"

api_down
for i in 1 2 3; do echo "echo undrained-$i"; done >"$work/undrained.txt"
base=$(metric captured_total)
cap_shell audited "$work/undrained.txt" >/dev/null || t_fail "the shell with the API server away failed"
spooled3() { [ "$(metric captured_total)" -ge $((base + 3)) ]; }
t_wait 60 spooled3 || t_fail "the three lines are spooled"
t_daemon_stop agent TERM '"msg":"stopped"'
t_match "it publishes for --drain-seconds (3), then says the rest waits for the next start" \
	'"spool not drained within 3s; the next start publishes the rest"' "$(t_daemon_log agent)"
start_agent "${small[@]}"
up() { [ "$(t_http "http://127.0.0.1:$port/healthz")" = "200 ok" ]; }
t_wait 60 up || true
t_eq "an agent that cannot reach the API server: /healthz answers" "200 ok" "$(t_http "http://127.0.0.1:$port/healthz")"
t_eq "/readyz says not ready (it does not know its targets)" "503 not" "$(t_http "http://127.0.0.1:$port/readyz")"
api_up "(second outage)"
undrained() { [ "$(entries_with 'echo undrained-')" -ge 3 ] && [ "$(events_with 'echo undrained-')" -ge 3 ]; }
t_wait 180 undrained || true
t_eq "the next agent publishes what the stopped one could not, once" "3 3" \
	"$(entries_with 'echo undrained-') $(events_with 'echo undrained-')"
t_wait 120 agent_up || t_fail "the agent attaches again"

# --- a full ring buffer while the agent waits for its targets ------------------------
section "a full ring buffer while the agent waits for its targets"

# The agent killed (-9): capture goes on in the kernel, into the pinned
# 1 MiB ring buffer, and 400 lines overflow it. The next agent starts while
# the API server is away, so it cannot read yet (it does not know its
# targets); once it can, the lines kept come out and the drops become a
# gap entry in every audited container's stream.
t_daemon_kill agent
api_down
ring=400
# Lines of 1,000 bytes: each takes a record of --max-line (short ones take
# far less, test_restart.sh), so that 400 overflow 1 MiB.
pad=$(printf '%1000s' '' | tr ' ' r)
for i in $(seq 1 $ring); do echo "echo ring-$i-$pad"; done >"$work/ring.txt"
cap_shell audited "$work/ring.txt" --timeout 300 >/dev/null || t_fail "the shell overflowing the ring buffer failed"
start_agent "${small[@]}"
t_wait 60 up || true
sleep 3
api_up "(third outage)"
# The status still says what the killed agent reported: wait for this
# agent to be ready, and for what it read from the ring buffer to be out.
t_wait 120 agent_up || t_fail "the agent is ready after the third outage"
read_ring() {
	local a b
	a=$(entries_with 'echo ring-')
	sleep 2
	b=$(entries_with 'echo ring-')
	[ "$a" = "$b" ] && [ "$b" -gt 0 ]
}
t_wait 180 read_ring || t_fail "what the ring buffer kept is published"
printf 'echo after-ring\n' >"$work/after-ring.txt"
cap_shell audited "$work/after-ring.txt" >/dev/null || t_fail "the shell after the ring buffer overflow failed"
# shellcheck disable=SC2016 # eval expands it at each try
t_wait 120 eval '[ "$(entries_with "echo after-ring")" = 1 ]' || t_fail "the line after the overflow arrives"
kept=$(entries_with 'echo ring-')
ring_web=$(($(gaps web "ring buffer was full") - ring_lost))
ring_web2=$(($(gaps web2 "ring buffer was full") - ring_lost2))
# What the agent found lost: lines, execs and exits.
read -r lines execs exits < <(t_daemon_log agent | grep '"ring buffer full: lost' | tail -1 |
	sed -n 's/.*lost \([0-9]*\) lines, \([0-9]*\) execs, \([0-9]*\) exits.*/\1 \2 \3/p')
echo "  note the 1 MiB ring buffer kept $kept of $ring lines; lost ${lines:-?} lines, ${execs:-?} execs, ${exits:-?} exits"
# Once full it stays full (no agent reads): every long line after the
# first lost is lost too; the Ctrl-D that ended the shell, a small record,
# may still fit.
t_match "a full ring buffer: every line not kept was counted lost (and the Ctrl-D after them)" \
	"^($((ring - kept))|$((ring - kept + 1)))\$" "${lines:-none}"
t_eq "a gap entry counts everything lost" "$((${lines:-0} + ${execs:-0} + ${exits:-0}))" "$ring_web"
t_match "and some were lost (the test filled it)" '^[1-9]' "$ring_web"
t_eq "the other audited container's stream has the same gap" "$ring_web" "$ring_web2"
t_eq "the lines kept are the first ones, in order" "$(head -n "$kept" "$work/ring.txt")" "$(record_lines | grep '^echo ring-')"
reported_drops() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.drops}')" = "$ring_web" ]; }
t_wait 30 reported_drops || true
t_eq "the ShellAuditNode status reports the drops" "$ring_web" "$(k get shellauditnode "$node" -o jsonpath='{.status.drops}')"
for p in web web2; do
	t_eventually "the chain of $p verifies after the overflow" 30 \
		"$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod "$p" --container main
done

# --- Events: a rate limit per pod, and ProgramExecuted --------------------------------
section "Events: a rate limit per pod, and ProgramExecuted"

# applied JSONPATH VALUE: the agent has applied a ShellAuditNode whose
# target web has that value there.
applied() {
	[ "$(k get shellauditnode "$node" -o jsonpath="{.spec.targets[?(@.containerID==\"containerd://$cid\")].$1}")" = "$2" ] &&
		[ "$(k get shellauditnode "$node" -o jsonpath='{.status.observedGeneration}')" = \
			"$(k get shellauditnode "$node" -o jsonpath='{.metadata.generation}')" ]
}
# The policy asks for Events of programs run too.
k patch shellauditpolicy demo --type=merge -p '{"spec":{"events":{"execEvents":true}}}' >/dev/null ||
	t_fail "the policy is changed"
# (Generous: the controller and the agent may be backing off after the API
# server's outages above.)
san_gen() { k get shellauditnode "$node" -o jsonpath='generation {.metadata.generation}, observed {.status.observedGeneration}'; }
t_wait 180 applied events.execEvents true || t_fail "the agent applies the changed policy" "$(san_gen)"
printf 'ls /\n' >"$work/exec.txt"
cap_shell audited "$work/exec.txt" >/dev/null || t_fail "the shell running ls failed"
program() { events web ProgramExecuted | t_grep -qx 'ls /'; }
t_wait 120 program || true
t_eq "a ProgramExecuted Event for a program run, with its arguments" "ls /" \
	"$(events web ProgramExecuted | grep -x 'ls /')"
# Now 10 Events a minute, no Events of programs (whose Events would share
# the limit), and a longer retention.
k patch shellauditpolicy demo --type=merge -p \
	'{"spec":{"events":{"ratePerMinute":10,"execEvents":false},"retention":"1000h"}}' >/dev/null ||
	t_fail "the policy is changed"
t_wait 180 applied events.ratePerMinute 10 || t_fail "the agent applies the changed policy" "$(san_gen)"
suppressed_before=$(metric events_suppressed_total)
# 30 lines at once, more than the 10 a minute allows; then one line every
# 7 s (a token comes back every 6 s) until the Event saying how many were
# held back appears, which it does with the next Event allowed.
for i in $(seq 1 30); do echo "#rate-$i"; done >"$work/rate.txt"
cap_shell audited "$work/rate.txt" >/dev/null || t_fail "the shell typing past the rate failed"
typed=30
summary() { events web ShellCommandsSuppressed | t_grep -q 'command lines were not shown'; }
for i in $(seq 1 12); do
	t_wait 8 summary && break
	echo "#rate-tick-$i" >"$work/tick.txt"
	cap_shell audited "$work/tick.txt" >/dev/null || t_fail "the shell typing a line failed"
	typed=$((typed + 1))
done
t_wait 30 summary || true
held_n() { events web ShellCommandsSuppressed | sed -n 's/^\([0-9]*\) command lines were not shown.*/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }
shown_n() { events | grep -c '^#rate-' || true; }
# The summary is created before the Event of the line that brought it
# (that one goes out with the next window of Events): wait for both.
# shellcheck disable=SC2317 # called by t_wait
all_told() { [ $(($(shown_n) + $(held_n))) -ge "$typed" ]; }
t_wait 30 all_told || true
held=$(held_n)
shown=$(shown_n)
t_match "a ShellCommandsSuppressed Event says how many lines were held back" '^[1-9]' "$held"
t_eq "Events shown + lines held back = lines typed" "$typed" "$((shown + held))"
t_eq "the AuditRecords hold them all, in order" "$(seq 1 30 | sed 's/^/#rate-/')" \
	"$(record_lines | grep '^#rate-[0-9]')"
t_eq "events_suppressed_total counts them" "$held" "$(($(metric events_suppressed_total) - ${suppressed_before:-0}))"
# A record carries the retention of the time it was written.
retentions() {
	k get auditrecords -n shop -l shellaudit.io/pod=web -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    texts = [e.get("text", "") for e in r["spec"]["entries"]]
    if sys.argv[1] in texts:
        print(r["spec"]["retention"])' "$1"
}
t_eq "records written before the policy changed keep its retention, those after carry the new one" \
	"720h 1000h" "$(retentions ls) $(retentions '#rate-1')"

# --- a redact rule the agent cannot use ------------------------------------------------
section "a redact rule the agent cannot use"

# Valid RE2 for the API server, but a Unicode class, which the agent's
# lib/re refuses (README): web2's target is refused, and the status says
# why, rather than audited without the rule.
k label pod web2 -n shop which=two >/dev/null
k apply -f - >/dev/null <<'EOF' || t_fail "the policy with the unusable rule is applied"
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: smile}
spec:
  podSelector: {matchLabels: {which: two}}
  redact:
  - name: smiley
    pattern: '\pL'
EOF
invalid_rules() { [ "$(target "$cid2" reason)" = RedactRulesInvalid ]; }
t_wait 60 invalid_rules || true
t_eq "a redact rule that does not compile on the node: not attached, reason RedactRulesInvalid" \
	"false RedactRulesInvalid" "$(target "$cid2" attached) $(target "$cid2" reason)"
t_match "the message names the rule" 'smiley' "$(target "$cid2" message)"
k delete shellauditpolicy smile >/dev/null

# --- stop, and the verifier ----------------------------------------------------------
section "stop, and the verifier"

t_daemon_stop agent TERM '"msg":"stopped"'
t_match "SIGTERM publishes what the spool holds first" '"msg":"spool drained"' "$(t_daemon_log agent)"

# A kubeconfig with a tokenFile: a service account allowed to read
# AuditRecords in shop and the ShellAuditNodes (the keys and chain heads
# verify checks against), its token in a file read at each request.
k create serviceaccount auditor -n shop >/dev/null
k create role auditrecord-reader -n shop --verb=get,list --resource=auditrecords.shellaudit.io >/dev/null
k create rolebinding auditor -n shop --role=auditrecord-reader --serviceaccount=shop:auditor >/dev/null
k create clusterrole shellauditnode-reader --verb=get,list --resource=shellauditnodes.shellaudit.io >/dev/null
k create clusterrolebinding auditor --clusterrole=shellauditnode-reader --serviceaccount=shop:auditor >/dev/null
k create token auditor -n shop >"$dir/auditor.token"
cat >"$dir/token.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: auditor
contexts: [{name: auditor, context: {cluster: local, user: auditor}}]
clusters: [{name: local, cluster: {server: 'https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT', certificate-authority: '$SHELLAUDIT_RUN/pki/ca.crt'}}]
users: [{name: auditor, user: {tokenFile: auditor.token}}]
EOF
verify() { "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main "$@" 2>&1; }
out=$(verify --kubeconfig "$dir/token.kubeconfig") && rc=0 || rc=$?
t_eq "verify with a kubeconfig whose token is in a tokenFile" "0" "$rc"
t_match "and reads the chain" 'intact' "$out"
echo "not-a-token" >"$dir/auditor.token"
out=$(verify --kubeconfig "$dir/token.kubeconfig") && rc=0 || rc=$?
t_eq "the file is read again: a bad token in it is refused (exit 2)" "2" "$rc"
t_match "and says so" 'cannot list AuditRecords: .*Unauthorized' "$out"

# A record deleted behind the agent's back is reported (the cases of
# tests/integration/test_records.sh aside). No admission policy here: the
# cluster admin removes the finalizer.
victim=$(k get auditrecords -n shop -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    if r["spec"]["pod"]["name"] == "web" and r["spec"]["sequence"] == 3:
        print(r["metadata"]["name"])')
k patch auditrecord -n shop "$victim" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
k delete auditrecord -n shop "$victim" >/dev/null
out=$(verify) && rc=0 || rc=$?
t_eq "the verifier fails on a deleted record" "1" "$rc"
t_match "and says which sequence is missing" 'missing: sequence 3\.\.3' "$out"

# A record outlives its policy: deleted (the agent then ends the chains of
# the containers it audited), every record stays, two retention periods of
# the controller later.
records=$(k get auditrecords -n shop -o name | sort)
k delete shellauditpolicy demo >/dev/null
sleep 5
t_eq "the records outlive their deleted policy" "" \
	"$(comm -23 <(printf '%s\n' "$records") <(k get auditrecords -n shop -o name | sort))"
section "end"
t_daemon_stop controller TERM '"msg":"shutting down"'
for p in agent controller; do
	if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	else
		t_pass "$p ran clean under sanitizers"
	fi
done
t_summary
