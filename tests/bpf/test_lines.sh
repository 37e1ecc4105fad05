#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Line sizes and contents: 1 byte, exactly the maximum, one past it, 1 MiB,
# binary bytes, and 10,000 lines typed as fast as the pty takes them. Each
# captured line equals what was typed up to the maximum and is marked
# truncated past it; drops are 0 or counted exactly.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
cap_container s
cap_container bin
cap_container fast
cap_container wide
# A root of its own (the shared one's files, linked), where the test puts a
# file.
{ cp -al "$RFS" "$work/nm-root" 2>/dev/null || cp -a "$RFS" "$work/nm-root"; } ||
	t_fail "a root for nm"
cap_container nm "$work/nm-root"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
for c in s bin fast nm; do cap_target $c || t_fail "target $c not added"; done

# Sizes, with the default maximum of 4096 bytes.
{
	echo x
	printf '#%4095s\n' '' | tr ' ' m
	printf '#%4096s\n' '' | tr ' ' p
	printf '#%1048575s\n' '' | tr ' ' g
	echo 'echo done-sizes'
} >"$work/s.txt"
cap_shell s "$work/s.txt" --timeout 600 >/dev/null || t_fail "shell in s failed"
t_wait 60 cap_has_line s "echo done-sizes" || t_fail "sized lines never arrived"
mapfile -t got < <(cap_lines s)
mapfile -t trunc < <("$TOOLS/sa-lines" --kind line --container s --field truncated "$work/out.jsonl")
mapfile -t sent <"$work/s.txt"
t_eq "1-byte line" "x false" "${got[0]:-} ${trunc[0]:-}"
cap_same "line of exactly 4096 bytes kept whole" "${sent[1]} false" "${got[1]:-} ${trunc[1]:-}"
cap_same "line of 4097 bytes: first 4096, truncated" "${sent[2]:0:4096} true" "${got[2]:-} ${trunc[2]:-}"
cap_same "1 MiB line: first 4096 bytes, truncated" "${sent[3]:0:4096} true" "${got[3]:-} ${trunc[3]:-}"
t_eq "nothing else captured in s" 5 "${#got[@]}"

# A program run with more argv than --max-args (4096 bytes by default)
# keeps the start of it, cut in the kernel, and is marked truncated.
printf '/bin/true %6000s\n' '' | tr ' ' a | sed 's#^/bin/truea#/bin/true #' >"$work/args.txt"
cap_shell s "$work/args.txt" >/dev/null || t_fail "shell in s failed"
arg_exec() { "$TOOLS/sa-lines" --kind exec --container s --field argv "$work/out.jsonl" | grep '^/bin/true '; }
t_wait 60 arg_exec || t_fail "the exec of /bin/true never arrived"
argv=$(arg_exec | head -1)
typed=$(cat "$work/args.txt")
t_eq "exec argv past --max-args: its first 4096 bytes, marked truncated" "4096 true yes" \
	"${#argv} $("$TOOLS/sa-lines" --kind exec --container s --field truncated "$work/out.jsonl" | tail -1) \
$([ "${typed:0:${#argv}}" = "$argv" ] && echo yes || echo no)"

# A shell whose command name holds a control character (comm, the
# basename it was run by: a process names itself as it likes) gets that
# name escaped apart: its typed lines stay as typed, one backslash for one.
ln -s /bin/bash "$work/nm-root/tmp/$(printf 'x\033y')" || t_fail "the link in nm"
printf '%s\n' "/tmp/\$'x\\033y'" "echo 'comm-renamed a\\tb'" exit >"$work/comm.txt"
cap_shell nm "$work/comm.txt" >/dev/null || t_fail "shell in nm failed"
t_wait 60 cap_has_line nm "echo 'comm-renamed a\\tb'" || t_fail "the renamed shell's line never arrived"
t_eq "a control character in comm: comm escaped apart, the line as typed" \
	"x\\ey comm_escaped line_as_typed" "$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") == "line" and "comm-renamed" in e.get("line", ""):
        print(e.get("comm"), "comm_escaped" if e.get("comm_escaped") is True else "-",
              "line_as_typed" if e["line"] == sys.argv[2] and not e.get("escaped") else "-")
' "$work/out.jsonl" "echo 'comm-renamed a\\tb'")"
t_eq "and sa-lines gives that name back" "$(printf 'x\033y')" "$("$TOOLS/sa-lines" --kind line \
	--container nm --field line,comm "$work/out.jsonl" | grep -F comm-renamed | cut -f2)"

# Every byte value a terminal lets through to readline: all but NUL (ends a
# C string), LF and CR (end the line), and the ones the tty turns into
# signals (^C ^Z ^\) or flow control (^Q ^S). Control bytes are typed after
# ^V (quoted-insert).
{
	printf '#'
	for i in $(seq 1 255); do
		case $i in 3 | 10 | 13 | 17 | 19 | 26 | 28) continue ;; esac
		printf '%b' "\\x$(printf %02x "$i")"
	done
	printf '\n'
	printf '# utf-8: \xc3\xa9 \xe2\x82\xac and a bidi override \xe2\x80\xae reversed\n'
	printf '# C1 controls as UTF-8: NEL \xc2\x85 CSI \xc2\x9b2J\n'
} >"$work/bin.txt"
cap_shell bin "$work/bin.txt" --quote >/dev/null || t_fail "shell in bin failed"
t_wait 60 cap_has_line bin "$(tail -n 1 "$work/bin.txt")" || t_fail "binary lines never arrived"
"$TOOLS/sa-lines" --kind line --container bin "$work/out.jsonl" >"$work/bin.got"
t_run "binary bytes captured exactly" cmp "$work/bin.txt" "$work/bin.got"
# No C0 control byte but LF, no DEL, no C1 control (U+0080-009F) and no
# bidi override raw in the output: every one of them was typed above.
t_eq "output has no raw control byte" "0" \
	"$(LC_ALL=C grep -cP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$work/out.jsonl")"
# Nor in the text as stored (the JSON strings decoded, as an AuditRecord's
# reader gets them): the agent's escaping, not only JSON's, must hold.
t_eq "the stored text has no control character" "0" "$(python3 -c '
import json, re, sys
bad = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
print(sum(1 for l in open(sys.argv[1]) for s in strings(json.loads(l)) if bad.search(s)))' "$work/out.jsonl")"

# 10,000 lines as fast as the pty takes them.
seq -f '#fast %g' 1 10000 >"$work/fast.txt"
cap_shell fast "$work/fast.txt" --fast --timeout 600 >/dev/null || t_fail "shell in fast failed"
t_wait 120 cap_has_line fast "#fast 10000" || t_fail "the last fast line never arrived"
cap_agent_stop
cap_lines fast >"$work/fast.got"
lost=$("$TOOLS/sa-lines" --kind lost --field lost_lines "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')
fast=$(wc -l <"$work/fast.got")
t_eq "10,000 lines: captured + counted drops = sent" 10000 "$((fast + lost))"
# With no drop the capture is the input; with drops it is the input with
# exactly `lost` lines missing, the rest in order.
if [ "$lost" = 0 ]; then
	t_run "10,000 lines: what was captured is what was sent, in order" cmp "$work/fast.txt" "$work/fast.got"
else
	# Each captured line must be found at or after the place of the one
	# before it ("out of place" otherwise), and the lines passed over
	# must be exactly the ones counted as lost.
	t_eq "10,000 lines: what was captured is what was sent, in order" "0 out of place, $lost passed over" \
		"$(awk 'NR == FNR { want[n++] = $0; next }
			{ while (i < n && want[i] != $0) i++; if (i >= n) bad++; else { ok++; i++ } }
			END { printf "%d out of place, %d passed over\n", bad, n - ok }' "$work/fast.txt" "$work/fast.got")"
fi
echo "  note 10,000 fast lines: $fast captured, $lost counted as dropped"

# A larger maximum: a 1 MiB line keeps 65534 bytes.
: >"$work/agent.log"
: >"$work/out.jsonl"
: >"$work/targets"
cap_agent --max-line 65534 || t_fail "agent with --max-line 65534 did not start"
cap_target wide || t_fail "target wide not added"
{
	printf '#%1048575s\n' '' | tr ' ' w
	echo 'echo done-wide'
} >"$work/wide.txt"
cap_shell wide "$work/wide.txt" --timeout 600 >/dev/null || t_fail "shell in wide failed"
t_wait 60 cap_has_line wide "echo done-wide" || t_fail "wide lines never arrived"
cap_agent_stop
mapfile -t got < <(cap_lines wide)
mapfile -t trunc < <("$TOOLS/sa-lines" --kind line --container wide --field truncated "$work/out.jsonl")
mapfile -t sent <"$work/wide.txt"
t_eq "--max-line 65534: 1 MiB line keeps 65534 bytes, truncated" "65534 true" \
	"${#got[0]} ${trunc[0]:-}"
cap_same "--max-line 65534: content is the typed prefix" "${sent[0]:0:65534}" "${got[0]:-}"

t_summary
