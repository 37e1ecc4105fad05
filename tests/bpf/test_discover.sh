#!/usr/bin/env bash
# Shells found after the target was added: a bash at a path the agent does
# not know, probed from its exec event; the same file shared by two targeted
# containers probed once and attributed to each.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
# A root of its own with a second bash file at an unusual path.
cp -a "$RFS" "$work/rfs-n"
mkdir -p "$work/rfs-n/opt/shells"
cp "$RFS/bin/bash" "$work/rfs-n/opt/shells/mysh"
cap_container n "$work/rfs-n"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target n || t_fail "target n not added"
t_eq "the unusual path is not probed when the target is added" "" \
	"$(grep '"readline probe attached"' "$work/agent.log" | grep /opt/shells/mysh)"

# The shell enters readline (prints its prompt) within milliseconds of its
# exec, before the probe can be attached (perf_event_open of a uprobe takes
# ~10 ms here), and a uretprobe misses a call entered before it: the first
# line is typed once the probe is there, as a person would, and the lines
# after it must all be captured.
printf 'echo first line of a new shell\necho second\necho third\n' >"$work/n.txt"
cap_shell n "$work/n.txt" --ready "grep -q '\"readline probe attached\".*mysh' '$work/agent.log'" \
	-- /opt/shells/mysh >/dev/null || t_fail "shell in n failed"
t_wait 30 cap_has_line n "echo third" || t_fail "lines of the new shell never arrived"
t_eq "a shell started after the target was added is captured once probed" \
	"$(tail -n 2 "$work/n.txt")" "$(cap_lines n | tail -n 2)"
if cap_has_line n "echo first line of a new shell"; then
	echo "  note the line typed at the first prompt was captured too"
else
	echo "  note the line typed at the first prompt was missed (readline entered before the probe)"
fi
attach=$(grep '"probed a new program from its exec"' "$work/agent.log" | head -1)
t_match "the new shell was probed from its exec event" '"exec_to_attach_us":"[0-9]+"' "$attach"
us=$(printf '%s' "$attach" | sed -n 's/.*"exec_to_attach_us":"\([0-9]*\)".*/\1/p')
echo "  note exec to attach: ${us:-?} us"

t_summary
