#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make run` and `make down`: a local single-node cluster with shellaudit
# deployed on it, from this checkout.
#
#   hack/run.sh         node up (hack/cluster.sh up --node), images built and
#                       imported (hack/images.sh), config/local (config/default
#                       with images never pulled) and config/samples applied,
#                       then wait for the demo pods and print what to try
#   hack/run.sh down    tear it all down (hack/cluster.sh down)
#
# Running it again is cheap: what runs is kept, images are rebuilt only when
# their files changed, and only the workloads whose image changed restart.
# The state dir is $SHELLAUDIT_RUN [/var/run/shellaudit/cluster].
set -euo pipefail

. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HACK=$ROOT/hack
WAIT=${SHELLAUDIT_RUN_TIMEOUT:-180}

kctl() { "$KUBE_BIN/kubectl" "$@"; }

# apply BASE KIND/NAMESPACE/NAME/IMAGE...: kubectl apply -k BASE through an
# overlay (hack/local-overlay.sh) with the image sums, so that a workload
# restarts when its image changed and only then, and the agent's state
# (spool, signing key) in the state dir.
apply() {
	local dir rc=0
	# Inside the repo (kustomize wants the base at a relative path), and
	# one per call: a test may run this next to make run.
	mkdir -p "$ROOT/build/run"
	dir=$(mktemp -d "$ROOT/build/run/$(basename "$1").XXXXXX")
	"$HACK/local-overlay.sh" "$dir" "$@" && kctl apply -k "$dir" >/dev/null || rc=1
	rm -rf -- "$dir"
	return $rc
}

# state NAMESPACE SELECTOR: one line per pod: name, phase, readiness and why not.
state() {
	kctl -n "$1" get pods -l "$2" --no-headers \
		-o custom-columns='NAME:.metadata.name,PHASE:.status.phase,READY:.status.containerStatuses[*].ready,WAITING:.status.containerStatuses[*].state.waiting.reason,RESTARTS:.status.containerStatuses[*].restartCount' \
		2>/dev/null | sed 's/^/    /'
}

cmd_up() {
	local start=$SECONDS rc=0
	"$HACK/cluster.sh" up --node
	eval "$("$HACK/cluster.sh" env)"
	"$HACK/images.sh" import

	apply config/local Deployment/shellaudit-system/shellaudit-controller/controller \
		DaemonSet/shellaudit-system/shellaudit-agent/agent DaemonSet/shellaudit-system/shellaudit-audit/controller
	kctl wait --for=condition=Established --timeout=60s \
		crd/shellauditpolicies.shellaudit.io crd/auditrecords.shellaudit.io \
		crd/shellauditnodes.shellaudit.io >/dev/null
	apply config/samples Deployment/default/demo/demo Deployment/default/untargeted/demo
	log "shellaudit and the samples applied; waiting for the pods"

	kctl rollout status deployment/demo deployment/untargeted --timeout="${WAIT}s" >/dev/null ||
		{ state default app=demo; state default app=untargeted; die "the demo pods are not Ready after ${WAIT}s"; }

	kctl -n shellaudit-system rollout status deployment/shellaudit-controller --timeout="${WAIT}s" \
		>/dev/null 2>&1 || rc=1
	kctl -n shellaudit-system rollout status daemonset/shellaudit-agent --timeout="${WAIT}s" \
		>/dev/null 2>&1 || rc=1
	kctl -n shellaudit-system rollout status daemonset/shellaudit-audit --timeout="${WAIT}s" \
		>/dev/null 2>&1 || rc=1
	if [ $rc != 0 ]; then
		state shellaudit-system app.kubernetes.io/name=shellaudit >&2
		die "shellaudit is not Ready after ${WAIT}s; see kubectl -n shellaudit-system logs"
	fi
	log "ready in $((SECONDS - start))s"

	cat <<-EOF

	shellaudit runs on a local node. In this shell:

	  eval "\$(hack/cluster.sh env)"    # KUBECONFIG=$KUBECONFIG, kubectl on PATH

	then type into the audited pod, and see what was recorded:

	  kubectl exec -it deploy/demo -- bash
	  kubectl get events --field-selector reason=ShellCommand
	  kubectl get auditrecords

	(deploy/untargeted is not audited.) Stop everything with: make down
	EOF
}

case ${1:-up} in
up) cmd_up ;;
down) "$HACK/cluster.sh" down ;;
*) die "usage: $0 [up|down]" ;;
esac
