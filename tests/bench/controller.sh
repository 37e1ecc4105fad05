#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench, part 3: the controller at scale, before and after, in one run.
#
# reviews/scale.md's set-up and sequence on a private control plane (real
# etcd and kube-apiserver from hack/cluster.sh up, no kubelet): 500 Node
# objects, BENCH_CTL_PODS (20,000) pods bound to them with running container
# IDs, 50 policies selecting every pod 1 to 7 times (tests/bench/kgen.py).
# The same phases run with the baseline controller, built from commit
# BENCH_CTL_BASE (c5a3867) into a temporary directory (or BENCH_CTL_BASE_BIN,
# one built before), and with this tree's
# (release builds, default flags), and print side by side:
#   start    no ShellAuditNodes yet, every policy status empty
#   edit     pol-00 podSelector app=app-0 -> app Exists (re-targets 18,000 pods)
#   all      pol-all podSelector {app: none} -> {} (every node changes)
# converged = every ShellAuditNode equals the independent computation
# (tests/integration/controller/expected.py) and every policy's status its
# counts, followed by watch; writes as the API server counted them; RSS
# as VmHWM; the longest loop turn (before: the longest /metrics scrape,
# which its loop answered; after: the loop's own gauge, as HTTP is off it).
# Then #13's figures: the all-nodes change again at --writes-per-second 100,
# with the API server's CPU and mean PATCH latency, and the reference: the
# same 500 conditional merge patches of the same objects sent by a trivial
# client (kgen rewrite-nodes) over as many connections as the controller has
# writers (BENCH_CTL_REF_CONNS, 4), what the API server and etcd can take here.
# BENCH_CTL_VARIANTS=after runs this tree's controller only (no baseline build).
#
# BENCH_CTL_BIG=1 adds (about 60 minutes on a loaded 2-core machine):
# 100,000 more pods (120,000) and a fresh start of both controllers, the
# pod informer's initial list (time and RSS when /readyz turns 200), and
# 200,000 AuditRecords present at a fresh start. Timings only: never part
# of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

PODS=${BENCH_CTL_PODS:-20000}
BIG=${BENCH_CTL_BIG:-0}
BASE=${BENCH_CTL_BASE:-c5a3867}
PAR=${BENCH_CTL_PROCS:-4} # generator processes (8 connections each)
VARIANTS=${BENCH_CTL_VARIANTS:-before after}
REF_CONNS=${BENCH_CTL_REF_CONNS:-4}
kgen() { python3 "$T_ROOT/tests/bench/kgen.py" "$@"; }
k() { "$KUBE_BIN/kubectl" "$@"; }

t_cluster_up
dir=$SHELLAUDIT_RUN

# The baseline, built from its own tree (release flags, like `make`), or
# BENCH_CTL_BASE_BIN, a baseline built before.
base_bin=${BENCH_CTL_BASE_BIN:-}
if [ -z "$base_bin" ] && [[ " $VARIANTS " == *" before "* ]]; then
	base_src=$(mktemp -d /tmp/shellaudit-bench-base.XXXXXX)
	t_cleanup "rm -rf '$base_src'"
	echo "building the baseline controller from $BASE"
	git -C "$T_ROOT" archive "$BASE" | tar -x -C "$base_src"
	if ! make -C "$base_src" build/shellaudit-controller >"$dir/base-build.log" 2>&1; then
		t_fail "the baseline controller builds" "$(tail -5 "$dir/base-build.log")"
		t_summary
		exit 1
	fi
	base_bin=$base_src/build/shellaudit-controller
fi
declare -A BIN=([before]="$base_bin" [after]="$T_BUILD/shellaudit-controller")

# gen_pods FIRST COUNT [--small]: in PAR processes.
gen_pods() {
	local first=$1 count=$2 per p
	per=$(((count + PAR - 1) / PAR))
	for ((p = 0; p < PAR; p++)); do
		local f=$((first + p * per)) n=$per
		[ $((f + n)) -gt $((first + count)) ] && n=$((first + count - f))
		[ "$n" -gt 0 ] && kgen pods "$f" "$n" "${@:3}" &
	done
	wait
}

t0=$(date +%s)
k apply -k "$T_ROOT/crds" >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
kgen namespaces && kgen nodes 500
gen_pods 0 "$PODS"
t1=$(date +%s)
echo "loaded $PODS pods on 500 nodes in $((t1 - t0)) s ($((PODS / (t1 - t0 + 1))) pods/s)"

api_writes() { # VERB RESOURCE: what the API server counted so far
	k get --raw /metrics | awk -v v="$1" -v r="$2" '/^apiserver_request_total\{/ && $0 ~ "verb=\""v"\"" &&
		$0 ~ "resource=\""r"\"" { s += $2 } END { print s + 0 }'
}
writes_now() {
	echo "$(api_writes POST shellauditnodes) $(api_writes PATCH shellauditnodes) $(api_writes PATCH shellauditpolicies)"
}
writes_diff() { # BEFORE AFTER -> "N creates + N patches + N status"
	local a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	echo "$((b[0] - a[0])) creates + $((b[1] - a[1])) patches + $((b[2] - a[2])) status"
}
# The API server's own figures for ShellAuditNode PATCHes: "COUNT SUM".
patch_seconds() {
	k get --raw /metrics | awk '/^apiserver_request_duration_seconds_(sum|count)\{/ &&
		/verb="PATCH"/ && /resource="shellauditnodes"/ && !/subresource="[a-z]/ {
		if ($1 ~ /_count\{/) n += $2; else t += $2 } END { printf "%d %f", n, t }'
}
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null; }
# api_load: "apiserver-CPU-s etcd-CPU-s patches patch-seconds" now.
api_load() {
	echo "$(cpu_s "$(cat "$dir/pids/kube-apiserver.pid")") $(cpu_s "$(cat "$dir/pids/etcd.pid")") $(patch_seconds)"
}
# load_diff BEFORE AFTER -> what the API server did in between.
load_diff() {
	echo "$1 $2" | awk '{ n = $7 - $3; printf "kube-apiserver %.0f s CPU, etcd %.0f s CPU, %d PATCHes of %.2f s on average", $5 - $1, $6 - $2, n, n ? ($8 - $4) / n : 0 }'
}
hwm_mb() { awk '$1 == "VmHWM:" { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
rss_mb() { awk '$1 == "VmRSS:" { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

# Scrapes /metrics every 0.25 s and keeps the longest answer (the baseline
# answers from its loop) in $dir/scrape.max.
scraper() {
	local port=$1 max=0 t
	while :; do
		t=$(curl -s -o /dev/null -m 120 -w '%{time_total}' "http://127.0.0.1:$port/metrics") || t=0
		max=$(echo "$t $max" | awk '{ print ($1 > $2) ? $1 : $2 }')
		echo "$max" >"$dir/scrape.max"
		sleep 0.25
	done
}
metric() { curl -sf -m 120 "http://127.0.0.1:$1/metrics" | awk -v m="shellaudit_controller_$2" '$1 == m { print $2 }'; }

# phase VARIANT NAME WANTFILE TIMEOUT CMD...: runs CMD (the change) and
# waits for convergence, timed from CMD; one table row.
declare -A ROW
phase() {
	local v=$1 name=$2 want=$3 timeout=$4 w0 w1 secs since turn
	shift 4
	w0=$(writes_now)
	since=$(date +%s.%N)
	"$@"
	secs=$(KGEN_SINCE=$since kgen converge "$want" "$timeout") || secs="not in ${timeout}s"
	sleep 1
	w1=$(writes_now)
	if [ "$v" = before ]; then turn=$(cat "$dir/scrape.max" 2>/dev/null); else turn=$(metric "$PORT" loop_busiest_seconds); fi
	ROW[$v.$name]="$secs s | $(writes_diff "$w0" "$w1") | $(hwm_mb "$CPID") MB | ${turn:-?} s"
	echo "  $v $name: ${ROW[$v.$name]}"
}

PORT=$((19000 + RANDOM % 500))
# run VARIANT [ARGS]: a controller, killed at exit.
run() {
	local v=$1
	shift
	("${BIN[$v]}" --port "$PORT" --identity "bench-$v" --namespace shellaudit-system "$@" \
		>"$dir/$v.log" 2>&1 & echo $! >"$dir/$v.pid")
	CPID=$(cat "$dir/$v.pid")
	t_cleanup "kill -9 $CPID 2>/dev/null"
	echo 0 >"$dir/scrape.max"
	(scraper "$PORT" & echo $! >"$dir/scraper.pid")
	t_cleanup "kill $(cat "$dir/scraper.pid") 2>/dev/null"
}
stop() {
	local t
	kill "$(cat "$dir/scraper.pid")" 2>/dev/null
	t=$(date +%s.%N)
	kill -TERM "$CPID"
	while kill -0 "$CPID" 2>/dev/null; do sleep 0.1; done
	echo "  $1 stopped on SIGTERM in $(echo "$t $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }') s"
}

kgen policies
for w in start edit all; do kgen expect 0 "$PODS" "$PODS" "$dir/want-$w" "$w"; done
for v in $VARIANTS; do
	echo "-- $v"
	kgen policies >/dev/null && kgen reset
	phase "$v" start "$dir/want-start" 600 run "$v"
	phase "$v" edit "$dir/want-edit" 600 kgen edit-pol-00
	phase "$v" all "$dir/want-all" 600 kgen edit-pol-all
	stop "$v"
done

# #13: the change of every node at a write rate that allows 10 s.
echo "-- after, --writes-per-second 100"
run after --writes-per-second 100
kgen converge "$dir/want-all" 600 >/dev/null || true
# pol-all back to {app: none}: every target of every node changes.
l0=$(api_load)
phase after fast-all "$dir/want-edit" 600 kgen restore pol-all
l1=$(api_load)
stop after
echo "  API server meanwhile: $(load_diff "$l0" "$l1")"
# The reference, the controller stopped: the same writes, nothing computed.
l0=$(api_load)
ref=$(kgen rewrite-nodes merge "$REF_CONNS") || ref="failed"
l1=$(api_load)
REF="$ref s ($(load_diff "$l0" "$l1"))"
echo "  reference, kgen rewrite-nodes over $REF_CONNS connections: $REF"

if [ "$BIG" = 1 ]; then
	echo "-- 100,000 more pods (small: 1 container, labels app and shard)"
	t0=$(date +%s)
	gen_pods "$PODS" 100000 --small
	t1=$(date +%s)
	echo "loaded 100000 pods in $((t1 - t0)) s"
	kgen expect 0 $((PODS + 100000)) "$PODS" "$dir/want-big" start
	for v in $VARIANTS; do
		echo "-- $v, fresh start at $((PODS + 100000)) pods"
		# Converge in the background, timed from the start; readiness meanwhile.
		since=$(date +%s.%N)
		w0=$(writes_now)
		run "$v"
		(KGEN_SINCE=$since kgen converge "$dir/want-big" 1800 >"$dir/big.secs" 2>&1; echo 'done' >>"$dir/big.secs") &
		ready() { curl -sf -m 120 "http://127.0.0.1:$PORT/readyz" >/dev/null; }
		t_wait 1200 ready
		synced=$(echo "$since $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
		ROW[$v.list]="$synced s | $(rss_mb "$CPID") MB"
		echo "  $v: informers synced (/readyz) after $synced s, RSS $(rss_mb "$CPID") MB"
		wait
		w1=$(writes_now)
		if [ "$v" = before ]; then turn=$(cat "$dir/scrape.max" 2>/dev/null); else turn=$(metric "$PORT" loop_busiest_seconds); fi
		ROW[$v.big]="$(head -1 "$dir/big.secs") s | $(writes_diff "$w0" "$w1") | $(hwm_mb "$CPID") MB | ${turn:-?} s"
		echo "  $v big: ${ROW[$v.big]}"
		stop "$v"
	done
	echo "-- 200,000 AuditRecords"
	t0=$(date +%s)
	for ((p = 0; p < 20; p++)); do
		kgen records "ns-$(printf %02d $p)" 10000 --retention 720h --expires-in 86400 &
		[ $(((p + 1) % PAR)) = 0 ] && wait
	done
	wait
	t1=$(date +%s)
	echo "created 200000 AuditRecords in $((t1 - t0)) s"
	for v in $VARIANTS; do
		run "$v"
		start=$(date +%s.%N)
		if [ "$v" = after ]; then
			known() { [ "$(metric "$PORT" auditrecords)" = 200000 ]; }
		else
			known() { curl -sf -m 120 "http://127.0.0.1:$PORT/readyz" >/dev/null; }
		fi
		t_wait 1800 known
		synced=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
		ROW[$v.records]="$synced s | $(hwm_mb "$CPID") MB"
		echo "  $v: 200,000 records synced after $synced s, VmHWM $(hwm_mb "$CPID") MB"
		stop "$v"
	done
fi

echo
echo "controller at $PODS pods, 500 nodes, 50 policies (default flags unless said)"
echo "| phase | before ($BASE): converged, writes, VmHWM, longest loop turn | after: the same |"
echo "|---|---|---|"
for p in start edit all; do echo "| $p | ${ROW[before.$p]:-} | ${ROW[after.$p]:-} |"; done
echo "| every node changes, --writes-per-second 100 | | ${ROW[after.fast-all]:-} |"
echo "| reference: the same 500 writes by a trivial client, $REF_CONNS connections | | $REF |"
if [ "$BIG" = 1 ]; then
	echo "| fresh start, $((PODS + 100000)) pods: informers synced, RSS | ${ROW[before.list]:-} | ${ROW[after.list]:-} |"
	echo "| fresh start, $((PODS + 100000)) pods: converged | ${ROW[before.big]:-} | ${ROW[after.big]:-} |"
	echo "| 200,000 AuditRecords: synced, VmHWM | ${ROW[before.records]:-} | ${ROW[after.records]:-} |"
fi
t_pass "controller bench ran"
t_summary
