#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench, part 2: from a typed line to its Event and to its AuditRecord,
# at 10 and at 1,000 lines a second, on the real control plane with the
# controller and the agent (plain builds, default batching and publishing
# settings). Capture time is the entry's time (the kernel's timestamp);
# arrival is when a watch (kubectl get -w) sees the object. Prints median
# and p99 of both latencies, the rate achieved and the agent's RSS.
# Timings only: never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup bench-node
k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: bench}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
EOF
ag_controller "$T_BUILD/shellaudit-controller"
("$T_BUILD/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port 0 --bpf-dir '' \
	>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
agent=$(cat "$dir/agent.pid")
t_cleanup "kill -9 $agent 2>/dev/null"
t_wait 120 ag_attached || { t_fail "the agent attaches"; t_summary; exit 1; }

# Watches stamping each object with its arrival time.
stamp='
import json, os, sys, time
dec, buf = json.JSONDecoder(), ""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk.decode("utf-8", "replace")
    while True:
        buf = buf.lstrip()
        try:
            obj, end = dec.raw_decode(buf)
        except ValueError:
            break
        buf = buf[end:]
        print(json.dumps({"t": time.time(), "o": obj}), flush=True)
'
k get auditrecords -n shop --watch-only -o json 2>/dev/null | python3 -c "$stamp" >"$work/records.jsonl" &
t_cleanup "kill $! 2>/dev/null"
k get events.events.k8s.io -n shop --watch-only -o json 2>/dev/null | python3 -c "$stamp" >"$work/events.jsonl" &
t_cleanup "kill $! 2>/dev/null"
sleep 3

report='
import datetime, json, sys
prefix, n = sys.argv[1], int(sys.argv[2])
def wall(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
cap, rec = {}, {}
for line in open(sys.argv[3]):
    d = json.loads(line)
    for e in d["o"].get("spec", {}).get("entries", []):
        if e.get("kind") == "line" and e.get("text", "").startswith(prefix):
            cap.setdefault(e["text"], wall(e["time"]))
            rec.setdefault(e["text"], d["t"])
ev = {}
for line in open(sys.argv[4]):
    d = json.loads(line)
    # "(unattributed): LINE": the shells here are started on the node.
    note = d["o"].get("note", "")
    if note.startswith("(unattributed): "):
        note = note[len("(unattributed): "):]
    if d["o"].get("reason") == "ShellCommand" and note.startswith(prefix):
        ev.setdefault(note, d["t"])
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
lr = [rec[t] - cap[t] for t in rec]
le = [ev[t] - cap[t] for t in ev if t in cap]
span = max(cap.values()) - min(cap.values()) if len(cap) > 1 else 0
print("  %d lines typed, %d in AuditRecords, %d Events; typed at %.0f lines/s" %
      (n, len(rec), len(ev), (len(cap) - 1) / span if span else 0))
print("  capture to AuditRecord: median %.3f s, p99 %.3f s" % (q(lr, .5), q(lr, .99)))
print("  capture to Event:       median %.3f s, p99 %.3f s" % (q(le, .5), q(le, .99)))
print("RESULT %d %d" % (len(rec), len(ev)))
'
# run RATE N: N lines typed at RATE a second, then the figures once all
# arrived (or 300 s passed).
run() {
	local rate=$1 n=$2 p="echo r$1-" out
	seq 1 "$n" | sed "s/^/$p/" >"$work/lines-$rate.txt"
	"$TOOLS/ptytype" --prompt "$PROMPT" --fast --delay "$(awk -v r="$rate" 'BEGIN { print 1000 / r }')" \
		--lines "$work/lines-$rate.txt" --timeout 600 -- \
		nsenter --target "${CPID[audited]}" --mount --pid --root --wd "${CENV[@]}" \
		/bin/bash --rcfile /root/.bashrc -i >/dev/null || t_fail "the shell at $rate lines/s failed"
	arrived() {
		python3 -c "$report" "$p" "$n" "$work/records.jsonl" "$work/events.jsonl" | grep -qx "RESULT $n $n"
	}
	t_wait 300 arrived || true
	echo "at $rate lines/s:"
	out=$(python3 -c "$report" "$p" "$n" "$work/records.jsonl" "$work/events.jsonl")
	grep -v '^RESULT' <<<"$out"
	t_eq "at $rate lines/s every line arrived, as an entry and as an Event" "RESULT $n $n" "$(grep '^RESULT' <<<"$out")"
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

echo "from a typed line to the API server ($(nproc) CPUs; agent defaults: records at 100 entries or 5 s)"
idle=$(rss_kb "$agent" VmRSS)
run 10 100
run 1000 2000
echo "agent RSS: idle ${idle} kB, now $(rss_kb "$agent" VmRSS) kB, peak $(rss_kb "$agent" VmHWM) kB"
t_summary
