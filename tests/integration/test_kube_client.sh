#!/usr/bin/env bash
# lib/ Kubernetes client against a real etcd + kube-apiserver of its own.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

export SHELLAUDIT_RUN=$(mktemp -d /tmp/shellaudit-kube-client.XXXXXX)
export SHELLAUDIT_APISERVER_PORT=16743 SHELLAUDIT_ETCD_CLIENT_PORT=12679 SHELLAUDIT_ETCD_PEER_PORT=12680
t_cleanup "rm -rf '$SHELLAUDIT_RUN'"
t_cleanup "'$T_ROOT/hack/cluster.sh' down"
if ! "$T_ROOT/hack/cluster.sh" up; then
	t_fail "control plane starts"
	t_summary
	exit 1
fi
eval "$("$T_ROOT/hack/cluster.sh" env)"

prog="$T_BUILD/asan/tests/integration/kube_client"
if [ ! -x "$prog" ]; then
	t_fail "kube_client is built" "$prog missing: run make test"
else
	out=$("$prog" "${KUBE_CLIENT_MANY:-5000}" 2>&1) || true
	echo "$out" | grep -Ev '^[0-9]+ passed, [0-9]+ failed$'
	summary=$(echo "$out" | tail -1)
	if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
		T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
	else
		t_fail "kube_client ran to the end" "$(echo "$out" | tail -20)"
	fi
fi
t_summary
