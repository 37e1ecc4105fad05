#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Containers of one image on overlayfs, as containerd and CRI-O run them:
# each has its own overlay mount, so its bash is a different inode to fstat
# (and to /proc/PID/maps on this kernel), but one real file underneath,
# which is what a uprobe lands on. The agent attaches once per real file:
# one probe on the lower layer's bash for every container that runs it, and
# one more for a container that copied its bash up (chmod) and runs the
# copy, which the lower file's probe never sees. Every line is reported
# once, in the container it was typed in.
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

attached() { grep '"msg":"readline probe attached"' "$work/agent.log"; }
# real_file names of a file as the agent logs them: kind letter, major and
# minor in hex, inode in hex.
real_file() { stat -c %Hd\ %Ld\ %i "$2" | { read -r ma mi ino && printf '%s%x_%x-%x' "$1" "$ma" "$mi" "$ino"; }; }
t_eq "one probe for the bash of both containers" 1 "$(attached | grep -c '"file":"/bin/bash"')"
t_match "keyed by the lower layer's file" '"file_key":"overlay-lower","real_file":"'"$(real_file l "$RFS/bin/bash")"'"' "$(attached | head -1)"

# o3 runs the lower bash too (no new probe), then copies it up: what its
# shells run from then on is the upper layer's file.
ovl_container o3
cap_target o3 || t_fail "target o3 not added"
t_eq "o3's lower bash shares the probe" 1 "$(attached | wc -l)"
nsenter --target "${CPID[o3]}" --mount chmod 755 "$work/o3/root/bin/bash"
t_run "chmod copied o3's bash up" test -f "$work/o3/upper/bin/bash"
printf 'echo one in o3\necho two in o3\n' >"$work/o3.txt"
cap_shell o3 "$work/o3.txt" --ready "[ \$(grep -c '\"readline probe attached\"' '$work/agent.log') -ge 2 ]" \
	--timeout 60 >/dev/null || t_fail "shell in o3 failed"
t_wait 30 cap_has_line o3 "echo two in o3" || t_fail "line of o3 never arrived"
cap_agent_stop

t_eq "a second probe, for the copied-up bash" 2 "$(attached | wc -l)"
t_match "keyed by the upper layer's file" '"file_key":"overlay-upper","real_file":"'"$(real_file u "$work/o3/upper/bin/bash")"'"' \
	"$(attached | sed -n 2p)"
t_eq "lines of o1 once each" "$(cat "$work/o1.txt")" "$(cap_lines o1)"
t_eq "lines of o2 once each" "$(cat "$work/o2.txt")" "$(cap_lines o2)"
# The line o3's shell was reading when its file was probed is recovered.
t_eq "lines of o3 once each" "$(cat "$work/o3.txt")" "$(cap_lines o3)"
grep '"recovered":true' "$work/out.jsonl" >"$work/recovered.jsonl"
t_eq "no line of o1 or o2 flagged recovered" "" \
	"$("$TOOLS/sa-lines" --container o1 "$work/recovered.jsonl"; "$TOOLS/sa-lines" --container o2 "$work/recovered.jsonl")"
t_summary
