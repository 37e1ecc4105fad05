#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/informer against a real etcd + kube-apiserver: the API server is
# killed and restarted mid-watch, and etcd is changed and compacted behind
# its back, to check resume without loss or repetition and relist on 410.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

for transport in chunked websocket; do
echo "-- $transport"
t_cluster_env
if ! "$T_ROOT/hack/cluster.sh" up 2>"$SHELLAUDIT_RUN/up.log"; then
	t_fail "$transport: control plane starts" "$(tail -20 "$SHELLAUDIT_RUN/up.log")"
	continue
fi
eval "$("$T_ROOT/hack/cluster.sh" env)"
pki=$SHELLAUDIT_RUN/pki

# etcd's JSON gateway, with the API server's etcd client certificate. A
# script file: the test program runs it through /bin/sh.
cat >"$SHELLAUDIT_RUN/tamper.sh" <<TAMPER
#!/usr/bin/env bash
set -euo pipefail
etcd() {
	curl -sf --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" \\
		--key "$pki/apiserver-etcd-client.key" \\
		"https://127.0.0.1:$SHELLAUDIT_ETCD_CLIENT_PORT/v3/\$1" -d "\$2"
}
b64() { printf '%s' "\$1" | base64 -w0; }
obj='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"etcd-direct","namespace":"informer-test","uid":"6c0e5a52-5d3e-4a0e-9a4b-000000000001","creationTimestamp":"2026-01-01T00:00:00Z"},"data":{"group":"direct"}}'
etcd kv/put "{\"key\":\"\$(b64 /registry/configmaps/informer-test/etcd-direct)\",\"value\":\"\$(b64 "\$obj")\"}" >/dev/null
etcd kv/deleterange "{\"key\":\"\$(b64 /registry/configmaps/informer-test/a-3)\"}" >/dev/null
rev=\$(etcd kv/range "{\"key\":\"\$(b64 /none)\"}" | sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')
[ -n "\$rev" ]
etcd kv/compaction "{\"revision\":\"\$rev\",\"physical\":true}" >/dev/null
TAMPER
chmod +x "$SHELLAUDIT_RUN/tamper.sh"

export APISERVER_KILL="kill -9 \$(cat '$SHELLAUDIT_RUN/pids/kube-apiserver.pid') && sleep 1"
export APISERVER_START="'$T_ROOT/hack/cluster.sh' up 2>>'$SHELLAUDIT_RUN/up.log'"
export ETCD_TAMPER="$SHELLAUDIT_RUN/tamper.sh"

t_run_program "informer ($transport)" "$T_BUILD/asan/tests/integration/informer" "$transport"
"$T_ROOT/hack/cluster.sh" down 2>/dev/null
done
t_summary
