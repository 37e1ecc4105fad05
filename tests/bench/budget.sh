#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: what AuditRecords cost etcd. A control plane, the controller
# and the agent (release builds), two audited containers: shop/web under a
# policy with exec aggregation (the default) and shop/calm under one with
# capture.aggregateExecs: false. Measured from the objects as the API server
# returns them (CRs are stored in etcd as that JSON), per entry:
#   - a typed line (BENCH_LINES, 200);
#   - an exec of /bin/true, all identical (BENCH_EXECS, 2000), with and
#     without aggregation, side by side;
#   - an exec with distinct arguments (aggregation cannot fold them).
# Figures only: never part of make test.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

LINES=${BENCH_LINES:-200}
EXECS=${BENCH_EXECS:-2000}
ag_setup bench-budget-node
calm_cid=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
calm_cg=/sys/fs/cgroup/unified/shellaudit-test-$$/$calm_cid
mkdir -p "$calm_cg"
t_cleanup "t_wait 10 rmdir '$calm_cg'"
cap_container calm
echo "${CPID[calm]}" >"$calm_cg/cgroup.procs"
echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"calm","namespace":"shop","labels":{"app":"calm"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
	k apply -f - >/dev/null
k patch pod calm -n shop --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$calm_cid"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null
echo '{"apiVersion":"shellaudit.io/v1alpha1","kind":"ShellAuditPolicy","metadata":{"name":"agg"},"spec":{"podSelector":{"matchLabels":{"app":"demo"}}}}' | k apply -f - >/dev/null
echo '{"apiVersion":"shellaudit.io/v1alpha1","kind":"ShellAuditPolicy","metadata":{"name":"noagg"},"spec":{"podSelector":{"matchLabels":{"app":"calm"}},"capture":{"readline":true,"exec":true,"aggregateExecs":false}}}' | k apply -f - >/dev/null
ag_controller "$T_BUILD/shellaudit-controller"
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
("$T_BUILD/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port 0 \
	--bpf-dir "$work/bpf/shellaudit" --batch-ms 1000 >>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"
attached2() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 2 ]; }
t_wait 120 attached2 || { t_fail "the agent attaches to both containers"; t_summary; exit 1; }

# stats POD KIND MATCH: bytes of the POD's records and its entries of KIND
# whose argv[1] or text starts with MATCH, counted with their count.
stats() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
pod, kind, match = sys.argv[1:4]
recs = [r for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == pod]
size = sum(len(json.dumps(r, separators=(",", ":")).encode()) for r in recs)
n = sum(e.get("count", 1) for r in recs for e in r["spec"]["entries"] if e["kind"] == kind and
        ((e.get("argv") or [""])[-1].startswith(match) or e.get("text", "").startswith(match)))
print(size, n)' "$@"
}
# measure NAME POD KIND MATCH WANT: waits for WANT entries, prints bytes per entry
# (the records' growth since the last call for POD over the entries added).
declare -A last=([web]=0 [calm]=0)
measure() {
	local name=$1 pod=$2 kind=$3 match=$4 want=$5 s n
	enough() { read -r _ n < <(stats "$pod" "$kind" "$match") && [ "$n" -ge "$want" ]; }
	t_wait 300 enough || { t_fail "$name: $want entries arrive" "$(stats "$pod" "$kind" "$match")"; return; }
	sleep 3 # the last record of a batch
	read -r s n < <(stats "$pod" "$kind" "$match")
	printf '  %-44s %8d entries %10d bytes %8.1f bytes/entry\n' "$name" "$n" "$((s - last[$pod]))" \
		"$(echo "$s ${last[$pod]} $n" | awk '{ print ($1 - $2) / $3 }')"
	last[$pod]=$s
	t_pass "$name: measured"
}

echo "AuditRecord bytes in the API (as etcd stores them), per entry"
for ((i = 0; i < LINES; i++)); do echo "echo typed-line-$i some arguments"; done >"$work/lines.txt"
cap_shell audited "$work/lines.txt" >/dev/null
measure "typed line (bash, with its execs' echo)" web line "echo typed-line-" "$LINES"
nsenter --target "${CPID[audited]}" --mount --pid --root --wd /bin/bash -c \
	"for ((i = 0; i < $EXECS; i++)); do /bin/true same; done"
nsenter --target "${CPID[calm]}" --mount --pid --root --wd /bin/bash -c \
	"for ((i = 0; i < $EXECS; i++)); do /bin/true same; done"
measure "identical exec, aggregated (default)" web exec same "$EXECS"
measure "identical exec, aggregateExecs: false" calm exec same "$EXECS"
nsenter --target "${CPID[calm]}" --mount --pid --root --wd /bin/bash -c \
	"for ((i = 0; i < $EXECS; i++)); do /bin/true distinct-\$i; done"
measure "distinct exec (nothing to aggregate)" calm exec distinct- "$EXECS"
t_summary
