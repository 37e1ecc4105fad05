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
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
for c in s bin fast; do cap_target $c || t_fail "target $c not added"; done

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
} >"$work/bin.txt"
cap_shell bin "$work/bin.txt" --quote >/dev/null || t_fail "shell in bin failed"
t_wait 60 cap_has_line bin "$(tail -n 1 "$work/bin.txt")" || t_fail "binary lines never arrived"
"$TOOLS/sa-lines" --kind line --container bin "$work/out.jsonl" >"$work/bin.got"
t_run "binary bytes captured exactly" cmp "$work/bin.txt" "$work/bin.got"
t_eq "output has no raw control byte" "" "$(tr -d '\n' <"$work/out.jsonl" | tr -d '\040-\377' | od -An -c | head -1)"

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
t_eq "10,000 lines: what was captured is what was sent, in order" 0 \
	"$(awk 'NR == FNR { want[n++] = $0; next } { while (i < n && want[i] != $0) { i++; miss++ } i++ }
		END { print miss + (n - i) - '"$lost"' }' "$work/fast.txt" "$work/fast.got")"
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
