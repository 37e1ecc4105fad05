#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How the client library retries (kube_retry.c), against the real API
# server, directly or through fakeapi.py's proxy, which logs every request:
#   - 429 with Retry-After on lists and watches: the informer waits at least
#     that long before the next try, and says so at info, not as a failure;
#     a websocket watch refused with 429 reports the Retry-After too;
#   - a proxy that ends every watch at once, cleanly: the informer backs
#     off (and counts it) instead of watching again at once;
#   - an ERROR event other than 410 (an etcd restored to an older revision):
#     the informer lists again, and does not watch the same version again;
#   - a continue token that expires between two pages: the list is taken
#     again whole;
#   - a peer that stops answering (its packets dropped by the kernel): a
#     watch over either transport ends long before its timeout.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

PROG=$T_BUILD/asan/tests/integration/kube_retry
FAKE=$T_ROOT/tests/integration/fakeapi.py

t_cluster_up
pki=$SHELLAUDIT_RUN/pki
work=$(mktemp -d /tmp/shellaudit-retry.XXXXXX)
t_cleanup "rm -rf '$work'"
k() { kubectl "$@"; }

# proxy MODE: fakeapi.py's proxy in MODE in front of the API server; sets
# KC (a kubeconfig for it) and LOG (its request log).
proxy() {
	local port pid
	port=$(t_free_port)
	LOG=$work/$1.log
	: >"$LOG"
	python3 "$FAKE" proxy "$port" "$SHELLAUDIT_APISERVER_PORT" "$pki" "$1" "$LOG" >"$work/$1.out" 2>&1 &
	pid=$!
	t_cleanup "kill $pid"
	t_wait 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || t_fail "the $1 proxy listens" "$(cat "$work/$1.out")"
	KC=$work/$1.kubeconfig
	cat >"$KC" <<-EOF
	apiVersion: v1
	kind: Config
	current-context: t
	contexts: [{name: t, context: {cluster: c}}]
	clusters: [{name: c, cluster: {server: 'http://127.0.0.1:$port'}}]
	EOF
}

# field NAME OUTPUT: the value of NAME=... in an informer run's output.
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }

# requests KIND: the log lines of lists (KIND list) or watches (watch):
# "<time> <status>".
requests() {
	if [ "$1" = watch ]; then
		awk '$3 ~ /[?&]watch=(1|true)(&|$)/ { print $1, $4 }' "$LOG"
	else
		awk '$2 == "GET" && $3 !~ /[?&]watch=(1|true)(&|$)/ { print $1, $4 }' "$LOG"
	fi
}

# gap_after_429 KIND: seconds between the first 429 of KIND and the next request of KIND.
gap_after_429() {
	requests "$1" | awk '$2 == 429 && !t { t = $1; next } t && !g { printf "%.1f", $1 - t; g = 1 }'
}

at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

k create namespace retry-test >/dev/null
for i in $(seq 1 5); do k -n retry-test create configmap "plain-$i" --from-literal=k=v >/dev/null; done
for i in $(seq 1 25); do
	k -n retry-test create configmap "paged-$i" --from-literal=k=v >/dev/null
	k -n retry-test label configmap "paged-$i" paged=yes >/dev/null
done

# --- 429 and Retry-After -------------------------------------------------------------

proxy throttle
out=$(KUBE_RETRY_LOG=info "$PROG" informer "$KC" 12 2>"$work/throttle.err")
t_eq "throttled: the informer syncs all the same" "1 30" "$(field synced "$out") $(field size "$out")"
# A 429 is the server's flow control (API Priority and Fairness sheds load
# so), not a failure: logged at info, as client-go's reflector does, never
# as a warning an operator (or a test of a healthy cluster) takes for one.
t_eq "429s logged by the informer at info, none as a warning or an error" "yes 0" \
	"$(grep -q '"level":"info".*informer: .*429\|"level":"info".*informer: list failed' \
		"$work/throttle.err" && echo yes || echo no) $(grep -c '"level":"\(warn\|error\)"' \
		"$work/throttle.err")"
t_eq "the first two lists were refused with 429, the third answered" "429 429 200" \
	"$(requests list | head -3 | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }')"
gap=$(gap_after_429 list)
if at_least "$gap" 1.9; then
	t_pass "a list refused with Retry-After: 2 is tried again after at least 2 s (${gap}s)"
else
	t_fail "a list refused with Retry-After: 2 is tried again after at least 2 s" "gap ${gap}s" "$(cat "$LOG")"
fi
gap=$(gap_after_429 watch)
if [ -n "$gap" ] && at_least "$gap" 1.9; then
	t_pass "a watch refused with Retry-After: 2 is tried again after at least 2 s (${gap}s)"
else
	t_fail "a watch refused with Retry-After: 2 is tried again after at least 2 s" "gap '${gap}'" "$(cat "$LOG")"
fi
t_run_program "kube_retry ws429" "$PROG" ws429 "$KC"
t_run_program "kube_retry events" "$PROG" events "$KC"

# --- a watch that ends at once, cleanly ----------------------------------------------

proxy empty-watch
out=$("$PROG" informer "$KC" 10)
n=$(requests watch | wc -l)
t_eq "empty watches: the informer still syncs from its list" "1 30" "$(field synced "$out") $(field size "$out")"
if [ "$n" -ge 2 ] && [ "$n" -le 15 ]; then
	t_pass "a watch that ends at once is retried with backoff ($n watches in 10 s)"
else
	t_fail "a watch that ends at once is retried with backoff" "$n watches in 10 s" "$(tail -5 "$LOG")"
fi
restarts=$(field watch_restarts "$out")
if [ "$restarts" -ge 2 ]; then
	t_pass "and each counts as a watch restart ($restarts)"
else
	t_fail "and each counts as a watch restart" "$out"
fi

# --- an ERROR event other than 410 ---------------------------------------------------

proxy error-watch
out=$("$PROG" informer "$KC" 8)
t_eq "after an ERROR event (504): one relist, and the cache is whole" "1 30" \
	"$(field relists "$out") $(field size "$out")"
order=$(awk '{ w = $3 ~ /[?&]watch=(1|true)(&|$)/ ? "W" : "L"; printf "%s", w }' "$LOG" | cut -c1-4)
t_eq "list, watch (the ERROR event), list again, then watch" "LWLW" "$order"

# --- an expired continue token -------------------------------------------------------

cat >"$work/compact.sh" <<COMPACT
#!/usr/bin/env bash
set -euo pipefail
kubectl -n retry-test create configmap moved-on --from-literal=k=v >/dev/null
etcd() {
	curl -sf --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" \\
		--key "$pki/apiserver-etcd-client.key" "https://127.0.0.1:$SHELLAUDIT_ETCD_CLIENT_PORT/v3/\$1" -d "\$2"
}
rev=\$(etcd kv/range '{"key":"L25vbmU="}' | sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')
etcd kv/compaction "{\"revision\":\"\$rev\",\"physical\":true}" >/dev/null
COMPACT
chmod +x "$work/compact.sh"
t_run_program "kube_retry continue" "$PROG" continue "$KUBECONFIG" "$work/compact.sh"

# --- a peer that stops answering -----------------------------------------------------

fwd=$(t_free_port)
python3 "$FAKE" forward 127.0.0.2 "$fwd" "$SHELLAUDIT_APISERVER_PORT" >"$work/forward.out" 2>&1 &
t_cleanup "kill $!"
t_wait 20 bash -c "exec 3<>/dev/tcp/127.0.0.2/$fwd" || t_fail "the forwarder listens" "$(cat "$work/forward.out")"
cat >"$work/dead.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: t
contexts: [{name: t, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'https://127.0.0.2:$fwd', certificate-authority: '$pki/ca.crt', tls-server-name: kubernetes.default.svc}}]
users: [{name: u, user: {client-certificate: '$pki/admin.crt', client-key: '$pki/admin.key'}}]
EOF
# Both directions of the forwarder's port, on loopback only, tagged.
rules=("INPUT -i lo -p tcp -d 127.0.0.2 --dport $fwd -m comment --comment shellaudit-test:$$ -j DROP"
	"INPUT -i lo -p tcp -s 127.0.0.2 --sport $fwd -m comment --comment shellaudit-test:$$ -j DROP")
printf '#!/bin/sh\niptables -w -I %s\niptables -w -I %s\n' "${rules[0]}" "${rules[1]}" >"$work/drop.sh"
# shellcheck disable=SC2016 # $r is the script's own variable
printf '#!/bin/sh\nfor r in "%s" "%s"; do while iptables -w -C $r 2>/dev/null; do iptables -w -D $r; done; done\n' \
	"${rules[0]}" "${rules[1]}" >"$work/undrop.sh"
chmod +x "$work/drop.sh" "$work/undrop.sh"
t_cleanup "'$work/undrop.sh'"
t_run_program "kube_retry deadpeer" "$PROG" deadpeer "$work/dead.kubeconfig" "$work/drop.sh" "$work/undrop.sh"
t_eq "no drop rule left" "" "$(iptables -w -S INPUT | grep -F "shellaudit-test:$$")"

t_summary
