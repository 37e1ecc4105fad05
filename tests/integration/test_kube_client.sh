#!/usr/bin/env bash
# lib/ Kubernetes client against a real etcd + kube-apiserver of its own.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

t_cluster_env
if ! "$T_ROOT/hack/cluster.sh" up; then
	t_fail "control plane starts"
	t_summary
	exit 1
fi
eval "$("$T_ROOT/hack/cluster.sh" env)"
t_run_program kube_client "$T_BUILD/asan/tests/integration/kube_client" "${KUBE_CLIENT_MANY:-5000}"
t_summary
