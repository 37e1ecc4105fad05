#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A bash that links libreadline.so.8 instead of carrying readline inside (as
# Arch and Alpine ship it; built by hack/bash-readline.sh): the probe lands
# on the library in the container's root, once for every container sharing
# that file, and the lines typed into bash are captured exactly, in order,
# only in targeted containers. bash itself has its `bind -x` probe: a
# command bound to a key that runs the line being edited, or reads the
# terminal itself and runs what it read, hides neither.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
if [ ! -x "$BASH_RL" ]; then
	t_fail "$BASH_RL exists" "build it with hack/bash-readline.sh (make bash-readline)"
	t_summary
	exit 1
fi
R=$work/rfs-rl
"$T_ROOT/hack/mkrootfs.sh" "$R" "$BASH_RL" 2>/dev/null || t_fail "mkrootfs with $BASH_RL failed"
libs=("$R"/lib/*/libreadline.so.8)
if ! cmp -s "$BASH_RL" "$R/bin/bash" || [ ! -f "${libs[0]}" ]; then
	t_fail "the root has the libreadline bash as /bin/bash and its libreadline.so.8"
	t_summary
	exit 1
fi
lib=${libs[0]#"$R"}
libid=$(stat -c '%Hd:%Ld:%i' "$R$lib")

# a, c and d are targeted, b is not; all four share one root, hence one
# bash file and one libreadline file.
cap_container a "$R"
cap_container b "$R"
cap_container c "$R"
cap_container d "$R"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target a || t_fail "target a not added"
t_match "the container's libreadline.so.8 probed when a was added" \
	"\"msg\":\"readline probe attached\",\"file\":\"$lib\",\"inode\":\"$libid\"" \
	"$(grep -e '"readline probe attached"' -e '"no readline to probe"' "$work/agent.log")"
t_match "bash itself not probed: it imports readline, and the agent says so" \
	'"msg":"no readline to probe","file":"/bin/bash"[^}]*"reason":"function is imported' \
	"$(grep -e '"readline probe attached"' -e '"no readline to probe"' "$work/agent.log")"

# The untargeted container and the host type first, on the very library
# file that is probed: anything of theirs captured would come first.
printf 'echo untargeted-b-line\ntrue from-b\n' >"$work/b.txt"
cap_shell b "$work/b.txt" >/dev/null || t_fail "shell in b failed"
printf 'echo host-line-on-the-probed-library\n' >"$work/host.txt"
"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$work/host.txt" -- \
	"${CENV[@]}" LD_LIBRARY_PATH="$R${lib%/*}" "$R/bin/bash" --rcfile "$R/root/.bashrc" -i \
	>/dev/null || t_fail "host shell failed"

cat >"$work/a.txt" <<'LINES'
echo hello | tr a-z A-Z

cd /tmp
export FOO=bar
pwd; echo "$FOO" | wc -c
ls / | grep -c bin
  echo '  spaces kept  '  
LINES
cap_shell a "$work/a.txt" >/dev/null || t_fail "shell in a failed"
cap_target c || t_fail "target c not added"
printf 'echo from-c\ncd /\n' >"$work/c.txt"
cap_shell c "$work/c.txt" >/dev/null || t_fail "shell in c failed"
t_wait 30 cap_has_line c "cd /" || t_fail "the last line of c never arrived"
# `bind -x` commands in d, run from inside readline (in the library) by
# bash: one runs the line being edited itself (readline returns an empty
# line), one reads the terminal itself and runs what it read.
cap_target d || t_fail "target d not added"
printf '%s\0' "bind -x '\"\\C-t\": eval \"\$READLINE_LINE\"; READLINE_LINE='" \
	$'echo bindx-eval > /dev/null\x14' "bind -x '\"\\C-y\": read -rn 15 x; eval \"\$x\"'" \
	$'\x19echo bindx-read' 'echo bindx-done' >"$work/d.txt"
cap_shell d "$work/d.txt" --nul --prompt-last >/dev/null || t_fail "shell in d failed"
t_wait 30 cap_has_line d "echo bindx-done" || t_fail "the last line of d never arrived"
cap_agent_stop

t_eq "typed lines of a captured exactly, in order, empty line included" \
	"$(cat "$work/a.txt")" "$(cap_lines a)"
t_eq "attributed to bash" bash \
	"$("$TOOLS/sa-lines" --kind line --container a --field comm "$work/out.jsonl" | sort -u)"
t_eq "lines of c attributed to c" "$(cat "$work/c.txt")" "$(cap_lines c)"
t_eq "nothing from the untargeted container" "" \
	"$(grep -e untargeted-b -e from-b "$work/out.jsonl")"
t_eq "nothing from the host's bash on the same library" "" "$(grep host-line "$work/out.jsonl")"
t_eq "only targeted containers in the output" "a c d" \
	"$("$TOOLS/sa-lines" --field container "$work/out.jsonl" | sort -u | tr '\n' ' ' | sed 's/ $//')"
t_eq "one readline probe, on the libreadline file that a, c and d share; none on bash" \
	"$lib $libid" \
	"$(sed -n 's/.*"msg":"readline probe attached","file":"\([^"]*\)","inode":"\([^"]*\)".*/\1 \2/p' \
		"$work/agent.log")"
t_eq "bash has its bind -x probe, once, rl_line_buffer found in it" "/bin/bash yes" \
	"$(sed -n 's/.*"msg":"bind -x probe attached: bash linking libreadline","file":"\([^"]*\)".*"line":"\([a-z]*\)".*/\1 \2/p' \
		"$work/agent.log")"
t_eq "a bind -x command that runs the line being edited: that line, marked inexact" \
	"$(printf '%s\t%s' 'echo bindx-eval > /dev/null' true)" \
	"$("$TOOLS/sa-lines" --kind line --container d --source readline --field line,inexact "$work/out.jsonl" |
		awk -F'\t' '$2 == "true"')"
t_eq "a bind -x command that reads the terminal itself: what it read, as a terminal line" \
	"$(printf 'bash\techo bindx-read')" \
	"$("$TOOLS/sa-lines" --kind line --container d --source terminal --field comm,line "$work/out.jsonl")"
t_match "agent reported no drops" '"dropped_lines":"0","dropped_execs":"0"' \
	"$(grep '"capture counters"' "$work/agent.log")"

t_summary
