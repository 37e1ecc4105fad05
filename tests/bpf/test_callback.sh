#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Programs that read lines through readline's callback interface instead of
# readline() (python3's REPL; gdb does the same) are captured through
# rl_deprep_terminal, which readline calls when such a line is complete.
# The container here shares the host's root directory (a new mount and pid
# namespace only), so that python3 finds its standard library.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
py=$(type -P python3) || { t_fail "python3 is not installed (hack/install-deps.sh installs it)"; t_summary; exit 1; }
cap_container p /
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target p || t_fail "target p not added"

printf 'x = 6 * 7\nprint(x, "from python")\n\nimport os\n' >"$work/py.txt"
"$TOOLS/ptytype" --prompt '>>> ' --lines "$work/py.txt" --log "$work/pty-py.log" -- \
	nsenter --target "${CPID[p]}" --mount --pid --root --wd \
	env -i PATH=/usr/bin:/bin HOME=/root TERM=xterm PYTHONSTARTUP= "$py" -q >/dev/null ||
	t_fail "python3 in p failed"
t_wait 30 cap_has_line p "import os" || t_fail "python lines never arrived"
# The empty line of the Ctrl-D comes after it, maybe in a later drain: the
# agent, stopped, has written everything.
cap_agent_stop
# All of them, nothing more: the four lines, then the Ctrl-D that ends the
# REPL, which the callback interface reads as an empty line.
{ cat "$work/py.txt"; echo; } >"$work/py.want"
cap_lines p >"$work/py.got"
t_run "python3 REPL lines captured, in order, empty line included, nothing else" \
	cmp "$work/py.want" "$work/py.got"
t_eq "callback-read lines are not flagged recovered" "" \
	"$(grep '"recovered":true' "$work/out.jsonl")"
t_eq "attributed to python3" python3 \
	"$("$TOOLS/sa-lines" --kind line --container p --field comm "$work/out.jsonl" | sort -u)"
t_summary
