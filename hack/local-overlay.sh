#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a kustomize overlay of one of this repo's bases for a local node
# (hack/run.sh, tests/e2e):
#
#   hack/local-overlay.sh DIR BASE [KIND/NAMESPACE/NAME/IMAGE...]
#
# DIR/kustomization.yaml is BASE (a directory of the repo, e.g.
# config/local) plus, for each workload named:
#   - the content sum of its image (hack/images.sh, build/images/IMAGE.sum)
#     on its pod template: it restarts when its image changed, and only then;
#   - for the agent DaemonSet, its state (spool and signing key) and its BPF
#     file system on host paths inside the node's state dir
#     ($SHELLAUDIT_RUN/node/agent and node/bpf, a bpf mount made by
#     hack/cluster-node.sh): two local nodes
#     on one machine never share them, and `hack/cluster.sh down` removes
#     them, pinned programs included.
# Apply it with kubectl apply -k DIR.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)

[ $# -ge 2 ] || die "usage: $0 DIR BASE [KIND/NAMESPACE/NAME/IMAGE...]"
dir=$1 base=$2
shift 2
[ -f "$ROOT/$base/kustomization.yaml" ] || die "$base is not a kustomize base of the repo"
mkdir -p "$dir"
dir=$(realpath -- "$dir")
run=$(realpath -m -s -- "$SHELLAUDIT_RUN")

{
	echo "# Written by hack/local-overlay.sh: $base for the local node $run."
	echo "apiVersion: kustomize.config.k8s.io/v1beta1"
	echo "kind: Kustomization"
	echo "resources:"
	echo "- $(realpath --relative-to="$dir" "$ROOT/$base")"
	[ $# = 0 ] || echo "patches:"
	for w in "$@"; do
		IFS=/ read -r kind ns name image <<<"$w"
		sumfile=$ROOT/build/images/$image.sum
		[ -f "$sumfile" ] || die "no $sumfile: build the images first (hack/images.sh build)"
		cat <<-EOF
		- patch: |-
		    apiVersion: apps/v1
		    kind: $kind
		    metadata:
		      name: $name
		      namespace: $ns
		    spec:
		      template:
		        metadata:
		          annotations:
		            shellaudit.io/image-sum: "$(cut -c1-16 "$sumfile")"
		EOF
		if [ "$kind/$name" = DaemonSet/shellaudit-agent ]; then
			cat <<-EOF
			        spec:
			          volumes:
			          - name: state
			            hostPath:
			              path: $run/node/agent
			          - name: bpf
			            hostPath:
			              path: $run/node/bpf
			EOF
		fi
	done
} >"$dir/kustomization.yaml.tmp"
mv "$dir/kustomization.yaml.tmp" "$dir/kustomization.yaml"
