#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The audited user tries to leave the audit (issue 11, review finding C1):
# from inside an audited container, as root and as an unprivileged uid,
# new user, mount, pid, network, UTS, cgroup and IPC namespaces (unshare(1),
# unshare(2) from python3 and from a static program, clone3(2) with
# CLONE_NEWNS), setns(2) and nsenter into another, untargeted container,
# chroot and pivot_root, and an interactive `unshare -Urm bash` with typed
# lines. A program run from no file (a memfd, by fexecve) or from a deleted
# one is named for what it is. After each attempt a marker run there is captured, attributed to
# the audited container, next to a namespace entry that names the change.
# The same attempts from an untargeted container produce nothing. A
# process that escaped before its container became a target is followed
# too. Containers are made with pivot_root (a chroot'ed process may not
# create a user namespace).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
[ -x "$TOOLS/sa-ns" ] || { t_fail "missing $TOOLS/sa-ns (run make all)"; t_summary; exit 1; }
PY=/usr/bin/python3
ctypes_so=$(compgen -G '/usr/lib/python3*/lib-dynload/_ctypes.cpython-*.so' | head -1)
{ [ -x "$PY" ] && [ -n "$ctypes_so" ]; } || { t_fail "python3 with ctypes is installed"; t_summary; exit 1; }
# A root with the tools an audited user would have: util-linux, busybox,
# python3 (its library is the host's /usr, bound on /opt).
programs=(unshare setpriv nsenter chroot pivot_root mount umount busybox "$PY" "$ctypes_so")
ERFS=${SHELLAUDIT_CACHE:-/var/cache/shellaudit}/rootfs-escape-$(
	{ cat "$T_ROOT/hack/mkrootfs.sh"; echo "${programs[*]}"; } | sha256sum | cut -c1-12)
"$T_ROOT/hack/mkrootfs.sh" "$ERFS" "${programs[@]}" 2>/dev/null ||
	{ t_fail "hack/mkrootfs.sh of the escape root failed"; t_summary; exit 1; }
PYENV="PYTHONHOME=/opt"

cap_pivot_container a "$ERFS" || { t_summary; exit 1; }
cap_pivot_container u "$ERFS" || { t_summary; exit 1; }
cap_pivot_container b "$ERFS" || { t_summary; exit 1; }
cap_pivot_container p "$ERFS" || { t_summary; exit 1; }

# inside NAME CMD: runs CMD with bash in container NAME, entered as
# `kubectl exec` does (all its namespaces but the user one, its root).
inside() {
	nsenter --target "${CPID[$1]}" --mount --pid --uts --ipc --net --cgroup --root --wd \
		"${CENV[@]}" /bin/bash -c "$2"
}

# A process of p escapes before p is a target, and waits to run its marker.
inside p "unshare -Urm /bin/bash -c 'while [ ! -e /tmp/go ]; do /bin/sleep 0.2; done; /bin/echo p-escaped-before'" \
	>"$work/p-escapee.out" 2>&1 &
escapee=$!
t_cleanup "kill -KILL $escapee"

cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target a || t_fail "target a not added"
cap_target p || t_fail "target p not added"

# attempts TAG: every way out, each ending in /bin/echo TAG-<case>.
attempts() {
	local c=$1 t=$2
	inside "$c" "unshare -Urm /bin/bash -c '/bin/echo $t-userns-root'"
	inside "$c" "setpriv --reuid 65534 --regid 65534 --clear-groups unshare -Urm /bin/bash -c '/bin/echo $t-userns-nobody'"
	inside "$c" "unshare -m /bin/bash -c '/bin/echo $t-mntns'"
	inside "$c" "unshare -p -f --mount-proc /bin/bash -c '/bin/echo $t-pidns'"
	inside "$c" "unshare -U -r -n -u -C -i /bin/bash -c '/bin/echo $t-five'"
	inside "$c" "setpriv --reuid 65534 --regid 65534 --clear-groups env $PYENV python3 -c 'import ctypes, os
assert ctypes.CDLL(None).unshare(0x10000000 | 0x20000) == 0
os.execv(\"/bin/echo\", [\"/bin/echo\", \"$t-python\"])'"
	inside "$c" "/tmp/sa-ns unshare user,mnt /bin/echo $t-syscall"
	inside "$c" "/tmp/sa-ns clone3 mnt /bin/echo $t-clone3"
	inside "$c" "setpriv --reuid 65534 --regid 65534 --clear-groups /tmp/sa-ns clone3 user,mnt,pid /bin/echo $t-clone3-nobody"
	# Another container's mount namespace, handed in as an open file
	# (the privilege it takes): joined with setns(2), and with nsenter.
	inside "$c" "/tmp/sa-ns setns 7 /bin/echo $t-setns" 7<"/proc/${CPID[b]}/ns/mnt"
	inside "$c" "nsenter --mount=/proc/self/fd/7 /bin/echo $t-nsenter" 7<"/proc/${CPID[b]}/ns/mnt"
	inside "$c" "/tmp/sa-ns chroot /opt /bin/echo $t-chroot"
	inside "$c" "chroot /opt /bin/echo $t-chroot-cmd"
	inside "$c" "/tmp/sa-ns pivot /opt /bin/echo $t-pivot"
}
cases="userns-root userns-nobody mntns pidns five python syscall clone3 clone3-nobody setns nsenter chroot chroot-cmd pivot"
attempts a esc-a >"$work/attempts-a.out" 2>&1
attempts u esc-u >"$work/attempts-u.out" 2>&1
for c in $cases; do
	grep -qx "esc-a-$c" "$work/attempts-a.out" || t_fail "attempt $c ran in a" "$(grep -v '^esc-' "$work/attempts-a.out" | tail -3)"
	grep -qx "esc-u-$c" "$work/attempts-u.out" || t_fail "attempt $c ran in u"
done

# Fileless: a program's bytes in a memfd run by fexecve (python3's
# os.execve of a descriptor), as droppers do, under a harmless argv[0];
# and a copy deleted while open, run through /proc/self/fd.
fileless() {
	local c=$1 t=$2
	inside "$c" "env $PYENV python3 -c 'import os
fd = os.memfd_create(\"payload-$t\")
os.write(fd, open(\"/bin/echo\", \"rb\").read())
os.execve(fd, [\"innocent\", \"$t-memfd\"], {})'"
	inside "$c" "busybox cp /bin/echo /tmp/gone-$t && exec 3</tmp/gone-$t && busybox rm /tmp/gone-$t && /proc/self/fd/3 $t-deleted"
	# The same with scripts, which the kernel swaps for their interpreter
	# before the exec is seen. A memfd left open across the exec (the
	# interpreter opens it again), as a dropper must for a script.
	inside "$c" "env $PYENV python3 -c 'import os, sys
fd = os.memfd_create(\"script-$t\", 0)
os.write(fd, sys.argv[1].encode())
os.execve(fd, [\"innocent\", \"$t-memscript\"], {})' '#!/bin/dash
/bin/echo \"\$1\"
'"
	inside "$c" "busybox printf '#!/bin/dash\\n/bin/echo \"\$1\"\\n' >/tmp/gs-$t && busybox chmod +x /tmp/gs-$t &&
		exec 3</tmp/gs-$t && busybox rm /tmp/gs-$t && /proc/self/fd/3 $t-delscript"
	# A decoy: /dev/fd made a directory of ordinary files (root in the
	# container can), a deleted file open as descriptor 3, and the ordinary
	# script /dev/fd/3 run by its path: it must not be named after fd 3.
	inside "$c" "unshare -Urm /bin/bash -c 'busybox mount -t tmpfs tmpfs /dev && busybox mkdir /dev/fd &&
		busybox printf \"#!/bin/dash\\n/bin/echo \\\$1\\n\" >/dev/fd/3 && busybox chmod +x /dev/fd/3 &&
		busybox cp /bin/echo /tmp/decoy-$t && exec 3</tmp/decoy-$t && busybox rm /tmp/decoy-$t &&
		/dev/fd/3 $t-decoy'"
}
fileless a esc-a >"$work/fileless-a.out" 2>&1
fileless u esc-u >"$work/fileless-u.out" 2>&1
for c in memfd deleted memscript delscript decoy; do
	grep -qx "esc-a-$c" "$work/fileless-a.out" || t_fail "the $c exec ran in a" "$(tail -3 "$work/fileless-a.out")"
	grep -qx "esc-u-$c" "$work/fileless-u.out" || t_fail "the $c exec ran in u" "$(tail -3 "$work/fileless-u.out")"
done

# Interactive: a user namespace and a mount namespace, then lines typed.
cat >"$work/typed.txt" <<'EOF'
echo typed-before
unshare -Urm /bin/bash --rcfile /root/.bashrc -i
echo typed-inside-userns
/bin/echo exec-inside-userns
exit
echo typed-after
exit
EOF
cap_shell a "$work/typed.txt" >/dev/null || t_fail "the interactive shell in a failed"
cp "$work/typed.txt" "$work/typed-u.txt"
cap_shell u "$work/typed-u.txt" >/dev/null || t_fail "the interactive shell in u failed"
# There, a copy of bash (a file no probe knew) is probed from its exec; the
# lines are typed once the agent says so (it may lag on a busy machine).
printf 'echo typed-into-a-copy-of-bash\n' >"$work/own.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/own.txt" --log "$work/pty-own.log" \
	--ready "grep -q '\"readline probe attached\",\"file\":\"/tmp/own-bash\"' '$work/agent.log'" -- \
	nsenter --target "${CPID[a]}" --mount --pid --root --wd "${CENV[@]}" unshare -Urm /bin/bash -c \
	"busybox cp /bin/bash /tmp/own-bash && exec /tmp/own-bash --rcfile /root/.bashrc -i" >/dev/null ||
	t_fail "the copy of bash in a failed"

# The process that escaped before p was a target runs its marker now.
inside p ": >/tmp/go"
wait "$escapee"
inside b "/bin/echo b-native" >/dev/null

t_wait 30 cap_has_line a "echo typed-after" || t_fail "the typed lines of a never arrived"
t_wait 30 grep -q p-escaped-before "$work/out.jsonl" || t_fail "the marker of p's escapee never arrived"
cap_agent_stop

# check [--cloned] MARKER TYPES...: the exec of /bin/echo MARKER is in a's
# entries, and so is a namespace entry of it (its process, its parent, or
# its creator at clone) naming at least TYPES; with --cloned, its creator's
# at clone (the fork's own check, before the child runs anything).
check() {
	python3 - "$work/out.jsonl" "$@" <<'PY'
import json, sys
cloned = sys.argv[2] == "--cloned"
args = sys.argv[3:] if cloned else sys.argv[2:]
path, marker, types = sys.argv[1], args[0], set(args[1:])
entries = [json.loads(l) for l in open(path)]
cont = marker.split("-")[1]
execs = [e for e in entries if e.get("kind") == "exec" and e.get("argv") == ["/bin/echo", marker]]
if not execs:
    sys.exit("no exec entry of /bin/echo %s" % marker)
x = execs[0]
if x.get("container") != cont:
    sys.exit("exec of %s attributed to %s" % (marker, x.get("container")))
for e in entries:
    if e.get("kind") != "namespace" or e.get("container") != cont:
        continue
    if cloned and (e.get("how") != "clone" or e.get("child") != x["pid"]):
        continue
    if e["pid"] in (x["pid"], x["ppid"]) or e.get("child") == x["pid"]:
        if types <= set(e["namespaces"]):
            sys.exit(0)
sys.exit("no %snamespace entry with %s for the exec of %s (pid %d, ppid %d)" %
         ("cloned " if cloned else "", sorted(types), marker, x["pid"], x["ppid"]))
PY
}
# (a and b are binds of one root directory: only the mount namespace differs.)
declare -A want=(
	[userns-root]="user mnt" [userns-nobody]="user mnt" [mntns]="mnt" [pidns]="pid mnt"
	[five]="user net uts cgroup ipc" [python]="user mnt" [syscall]="user mnt"
	[clone3]="mnt" [clone3-nobody]="user mnt pid" [setns]="mnt" [nsenter]="mnt"
	[chroot]="root" [chroot-cmd]="root" [pivot]="mnt root"
)
for c in $cases; do
	how=() at=
	case $c in clone3*) how=(--cloned) at=", at clone" ;; esac
	# shellcheck disable=SC2086 # the types are words
	if out=$(check "${how[@]}" "esc-a-$c" ${want[$c]} 2>&1); then
		t_pass "$c: the marker run after it is a's, with a namespace entry (${want[$c]}$at)"
	else
		t_fail "$c: the marker run after it is a's, with a namespace entry (${want[$c]}$at)" "$out"
	fi
done

# unlinked MARKER: the exec entries of MARKER as "argv0 filename unlinked".
unlinked() {
	python3 - "$work/out.jsonl" "$1" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "exec" and e.get("argv", [])[1:] == [sys.argv[2]]:
        print(e["argv"][0], e.get("filename"), e.get("unlinked", "-"), e.get("container"))
PY
}
t_match "a program run from a memfd by fexecve: its exec names the memfd" \
	'^innocent /dev/fd/[0-9]+ memfd:payload-esc-a a$' "$(unlinked esc-a-memfd)"
t_eq "a deleted program run through /proc/self/fd: its exec names the deleted file" \
	"/proc/self/fd/3 /proc/self/fd/3 gone-esc-a a" "$(unlinked esc-a-deleted)"
t_eq "a program run from its file has no unlinked name" "/bin/echo /bin/echo - a" \
	"$(unlinked esc-a-syscall)"
# script MARKER: the exec entries of a script run with MARKER as
# "argv0 argv1 filename unlinked".
script() {
	python3 - "$work/out.jsonl" "$1" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "exec" and e.get("argv", [])[2:] == [sys.argv[2]]:
        print(*e["argv"][:2], e.get("filename"), e.get("unlinked", "-"), e.get("container"))
PY
}
t_match "a script run from a memfd by fexecve: its interpreter's exec names the memfd" \
	'^/bin/dash /dev/fd/[0-9]+ /dev/fd/[0-9]+ memfd:script-esc-a a$' "$(script esc-a-memscript)"
t_eq "a deleted script run through /proc/self/fd: its interpreter's exec names the file" \
	"/bin/dash /proc/self/fd/3 /proc/self/fd/3 gs-esc-a a" "$(script esc-a-delscript)"
t_eq "a script run by the path /dev/fd/3 of a directory: not named after descriptor 3" \
	"/bin/dash /dev/fd/3 /dev/fd/3 - a" "$(script esc-a-decoy)"
t_eq "what those scripts ran is recorded as any program" \
	"/bin/echo /bin/echo - a
/bin/echo /bin/echo - a" "$(unlinked esc-a-memscript; unlinked esc-a-delscript)"

t_eq "interactive unshare -Urm bash: every typed line of a, inside the new namespaces too" \
	"$(cat "$work/typed.txt" "$work/own.txt" | grep -v '^exit$')" "$(cap_lines a | grep -v '^exit$')"
t_match "and the programs run inside them" $'(^|\n)/bin/echo exec-inside-userns(\n|$)' \
	"$("$TOOLS/sa-lines" --kind exec --container a --field argv "$work/out.jsonl")"
t_match "and the namespace change of that shell" '"kind":"namespace","container":"a".*"comm":"bash".*"namespaces":\{"mnt":\[[0-9]+,[0-9]+\].*"user":' \
	"$(cat "$work/out.jsonl")"

t_eq "nothing of the untargeted container, whatever it tried" "" \
	"$(grep -e esc-u- -e '"container":"u"' "$work/out.jsonl")"
t_eq "nor of the container joined with setns" "" "$(grep -e b-native -e '"container":"b"' "$work/out.jsonl")"

t_eq "a process that escaped before its container was a target is followed" "p" \
	"$(grep '"argv":\["/bin/echo","p-escaped-before"\]' "$work/out.jsonl" | sed 's/.*"container":"\([^"]*\)".*/\1/' | sort -u)"
t_match "and its escape is an entry, found when the target was added" \
	'"kind":"namespace","container":"p".*"how":"found","namespaces":\{"mnt":.*"user":' "$(cat "$work/out.jsonl")"
t_match "sessions entered from outside carry their session root" '"container":"a".*"session_root":[1-9]' \
	"$(cat "$work/out.jsonl")"
t_match "the agent counted no unmarked process and no drop" \
	'"dropped_lines":"0","dropped_execs":"0","dropped_exits":"0","dropped_namespace_changes":"0","unmarked":"0"' \
	"$(grep '"capture counters"' "$work/agent.log")"
t_summary
