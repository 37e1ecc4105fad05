#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's spool and publisher against a real etcd + kube-apiserver:
# kill -9 in the middle of a burst, then an API server outage while
# entries keep coming; every entry ends up in the AuditRecords exactly
# once, the chain verifies, and every line has exactly one Event.
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
t_run_program "verify" "$prog" verify 1500

# The node's spool is lost (disk wiped): the new chain starts at 0 again
# and meets records of the old one under the same names: reported, and the
# old records stay as they were.
rm -rf "$spool"
before=$(k get auditrecords -n spool-test -o name | sort)
out=$("$prog" write "$spool" 5000 5003 2>"$SHELLAUDIT_RUN/write4.log") && rc=0 || rc=$?
t_eq "the writer of the new chain drains and exits 0" 0 "$rc"
# Every record it formed met a name taken: each is a collision, none was
# created, and none counts as replayed by mistake for a record of its own.
replayed=$(sed -n 's/.*replayed=\([0-9]*\).*/\1/p' <<<"$out")
t_match "a name taken by a different record is reported, not taken as published" \
	"^records=0 replayed=[1-9][0-9]* collisions=${replayed:-x}\$" "$out"
t_eq "no AuditRecord was added or replaced" "$before" "$(k get auditrecords -n spool-test -o name | sort)"
t_run_program "verify (the old chain is untouched)" "$prog" verify 1500
if grep -q 'AddressSanitizer\|runtime error' "$SHELLAUDIT_RUN"/write*.log; then
	t_fail "the writers ran clean under sanitizers" "$(grep -h -A6 'AddressSanitizer\|runtime error' "$SHELLAUDIT_RUN"/write*.log | head)"
fi
t_summary
