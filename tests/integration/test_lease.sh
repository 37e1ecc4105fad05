#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Leader election on a real Lease: two candidates, exactly one leads; kill
# it and the other takes over; a released lease is taken at once.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
prog=$T_BUILD/asan/tests/integration/lease
dir=$SHELLAUDIT_RUN

start() {
	# In a subshell, so that killing it is not reported as a failed job.
	("$prog" "$1" >"$dir/$1.out" 2>"$dir/$1.err" & echo $! >"$dir/$1.pid")
	t_cleanup "kill -9 $(cat "$dir/$1.pid") 2>/dev/null"
}
state() { tail -1 "$dir/$1.out" 2>/dev/null; }
holder() { "$KUBE_BIN/kubectl" get lease lease-test -n default -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
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
t_eq "the Lease names the leader" "$leader" "$(holder)"

# Several renewals later, still the same single leader.
sleep 3
t_run "leadership is stable while the leader renews" one_leader

kill -9 "$(cat "$dir/$leader.pid")"
killed_at=$SECONDS
other_leads() { [ "$(state "$other")" = leader ]; }
if t_wait 90 other_leads; then
	t_pass "the follower takes over after the leader is killed ($((SECONDS - killed_at))s; lease duration 6s)"
else
	t_fail "the follower takes over after the leader is killed" "$(tail -5 "$dir/$other.err")"
fi
t_eq "the Lease names the new leader" "$other" "$(holder)"

# A graceful stop releases the lease: a new candidate need not wait.
start c
sleep 2
t_eq "a third candidate follows while the lease is held" "follower" "$(state c)"
kill -TERM "$(cat "$dir/$other.pid")"
c_leads() { [ "$(state c)" = leader ]; }
released() { [ "$(state "$other")" = released ]; }
if t_wait 30 released; then t_pass "SIGTERM releases the lease"; else t_fail "SIGTERM releases the lease" "$(state "$other")"; fi
if t_wait 30 c_leads; then t_pass "a released lease is taken"; else t_fail "a released lease is taken"; fi
t_eq "the Lease names the third candidate" "c" "$(holder)"
# A lease another replica took while we were stopped is not ours to
# release (k8s.md M2): the release carries our last resourceVersion.
kill -STOP "$(cat "$dir/c.pid")"
"$KUBE_BIN/kubectl" patch lease lease-test -n default --type=merge \
	-p '{"spec":{"holderIdentity":"thief","leaseDurationSeconds":60}}' >/dev/null
kill -TERM "$(cat "$dir/c.pid")"
kill -CONT "$(cat "$dir/c.pid")"
c_released() { [ "$(state c)" = released ]; }
t_wait 30 c_released || true
t_eq "a replica stopped past its lease does not release the new holder's" "thief" "$(holder)"

# The holder's leaseDurationSeconds (60) rules, not ours (6) (k8s.md L3).
"$KUBE_BIN/kubectl" patch lease lease-test -n default --type=merge \
	-p "{\"spec\":{\"renewTime\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null
start d
sleep 15
t_eq "a lease held for 60 s is not taken after our 6" "follower thief" "$(state d) $(holder)"
kill -9 "$(cat "$dir/d.pid")"

for p in a b c; do
	if grep -q 'ERROR: AddressSanitizer\|runtime error' "$dir/$p.err" 2>/dev/null; then
		t_fail "candidate $p ran clean under sanitizers" "$(head -20 "$dir/$p.err")"
	fi
done
t_summary
