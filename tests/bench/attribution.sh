#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: who opened a session, on a real node (hack/cluster.sh up
# --node, config/local and config/samples, as make run), each figure next
# to its reference measured in the same run:
#   - from starting `kubectl exec` to its first attributed AuditRecord seen
#     by a watch (the client's clock), BENCH_SEQ (10) execs one after the
#     other: with the session webhook (Matched, after the audit log came),
#     and with the webhook not installed (its ValidatingWebhookConfiguration
#     deleted: Unattributed, after the same decision delay);
#   - the webhook's latency under BENCH_CONCURRENT (50) execs started at
#     once: the controller's own time to answer (its p50, p99 and max over
#     them, from /metrics) and the API server's (its histogram
#     apiserver_admission_webhook_admission_duration_seconds, p99 as the
#     bucket it falls in), next to the execs' wall time with and without
#     the webhook.
# Timings only: never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

SEQ=${BENCH_SEQ:-10}
CONC=${BENCH_CONCURRENT:-50}
WAIT=180
k() { "$KUBE_BIN/kubectl" "$@"; }

e2e_node_preflight
e2e_node_env
work=$(mktemp -d /tmp/shellaudit-bench-attr.XXXXXX)
t_cleanup "rm -rf '$work'"
out=$("$T_ROOT/hack/cluster.sh" up --node 2>&1) || { t_fail "up --node" "$(tail -n 20 <<<"$out")"; t_summary; exit 1; }
eval "$("$T_ROOT/hack/cluster.sh" env)"
out=$("$T_ROOT/hack/images.sh" import 2>&1) || { t_fail "images" "$(tail -n 20 <<<"$out")"; t_summary; exit 1; }
apply() {
	local dir rc=0
	mkdir -p "$T_ROOT/build/run"
	dir=$(mktemp -d "$T_ROOT/build/run/bench-attr.XXXXXX")
	"$T_ROOT/hack/local-overlay.sh" "$dir" "$@" >/dev/null && k apply -k "$dir" >/dev/null || rc=1
	rm -rf -- "$dir"
	return $rc
}
if ! apply config/local Deployment/shellaudit-system/shellaudit-controller/controller \
	DaemonSet/shellaudit-system/shellaudit-agent/agent DaemonSet/shellaudit-system/shellaudit-audit/controller ||
	! k wait --for=condition=Established --timeout=60s crd/auditrecords.shellaudit.io >/dev/null ||
	! apply config/samples Deployment/default/demo/demo; then
	t_fail "shellaudit deployed"
	t_summary
	exit 1
fi
for w in shellaudit-system/deployment/shellaudit-controller shellaudit-system/daemonset/shellaudit-agent \
	default/deployment/demo; do
	IFS=/ read -r ns kind name <<<"$w"
	k -n "$ns" rollout status "$kind/$name" --timeout="${WAIT}s" >/dev/null 2>&1 ||
		{ t_fail "$kind/$name is available"; t_summary; exit 1; }
done
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')
pod=$(k get pods -l app=demo -o jsonpath='{.items[0].metadata.name}')
attached() {
	local cid
	cid=$(k get pod "$pod" -o jsonpath='{.status.containerStatuses[?(@.name=="shell")].containerID}') &&
		[ -n "$cid" ] && k get shellauditnode "$node" \
		-o jsonpath='{range .status.targets[?(@.attached==true)]}{.containerID}{"\n"}{end}' | grep -qxF "$cid"
}
webhook_ready() {
	[ -n "$(k get validatingwebhookconfiguration shellaudit-sessions -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ]
}
if ! t_wait "$WAIT" attached || ! t_wait "$WAIT" webhook_ready; then
	t_fail "the demo pod is audited and the webhook ready"
	t_summary
	exit 1
fi
cip=$(k -n shellaudit-system get pods -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].status.podIP}')
k exec "$pod" -c shell -- true # warm: the first exec pays for connections
sleep 3

# Records stamped with their arrival (client clock).
k get auditrecords --watch-only -o json 2>/dev/null | python3 "$T_ROOT/tests/bench/pipeline.py" stamp >"$work/records.jsonl" &
t_cleanup "kill $! 2>/dev/null"
sleep 2

# concurrent LABEL: CONC execs at once; their wall times (s) into LABEL.walls.
concurrent() {
	local i pids=()
	for ((i = 0; i < CONC; i++)); do
		(
			t0=$(date +%s.%N)
			k exec "$pod" -c shell -- sh -c "echo conc-$1-$i" >/dev/null 2>&1
			echo "$(date +%s.%N) $t0" | awk '{ printf "%.3f\n", $1 - $2 }'
		) >"$work/$1.wall.$i" &
		pids+=($!)
	done
	# These execs only: the records watch runs in the background until the end.
	wait "${pids[@]}"
	cat "$work/$1".wall.* >"$work/$1.walls"
}
# apiserver_hist: the API server's webhook histogram buckets (le count).
apiserver_hist() {
	k get --raw /metrics | awk '/^apiserver_admission_webhook_admission_duration_seconds_bucket\{/ &&
		/name="sessions.shellaudit.io"/ && /operation="CONNECT"/ {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); c[le] += $NF }
		END { for (l in c) print l, c[l] }' | sort -g
}
controller_metric() { curl -s -m 5 "http://$cip:8080/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# sequential LABEL: SEQ execs one after the other, each waited for until
# its record arrived; start times into LABEL.starts.
sequential() {
	local i
	: >"$work/$1.starts"
	for ((i = 0; i < SEQ; i++)); do
		echo "$i $(date +%s.%N)" >>"$work/$1.starts"
		k exec "$pod" -c shell -- sh -c "echo seq-$1-$i" >/dev/null 2>&1
		sleep 1.5
	done
	sleep 10
}
pct() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "- -"; exit } i50 = int((NR - 1) * 0.5) + 1; i99 = int((NR - 1) * 0.99) + 1; printf "%.3f %.3f", v[i50], v[i99] }'; }
latencies() {
	python3 - "$work/records.jsonl" "$work/$1.starts" "$1" <<-'EOF'
	import json, sys
	starts = dict(l.split() for l in open(sys.argv[2]))
	seen = {}
	for l in open(sys.argv[1]):
	    d = json.loads(l)
	    spec = d["o"].get("spec", {})
	    for e in spec.get("entries", []):
	        t = e.get("text", "")
	        pre = "sh -c echo seq-%s-" % sys.argv[3]
	        if e.get("kind") == "exec" and t.startswith(pre) and spec.get("attribution"):
	            i = t[len(pre):]
	            if i in starts and i not in seen:
	                seen[i] = (d["t"] - float(starts[i]), spec["attribution"].get("status"))
	for i, (lat, status) in sorted(seen.items()):
	    print("%.3f %s" % (lat, status))
	EOF
}

hist_before=$(apiserver_hist)
concurrent webhook
hist_after=$(apiserver_hist)
p50=$(controller_metric shellaudit_controller_admission_p50_seconds)
p99=$(controller_metric shellaudit_controller_admission_p99_seconds)
pmax=$(controller_metric shellaudit_controller_admission_max_seconds)
api_p99=$(join <(echo "$hist_before") <(echo "$hist_after") | awk -v n="$CONC" '
	{ d = $3 - $2; if (!done && d >= 0.99 * n) { print $1; done = 1 } }')
sequential webhook
k delete validatingwebhookconfiguration shellaudit-sessions >/dev/null
sleep 3
concurrent none
sequential none

read -r w50 w99 <<<"$(pct <"$work/webhook.walls")"
read -r n50 n99 <<<"$(pct <"$work/none.walls")"
latencies webhook >"$work/webhook.lat"
latencies none >"$work/none.lat"
read -r l50 l99 <<<"$(cut -d' ' -f1 "$work/webhook.lat" | pct)"
read -r r50 r99 <<<"$(cut -d' ' -f1 "$work/none.lat" | pct)"

echo
echo "who opened a session (make bench, $(nproc) cores; medians and p99; client clock)"
printf '  %-58s %s\n' "webhook latency, $CONC execs at once, controller's own:" \
	"p50 $(awk -v v="$p50" 'BEGIN { printf "%.1f", v * 1000 }') ms, p99 $(awk -v v="$p99" 'BEGIN { printf "%.1f", v * 1000 }') ms, max $(awk -v v="$pmax" 'BEGIN { printf "%.1f", v * 1000 }') ms"
printf '  %-58s %s\n' "  the API server's p99 (its histogram's bucket):" "<= ${api_p99:-?} s"
printf '  %-58s %s\n' "kubectl exec wall time, $CONC at once, with the webhook:" "p50 $w50 s, p99 $w99 s"
printf '  %-58s %s\n' "  reference, webhook not installed:" "p50 $n50 s, p99 $n99 s"
printf '  %-58s %s\n' "exec to its first attributed record, $SEQ one by one:" \
	"p50 $l50 s, p99 $l99 s ($(cut -d' ' -f2 "$work/webhook.lat" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }'))"
printf '  %-58s %s\n' "  reference, webhook not installed:" \
	"p50 $r50 s, p99 $r99 s ($(cut -d' ' -f2 "$work/none.lat" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }'))"
t_eq "every exec with the webhook has its record" "$SEQ" "$(wc -l <"$work/webhook.lat")"
t_eq "every exec without it too" "$SEQ" "$(wc -l <"$work/none.lat")"
e2e_node_down >/dev/null
t_summary
