#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The acceptance of shellaudit on a real node (issue 7), next to any `make
# run` cluster: the node comes up, shellaudit is deployed from config/local
# and config/samples (the sample policy with a 2m retention), and then
#   - the paper's session typed into `kubectl exec -it <demo pod> -- bash`
#     on a pty comes out as exactly one ShellCommand Event per line on the
#     pod, in order, and in the pod's AuditRecords, whose chain verifies;
#   - a line typed into the untargeted pod is nowhere;
#   - the same for a session in an ephemeral container of `kubectl debug -it`,
#     and, without a terminal, `kubectl debug -i`: what bash reads from the
#     container's stdin pipe, as stdin lines;
#   - who opened each session (tests/e2e/attribution.sh): two people's
#     sessions, kubectl debug, the same command at once, the controller
#     stopped, the untargeted pod, forgeries;
#   - the user leaves the container's namespaces (busybox unshare -Urm,
#     non-interactive and interactive): what runs and is typed there is in
#     the pod's records, next to a namespace entry;
#   - the agent killed -9 mid-session: the kubelet restarts it and every
#     line, those typed while it was dead included, is there once;
#   - readline out of the way (bash after `set +o emacs`, busybox sh): what
#     the shell reads from the pty of kubectl exec -it is in the records as
#     terminal lines, once;
#   - a rolling restart of the agent DaemonSet mid-session: the same, and no
#     off entry (capture never stopped); the DaemonSet deleted, capture goes
#     on pinned until config/uninstall removes it;
#   - the AuditRecords outlive the deleted pod, and the controller deletes
#     them once the retention has passed;
#   - down leaves nothing behind.
# Waits are generous; no check depends on how fast the machine is.
set -uo pipefail

. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/e2e/node-lib.sh"

CLUSTER=$T_ROOT/hack/cluster.sh
PTYTYPE=$T_BUILD/tests/tools/ptytype
AGENT=$T_BUILD/shellaudit-agent
PROMPT='demo:~# '
RETENTION_S=120
WAIT=${SHELLAUDIT_E2E_TIMEOUT:-180}

k() { "$KUBE_BIN/kubectl" "$@"; }


e2e_node_preflight
for f in "$PTYTYPE" "$AGENT" "$T_BUILD/shellaudit-controller"; do
	[ -x "$f" ] || t_stop "$f is built" "run make"
done
e2e_node_env
work=$(mktemp -d /tmp/shellaudit-audit.XXXXXX)
t_cleanup "rm -rf '$work'"
total=$SECONDS

# --- the node, shellaudit and the samples --------------------------------------------

start=$SECONDS
# A component that dies at startup on a busy machine gets two more tries.
for attempt in 1 2 3; do
	out=$("$CLUSTER" up --node 2>&1) && break
	[ "$attempt" = 3 ] && t_stop "up --node" "$(tail -n 30 <<<"$out")"
	echo "  note up --node failed (attempt $attempt): $(grep -m1 'error' <<<"$out")"
	"$CLUSTER" down >/dev/null 2>&1 || true
done
eval "$("$CLUSTER" env)"
out=$("$T_ROOT/hack/images.sh" import 2>&1) || t_stop "images build and import" "$(tail -n 30 <<<"$out")"
t_pass "node up, images imported ($((SECONDS - start))s)"
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')

# apply BASE WORKLOAD... [-- PATCH]: kubectl apply -k of BASE through the
# overlay hack/run.sh uses (image sums, the agent's spool in this node's
# state dir), with PATCH (an entry of its patches list) added.
apply() {
	local base=$1 dir rc=0 w=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do w+=("$1") && shift; done
	mkdir -p "$T_ROOT/build/run"
	dir=$(mktemp -d "$T_ROOT/build/run/e2e-audit.XXXXXX")
	if "$T_ROOT/hack/local-overlay.sh" "$dir" "$base" "${w[@]}" >"$work/apply.log" 2>&1; then
		[ $# -lt 2 ] || printf '%s\n' "$2" >>"$dir/kustomization.yaml"
		k apply -k "$dir" >>"$work/apply.log" 2>&1 || rc=1
	else
		rc=1
	fi
	rm -rf -- "$dir"
	return $rc
}

apply config/local Deployment/shellaudit-system/shellaudit-controller/controller \
	DaemonSet/shellaudit-system/shellaudit-agent/agent DaemonSet/shellaudit-system/shellaudit-audit/controller ||
	t_stop "apply -k config/local" "$(tail -n 20 "$work/apply.log")"
k wait --for=condition=Established --timeout=60s crd/shellauditpolicies.shellaudit.io \
	crd/auditrecords.shellaudit.io crd/shellauditnodes.shellaudit.io >/dev/null ||
	t_stop "the CRDs are established"
# The sample policy with a short retention, and room for every line as an Event.
apply config/samples Deployment/default/demo/demo Deployment/default/untargeted/demo -- "$(
	cat <<-EOF
	- patch: |-
	    apiVersion: shellaudit.io/v1alpha1
	    kind: ShellAuditPolicy
	    metadata:
	      name: audit-demo
	    spec:
	      retention: ${RETENTION_S}s
	      events:
	        ratePerMinute: 600
	EOF
)" || t_stop "apply -k config/samples" "$(tail -n 20 "$work/apply.log")"
t_pass "shellaudit deployed from config/local, the samples from config/samples"

for w in shellaudit-system/deployment/shellaudit-controller shellaudit-system/daemonset/shellaudit-agent \
	default/deployment/demo default/deployment/untargeted; do
	IFS=/ read -r ns kind name <<<"$w"
	if k -n "$ns" rollout status "$kind/$name" --timeout="${WAIT}s" >/dev/null 2>&1; then
		t_pass "$kind/$name is available"
	else
		t_stop "$kind/$name is available" "$(k -n "$ns" get pods -o wide 2>&1)" \
			"$(k -n "$ns" describe "$kind/$name" 2>&1 | tail -n 15)"
	fi
done
policy_ready() {
	[ "$(k get sap audit-demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
t_wait "$WAIT" policy_ready || t_stop "the policy turns Ready" "$(k get sap audit-demo -o yaml 2>&1 | tail -n 25)"
t_pass "the policy turns Ready"

pod=$(k get pods -l app=demo -o jsonpath='{.items[0].metadata.name}')
other=$(k get pods -l app=untargeted -o jsonpath='{.items[0].metadata.name}')
# attached POD CONTAINER: the agent reports that container of POD attached
# (ephemeral ones too).
attached() {
	local cid
	cid=$(k get pod "$1" -o jsonpath="{.status.containerStatuses[?(@.name==\"$2\")].containerID}{.status.ephemeralContainerStatuses[?(@.name==\"$2\")].containerID}") &&
		[ -n "$cid" ] &&
		k get shellauditnode "$node" -o jsonpath='{range .status.targets[?(@.attached==true)]}{.containerID}{"\n"}{end}' |
		t_grep -qxF "$cid"
}
t_wait "$WAIT" attached "$pod" shell ||
	t_stop "the agent attaches to the demo pod's container" "$(k get shellauditnode -o yaml 2>&1 | tail -n 25)"
t_pass "the agent attaches to the demo pod's container"
cid=$(k get pod "$pod" -o jsonpath='{.status.containerStatuses[?(@.name=="shell")].containerID}')
t_match "it found the container's init in containerd's runc state, not by pid" \
	"\"target added\",\"container\":\"$cid\".*\"init\":\"runtime state\"" \
	"$(k -n shellaudit-system logs -l app.kubernetes.io/component=node-agent --tail=-1 2>&1)"

# --- what is typed, and what comes out ----------------------------------------------

# session NAME LINES_FILE PTYTYPE_OPTS... -- CMD...: types the lines on a pty
# (ptytype: a line once the previous one was echoed and the prompt came
# back; the last line is `exit 0`) and passes when the shell ran them all
# and exited 0. ptytype fails with 125; otherwise it returns kubectl's
# status, which is the shell's: anything but 0 (a signal, a kubectl error
# after the last line) fails.
session() {
	local name=$1 lines=$2 log=$work/${1// /-} rc
	shift 2
	"$PTYTYPE" --prompt "$PROMPT" --echo --lines "$lines" --timeout "$WAIT" \
		--log "$log.pty" "$@" >/dev/null 2>"$log.err"
	rc=$?
	if [ $rc = 0 ]; then
		t_pass "$name: every line typed, the shell exited 0"
	else
		t_fail "$name: every line typed, the shell exited 0" "exit status $rc" "$(cat "$log.err")" \
			"$(cat -v "$log.pty" | tail -n 8)"
	fi
}
# events POD: the messages of the ShellCommand Events on POD in the agent's
# order: by name, which is the container's and then the entry's place in
# the spool. Not by creation time: the agent creates up to 64 Events at
# once, and the API server may finish a later one in an earlier second.
# "TIME NAME MESSAGE" lines with -l.
events() {
	local long=
	[ "$1" = -l ] && long=1 && shift
	k get events --field-selector "reason=ShellCommand,involvedObject.name=$1" \
		-o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\t"}{.metadata.name}{"\t"}{.message}{"\n"}{end}' |
		sort -t$'\t' -k2,2 | { if [ -n "$long" ]; then cat; else cut -f3; fi; }
}
# record_entries POD CONTAINER KIND: the text of the entries of that kind
# in the AuditRecords of that container, in record sequence order.
record_entries() {
	k get auditrecords -l "shellaudit.io/pod=$1,shellaudit.io/container=$2" -o json | python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"])
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == sys.argv[1]:
            print(e["text"] if e["kind"] == "line" else e["filename"].rsplit("/", 1)[-1])' "$3"
}
count_at_least() { [ "$("${@:2}" | wc -l)" -ge "$1" ]; }
# record_dump POD CONTAINER: "KIND<TAB>TEXT" of every entry of that
# container's AuditRecords, in order (an exec's text is its command line).
record_dump() {
	k get auditrecords -l "shellaudit.io/pod=$1,shellaudit.io/container=$2" -o json | python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"])
for r in recs:
    for e in r["spec"]["entries"]:
        print("%s\t%s" % (e["kind"], e.get("text", "")))'
}

# The untargeted pod first: once the demo pod's lines, typed after it, are
# out, this one would be too if it had been captured.
marker=untargeted-$RANDOM$RANDOM
printf 'echo %s\nexit 0\n' "$marker" >"$work/untargeted.txt"
session untargeted "$work/untargeted.txt" --size 0x0 -- "$KUBE_BIN/kubectl" exec -it "$other" -c shell -- bash

# The paper's session. strace -p 1 would trace the container's sleep until
# interrupted; timeout interrupts it. The AWS key is redacted on the node.
cat >"$work/exec.txt" <<'EOF'
ls
ip a
mkdir -p /etc/nginx
echo 'worker_processes 1;' > /etc/nginx/nginx.conf
sed -i 's/1;/4;/' /etc/nginx/nginx.conf
cat /var/log/demo/app.log
cat /var/log/demo/access.log
ps aux
apt update
apt install -y vim
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
timeout 2 strace -p 1
exit 0
EOF
sed 's#^export AWS_SECRET_ACCESS_KEY=.*#export aws_secret_access_key=[REDACTED]#' "$work/exec.txt" >"$work/exec.want"
want=$(cat "$work/exec.want")
n=$(wc -l <"$work/exec.want")
# No pty size: kubectl then resizes nothing, and bash never redraws its prompt.
session "kubectl exec -it" "$work/exec.txt" --size 0x0 -- "$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash
t_wait "$WAIT" count_at_least "$n" events "$pod" || true
# The Events name who typed each line: the cluster admin of hack/cluster.sh.
t_eq "kubectl exec: one ShellCommand Event per typed line on the pod, in order, naming its user" \
	"$(sed 's/^/shellaudit-admin: /' "$work/exec.want")" "$(events "$pod")"
t_wait "$WAIT" count_at_least "$n" record_entries "$pod" shell line || true
t_eq "kubectl exec: the AuditRecords hold the typed lines, in order, the key redacted" "$want" \
	"$(record_entries "$pod" shell line)"
execs=$(record_entries "$pod" shell exec | grep -xE 'ls|ip|sed|cat|ps|apt|timeout|strace' | tr '\n' ' ')
t_eq "kubectl exec: and the programs run" "ls ip sed cat cat ps apt apt timeout strace " "$execs"
t_eventually "kubectl exec: the chain verifies (shellaudit-agent verify)" 30 \
	"$AGENT" verify --namespace default --pod "$pod" --container shell
# (After the checks of the programs run: this cat is one more.)
t_eq "kubectl exec: the edit was made in the container" "worker_processes 4;" \
	"$(k exec "$pod" -c shell -- cat /etc/nginx/nginx.conf 2>/dev/null)"
# A kubectl that fails must not read as "not found".
if ev=$(k get events -A -o json) && ar=$(k get auditrecords -A -o json); then
	t_eq "nothing of the untargeted pod in Events or AuditRecords" "" \
		"$( { grep -F -e "$marker" <<<"$ev"; grep -F -e "$marker" -e "\"$other\"" <<<"$ar"; } | head -3)"
else
	t_fail "nothing of the untargeted pod in Events or AuditRecords" "cannot list Events and AuditRecords"
fi

# --- kubectl debug: an ephemeral container ------------------------------------------

events -l "$pod" | cut -f2 | sort >"$work/before-debug"
# new_events POD: events POD, but only those made since the debug session.
new_events() { events -l "$1" | grep -vFf <(sed 's/.*/\t&\t/' "$work/before-debug") | cut -f3; }
cat >"$work/debug.txt" <<'EOF'
ps aux
cat /proc/1/root/etc/nginx/nginx.conf
ls /proc/1/root/var/log/demo
timeout 2 strace -p 1
exit 0
EOF
want=$(cat "$work/debug.txt")
n=$(wc -l <"$work/debug.txt")
# bash prints its first prompt before kubectl attaches (--attach), and is in
# the audit once the agent reports its container attached (--ready).
cat >"$work/ready.sh" <<EOF
#!/bin/sh
cid=\$("$KUBE_BIN/kubectl" get pod "$pod" -o jsonpath='{.status.ephemeralContainerStatuses[?(@.name=="debugger")].containerID}')
[ -n "\$cid" ] && "$KUBE_BIN/kubectl" get shellauditnode "$node" \\
	-o jsonpath='{range .status.targets[?(@.attached==true)]}{.containerID}{"\n"}{end}' | grep -qxF "\$cid"
EOF
chmod +x "$work/ready.sh"
session "kubectl debug -it" "$work/debug.txt" --attach --ready "$work/ready.sh" -- \
	"$KUBE_BIN/kubectl" debug -it "$pod" --image="$("$T_ROOT/hack/images.sh" ref demo)" \
	--image-pull-policy=Never --target=shell --profile=general -c debugger -- bash
t_wait "$WAIT" count_at_least "$n" new_events "$pod" || true
t_eq "kubectl debug: one ShellCommand Event per typed line on the pod, in order, naming its user" \
	"$(sed 's/^/shellaudit-admin: /' "$work/debug.txt")" "$(new_events "$pod")"
t_wait "$WAIT" count_at_least "$n" record_entries "$pod" debugger line || true
t_eq "kubectl debug: the AuditRecords of the ephemeral container hold them, in order" "$want" \
	"$(record_entries "$pod" debugger line)"
t_eventually "kubectl debug: the chain verifies" 30 "$AGENT" verify --namespace default --pod "$pod" --container debugger
t_eq "kubectl debug: nothing more in the records of the pod's own container" \
	"$(cat "$work/exec.want")" "$(record_entries "$pod" shell line)"

# kubectl debug -i without -t: the ephemeral container is made with its
# stdin a pipe and bash reads its commands from it, no terminal. Once the
# agent has the container, what bash reads is recorded (source stdin),
# builtins included.
exec 9> >(exec "$KUBE_BIN/kubectl" debug -i "$pod" --image="$("$T_ROOT/hack/images.sh" ref demo)" \
	--image-pull-policy=Never --target=shell --profile=general -c debugpipe -- bash \
	>"$work/debugpipe.out" 2>&1)
dbgpipe=$!
t_wait "$WAIT" attached "$pod" debugpipe || t_fail "the agent attaches to the debugpipe container"
printf '%s\n' 'echo piped-into-debug > /dev/null' 'exit' >&9
exec 9>&-
wait "$dbgpipe" || t_fail "kubectl debug -i ends" "$(cat "$work/debugpipe.out")"
t_wait "$WAIT" count_at_least 2 record_entries "$pod" debugpipe line || true
t_eq "kubectl debug -i, no terminal: the lines bash read from its stdin pipe, with their source" \
	"$(printf 'stdin\t%s\n' 'echo piped-into-debug > /dev/null' exit)" \
	"$(k get auditrecords -l "shellaudit.io/pod=$pod,shellaudit.io/container=debugpipe" -o json |
		python3 -c 'import json, sys
for r in sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"]):
    for e in r["spec"]["entries"]:
        if e["kind"] == "line": print("%s\t%s" % (e.get("source"), e["text"]))')"

# --- the user leaves the container's namespaces --------------------------------------

# No privilege needed: a user namespace, and in it a mount namespace. Then
# the same interactively, with lines typed in the new namespaces.
k exec "$pod" -c shell -- busybox unshare -Urm sh -c "/bin/id; /bin/echo escaped-noninteractive" \
	>"$work/escape.out" 2>&1 || t_fail "busybox unshare -Urm ran in the pod" "$(cat "$work/escape.out")"
cat >"$work/escape.txt" <<'EOF'
busybox unshare -Urm bash
echo typed-in-a-user-namespace
/bin/echo exec-in-a-user-namespace
exit
echo typed-after-the-user-namespace
exit
EOF
session "kubectl exec -it, then unshare -Urm bash" "$work/escape.txt" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash
escaped() { record_dump "$pod" shell | t_grep -qxF "$(printf 'line\techo typed-after-the-user-namespace')"; }
t_wait "$WAIT" escaped || true
record_dump "$pod" shell >"$work/escape.records"
for want in "exec	/bin/id" "exec	/bin/echo escaped-noninteractive" "line	echo typed-in-a-user-namespace" \
	"exec	/bin/echo exec-in-a-user-namespace" "line	echo typed-after-the-user-namespace"; do
	if grep -qxF "$want" "$work/escape.records"; then
		t_pass "after busybox unshare -Urm: '${want#*	}' is in the pod's records"
	else
		t_fail "after busybox unshare -Urm: '${want#*	}' is in the pod's records" \
			"$(grep -v '^line' "$work/escape.records" | tail -n 8)"
	fi
done
t_eq "and each escape is a namespace entry (user and mount namespaces)" 2 \
	"$(grep -c '^namespace	unshare, setns, chroot or pivot_root: mnt [0-9]* -> [0-9]*, user ' "$work/escape.records")"
t_run "the chain verifies with its namespace entries" "$AGENT" verify --namespace default --pod "$pod" --container shell

# --- the agent crashes mid-session ---------------------------------------------------

# The agent's container is killed (-9) while a session is typed; the kubelet
# starts it again. Its programs stayed pinned on the node's BPF file system
# and kept capturing: every line is in the records once, in order.
# The node name is the host's, which other local nodes on this machine (a
# `make run`, another test) share: the agent of this node is the one in
# this kubelet's cgroup root.
agent_pid() {
	local p
	for p in $(pgrep -x shellaudit-agen); do
		grep -qF ":$SHELLAUDIT_CGROUP_ROOT/" "/proc/$p/cgroup" 2>/dev/null &&
			tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | t_grep -qxF "NODE_NAME=$node" &&
			echo "$p" && return 0
	done
	return 1
}
t_eq "the agent pins its capture state on the node's BPF file system" yes \
	"$(ls "$SHELLAUDIT_RUN/bpf/$node"/shellaudit/*/map_events >/dev/null 2>&1 && echo yes || echo no)"
seq 1 200 | sed 's/^/echo crash-/' >"$work/crash.txt"
echo 'exit 0' >>"$work/crash.txt"
"$PTYTYPE" --prompt "$PROMPT" --echo --delay 20 --lines "$work/crash.txt" --timeout "$WAIT" \
	--log "$work/crash.pty" --size 0x0 -- "$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash \
	>/dev/null 2>"$work/crash.err" &
typer=$!
typed_50() { grep -q 'crash-50' "$work/crash.pty"; }
t_wait "$WAIT" typed_50 || t_fail "the crash session started" "$(cat "$work/crash.err")"
victim=$(agent_pid) && kill -KILL "$victim"
if kill -0 "$typer" 2>/dev/null; then
	t_pass "the session was still being typed when the agent was killed"
else
	t_fail "the session was still being typed when the agent was killed"
fi
restarted() {
	[ "$(k -n shellaudit-system get pods -l app.kubernetes.io/component=node-agent \
		-o jsonpath='{.items[0].status.containerStatuses[0].restartCount}')" -ge 1 ] && agent_pid >/dev/null
}
if [ -n "$victim" ] && t_wait "$WAIT" restarted; then
	t_pass "the agent killed -9 mid-session is restarted by the kubelet"
else
	t_fail "the agent killed -9 mid-session is restarted by the kubelet" "victim '$victim'"
fi
wait "$typer"
rc=$?
[ $rc = 0 ] || t_fail "the crash session: every line typed, the shell exited 0" "exit status $rc" "$(cat "$work/crash.err")"
crash_records() { record_entries "$pod" shell line | grep '^echo crash-'; }
crash_events() { events "$pod" | grep '^shellaudit-admin: echo crash-' | sed 's/^shellaudit-admin: //'; }
t_wait "$WAIT" count_at_least 200 crash_records || true
t_eq "every line of the session typed across the crash is in the records once, in order" \
	"$(grep '^echo crash-' "$work/crash.txt")" "$(crash_records)"
t_wait "$WAIT" count_at_least 200 crash_events || true
t_eq "and has one Event, naming its user before and after the crash" \
	"$(grep '^echo crash-' "$work/crash.txt")" "$(crash_events)"
t_match "the restarted agent took the capture state over" 'took over the capture state' \
	"$(k -n shellaudit-system logs -l app.kubernetes.io/component=node-agent --tail=-1 2>&1)"
t_eventually "the chain verifies across the crash" 30 "$AGENT" verify --namespace default --pod "$pod" --container shell

# --- terminal capture ----------------------------------------------------------------

# Lines readline does not read come from the terminal: bash after `set +o
# emacs` (canonical mode) and busybox sh (its own raw-mode line editor).
start=$SECONDS
m1=term-emacs-$RANDOM$RANDOM
m2=term-ash-$RANDOM$RANDOM
printf 'set +o emacs\necho %s\nexit\n' "$m1" >"$work/term1.txt"
session "kubectl exec -it, bash after set +o emacs" "$work/term1.txt" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash
printf 'echo %s\nexit\n' "$m2" >"$work/term2.txt"
session "kubectl exec -it, busybox sh" "$work/term2.txt" --size 0x0 -- \
	"$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- env "PS1=$PROMPT" busybox sh
# lines_by_source POD CONTAINER: "SOURCE TEXT" of the line entries, in order.
lines_by_source() {
	k get auditrecords -l "shellaudit.io/pod=$1,shellaudit.io/container=$2" -o json | python3 -c '
import json, sys
recs = sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"])
for r in recs:
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print(e.get("source", "-"), e["text"])'
}
term_lines() { lines_by_source "$pod" shell | grep -E "$m1|$m2|^terminal exit$|^readline set \+o emacs$"; }
t_wait "$WAIT" count_at_least 5 term_lines || true
t_eq "set +o emacs and busybox sh: the lines readline did not read are terminal lines, once" \
	"$(printf '%s\n' 'readline set +o emacs' "terminal echo $m1" 'terminal exit' "terminal echo $m2" \
		'terminal exit')" "$(term_lines)"
hook=$(k get shellauditnode "$node" -o jsonpath='{.status.terminal.hook} {.status.terminal.attached}')
t_match "the node reports its terminal hook attached" '^(tracepoint|sys_exit) true$' "$hook"
echo "  note the agent's terminal hook in its DaemonSet pod: ${hook% *}"
t_run "the chain verifies with terminal lines" "$AGENT" verify --namespace default --pod "$pod" --container shell
printf '       (terminal capture checks: %ss)\n' "$((SECONDS - start))"

# --- a rolling restart of the agent ------------------------------------------------

# A SIGTERM (here: kubectl rollout restart) keeps capture pinned: what is
# typed until the new agent runs is read by it, with no off entry, since
# capture never stopped. The typing goes on until the new agent runs, and
# 30 lines more, however long the rollout takes (at most 2,000 lines, two
# minutes).
# (Off entries by their time: older records may expire meanwhile.)
off_times() {
	k get auditrecords -l "shellaudit.io/pod=$pod,shellaudit.io/container=shell" -o json |
		python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    for e in r["spec"]["entries"]:
        if e["kind"] == "off":
            print(e["time"])' | sort
}
off_times >"$work/offs-before"
seq 1 2000 | sed 's/^/echo restart-/' >"$work/restart.txt"
"$PTYTYPE" --prompt "$PROMPT" --echo --delay 60 --lines "$work/restart.txt" --timeout "$((WAIT + 120))" \
	--until "[ -e '$work/restart.new' ]" --then 30 \
	--log "$work/restart.pty" --size 0x0 -- "$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash \
	>"$work/restart.typed" 2>"$work/restart.err" &
typer=$!
typed_30() { grep -q 'restart-30' "$work/restart.pty"; }
t_wait "$WAIT" typed_30 || t_fail "the restart session started" "$(cat "$work/restart.err")"
old_agent=$(agent_pid)
k -n shellaudit-system rollout restart daemonset/shellaudit-agent >/dev/null
new_agent() { local p; p=$(agent_pid) && [ "$p" != "$old_agent" ] && : >"$work/restart.new"; }
if k -n shellaudit-system rollout status daemonset/shellaudit-agent --timeout="${WAIT}s" >/dev/null 2>&1 &&
	t_wait "$WAIT" new_agent; then
	t_pass "the agent DaemonSet rolled out again"
else
	t_fail "the agent DaemonSet rolled out again"
fi
if kill -0 "$typer" 2>/dev/null; then
	t_pass "the session was still being typed when the new agent ran"
else
	t_fail "the session was still being typed when the new agent ran" "(typed too fast for this machine's rollout)"
fi
wait "$typer"
[ $? != 125 ] || t_fail "the restart session: every line typed" "$(cat "$work/restart.err")"
restart_records() { record_entries "$pod" shell line | grep '^echo restart-'; }
typed=$(sed -n 's/^typed \([0-9]*\) lines$/\1/p' "$work/restart.typed")
t_wait "$WAIT" count_at_least "${typed:-1}" restart_records || true
t_eq "every line typed across the rolling restart ($typed) is in the records once, in order" \
	"$(head -n "${typed:-0}" "$work/restart.txt")" "$(restart_records)"
t_eq "and no off entry: capture never stopped" "" "$(comm -13 "$work/offs-before" <(off_times))"
t_match "the new agent took the capture state over" 'took over the capture state' \
	"$(k -n shellaudit-system logs -l app.kubernetes.io/component=node-agent --tail=-1 2>&1)"
t_run "the chain verifies across the rolling restart" "$AGENT" verify --namespace default --pod "$pod" --container shell

# --- execFrom Sessions: the people's execs, not the workload's ----------------------

# config/samples/sessions_only_policy.yaml (a short retention) on a pod whose
# own loop runs /bin/true: a program run through kubectl exec is recorded,
# the loop's are not (they would be with execFrom All: the loop runs all
# along).
sed 's/^  retention: .*/  retention: 60s/' "$T_ROOT/config/samples/sessions_only_policy.yaml" >"$work/sessions.yaml"
t_run "the sessions-only sample policy applies" k apply -f "$work/sessions.yaml"
k run batch --image=shellaudit.local/demo:dev --image-pull-policy=Never --labels=tier=batch \
	--restart=Never --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' --command -- \
	/bin/sh -c 'while :; do /bin/true workload-loop; sleep 0.3; done' >/dev/null
t_wait "$WAIT" attached batch batch || t_fail "the agent attaches to the batch pod" \
	"$(k get pod batch -o wide 2>&1)"
k exec batch -- /bin/echo by-a-person >/dev/null
# batch_execs: the base names of the batch pod's exec entries, sorted.
batch_execs() {
	k get auditrecords -l shellaudit.io/pod=batch -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    for e in r["spec"]["entries"]:
        if e["kind"] == "exec":
            print(e.get("filename", "").rsplit("/", 1)[-1])' | sort
}
has_echo() { batch_execs | t_grep -qx echo; }
t_wait "$WAIT" has_echo || true
t_eq "execFrom Sessions: the program run through kubectl exec is recorded, no program of the pod's own loop" \
	"echo" "$(batch_execs | sort -u | tr '\n' ' ' | sed 's/ $//')"
t_match "  (the loop ran all along)" '^[1-9]' \
	"$(k exec batch -- /bin/sh -c 'ps -eo args | grep -c "[w]orkload-loop"' 2>&1)"
k delete pod batch --wait=false >/dev/null 2>&1
k delete -f "$work/sessions.yaml" --wait=false >/dev/null 2>&1

# --- kubectl run -i: a container made with its stdin open ---------------------------

# Its init, bash, reads what kubectl sends into its stdin, neither through
# readline nor from a terminal: recorded from that pipe (source stdin),
# once the agent has attached to the container.
mkfifo "$work/runi.fifo"
k run runi -i --image=shellaudit.local/demo:dev --image-pull-policy=Never --labels=app=demo,case=run-i \
	--restart=Never --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' --command -- /bin/bash \
	<"$work/runi.fifo" >"$work/runi.out" 2>&1 &
runi=$!
t_cleanup "kill $runi 2>/dev/null"
exec 9>"$work/runi.fifo"
t_wait "$WAIT" attached runi runi || t_fail "the agent attaches to the kubectl run -i pod" \
	"$(k get pod runi -o wide 2>&1)"
printf '%s\n' 'echo run-i-line > /dev/null' 'exit' >&9
exec 9>&-
wait "$runi"
# lines_of POD: "SOURCE<TAB>TEXT" of the line entries of POD's AuditRecords.
lines_of() { k get auditrecords -l "shellaudit.io/pod=$1" -o json | python3 -c '
import json, sys
for r in sorted(json.load(sys.stdin)["items"], key=lambda r: r["spec"]["sequence"]):
    for e in r["spec"]["entries"]:
        if e["kind"] == "line":
            print("%s\t%s" % (e.get("source"), e["text"]))'; }
has_runi() { lines_of runi | t_grep -q run-i-line; }
t_wait "$WAIT" has_runi || true
t_eq "kubectl run -i: what its init reads from its stdin is recorded" \
	"$(printf '%s\n' 'stdin	echo run-i-line > /dev/null' 'stdin	exit')" "$(lines_of runi)"
k delete pod runi --wait=false >/dev/null 2>&1
# kubectl attach -i to such a container made without a client (kubectl run
# --stdin --attach=false): what its init reads through the attach is
# recorded the same.
k run attachi --stdin --attach=false --image=shellaudit.local/demo:dev --image-pull-policy=Never \
	--labels=app=demo,case=attach-i --restart=Never \
	--overrides='{"spec":{"terminationGracePeriodSeconds":1}}' --command -- /bin/bash >/dev/null
t_wait "$WAIT" attached attachi attachi || t_fail "the agent attaches to the kubectl run --stdin pod" \
	"$(k get pod attachi -o wide 2>&1)"
printf '%s\n' 'echo attach-i-line > /dev/null' 'exit' | timeout 120 "$KUBE_BIN/kubectl" attach -i attachi >"$work/attachi.out" 2>&1
has_attachi() { lines_of attachi | t_grep -q attach-i-line; }
t_wait "$WAIT" has_attachi || true
t_eq "kubectl attach -i: what the init reads through it is recorded" \
	"$(printf '%s\n' 'stdin	echo attach-i-line > /dev/null' 'stdin	exit')" "$(lines_of attachi)"
k delete pod attachi --wait=false >/dev/null 2>&1

# --- who opened it: two people, kubectl debug, forgeries (attribution.sh) ------------

. "$T_ROOT/tests/e2e/attribution.sh"

# --- uninstall ---------------------------------------------------------------------

# The DaemonSet deleted while its node has targets: capture stays pinned
# (no agent must mean no gap before the next one), until config/uninstall.
pins=$SHELLAUDIT_RUN/bpf/$node/shellaudit
k -n shellaudit-system delete daemonset shellaudit-agent --wait=true --timeout="${WAIT}s" >/dev/null
agent_gone() { ! agent_pid >/dev/null; }
t_wait "$WAIT" agent_gone || t_fail "the agent stopped"
t_eq "the agent deleted with targets on its node leaves capture pinned" yes \
	"$(ls "$pins"/*/map_events "$pins"/*/link_sched_exec >/dev/null 2>&1 && echo yes || echo no)"
apply config/uninstall DaemonSet/shellaudit-uninstall/shellaudit-uninstall/agent ||
	t_fail "apply -k config/uninstall" "$(tail -n 20 "$work/apply.log")"
if k -n shellaudit-uninstall rollout status daemonset/shellaudit-uninstall --timeout="${WAIT}s" >/dev/null 2>&1; then
	t_pass "config/uninstall rolls out"
else
	t_fail "config/uninstall rolls out" "$(k -n shellaudit-uninstall get pods -o wide 2>&1)" \
		"$(k -n shellaudit-uninstall logs -l app.kubernetes.io/component=uninstall -c uninstall 2>&1 | tail -5)"
fi
t_eq "and leaves nothing pinned on the node" absent "$([ -e "$pins" ] && echo present || echo absent)"
t_match "saying what it removed" 'capture ended on this node: [1-9][0-9]* pinned states removed' \
	"$(k -n shellaudit-uninstall logs -l app.kubernetes.io/component=uninstall -c uninstall 2>&1)"
k delete namespace shellaudit-uninstall --wait=false >/dev/null 2>&1

# --- retention -----------------------------------------------------------------------

records() {
	k get auditrecords -l "shellaudit.io/pod=$pod" \
		-o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort
}
k get auditrecords -l "shellaudit.io/pod=$pod" -o json >"$work/records.json"
newest=$(k get auditrecords -l "shellaudit.io/pod=$pod" \
	-o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\n"}{end}' | sort | tail -n 1)
t_run "the demo pod is deleted" k delete pod "$pod" --wait=true --timeout="${WAIT}s"
# The controller has seen the pod go: its containers are no longer targets.
pod_untargeted() { ! k get shellauditnode "$node" -o jsonpath='{.spec.targets[*].pod}' | t_grep -qw -- "$pod"; }
t_wait "$WAIT" pod_untargeted || t_fail "the deleted pod's containers are no longer targeted"
# unexpired: the records of before the deletion still within their retention.
unexpired() {
	python3 -c '
import json, sys, datetime
now = datetime.datetime.now(datetime.timezone.utc)
for r in json.load(open(sys.argv[1]))["items"]:
    made = datetime.datetime.strptime(r["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    if (now - made.replace(tzinfo=datetime.timezone.utc)).total_seconds() < int(sys.argv[2]):
        print(r["metadata"]["name"])' "$work/records.json" "$RETENTION_S" | sort
}
# Listed before the others are computed: a record still within its
# retention then was within it when listed.
left=$(records)
due=$(unexpired)
t_match "the pod had AuditRecords within their retention when it was deleted" "$pod-" "$due"
t_eq "they outlive the deleted pod" "" "$(comm -23 <(printf '%s\n' "$due") <(printf '%s\n' "$left"))"
none_left() { [ -z "$(records)" ]; }
start=$SECONDS
if t_wait $((RETENTION_S + 2 * WAIT)) none_left; then
	t_pass "the controller deletes them once the retention (${RETENTION_S}s) has passed"
	printf '       (%ss after the pod was deleted)\n' "$((SECONDS - start))"
	t_eq "  not before" "yes" \
		"$([ "$(date -u +%s)" -ge $(($(date -u -d "$newest" +%s) + RETENTION_S)) ] && echo yes || echo no)"
else
	t_fail "the controller deletes them once the retention (${RETENTION_S}s) has passed" "$(records)"
fi

attribution_late_checks

# --- down ----------------------------------------------------------------------------

e2e_node_down
printf '       (test_audit.sh: %ss)\n' "$((SECONDS - total))"
t_summary
