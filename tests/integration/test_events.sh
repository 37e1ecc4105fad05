#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/events against a real etcd + kube-apiserver, and what kubectl shows.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

t_cluster_up
t_run_program events "$T_BUILD/asan/tests/integration/events"
# `kubectl get events` reads the core/v1 view of the same objects.
out=$("$KUBE_BIN/kubectl" get events -n default --field-selector reason=Repeated \
	-o custom-columns=REASON:.reason,OBJECT:.involvedObject.name,NOTE:.message,COUNT:.series.count --no-headers)
t_match "kubectl get events shows the series on the pod" '^Repeated +demo-pod +ls +50$' "$out"
out=$("$KUBE_BIN/kubectl" get events -n default --field-selector reason=Distinct --no-headers)
t_match "the default kubectl get events view shows the note" 'Distinct +pod/demo-pod +command 0' "$out"
t_summary
