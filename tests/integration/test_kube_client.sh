#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/ Kubernetes client against a real etcd + kube-apiserver of its own.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

t_cluster_up
# A peer that answers only once it holds 4 requests (kube_request_many).
port=$(t_free_port)
python3 "$T_ROOT/tests/integration/fakeapi.py" together "$port" 4 &
t_cleanup "kill $!"
t_wait 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || t_fail "fakeapi.py together listens"
export TOGETHER_URL=http://127.0.0.1:$port
t_run_program kube_client "$T_BUILD/asan/tests/integration/kube_client" "${KUBE_CLIENT_MANY:-5000}"
t_summary
