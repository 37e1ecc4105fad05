#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's spool faults, for real (the kernel, kube-apiserver, the
# controller, the agent, ASan builds): each ends in the right gap entries
# and chains that `shellaudit-agent verify` passes.
# - A full spool: with the API server away, one pod floods execs until its
#   share of the 1 MiB spool is used and its entries are refused; another
#   pod's lines typed then are kept; that pod floods too and fills the rest;
#   once the API server is back, each pod's chain holds a gap entry with
#   its own count, and every refused entry is in one.
# - A corrupt spool: lines spooled while the API server is away, the agent
#   killed, a byte of one of them flipped on disk (in the entries journal,
#   and in its record when one was formed): after the restart that line is
#   a gap entry in its session's record, every other line is published.
# - A wiped spool (its signing key kept): the restarted agent's chain goes
#   on after the newest record the API server holds.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup faults-test-node
ag_container victim victim

ag_policy

ag_controller "$T_BUILD/asan/shellaudit-controller"
port=$((SHELLAUDIT_APISERVER_PORT + 3))
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
# start_agent [ARGS...]: the agent in the background (ARGS after the defaults).
start_agent() {
	t_daemon agent "$dir/agent.log" "$T_BUILD/asan/shellaudit-agent" --node-name "$node" \
		--spool-dir "$dir/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" --spool-max-mb 1 \
		--batch-ms 1000 --batch-entries 4 --log-level debug "$@"
}
# stop_agent: SIGTERM ends it with status 0, saying so.
stop_agent() { t_daemon_stop agent TERM '"msg":"stopped"'; }
both_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 2 ]; }
metric() { curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
# This agent process attached both (the status may still be the last one's).
attached_now() { [ "$(metric attached)" = 2 ]; }
start_agent
t_wait 120 both_attached || t_fail "the agent attaches to both pods" "$(tail -5 "$dir/agent.log")"

# entries POD KIND: the record entries of POD's container, as JSON lines
# {kind, text, count, escaped}, by session and sequence.
entries() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
recs = sorted((r for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == sys.argv[1]),
              key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        print(json.dumps({k: e.get(k) for k in ("kind", "text", "count")}))' "$1"
}
lines_of() { entries "$1" | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["kind"] == "line": print(e["text"])'; }
# gaps_of POD [WHY]: the entries POD's chain says it lost, in gap entries
# whose text has WHY (any gap without it). A full ring buffer is every
# audited chain's gap ("the kernel ring buffer was full"); the spool's are
# the chain's own.
gaps_of() { entries "$1" | python3 -c 'import json,sys
es = [json.loads(l) for l in sys.stdin]
print(sum(e["count"] or 0 for e in es if e["kind"] == "gap" and sys.argv[1] in e.get("text", "")))' "${2:-}"; }
spool_full="the node's spool was full"
ring_full="the kernel ring buffer was full"
has_line() { lines_of "$1" | t_grep -qxF -- "$2"; }
verify() { "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod "$1" --container main; }

printf 'echo hello-web\n' >"$work/a.txt"
printf 'echo hello-victim\n' >"$work/b.txt"
cap_shell audited "$work/a.txt" >/dev/null || t_fail "the shell in web"
cap_shell victim "$work/b.txt" >/dev/null || t_fail "the shell in victim"
t_wait 120 has_line web "echo hello-web" || t_fail "web's first line published"
t_wait 60 has_line victim "echo hello-victim" || t_fail "victim's first line published"

# --- A full spool -------------------------------------------------------------
ring0=$(gaps_of web "$ring_full")
kill -9 "$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")"
dropped0=$(metric dropped_total)
# Distinct arguments: identical execs fold into one spool item per drain,
# and how many drains a flood makes depends on the machine's load.
# shellcheck disable=SC2016 # the container's bash expands $i
printf 'for ((i = 0; i < 4000; i++)); do /bin/true flood-$i; done\n' >"$work/flood.txt"
cap_shell audited "$work/flood.txt" --timeout 600 >/dev/null || t_fail "the flood in web"
full() { [ "$(metric dropped_total)" -gt "${dropped0:-0}" ]; }
if t_wait 60 full; then
	t_pass "web's flood takes its share of the 1 MiB spool, then its entries are refused"
else
	t_fail "web's flood takes its share of the 1 MiB spool, then its entries are refused" "$(metric dropped_total)"
fi
# One pod's flood leaves the others room (SINK_SPOOL_SHARE_PCT): the
# victim's lines typed now are kept.
before=$(metric dropped_total)
for i in 1 2 3 4 5; do echo "echo victim-kept-$i"; done >"$work/kept.txt"
cap_shell victim "$work/kept.txt" >/dev/null || t_fail "the shell in victim after web's flood"
# Then the victim floods too, and fills the rest: its own entries are refused.
# shellcheck disable=SC2016 # the container's bash expands $i
printf 'for ((i = 0; i < 3000; i++)); do /bin/true vflood-$i; done\n' >"$work/vflood.txt"
cap_shell victim "$work/vflood.txt" --timeout 600 >/dev/null || t_fail "the flood in victim"
refused() { [ "$(metric dropped_total)" -gt "$before" ]; }
t_wait 60 refused || t_fail "the victim's flood fills the spool" "$(metric dropped_total) (before $before)"
t_run "the API server comes back" "$T_ROOT/hack/cluster.sh" up
kept() { [ "$(lines_of victim | grep -c '^echo victim-kept-')" = 5 ]; }
t_wait 240 kept || true
t_eq "the victim's lines typed after web's flood are kept, in order" \
	"$(cat "$work/kept.txt")" "$(lines_of victim | grep '^echo victim-kept-')"
victim_gap() { [ "$(gaps_of victim "$spool_full")" -gt 0 ]; }
t_wait 240 victim_gap || true
t_match "the victim's chain says what its own flood lost" '^[1-9]' "$(gaps_of victim "$spool_full")"
web_gap() { [ "$(gaps_of web "$spool_full")" -gt 0 ]; }
t_wait 120 web_gap || true
same_ring() { [ "$(gaps_of web "$ring_full")" = "$(gaps_of victim "$ring_full")" ]; }
t_wait 60 same_ring || true
total=$(metric dropped_total)
# dropped_total counts the ring buffer's losses too: once each, in every
# chain's gaps.
ring=$(($(gaps_of web "$ring_full") - ring0))
t_eq "the ring buffer's losses are in both chains alike" "$(gaps_of web "$ring_full")" \
	"$(gaps_of victim "$ring_full")"
t_eq "web's chain says how many of its own: every refused entry is in a gap, in its own chain" \
	"$((total - dropped0))" "$(($(gaps_of web "$spool_full") + $(gaps_of victim "$spool_full") + ring))"
t_eventually "the victim's chain verifies" 60 verify victim
t_eventually "web's chain verifies" 60 verify web

# --- A corrupt spool ----------------------------------------------------------
printf 'echo after-full\n' >"$work/c.txt"
cap_shell audited "$work/c.txt" >/dev/null || t_fail "the shell in web"
t_wait 120 has_line web "echo after-full" || t_fail "the spool drained after the full phase"
# Batches that stay open a minute: the lines are in no record when the
# agent dies, only in the entries journal (and its checkpoint, by where
# they start), which the restarted agent reads again.
stop_agent
start_agent --batch-ms 60000 --batch-entries 100
t_wait 120 attached_now || t_fail "the agent attaches again"
kill -9 "$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")"
base=$(metric captured_total)
{ for i in 1 2 3 4 5 6; do echo "echo corrupt-me-$i"; done; echo 'sleep 30'; } >"$work/corrupt.txt"
cap_shell audited "$work/corrupt.txt" --timeout 120 >/dev/null &
shell=$!
spooled() { [ "$(metric captured_total)" -ge $((base + 6)) ]; }
t_wait 60 spooled || t_fail "the 6 lines are spooled" "$(metric captured_total) (base $base)"
sleep 2 # a turn or two: synced and checkpointed
t_daemon_kill agent
flipped=0
for f in "$dir"/spool/entries/*.seg; do
	python3 - "$f" <<'EOF' && flipped=$((flipped + 1))
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"echo corrupt-me-3")
if i < 0:
    sys.exit(1)
b[i + 6] ^= 0x02  # "corrupt" -> "cmrrupt": still JSON, no longer its CRC
open(p, "r+b").write(b)
EOF
done
t_eq "a byte of the spooled line flipped on disk" 1 "$flipped"
t_run "the API server comes back" "$T_ROOT/hack/cluster.sh" up
start_agent
wait "$shell" || t_fail "the shell in web"
t_wait 120 has_line web "echo corrupt-me-6" || t_fail "the lines after the corrupt one are published" "$(tail -5 "$dir/agent.log")"
t_eq "every other line is published once" "echo corrupt-me-1 echo corrupt-me-2 echo corrupt-me-4 echo corrupt-me-5 echo corrupt-me-6" \
	"$(lines_of web | grep corrupt-me | tr '\n' ' ' | sed 's/ $//')"
t_eq "the corrupt one is nowhere, damaged or not" "" "$(k get auditrecords,events -n shop -o json | grep -o 'c[om]rrupt-me-3' || true)"
gap_line() { entries web | python3 -c 'import json,sys
es = [json.loads(l) for l in sys.stdin]
i = [k for k, e in enumerate(es) if e["text"] == "echo corrupt-me-2"][0]
print(es[i + 1]["kind"], es[i + 1]["count"], es[i + 2]["text"])'; }
gl=$(gap_line)
t_eq "it is a gap entry in its session's record, where it was" "gap 1 echo corrupt-me-4" "$gl"
[ "$gl" = "gap 1 echo corrupt-me-4" ] ||
	{ entries web | grep -C3 corrupt-me; grep -i 'spool' "$dir/agent.log" | grep -v debug | tail -5; }
t_eventually "the chain verifies" 60 verify web

# --- A wiped spool --------------------------------------------------------------
stop_agent
head_seq() { k get shellauditnode "$node" -o json | python3 -c '
import json, sys
h = [x for x in json.load(sys.stdin)["status"]["heads"] if x["containerID"] == "containerd://" + sys.argv[1]]
print(h[0]["sequence"] if h else -1)' "$cid"; }
before=$(head_seq)
names_before=$(k get auditrecords -n shop -o name | sort)
rm -rf "$dir/spool"
if [ -f "$dir/node.key" ]; then t_pass "the node's key is kept"; else t_fail "the node's key is kept"; fi
start_agent
t_wait 120 attached_now || t_fail "the agent attaches again"
printf 'echo after-wipe\n' >"$work/w.txt"
cap_shell audited "$work/w.txt" >/dev/null || t_fail "the shell in web"
t_wait 120 has_line web "echo after-wipe" || t_fail "a line after the wipe is published" "$(tail -5 "$dir/agent.log")"
t_match "the agent looked the chain up" 'goes on after its newest record' "$(cat "$dir/agent.log")"
new_seqs=$(comm -13 <(echo "$names_before") <(k get auditrecords -n shop -o name | sort) |
	while read -r n; do k get -n shop "$n" -o jsonpath='{.spec.pod.name} {.spec.sequence}{"\n"}'; done |
	awk '$1 == "web" { print $2 }' | sort -n | head -1)
t_eq "the chain goes on after the API server's newest record" "$((before + 1))" "$new_seqs"
t_eventually "the chain verifies after the wipe" 60 verify web
out=$(verify web 2>&1 || true)
t_eq "with no second chain" "" "$(grep 'second record' <<<"$out" || true)"
for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
