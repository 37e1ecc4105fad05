#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nothing outside the agent stalls capture (#12 part 1), for real (the
# kernel, kube-apiserver, the controller, the agent, ASan builds; a 1 MiB
# ring buffer):
#   - hostile HTTP clients: 100 connections held open on the agent's port
#     and one that sends its request a byte every half second, while lines
#     are typed: the lines are captured and published, /healthz answers
#     meanwhile, the trickler is cut at its deadline;
#   - an API server that hangs (SIGSTOP: every request waits for its whole
#     timeout): a flood of execs more than twice the ring buffer's size is
#     captured whole while it hangs, the ring buffer loses nothing, and
#     once the API server answers again every exec is published and the
#     chain verifies. (Before, the agent's one loop waited in each request
#     for its 5 s timeout while the ring buffer filled.)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup stalls-test-node
ag_policy
ag_controller "$T_BUILD/asan/shellaudit-controller"
port=$((SHELLAUDIT_APISERVER_PORT + 3))
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_stop "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
t_daemon agent "$dir/agent.log" "$T_BUILD/asan/shellaudit-agent" --node-name "$node" \
	--spool-dir "$dir/spool" --port "$port" --bpf-dir "$work/bpf/shellaudit" --ringbuf-mb 1 \
	--output "$dir/export.jsonl" --batch-ms 1000 --batch-entries 100
t_wait 120 ag_attached || t_stop "the agent attaches" "$(tail -5 "$dir/agent.log")"
t_wait 60 ag_probed || t_fail "the container's bash is probed" "$(tail -5 "$dir/agent.log")"
metric() { curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" | awk -v m="shellaudit_agent_$1" '$1 == m { print $2 }'; }
# exported KIND PATTERN: how many entries of KIND whose text has PATTERN
# the agent wrote to --output (as it spools them, before publishing).
exported() {
	python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1], errors="replace"):
    try:
        e = json.loads(l)
    except ValueError:
        continue
    n += e.get("kind") == sys.argv[2] and sys.argv[3] in e.get("text", "")
print(n)' "$dir/export.jsonl" "$1" "$2"
}
# published KIND PATTERN: the same in pod web's AuditRecords.
published() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
print(sum(e.get("kind") == sys.argv[1] and sys.argv[2] in e.get("text", "")
          for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == "web"
          for e in r["spec"]["entries"]))' "$1" "$2"
}

# --- hostile HTTP clients ---------------------------------------------------------
python3 - "$port" >"$dir/hostile.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
print("held", len(held), flush=True)
t = socket.create_connection(("127.0.0.1", port))
end = time.time() + 12
for b in b"GET /metrics HTTP/1.0\r\n":
    if time.time() > end:
        break
    try:
        t.send(bytes([b]))
    except OSError:
        print("trickler cut", flush=True)
        break
    time.sleep(0.5)
else:
    print("trickler served", flush=True)
PY
hostile=$!
t_cleanup "kill $hostile 2>/dev/null"
holding() { grep -q '^held 100' "$dir/hostile.log"; }
t_wait 30 holding || t_fail "the hostile client holds 100 connections" "$(cat "$dir/hostile.log")"
for i in $(seq 20); do echo "echo beside-hostile-$i"; done >"$work/hostile.txt"
cap_shell audited "$work/hostile.txt" >/dev/null || t_fail "the shell in web"
ok=0
for _ in $(seq 6); do
	[ "$(t_http "http://127.0.0.1:$port/healthz")" = "200 ok" ] && ok=$((ok + 1))
	sleep 0.5
done
t_eq "/healthz answers beside a trickling and a 100-connection client" 6 "$ok"
all_exported() { [ "$(exported line beside-hostile-)" = 20 ]; }
t_wait 60 all_exported || true
t_eq "the lines typed meanwhile are captured, all of them" 20 "$(exported line beside-hostile-)"
all_published() { [ "$(published line beside-hostile-)" = 20 ]; }
t_wait 120 all_published || true
t_eq "and published" 20 "$(published line beside-hostile-)"
wait "$hostile" || true
t_match "the trickler is cut at its deadline" "trickler cut" "$(cat "$dir/hostile.log")"

# --- an API server that hangs -----------------------------------------------------
apiserver=$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")
dropped0=$(metric dropped_total)
kill -STOP "$apiserver"
t_cleanup "kill -CONT $apiserver 2>/dev/null"
# 4,000 execs with distinct arguments: about 600 bytes each in the ring
# buffer, 2.4 MB in all, typed while every request of the agent hangs.
# shellcheck disable=SC2016 # $i is the shell's in the container
printf 'for ((i = 0; i < 4000; i++)); do /bin/true stall-flood-$i; done\n' >"$work/flood.txt"
cap_shell audited "$work/flood.txt" --timeout 600 >/dev/null || t_fail "the flood in web"
flood_exported() { [ "$(exported exec stall-flood-)" = 4000 ]; }
t_wait 120 flood_exported || true
t_eq "while the API server hangs, every exec of the flood is captured" 4000 "$(exported exec stall-flood-)"
t_eq "and the ring buffer lost nothing" "$dropped0" "$(metric dropped_total)"
kill -CONT "$apiserver"
flood_published() { [ "$(published exec stall-flood-)" = 4000 ]; }
t_wait 300 flood_published || true
t_eq "once it answers, every exec is published" 4000 "$(published exec stall-flood-)"
t_eq "no gap entry in the chain" 0 "$(published gap '')"
verify() { "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main; }
t_eventually "the chain verifies" 60 verify

t_daemon_stop agent TERM '"msg":"stopped"'
t_daemon_stop controller TERM '"msg":"shutting down"'
ag_sanitizers_clean agent controller
t_summary
