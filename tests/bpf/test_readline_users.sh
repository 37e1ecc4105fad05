#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Other readline users: a program that links libreadline (sqlite3) is
# captured through the library, also when the library is in a directory
# only LD_LIBRARY_PATH names (found in the process's maps once loaded); a
# stripped static bash has nothing to probe, the agent says why, its lines
# come from terminal capture (readline's keys replayed) and what it runs is
# captured as execs.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
for p in sqlite3 bash-static; do
	type -P "$p" >/dev/null || t_fail "$p is not installed (hack/install-deps.sh installs it)"
done
[ $T_FAILED = 0 ] || { t_summary; exit 1; }
R=$work/rfs-r
"$T_ROOT/hack/mkrootfs.sh" "$R" sqlite3 bash-static 2>/dev/null || t_fail "mkrootfs with sqlite3 failed"
cap_container r "$R"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target r || t_fail "target r not added"
t_match "libreadline in the container probed when the target was added" \
	'"readline probe attached","file":"/lib/[^"]*/libreadline.so.8"' "$(cat "$work/agent.log")"

printf 'select 6*7;\n.mode list\nselect '"'"'from sqlite'"'"';\n' >"$work/sql.txt"
"$TOOLS/ptytype" --prompt 'sqlite> ' --lines "$work/sql.txt" --log "$work/pty-sql.log" -- \
	nsenter --target "${CPID[r]}" --mount --pid --root --wd "${CENV[@]}" /bin/sqlite3 >/dev/null ||
	t_fail "sqlite3 in r failed"
t_wait 30 cap_has_line r "select 'from sqlite';" || t_fail "sqlite3 lines never arrived"
t_eq "sqlite3 lines captured through libreadline" "$(cat "$work/sql.txt")" \
	"$(cap_lines r)"
t_eq "attributed to sqlite3" sqlite3 \
	"$("$TOOLS/sa-lines" --kind line --container r --field comm "$work/out.jsonl" | sort -u)"

printf 'echo from-static-bash\n/bin/true static-child\n' >"$work/static.txt"
# Discovery looks at the new executable in its own turns, after the exec
# event that queued it, and only while the process lives: the lines are
# typed once the agent has said what it found (ptytype --ready), so the
# shell cannot have exited before (a busy machine made that a race).
static_seen="grep -qE '\"no readline to probe\",\"file\":\"[^\"]*bash-static\"' '$work/agent.log'"
cap_shell r "$work/static.txt" --ready "$static_seen" -- /bin/bash-static >/dev/null ||
	t_fail "bash-static in r failed"
t_wait 30 grep -q '"argv":\["/bin/true","static-child"\]' "$work/out.jsonl" ||
	t_fail "exec from bash-static never arrived"
t_match "static bash not probed, and the agent says why" \
	'"no readline to probe","file":"[^"]*bash-static"[^}]*"reason":"no symbol table' \
	"$(cat "$work/agent.log")"
t_eq "no readline line from the static bash" "" \
	"$("$TOOLS/sa-lines" --kind line --container r --source readline "$work/out.jsonl" | grep static)"
t_wait 30 grep -q '"line":"/bin/true static-child"' "$work/out.jsonl"
t_eq "its lines are terminal lines" "$(cat "$work/static.txt")" \
	"$("$TOOLS/sa-lines" --kind line --container r --source terminal "$work/out.jsonl")"
t_match "its execs are captured" $'(^|\n)/bin/true static-child(\n|$)' \
	"$("$TOOLS/sa-lines" --kind exec --container r --field argv "$work/out.jsonl")"
# libreadline where only LD_LIBRARY_PATH finds it: not probed when the
# target is added, found in the maps of sqlite3 after its exec.
R2=$work/rfs-r2
cp -a "$R" "$R2"
mkdir -p "$R2/opt/rl"
mv "$R2"/lib/*/libreadline.so.8 "$R2/opt/rl/"
cap_container r2 "$R2"
cap_target r2 || t_fail "target r2 not added"
t_eq "the library in /opt/rl not probed when r2 was added" "" \
	"$(grep '"readline probe attached"' "$work/agent.log" | grep /opt/rl)"
"$TOOLS/ptytype" --prompt 'sqlite> ' --lines "$work/sql.txt" --log "$work/pty-sql2.log" \
	--ready "grep -q 'readline probe attached.*/opt/rl/libreadline.so.8\"' '$work/agent.log'" -- \
	nsenter --target "${CPID[r2]}" --mount --pid --root --wd "${CENV[@]}" LD_LIBRARY_PATH=/opt/rl \
	/bin/sqlite3 >/dev/null || t_fail "sqlite3 in r2 failed"
t_wait 30 cap_has_line r2 "select 'from sqlite';" || t_fail "sqlite3 lines in r2 never arrived"
t_eq "a libreadline found through the maps after exec is probed; lines captured" \
	"$(cat "$work/sql.txt")" "$(cap_lines r2)"
cap_agent_stop
t_summary
