#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/ Kubernetes client against a real etcd + kube-apiserver of its own.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

t_cluster_up
t_run_program kube_client "$T_BUILD/asan/tests/integration/kube_client" "${KUBE_CLIENT_MANY:-5000}"
t_summary
