#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a cluster admin does with images pushed to their registry, on a node
# of its own: kubectl apply -k of an overlay of config/default whose
# kustomize `images:` names other images. The controller and agent pods
# run the overridden images (imported into the node's containerd under
# those names, as a pull would leave them) and are Ready; nothing refers to
# the default names. The overlay changes nothing else but the agent's spool
# and BPF file system paths, into the node's state dir, so that it runs
# next to `make run`'s node.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

k() { "$KUBE_BIN/kubectl" "$@"; }

e2e_node_preflight
e2e_node_env
for b in shellaudit-controller shellaudit-agent; do
	if [ ! -x "$T_BUILD/$b" ]; then
		t_fail "$T_BUILD/$b is built" "run make"
		t_summary
		exit
	fi
done

start=$SECONDS
if ! out=$("$T_ROOT/hack/cluster.sh" up --node 2>&1); then
	t_fail "node up" "$(tail -n 20 <<<"$out")"
	t_summary
	exit
fi
t_pass "node up ($((SECONDS - start))s)"
eval "$("$T_ROOT/hack/cluster.sh" env)"

# The images under a registry's names, as `skopeo copy ... docker://` then
# a pull would have them in containerd.
repo=registry.example.test/team
tag=e2e-$SHELLAUDIT_APISERVER_PORT
work=$(mktemp -d /tmp/shellaudit-deploy.XXXXXX)
t_cleanup "rm -rf '$work'"
if SHELLAUDIT_IMAGE_REPO=$repo SHELLAUDIT_IMAGE_TAG=$tag SHELLAUDIT_IMAGES_DIR=$work/images \
	"$T_ROOT/hack/images.sh" import controller agent 2>"$work/import.log"; then
	t_pass "the images imported as $repo/...:$tag"
else
	t_fail "the images imported as $repo/...:$tag" "$(tail -5 "$work/import.log")"
fi

# The node's own state and BPF file system (hack/cluster-node.sh makes them),
# not the host's /var/lib/shellaudit and /sys/fs/bpf of a real node.
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')

# The overlay, inside the repo: kustomize wants its bases at relative paths.
mkdir -p "$T_ROOT/build/run"
overlay=$(mktemp -d "$T_ROOT/build/run/deploy.XXXXXX")
t_cleanup "rm -rf '$overlay'"
cat >"$overlay/kustomization.yaml" <<EOF2
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$overlay" "$T_ROOT/config/default")
images:
- name: shellaudit.local/shellaudit-controller
  newName: $repo/shellaudit-controller
  newTag: $tag
- name: shellaudit.local/shellaudit-agent
  newName: $repo/shellaudit-agent
  newTag: $tag
patches:
- patch: |-
    apiVersion: apps/v1
    kind: DaemonSet
    metadata:
      name: shellaudit-agent
      namespace: shellaudit-system
    spec:
      template:
        spec:
          volumes:
          - name: state
            hostPath:
              path: $RUN_REAL/agent/$node
          - name: bpf
            hostPath:
              path: $RUN_REAL/bpf/$node
EOF2
rendered=$(k kustomize "$overlay")
t_eq "the rendered manifests name no default image" "" \
	"$(grep -n 'shellaudit.local/shellaudit-' <<<"$rendered")"
if out=$(k apply -k "$overlay" 2>&1); then
	t_pass "kubectl apply -k of the overlay"
else
	t_fail "kubectl apply -k of the overlay" "$out"
fi
ready=0
k -n shellaudit-system rollout status deployment/shellaudit-controller --timeout=180s >/dev/null 2>&1 &&
	k -n shellaudit-system rollout status daemonset/shellaudit-agent --timeout=180s >/dev/null 2>&1 &&
	ready=1
t_eq "the controller Deployment and the agent DaemonSet roll out" 1 "$ready"

# pods FIELD: "component FIELD" for each pod of shellaudit, sorted.
pods() {
	local component="{.metadata.labels['app\.kubernetes\.io/component']}"
	k -n shellaudit-system get pods -l app.kubernetes.io/name=shellaudit \
		-o jsonpath="{range .items[*]}$component {$1}{'\n'}{end}" | sort
}
t_eq "the pods run the overridden images" \
	"controller $repo/shellaudit-controller:$tag"$'\n'"node-agent $repo/shellaudit-agent:$tag" \
	"$(pods '.spec.containers[0].image')"
t_eq "containerd reports the same images" \
	"controller $repo/shellaudit-controller:$tag"$'\n'"node-agent $repo/shellaudit-agent:$tag" \
	"$(pods '.status.containerStatuses[0].image')"
t_eq "and both are Ready" "controller true"$'\n'"node-agent true" \
	"$(pods '.status.containerStatuses[0].ready')"
if [ "$ready" != 1 ]; then
	k -n shellaudit-system get pods -o wide 2>&1 | sed 's/^/       /'
	k -n shellaudit-system logs ds/shellaudit-agent --tail=5 2>&1 | sed 's/^/       /'
fi

e2e_node_down
t_summary
