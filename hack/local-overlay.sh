#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a kustomize overlay of one of this repo's bases for the local
# nodes (hack/run.sh, tests/e2e):
#
#   hack/local-overlay.sh DIR BASE [--env KIND/NAMESPACE/NAME/VAR=VALUE...]
#                         [KIND/NAMESPACE/NAME/IMAGE...]
#
# DIR/kustomization.yaml is BASE (a directory of the repo, e.g.
# config/local) plus, for each workload named:
#   - the content sum of its image (hack/images.sh, build/images/IMAGE.sum)
#     on its pod template: it restarts when its image changed, and only then;
#   - for the agent DaemonSet and the uninstall DaemonSet, the agent's state
#     (spool, signing key, refused files), its BPF file system and
#     containerd's runc state on host paths of the node's own inside the
#     state dir ($SHELLAUDIT_RUN/agent/<node>, bpf/<node>, a bpf mount made
#     by hack/cluster-node.sh, and runc/<node>, the node's runc root), through
#     subPathExpr $(NODE_NAME): local nodes on one machine, of one cluster or
#     of two, never share them, and `hack/cluster.sh down` removes them,
#     pinned programs included;
#   - for the audit receiver DaemonSet (config/audit), the port this
#     cluster's API server sends its audit log to, the way to the API server
#     from the node's network (127.0.0.1 and its port: there is no
#     kube-proxy), the cluster's first node (the one that stands for the
#     control plane, whose API server is on this machine), and the Secret
#     shellaudit-audit-tls made from the cluster's PKI (hack/cluster.sh);
# and for each --env, VAR=VALUE in the environment of the first container
# of that workload (e.g. SHELLAUDIT_WATCH_TRANSPORT=websocket).
# Apply it with kubectl apply -k DIR.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() { die "usage: $0 DIR BASE [--env KIND/NAMESPACE/NAME/VAR=VALUE...] [KIND/NAMESPACE/NAME/IMAGE...]"; }
[ $# -ge 2 ] || usage
dir=$1 base=$2
shift 2
envs=() workloads=()
while [ $# -gt 0 ]; do
	case $1 in
	--env)
		{ [ $# -ge 2 ] && [[ $2 == */*/*/*=* ]]; } || usage
		envs+=("$2")
		shift 2
		;;
	*)
		workloads+=("$1")
		shift
		;;
	esac
done
[ -f "$ROOT/$base/kustomization.yaml" ] || die "$base is not a kustomize base of the repo"
mkdir -p "$dir"
dir=$(realpath -- "$dir")
run=$(realpath -m -s -- "$SHELLAUDIT_RUN")
secrets=()

{
	echo "# Written by hack/local-overlay.sh: $base for the local nodes of $run."
	echo "apiVersion: kustomize.config.k8s.io/v1beta1"
	echo "kind: Kustomization"
	echo "resources:"
	echo "- $(realpath --relative-to="$dir" "$ROOT/$base")"
	[ $((${#workloads[@]} + ${#envs[@]})) = 0 ] || echo "patches:"
	for w in "${workloads[@]+"${workloads[@]}"}"; do
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
			          containers:
			          - name: agent
			            volumeMounts:
			            - name: state
			              mountPath: /var/lib/shellaudit
			              subPathExpr: \$(NODE_NAME)
			            - name: bpf
			              mountPath: /sys/fs/bpf
			              subPathExpr: \$(NODE_NAME)
			            - name: runtime
			              mountPath: /run/containerd/runc
			              subPathExpr: \$(NODE_NAME)
			          volumes:
			          - name: state
			            hostPath:
			              path: $run/agent
			          - name: bpf
			            hostPath:
			              path: $run/bpf
			          - name: runtime
			            hostPath:
			              path: $run/runc
			EOF
		elif [ "$kind/$name" = DaemonSet/shellaudit-uninstall ]; then
			cat <<-EOF
			        spec:
			          initContainers:
			          - name: uninstall
			            env:
			            - name: NODE_NAME
			              valueFrom:
			                fieldRef:
			                  fieldPath: spec.nodeName
			            volumeMounts:
			            - name: bpf
			              mountPath: /sys/fs/bpf
			              subPathExpr: \$(NODE_NAME)
			          volumes:
			          - name: bpf
			            hostPath:
			              path: $run/bpf
			EOF
		elif [ "$kind/$name" = DaemonSet/shellaudit-audit ]; then
			port=$(<"$run/apiserver/audit-port")
			apiport=$(sed -n 's#^ *server: https://127.0.0.1:\([0-9]*\)$#\1#p' "$run/kubeconfig")
			first=$(sed -n 's/^NODE_NAME=//p' "$run/node/env")
			cat <<-EOF
			        spec:
			          nodeSelector:
			            kubernetes.io/hostname: $first
			          containers:
			          - name: audit
			            env:
			            - name: SHELLAUDIT_AUDIT_PORT
			              value: "$port"
			            - name: KUBERNETES_SERVICE_HOST
			              value: 127.0.0.1
			            - name: KUBERNETES_SERVICE_PORT
			              value: "$apiport"
			EOF
			secrets+=(audit)
		fi
	done
	for e in "${envs[@]+"${envs[@]}"}"; do
		IFS=/ read -r kind ns name var <<<"$e"
		cat <<-EOF
		- target:
		    kind: $kind
		    namespace: $ns
		    name: $name
		  patch: |-
		    - op: add
		      path: /spec/template/spec/containers/0/env/-
		      value: {name: "${var%%=*}", value: "${var#*=}"}
		EOF
	done
	for s in "${secrets[@]+"${secrets[@]}"}"; do
		# The audit receiver's certificate and key, and the CA of the API
		# server's audit client certificate, copied next to the
		# kustomization (kustomize reads no file outside it).
		[ "$s" = audit ] || continue
		install -m 0600 "$run/pki/audit-receiver.crt" "$dir/audit-tls.crt"
		install -m 0600 "$run/pki/audit-receiver.key" "$dir/audit-tls.key"
		install -m 0600 "$run/pki/ca.crt" "$dir/audit-client-ca.crt"
		cat <<-EOF
		secretGenerator:
		- name: shellaudit-audit-tls
		  namespace: shellaudit-system
		  options:
		    disableNameSuffixHash: true
		  files:
		  - tls.crt=audit-tls.crt
		  - tls.key=audit-tls.key
		  - client-ca.crt=audit-client-ca.crt
		EOF
	done
} >"$dir/kustomization.yaml.tmp"
mv "$dir/kustomization.yaml.tmp" "$dir/kustomization.yaml"
