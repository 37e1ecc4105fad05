#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's spool and publisher against a real etcd + kube-apiserver:
# kill -9 in the middle of a burst, then an API server outage while
# entries keep coming; every entry ends up in the AuditRecords exactly
# once, signed, the chain verifies, and every line has exactly one Event.
# Then a record whose name another record took first: published under its
# longer name, never dropped. Then the spool's faults: a full spool's gap
# in each chain that lost entries, with its own count; a corrupt entry in
# a middle segment and a corrupt record; a spool wiped from the disk, whose
# chain goes on after the API server's newest record, also when the chain
# has a hole (a record gone) right after its oldest. Events by client-go's
# rule: with no answer they wait for their next try while the records go
# on, then are skipped; answered with an error status they are skipped at
# once, never tried again.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
k() { "$KUBE_BIN/kubectl" "$@"; }
prog=$T_BUILD/asan/tests/integration/spool_publish
spool=$SHELLAUDIT_RUN/spool
k apply -k "$T_ROOT/crds" >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
k create namespace spool-test >/dev/null
# Served, not only established: the writer's first step asks the API
# server where the chain ends, and a 404 there would back it off.
served() { k get auditrecords -n spool-test >/dev/null 2>&1; }
t_wait 60 served || t_fail "AuditRecords are served"

# A 1,000-entry burst; the writer kills itself with SIGKILL at entry 437.
set +e
"$prog" write "$spool" 0 1000 437 2>"$SHELLAUDIT_RUN/write1.log"
rc=$?
set -e
t_eq "the writer died of SIGKILL mid-burst" "137" "$rc"
t_match "some records were published before the kill" '[1-9]' "$(k get auditrecords -n spool-test --no-headers 2>/dev/null | wc -l)"

# Restarted: replays the spool, writes the rest of the burst, drains.
t_run "restart replays the spool and finishes the burst" "$prog" write "$spool" 438 1000

# Another 500 entries while the API server is down for a while.
kill -9 "$(cat "$SHELLAUDIT_RUN/pids/kube-apiserver.pid")"
("$prog" write "$spool" 1000 1500 2>"$SHELLAUDIT_RUN/write3.log"; echo $? >"$SHELLAUDIT_RUN/write3.rc") &
writer=$!
t_cleanup "kill -9 $writer 2>/dev/null"
sleep 10
t_run "the API server comes back" "$T_ROOT/hack/cluster.sh" up
wait $writer || true
t_eq "entries written during the outage drain once it is back" "0" "$(cat "$SHELLAUDIT_RUN/write3.rc")"
t_run_program "verify" "$prog" verify 1500 "$spool"
t_run_program "collide" "$prog" collide "$SHELLAUDIT_RUN/spool-collide"

t_run_program "full" "$prog" full "$SHELLAUDIT_RUN/spool-full"
t_run_program "corrupt" "$prog" corrupt "$SHELLAUDIT_RUN/spool-corrupt"
# Events by client-go's rule: not delivered, they wait and the records go
# on; refused, they are skipped at once.
t_run_program "events" "$prog" events "$SHELLAUDIT_RUN/spool-events"

# The node's spool is lost (disk wiped; its key kept): the chain goes on
# after the newest record the API server holds, previousDigest included,
# and verifies whole, every entry once.
before=$(k get auditrecords -n spool-test --no-headers | wc -l)
rm -rf "$spool"
out=$("$prog" write "$spool" 1500 1510 2>"$SHELLAUDIT_RUN/write4.log") && rc=0 || rc=$?
t_eq "the writer after the wipe drains and exits 0" 0 "$rc"
t_match "a wiped spool's records take no name of the old ones" 'collisions=0' "$out"
t_match "and are published beside them" "^$((before + 2))\$" "$(k get auditrecords -n spool-test --no-headers | wc -l)"
t_run_program "verify after the wipe" "$prog" verify 1510 "$spool"

# Wiped again, with a hole in the chain just after its oldest record (one
# refused, parked and lost with the spool, or removed): a search from the
# oldest stops at the hole, and the chain went on under sequences the API
# server already held. It goes on after the newest.
seqs() {
	k get auditrecords -n spool-test \
		-o jsonpath='{range .items[?(@.spec.containerID=="containerd://5p001e57")]}{.spec.sequence} {.metadata.name}{"\n"}{end}' |
		sort -n
}
hole=$(seqs | sed -n 2p)
newest=$(seqs | tail -n 1 | cut -d' ' -f1)
# Its retention finalizer, which the controller (not running here) lifts,
# is lifted by hand.
t_run "a record just after the oldest is removed" k delete auditrecord -n spool-test "${hole#* }" --wait=false
t_run "its finalizer lifted" k patch auditrecord -n spool-test "${hole#* }" --type merge \
	-p '{"metadata":{"finalizers":null}}'
rm -rf "$spool"
out=$("$prog" write "$spool" 1510 1520 2>"$SHELLAUDIT_RUN/write5.log") && rc=0 || rc=$?
t_eq "the writer after the second wipe drains and exits 0" 0 "$rc"
t_eq "no sequence of the chain is taken twice" "" "$(seqs | cut -d' ' -f1 | uniq -d | tr '\n' ' ')"
t_eq "the chain goes on after its newest record" "$((newest + 1))" \
	"$(seqs | cut -d' ' -f1 | awk -v n="$newest" '$1 > n' | head -n 1)"
if grep -q 'AddressSanitizer\|runtime error' "$SHELLAUDIT_RUN"/write*.log; then
	t_fail "the writers ran clean under sanitizers" "$(grep -h -A6 'AddressSanitizer\|runtime error' "$SHELLAUDIT_RUN"/write*.log | head)"
fi
t_summary
