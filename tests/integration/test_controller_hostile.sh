#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shellaudit-controller (under ASan) against a real etcd + kube-apiserver,
# with what makes it slow or hostile: a sync made long by a low write rate
# (pods and policies from tests/bench/kgen.py, as in reviews/scale.md), HTTP
# clients that give up, trickle or hoard connections during it, a second
# replica that takes the Lease from a stopped leader mid-sync, a concurrent
# writer of policy status, merged redact rules past the schema's cap, and
# AuditRecords whose 500-item list page is larger than the client takes
# (and one whose expires-at annotation is earlier than its retention).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
dir=$SHELLAUDIT_RUN
ctl=$T_BUILD/asan/shellaudit-controller
kgen() { python3 "$T_ROOT/tests/bench/kgen.py" "$@"; }
k() { "$KUBE_BIN/kubectl" "$@"; }
export KGEN_NODES=40

k apply -k "$T_ROOT/crds" >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
kgen namespaces
kgen nodes 40
kgen pods 0 120
kgen policies

# start NAME PORT ARGS...: a controller replica (t_daemon NAME), continued
# and killed at exit.
start() {
	local name=$1 port=$2
	shift 2
	t_daemon "$name" "$dir/$name.log" "$ctl" --port "$port" --identity "$name" \
		--namespace shellaudit-system --lease-duration 6 --retention-period 2 --log-level debug "$@"
	t_cleanup "kill -CONT ${T_DAEMON_PID[$name]} 2>/dev/null"
}
pid() { echo "${T_DAEMON_PID[$1]}"; }
metric() { curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="shellaudit_controller_$2" '$1 == m { print $2 }'; }
sans() { k get shellauditnodes -o name 2>/dev/null | wc -l; }
# stop NAME: SIGTERM ends the replica with status 0, it says so, and its
# sanitizers (LeakSanitizer runs at exit) found nothing.
stop() {
	t_daemon_stop "$1" TERM '"msg":"shutting down"'
	if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$1.log"; then
		t_fail "$1 ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|LeakSanitizer\|runtime error' "$dir/$1.log" | head -12)"
	else
		t_pass "$1 ran clean under sanitizers"
	fi
}
# API writes the API server counted on ShellAuditNodes and policies, with
# a status code matching $1 (a regular expression; all by default).
api_writes() {
	k get --raw /metrics | awk -v code="^(${1:-.*})$" '/^apiserver_request_total\{/ &&
		/resource="shellaudit(node|policie)s"/ && /verb="(POST|PATCH|PUT|DELETE)"/ {
			c = $0; sub(/.*code="/, "", c); sub(/".*/, "", c)
			if (c ~ code) s += $2
		} END { print s + 0 }'
}

# A: one write a second, so the first sync (40 nodes, 50 policy statuses)
# lasts over a minute.
pa=$(t_free_port)
start ctl-a "$pa" --writes-per-second 1
a_up() { [ "$(metric "$pa" leader)" = 1 ] && [ "$(sans)" -ge 1 ]; }
t_wait 120 a_up || t_fail "ctl-a leads and starts writing"

# Probes while the process is stopped: the client gives up (1 s), and the
# answer then goes to a closed socket. A SIGPIPE would end the process.
kill -STOP "$(pid ctl-a)"
curl -s -m 1 "http://127.0.0.1:$pa/healthz" >/dev/null || true
curl -s -m 1 "http://127.0.0.1:$pa/metrics" >/dev/null || true
kill -CONT "$(pid ctl-a)"
sleep 2
if kill -0 "$(pid ctl-a)" 2>/dev/null && curl -sf -m 5 "http://127.0.0.1:$pa/healthz" >/dev/null; then
	t_pass "a probe that gave up while the controller was stopped does not kill it"
else
	t_fail "a probe that gave up while the controller was stopped does not kill it" "$(tail -3 "$dir/ctl-a.log")"
fi

# /healthz within 1 s while the sync is still in progress.
answered=0 failed=0
for _ in $(seq 10); do
	before=$(sans)
	if curl -sf -m 1 "http://127.0.0.1:$pa/healthz" >/dev/null; then
		[ "$(sans)" -lt 40 ] && answered=$((answered + 1))
	else
		failed=$((failed + 1))
	fi
	sleep 0.5
done
if [ "$answered" -ge 5 ] && [ "$failed" = 0 ]; then
	t_pass "/healthz answers within 1 s during a sync ($answered answers with $before of 40 nodes written)"
else
	t_fail "/healthz answers within 1 s during a sync" "answered in progress: $answered, failed: $failed"
fi

# Hostile clients while it reconciles: one trickles a byte every half
# second, 100 connections are held open.
python3 - "$pa" >"$dir/hostile.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
t = socket.create_connection(("127.0.0.1", port))
end = time.time() + 8
for b in b"GET /metrics HTTP/1.0\r\n":
    if time.time() > end:
        break
    try:
        t.send(bytes([b]))
    except OSError:
        print("trickler cut")
        break
    time.sleep(0.5)
PY
hostile=$!
sleep 1
before=$(sans)
ok=0
for _ in $(seq 8); do
	curl -sf -m 1 "http://127.0.0.1:$pa/healthz" >/dev/null && ok=$((ok + 1))
	sleep 0.5
done
wait "$hostile" || true
after=$(sans)
t_eq "/healthz answers within 1 s beside a trickling and a 100-connection client" 8 "$ok"
if [ "$after" -gt "$before" ]; then
	t_pass "the sync goes on meanwhile ($before -> $after nodes)"
else
	t_fail "the sync goes on meanwhile" "$before -> $after nodes"
fi
t_match "the trickler is cut at its deadline" "trickler cut" "$(cat "$dir/hostile.log")"

# B takes the Lease from A, stopped mid-sync; A, continued, must not write.
pb=$(t_free_port "$pa")
start ctl-b "$pb" --writes-per-second 100
b_up() { [ -n "$(metric "$pb" leader)" ]; }
t_wait 60 b_up || true
t_eq "B stands by while A leads" 0 "$(metric "$pb" leader)"
kill -STOP "$(pid ctl-a)"
written_by_a=$(sans)
b_leads() { [ "$(metric "$pb" leader)" = 1 ]; }
if t_wait 60 b_leads; then t_pass "B takes over from a stopped leader"; else t_fail "B takes over from a stopped leader"; fi
kgen expect 0 120 120 "$dir/want"
converged() { kgen converge "$dir/want" 5 >/dev/null 2>&1; }
if t_wait 180 converged; then
	t_pass "B completes the sync A left at $written_by_a of 40 nodes"
else
	t_fail "B completes the sync A left at $written_by_a of 40 nodes" "$(kgen converge "$dir/want" 5 2>&1 | tail -1)"
fi
settled() { [ "$(metric "$pb" workqueue_depth)" = 0 ]; }
t_wait 60 settled || true
sleep 2
versions() { k get shellauditnodes,shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}'; }
rv_before=$(versions)
w_before=$(api_writes) ok_before=$(api_writes '2..') refused_before=$(api_writes 409)
write_lines() { k get --raw /metrics | grep '^apiserver_request_total{' | grep -E 'resource="shellaudit(node|policie)s"' | grep -E 'verb="(POST|PATCH|PUT|DELETE)"'; }
write_lines >"$dir/writes.before"
kill -CONT "$(pid ctl-a)"
a_steps_down() { [ "$(metric "$pa" leader)" = 0 ]; }
if t_wait 30 a_steps_down; then t_pass "A, continued, knows it no longer leads"; else t_fail "A, continued, knows it no longer leads"; fi
sleep 8
# A checks the Lease once more when its connection is up, right before it
# sends; a request it had under way when it was stopped may still go out
# on SIGCONT, and its precondition (the resourceVersion it read) is the
# fence that refuses it.
write_lines >"$dir/writes.after"
w_after=$(api_writes) ok_after=$(api_writes '2..') refused=$(($(api_writes 409) - refused_before))
if [ "$ok_after" = "$ok_before" ]; then
	t_pass "A makes no write that succeeds after losing the Lease (API server's request count)"
else
	t_fail "A makes no write that succeeds after losing the Lease (API server's request count)" \
		"$ok_before -> $ok_after; $(diff "$dir/writes.before" "$dir/writes.after" | grep '^[<>]')"
fi
t_eq "every other write of A after losing the Lease was refused (409)" \
	"$((w_after - w_before))" "$refused"
t_eq "nothing changed behind B (resourceVersions)" "$rv_before" "$(versions)"
t_eq "B still leads" 1 "$(metric "$pb" leader)"

# Conditional writes under a concurrent writer: another writer keeps a
# condition of its own in pol-00's status while pods are relabelled, so
# the controller's status writes race it. Rounds until the API server has
# refused at least one of the controller's writes with 409.
status_409() {
	k get --raw /metrics | awk '/^apiserver_request_total\{/ && /resource="shellauditpolicies"/ &&
		/subresource="status"/ && /code="409"/ { s += $2 } END { print s + 0 }'
}
c409=$(status_409)
kept=1 round=0
ext() { k get shellauditpolicy pol-00 -o jsonpath='{.status.conditions[?(@.type=="External")].reason}'; }
while [ "$round" -lt 5 ] && [ "$(status_409)" = "$c409" ]; do
	round=$((round + 1))
	kgen hammer-status pol-00 4 "$round" &
	hammer=$!
	for i in $(seq 0 10 119); do
		k label pod "pod-$(printf %06d "$i")" -n "ns-$(printf %02d $((i % 20)))" \
			app=app-$(((i / 10 + round) % 10)) --overwrite >/dev/null
	done
	# This writer only: a bare wait would wait for the replicas too.
	wait "$hammer" || true
	t_wait 60 settled || true
	sleep 3
	[ "$(ext)" = "Final$round" ] || kept=0
done
if [ "$(status_409)" != "$c409" ]; then
	t_pass "the controller's status writes met 409s from a concurrent writer ($round rounds)"
else
	t_fail "the controller's status writes met 409s from a concurrent writer" "no 409 in $round rounds"
fi
t_eq "the concurrent writer's last condition is never clobbered" 1 "$kept"
# The labels changed: expected from the live pods, as test_controller.sh does.
snapshot() {
	k get shellauditpolicies -o json >"$dir/pols.json"
	k get namespaces -o json >"$dir/nss.json"
	k get pods -A -o json >"$dir/pods.json"
	k get shellauditnodes -o json >"$dir/sans.json"
}
right() {
	snapshot
	python3 "$T_ROOT/tests/integration/controller/expected.py" targets "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/w"
	python3 "$T_ROOT/tests/integration/controller/expected.py" actual "$dir/sans.json" >"$dir/h"
	python3 "$T_ROOT/tests/integration/controller/expected.py" status "$dir/pols.json" "$dir/nss.json" "$dir/pods.json" >"$dir/ws"
	k get shellauditpolicies -o jsonpath='{range .items[*]}{.metadata.name} {.status.matchedPods} {.status.nodes}{"\n"}{end}' | sort >"$dir/hs"
	cmp -s "$dir/w" "$dir/h" && cmp -s "$dir/ws" "$dir/hs"
}
if t_wait 120 right; then
	t_pass "after the race, nodes and status equal the independent computation"
else
	t_fail "after the race, nodes and status equal the independent computation" "$(diff "$dir/ws" "$dir/hs" | head -5)"
fi

# Redact rules: three policies of 30 distinct rules on one pod's container.
for p in 0 1 2; do
	rules=""
	for r in $(seq 0 29); do rules+="{\"name\":\"r$p-$r\",\"pattern\":\"x$r\"},"; done
	echo "{\"apiVersion\":\"shellaudit.io/v1alpha1\",\"kind\":\"ShellAuditPolicy\",\"metadata\":{\"name\":\"redact-$p\"},\"spec\":{\"podSelector\":{\"matchLabels\":{\"redact\":\"many\"}},\"redact\":[${rules%,}]}}" | k apply -f - >/dev/null
done
k label pod pod-000001 -n ns-01 redact=many --overwrite >/dev/null
rules_on() { k get shellauditnode node-001 -o json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["spec"]["targets"]:
    if t["pod"] == "pod-000001":
        print(len(t.get("redact") or []))'; }
capped() { [ "$(rules_on)" = 64 ]; }
if t_wait 60 capped; then t_pass "merged redact rules stop at the schema's 64 (the node is written)"; else t_fail "merged redact rules stop at the schema's 64" "$(rules_on)"; fi
truncated() { [ "$(k get shellauditpolicy redact-2 -o jsonpath='{.status.conditions[?(@.type=="RedactRulesTruncated")].status}')" = True ]; }
if t_wait 60 truncated; then t_pass "the policy whose rules did not fit says so"; else t_fail "the policy whose rules did not fit says so"; fi
t_eq "the first policy's rules all fit" "" "$(k get shellauditpolicy redact-0 -o jsonpath='{.status.conditions[?(@.type=="RedactRulesTruncated")].status}')"
t_eq "no write failed with 422 meanwhile" 0 "$(grep -c 'cannot update ShellAuditNode\|cannot create ShellAuditNode' "$dir/ctl-b.log" || true)"

# AuditRecords of typed '<' (6 bytes each once encoded): 47 of them make a
# 500-item page of about 70 MB, past the client's 64 MiB. One more expires
# soon (its retention is 3 s); another one's annotation says it expires soon
# too, but its retention (what the admission policy judges by) is 720h.
kgen records ns-00 47 --lt 245760 --retention 720h --expires-in 86400
t_run_program "a full list of them" "$T_BUILD/asan/tests/integration/informer_pages" \
	"/apis/shellaudit.io/v1alpha1/auditrecords" 47
kgen records ns-00 1 --lt 245760 --retention 3s --expires-in 3 --first 47
kgen records ns-00 1 --retention 720h --expires-in 3 --first 48
stop ctl-a
stop ctl-b
pc=$(t_free_port "$pa" "$pb")
start ctl-c "$pc" --writes-per-second 100
kgen pods 120 1
kgen expect 0 121 121 "$dir/want"
c_ready() { curl -sf -m 2 "http://127.0.0.1:$pc/readyz" >/dev/null; }
if t_wait 120 c_ready; then t_pass "a controller starting beside them gets ready"; else t_fail "a controller starting beside them gets ready"; fi
new_target() { k get shellauditnode "node-000" -o jsonpath='{.spec.targets[*].pod}' | t_grep -q pod-000120; }
if t_wait 120 new_target; then t_pass "and programs a new pod's node"; else t_fail "and programs a new pod's node"; fi
expired_gone() { ! k get auditrecord rec-0000047 -n ns-00 >/dev/null 2>&1; }
if t_wait 120 expired_gone; then t_pass "the expired one of them is deleted"; else t_fail "the expired one of them is deleted"; fi
t_run "the others stay" k get auditrecord rec-0000000 -n ns-00
read_early() { grep -q 'AuditRecord expires in.*"auditrecord":"ns-00/rec-0000048"' "$dir/ctl-c.log"; }
t_wait 60 read_early || t_fail "the record whose annotation is early is read when that is due" "$(grep rec-0000048 "$dir/ctl-c.log" | tail -3)"
t_eq "and stays, unmarked: its spec.retention holds" "" \
	"$(k get auditrecord rec-0000048 -n ns-00 -o jsonpath='{.metadata.deletionTimestamp}')"
t_eq "no list failed on the way" "" "$(grep 'list failed' "$dir/ctl-c.log" | head -1)"
stop ctl-c
t_summary
