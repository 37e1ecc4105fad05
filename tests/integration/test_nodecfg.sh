#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's ShellAuditNode status report (node-agent/nodecfg.c) against a
# real etcd + kube-apiserver: a restarted agent clears the lastError its
# predecessor left, once, and then stops writing (k8s.md M6).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
"$KUBE_BIN/kubectl" apply -k "$T_ROOT/crds" >/dev/null
"$KUBE_BIN/kubectl" wait --for condition=established --timeout=60s crd --all >/dev/null
t_run_program "nodecfg status" "$T_BUILD/asan/tests/integration/nodecfg_status"
t_summary
