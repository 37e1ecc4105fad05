#!/usr/bin/env bash
# Containers of one image on overlayfs, as containerd and CRI-O run them:
# each has its own overlay mount, so its bash is a different inode to fstat
# (and to /proc/PID/maps on this kernel), but one real file underneath,
# which is what a uprobe lands on. The agent attaches once per overlay
# inode; the BPF side must still report every line once.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
grep -qw overlay /proc/filesystems || { t_fail "no overlayfs in this kernel"; t_summary; exit 1; }

# ovl_container NAME: a container whose root is an overlay of $RFS, mounted
# inside its own mount namespace (gone with it).
ovl_container() {
	local d=$work/$1 up
	mkdir -p "$d/upper" "$d/work" "$d/root"
	unshare --mount --pid --fork --kill-child=KILL sh -c \
		"mount -t overlay overlay -o lowerdir=$RFS,upperdir=$d/upper,workdir=$d/work $d/root &&
		exec chroot $d/root /bin/sleep 1000000" 2>/dev/null &
	up=$!
	disown "$up"
	t_cleanup "kill -KILL $up"
	t_wait 20 sh -c "pgrep -P $up >/dev/null && [ \"\$(readlink /proc/\$(pgrep -P $up)/exe)\" != /usr/bin/sh ]" ||
		{ t_fail "container $1 did not start"; return 1; }
	CPID[$1]=$(pgrep -P "$up")
	t_cleanup "kill -KILL ${CPID[$1]}"
}

ovl_container o1
ovl_container o2
t_run "the two bash files differ to fstat" test \
	"$(stat -c %d:%i "/proc/${CPID[o1]}/root/bin/bash")" != "$(stat -c %d:%i "/proc/${CPID[o2]}/root/bin/bash")"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target o1 || t_fail "target o1 not added"
cap_target o2 || t_fail "target o2 not added"

printf 'echo one in o1\ncd /tmp\n' >"$work/o1.txt"
printf 'echo one in o2\n' >"$work/o2.txt"
cap_shell o1 "$work/o1.txt" >/dev/null || t_fail "shell in o1 failed"
cap_shell o2 "$work/o2.txt" >/dev/null || t_fail "shell in o2 failed"
t_wait 30 cap_has_line o2 "echo one in o2" || t_fail "line of o2 never arrived"
cap_agent_stop

t_eq "lines of o1 once each" "$(cat "$work/o1.txt")" "$(cap_lines o1)"
t_eq "lines of o2 once each" "$(cat "$work/o2.txt")" "$(cap_lines o2)"
t_eq "no line flagged recovered" "" "$(grep '"recovered":true' "$work/out.jsonl")"
t_summary
