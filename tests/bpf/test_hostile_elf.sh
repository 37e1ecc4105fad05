#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A container's files cannot stall the agent (security review H1). A
# hostile container holds crafted ELF files at /bin/bash and at the library
# paths the agent looks at: the sparse file with many symbol tables over one
# 64 MiB hole (12 KiB on disk, gigabytes of reading for the old parser),
# overlapping sections, a string table larger than the file, thousands of
# sections. While the agent deals with it, another, targeted container runs
# 1,500 execs and a shell types lines, with a 1 MiB ring buffer: every exec
# and every line of the good container is captured and nothing is counted
# lost. Each hostile file is refused with its reason, parsed once, logged
# once with its container; after a restart of the agent (its refused table
# in --state-dir) none is parsed again. No timing is asserted: the losses
# and the parses are counted.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

MKELF=$T_BUILD/tests/tools/mkelf
N=1500
cap_setup
[ -x "$MKELF" ] || { t_fail "missing $MKELF (run make all)"; t_summary; exit 1; }

# The hostile root: each path its own file (an identity of its own), so
# that each is parsed once, and only once.
H=$work/rfs-h
cp -a "$RFS" "$H"
mkdir -p "$H/usr/bin" "$H/usr/local/bin" "$H/lib64" "$H/usr/lib64" "$H/usr/lib/x86_64-linux-gnu"
declare -A why
hostile() { # PATH KIND N REASON
	rm -f "$H$1"
	"$MKELF" "$2" "$3" "$H$1" || t_fail "mkelf $2 $3 $1"
	why[$1]=$4
}
hostile /bin/bash many-symtabs 128 "ELF file has more than one .dynsym, .symtab or .dynamic"
hostile /usr/local/bin/bash many-symtabs 4000 "ELF file has too many sections"
hostile /lib/x86_64-linux-gnu/libreadline.so.8 many-symtabs 129 \
	"ELF file has more than one .dynsym, .symtab or .dynamic"
hostile /usr/lib/x86_64-linux-gnu/libreadline.so.7 overlap 0 "ELF sections overlap"
hostile /lib64/libedit.so.2 big-strtab 0 "ELF section lies outside the file"
hostile /usr/lib64/libreadline.so.8 many-sections 3000 "ELF file has too many sections"
hostile /lib/libreadline.so.8 over-budget 0 "ELF symbol tables larger than the bound"
echo "  note /bin/bash of the hostile container: $(du -k "$H/bin/bash" | cut -f1) KiB on disk, $(stat -c %s "$H/bin/bash") bytes"

cap_container good
cap_container h "$H"
mkdir -p "$work/state"
cap_agent --ringbuf-mb 1 --state-dir "$work/state" || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target good || t_fail "target good not added"

# The exec burst in the good container, the hostile one targeted meanwhile.
nsenter --target "${CPID[good]}" --mount --pid --root --wd "${CENV[@]}" \
	/bin/bash -c "for ((i = 0; i < $N; i++)); do /bin/true burst-\$i; done" &
burst=$!
t_cleanup "kill -KILL $burst"
started() { grep -q '"argv":\["/bin/true","burst-' "$work/out.jsonl"; }
t_wait 60 started || t_fail "the burst did not start"
cap_target h || t_fail "hostile target not added"
wait "$burst" || t_fail "the burst failed"
printf 'echo typed-%s\n' $(seq 1 20) >"$work/good.txt"
cap_shell good "$work/good.txt" >/dev/null || t_fail "the shell in good failed"
t_wait 60 cap_has_line good "echo typed-20" || t_fail "the lines of good never arrived"
execs() { "$TOOLS/sa-lines" --kind exec --container good --field argv "$work/out.jsonl" | grep -c '^/bin/true burst-'; }
all_execs() { [ "$(execs)" -ge $N ]; }
t_wait 60 all_execs
cap_agent_stop
lost=$("$TOOLS/sa-lines" --kind lost --field lost_execs "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')
lostl=$("$TOOLS/sa-lines" --kind lost --field lost_lines "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')
t_eq "every exec of the good container's burst captured" "$N" "$(execs)"
t_eq "no exec or line counted lost" "0 0" "$lost $lostl"
t_eq "every line typed in the good container captured" "$(cat "$work/good.txt")" "$(cap_lines good)"

log=$(grep -v '"source":"libbpf"' "$work/agent.log")
declare -A id
for p in "${!why[@]}"; do
	id[$p]=$(grep '"file refused: not probed","container":"h"' <<<"$log" | grep "\"file\":\"$p\"" |
		sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' | head -1)
done
# examined LOG PATH: the parses of the hostile file at PATH (by its id: the
# good container has files at some of the same paths).
examined() { grep '"msg":"ELF file examined"' <<<"$1" | grep -c "\"id\":\"${id[$2]:-none}\"" || true; }
for p in "${!why[@]}"; do
	t_match "$p refused with its reason, in the hostile container" \
		"\"msg\":\"file refused: not probed\",\"container\":\"h\",\"file\":\"$p\",\"reason\":\"${why[$p]}\",[^}]*\"known\":\"no\"" \
		"$(grep '"file refused' <<<"$log")"
	t_eq "$p parsed once and logged once" "1 1" \
		"$(examined "$log" "$p") $(grep '"file refused: not probed"' <<<"$log" | grep -c "\"file\":\"$p\"")"
done
t_match "the hostile target is added with no probe" '"target added","container":"h",[^}]*"probes":"0"' \
	"$(grep '"target added"' <<<"$log")"
t_eq "the refused files are remembered in the state dir" "${#why[@]}" \
	"$(grep -c '^v1 ' "$work/state/elf-refused" 2>/dev/null)"

# A restart: the refused table comes back; nothing hostile is parsed again.
: >"$work/agent.log"
cap_agent --ringbuf-mb 1 --state-dir "$work/state" || t_fail "agent did not restart"
both() { grep -q '"target added","container":"h"' "$work/agent.log" && grep -q '"target added","container":"good"' "$work/agent.log"; }
t_wait 60 both || t_fail "targets not added again after the restart"
cap_agent_stop
log=$(grep -v '"source":"libbpf"' "$work/agent.log")
for p in "${!why[@]}"; do
	t_match "after a restart, $p refused from the table (known)" \
		"\"msg\":\"file refused: not probed\",\"container\":\"h\",\"file\":\"$p\",\"reason\":\"${why[$p]}\",[^}]*\"known\":\"yes\"" \
		"$(grep '"file refused' <<<"$log")"
done
parsed=0
for p in "${!why[@]}"; do parsed=$((parsed + $(examined "$log" "$p"))); done
t_eq "after a restart, no hostile file parsed again" 0 "$parsed"
t_match "while the good container's bash is parsed as before" \
	'"msg":"ELF file examined","file":"/bin/bash",[^}]*"result":"found"' \
	"$(grep '"ELF file examined"' <<<"$log")"
t_summary
