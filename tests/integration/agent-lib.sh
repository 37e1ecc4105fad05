# SPDX-License-Identifier: Apache-2.0
# The set-up shared by the agent's integration test and its latency bench:
# a control plane with the CRDs, the namespaces shellaudit-system and shop,
# and the pod shop/web (container main) on a node of its own whose
# container is the capture container "audited". Sourced after tests/lib.sh,
# hack/lib.sh and tests/bpf/capture-lib.sh, not run.

k() { "$KUBE_BIN/kubectl" "$@"; }

# ag_pod POD CID [NS]: the pod NS/POD (shop by default; container main,
# label app=demo) bound to $node, running with container ID
# containerd://CID as a kubelet would report it.
ag_pod() {
	local ns=${3:-shop}
	echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"'"$1"'","namespace":"'"$ns"'","labels":{"app":"demo"}},"spec":{"nodeName":"'"$node"'","containers":[{"name":"main","image":"demo"}]}}' |
		k apply -f - >/dev/null
	k patch pod "$1" -n "$ns" --subresource=status --type=merge -p '{"status":{"phase":"Running","containerStatuses":[{"name":"main","containerID":"containerd://'"$2"'","image":"demo","imageID":"","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-25T00:00:00Z"}}}]}}' >/dev/null
}

# ag_container NAME POD [ROOT] [NS]: the capture container NAME (root ROOT,
# the test root by default), its init in a cgroup named after a new
# container ID (as the cgroupfs driver names a container's cgroup), and
# the pod NS/POD (shop by default) that reports that ID, which it leaves in
# AG_CID.
ag_container() {
	local cg
	AG_CID=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
	cg=/sys/fs/cgroup/unified/shellaudit-test-$$-$1/$AG_CID
	mkdir -p "$cg"
	# Registered first, so it runs last: after the container is killed.
	t_cleanup "t_wait 10 rmdir '$cg'; rmdir '$(dirname "$cg")'"
	cap_container "$1" "${3:-$RFS}"
	echo "${CPID[$1]}" >"$cg/cgroup.procs"
	ag_pod "$2" "$AG_CID" "${4:-shop}"
}

# ag_setup NODE: all of the above; sets node, dir ($SHELLAUDIT_RUN) and cid
# (the container ID the pod status reports). The audited container's root
# is $AG_ROOT when set, else the test root.
ag_setup() {
	node=$1
	cap_setup
	t_cluster_up
	dir=$SHELLAUDIT_RUN
	k apply -k "$T_ROOT/crds" >/dev/null
	k wait --for condition=established --timeout=60s crd --all >/dev/null
	k create namespace shellaudit-system >/dev/null
	k create namespace shop >/dev/null
	k create serviceaccount default -n shop >/dev/null
	ag_container audited web "${AG_ROOT:-$RFS}"
	# shellcheck disable=SC2034 # for the scripts that source this file
	cid=$AG_CID
}

# ag_controller BINARY [ARGS...]: the controller in the background, killed
# at the end (t_daemon "controller", log in $dir/controller.log).
ag_controller() {
	t_daemon controller "$dir/controller.log" "$1" --port 0 --namespace shellaudit-system "${@:2}"
}

# ag_attached: the agent reports the container attached.
ag_attached() { [ "$(k get shellauditnode "$node" -o jsonpath='{.status.attached}' 2>/dev/null)" = 1 ]; }

# ag_probed: the agent (log in $dir/agent.log) attached readline's probes
# to a program of its containers. A line typed before is read from the
# terminal: recorded all the same, but as a terminal line, and the texts
# rebuilt from the terminal are not always what readline gives (a line
# edited with the arrow keys). The tests type once this holds.
ag_probed() { grep -q '"readline probe attached"' "$dir/agent.log"; }

# ag_policy: the ShellAuditPolicy demo: the pods labelled app=demo, their
# Events at up to 6000 a minute.
ag_policy() {
	k apply -f - >/dev/null <<'YAML'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000}
YAML
}

# ag_lines_of POD [NS]: the typed lines in POD's AuditRecords (namespace NS,
# shop by default), by session and sequence.
ag_lines_of() {
	k get auditrecords -n "${2:-shop}" -o json | python3 -c '
import json, sys
recs = sorted((r for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == sys.argv[1]),
              key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e.get("text", ""))' "$1"
}

# ag_sanitizers_clean NAME...: each daemon's log ($dir/NAME.log) holds no
# sanitizer report.
ag_sanitizers_clean() {
	local p re='AddressSanitizer\|LeakSanitizer\|ThreadSanitizer\|runtime error'
	for p in "$@"; do
		if grep -q "$re" "$dir/$p.log"; then
			t_fail "$p ran clean under sanitizers" "$(grep -A8 "$re" "$dir/$p.log" | head -12)"
		else
			t_pass "$p ran clean under sanitizers"
		fi
	done
}
