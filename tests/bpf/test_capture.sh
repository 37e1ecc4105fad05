#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lines typed into bash on a pty in a targeted container are captured
# exactly and in order; nothing from an untargeted container that runs the
# very same bash file, nor from the host running it.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
cap_container a
cap_container b
cap_container c
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target a || t_fail "target a not added"
cap_target c || t_fail "target c not added"

# The untargeted container and the host type first: if anything of theirs
# were captured it would be in the output before the targeted lines.
printf 'echo untargeted-b-line\ntrue from-b\n' >"$work/b.txt"
cap_shell b "$work/b.txt" >/dev/null || t_fail "shell in b failed"
printf 'echo host-line-on-the-same-bash\n' >"$work/host.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/host.txt" -- \
	"${CENV[@]}" PATH=/usr/bin:/bin "$RFS/bin/bash" --rcfile "$RFS/root/.bashrc" -i >/dev/null ||
	t_fail "host shell failed"

cat >"$work/a.txt" <<'LINES'
echo hello | tr a-z A-Z

cd /tmp
export FOO=bar
pwd; echo "$FOO" | wc -c
ls / | grep -c bin
  echo '  spaces kept  '  
LINES
cap_shell a "$work/a.txt" >/dev/null || t_fail "shell in a failed"
printf 'echo from-c\ncd /\n' >"$work/c.txt"
cap_shell c "$work/c.txt" >/dev/null || t_fail "shell in c failed"

t_wait 30 cap_has_line c "cd /" || t_fail "the last line of c never arrived"
cap_agent_stop

t_eq "typed lines of a captured exactly, in order, empty line included" \
	"$(cat "$work/a.txt")" "$(cap_lines a)"
t_eq "lines of c attributed to c" "$(cat "$work/c.txt")" "$(cap_lines c)"
t_eq "nothing from the untargeted container" "" \
	"$(grep -e untargeted-b -e from-b "$work/out.jsonl")"
t_eq "nothing from the host's bash" "" "$(grep host-line "$work/out.jsonl")"
t_eq "only targeted containers in the output" "a c" \
	"$("$TOOLS/sa-lines" --field container "$work/out.jsonl" | sort -u | tr '\n' ' ' | sed 's/ $//')"

execs=$("$TOOLS/sa-lines" --kind exec --container a --field argv "$work/out.jsonl")
t_match "exec of a pipeline captured with argv" $'(^|\n)tr a-z A-Z(\n|$)' "$execs"
t_match "exec of ls captured" $'(^|\n)ls /(\n|$)' "$execs"
t_match "exec of wc captured" $'(^|\n)wc -c(\n|$)' "$execs"
t_eq "builtins are lines, not execs" "" "$(printf '%s\n' "$execs" | grep -e '^cd' -e '^export')"

# One bash file (same inode) for a, b, c: one probe, however many users.
ino=$(stat -c %i "$RFS/bin/bash")
t_eq "one probe for the bash file shared by containers" 1 \
	"$(grep '"msg":"readline probe attached"' "$work/agent.log" | grep -c ":$ino\"")"

# Sessions: every entry of a belongs to one session, numbered 0, 1, 2, ...
seqs=$("$TOOLS/sa-lines" --container a --field seq --eof "$work/out.jsonl" | tr '\n' ' ')
n=$(printf '%s' "$seqs" | wc -w)
t_eq "entries of a numbered in order" "$(seq -s ' ' 0 $((n - 1))) " "$seqs"
t_eq "one session in a" 1 \
	"$("$TOOLS/sa-lines" --container a --field session "$work/out.jsonl" | sort -u | wc -l)"
# Its own end, not the one the agent's stop writes ("agent stopped").
t_eq "session of a ended when its shell exited" "exit" \
	"$("$TOOLS/sa-lines" --kind session_end --container a --field reason "$work/out.jsonl")"
counters=$(grep '"capture counters"' "$work/agent.log")
t_match "agent reported no drops" '"dropped_lines":"0","dropped_execs":"0"' "$counters"
# The filter is in the kernel: what it let through (its own counts) is
# exactly what the agent wrote for the targeted containers. Had b or the
# host got past it, the agent would have dropped them as unknown, and only
# these counts would tell.
t_eq "the kernel let through only the targeted containers' lines" \
	"$("$TOOLS/sa-lines" --kind line --eof --field container "$work/out.jsonl" | wc -l)" \
	"$(sed -n 's/.*"lines":"\([0-9]*\)".*/\1/p' <<<"$counters")"
t_eq "and only their execs" \
	"$("$TOOLS/sa-lines" --kind exec --field container "$work/out.jsonl" | wc -l)" \
	"$(sed -n 's/.*"execs":"\([0-9]*\)".*/\1/p' <<<"$counters")"

t_summary
