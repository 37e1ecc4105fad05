#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Leader election on a real Lease: two candidates, exactly one leads, and
# keeps leading while it renews; kill it and the other takes over; a third
# candidate follows while the lease is held; SIGTERM releases the lease,
# which the third takes without waiting for it to expire. A replica
# stopped while another took the Lease does not release it (k8s.md M2),
# and the holder's leaseDurationSeconds rules, not ours (L3).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
prog=$T_BUILD/asan/tests/integration/lease
dir=$SHELLAUDIT_RUN
duration=6

# start NAME [DURATION]: a candidate; its states and logs in $dir/NAME.log.
start() { t_daemon "$1" "$dir/$1.log" "$prog" "$1" "${2:-$duration}"; }
states() { grep -xE 'leader|follower|released|release-failed|not-leader' "$dir/$1.log" 2>/dev/null; }
state() { states "$1" | tail -1; }
lease() { "$KUBE_BIN/kubectl" get lease lease-test -n default -o jsonpath="{.spec.$1}" 2>/dev/null; }
one_leader() {
	local a b
	a=$(state a) b=$(state b)
	{ [ "$a" = leader ] && [ "$b" = follower ]; } || { [ "$a" = follower ] && [ "$b" = leader ]; }
}

start a
start b
if t_wait 60 one_leader; then
	t_pass "two candidates: exactly one leads"
else
	t_fail "two candidates: exactly one leads" "a: $(state a)" "b: $(state b)"
fi
leader=a other=b
[ "$(state b)" = leader ] && leader=b other=a
t_eq "the Lease names the leader" "$leader" "$(lease holderIdentity)"

# Twice the lease duration, sampled every half second: the same single
# leader throughout, and no transition recorded on the Lease.
transitions=$(lease leaseTransitions)
flaps=0
for _ in $(seq $((4 * duration))); do
	{ one_leader && [ "$(state "$leader")" = leader ] && [ "$(lease holderIdentity)" = "$leader" ]; } ||
		flaps=$((flaps + 1))
	sleep 0.5
done
t_eq "leadership is stable while the leader renews (samples that saw another state)" 0 "$flaps"
t_eq "and the Lease records no transition meanwhile" "$transitions" "$(lease leaseTransitions)"

t_daemon_kill "$leader"
killed_at=$SECONDS
other_leads() { [ "$(state "$other")" = leader ]; }
if t_wait 90 other_leads; then
	t_pass "the follower takes over after the leader is killed ($((SECONDS - killed_at))s; lease duration ${duration}s)"
else
	t_fail "the follower takes over after the leader is killed" "$(tail -5 "$dir/$other.log")"
fi
t_eq "the Lease names the new leader" "$other" "$(lease holderIdentity)"

# A third candidate with a lease duration of 10 minutes: it takes a lease
# another holds only after it has not changed for that long, so within
# this test only a released lease can be its. Past the others' duration it
# must still follow.
start c 600
t_wait 30 grep -qx follower "$dir/c.log" || true
sleep $((duration + 2))
t_eq "a third candidate follows while the lease is held (past the lease duration)" "follower" \
	"$(states c | sort -u | tr '\n' ' ' | sed 's/ $//')"
t_daemon_stop "$other" TERM $'(^|\n)released($|\n)'
c_leads() { [ "$(state c)" = leader ]; }
if t_wait 60 c_leads; then t_pass "a released lease is taken"; else t_fail "a released lease is taken" "$(tail -3 "$dir/c.log")"; fi
t_eq "the Lease names the third candidate" "c" "$(lease holderIdentity)"
t_match "at once: it was free when taken, not expired (the previous holder was none)" \
	'"msg":"acquired leadership","lease":"lease-test","identity":"c","previous":""' "$(cat "$dir/c.log")"

# A lease another replica took while we were stopped is not ours to
# release (k8s.md M2): the release carries our last resourceVersion, and
# the update is refused. c either ticks once more and sees it follows
# (not-leader), or tries the release, which the API server refuses (it
# says so, and its holder stays).
kill -STOP "${T_DAEMON_PID[c]}"
"$KUBE_BIN/kubectl" patch lease lease-test -n default --type=merge \
	-p '{"spec":{"holderIdentity":"thief","leaseDurationSeconds":60}}' >/dev/null
kill -TERM "${T_DAEMON_PID[c]}"
kill -CONT "${T_DAEMON_PID[c]}"
t_wait 30 t_daemon_ended c || true
t_eq "SIGTERM stops c with status 0" 0 "$(cat "$T_DAEMON_DIR/c.rc" 2>/dev/null)"
t_eq "a replica stopped past its lease does not release the new holder's" "thief 60" \
	"$(lease holderIdentity) $(lease leaseDurationSeconds)"
t_match "it did not release it: it saw it no longer led, or its update was refused" \
	$'(^|\n)not-leader($|\n)|written by another replica since our last renewal: not released' \
	"$(t_daemon_log c)"

# The holder's leaseDurationSeconds (60) rules, not ours (6) (k8s.md L3):
# the thief's lease renewed now, a candidate with a duration of 6 s must
# still follow it well past 6 s.
"$KUBE_BIN/kubectl" patch lease lease-test -n default --type=merge \
	-p "{\"spec\":{\"renewTime\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null
start d
t_wait 30 grep -qx follower "$dir/d.log" || true
sleep $((2 * duration + 3))
t_eq "a lease held for 60 s is not taken after our 6 (d's states; the holder)" "follower thief" \
	"$(states d | sort -u | tr '\n' ' ')$(lease holderIdentity)"
t_daemon_stop d TERM $'(^|\n)not-leader($|\n)'
for p in a b c d; do
	if grep -q 'ERROR: AddressSanitizer\|runtime error' "$dir/$p.log" 2>/dev/null; then
		t_fail "candidate $p ran clean under sanitizers" "$(grep -A20 'ERROR: AddressSanitizer\|runtime error' "$dir/$p.log" | head -20)"
	fi
done
t_summary
