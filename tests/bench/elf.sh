#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: the time one ELF lookup takes on hostile and real files, with
# the parser before the per-file bounds (the tree at BENCH_ELF_BEFORE,
# de1f22a by default) and with this tree's, side by side in one run.
# Timings only: never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

BEFORE=${BENCH_ELF_BEFORE:-de1f22a}
MKELF=$T_BUILD/tests/tools/mkelf
[ -x "$MKELF" ] || { t_fail "missing $MKELF (run make all)"; t_summary; exit 1; }
work=$(mktemp -d /tmp/shellaudit-bench-elf.XXXXXX)
t_cleanup "rm -rf '$work'"
mkdir -p "$work/old"
{ git -C "$T_ROOT" show "$BEFORE:node-agent/elfsym.c" >"$work/old/elfsym.c" &&
	git -C "$T_ROOT" show "$BEFORE:node-agent/elfsym.h" >"$work/old/elfsym.h"; } ||
	{ t_fail "cannot read elfsym at $BEFORE"; t_summary; exit 1; }
cc=${CC:-gcc}
$cc -O2 -D_GNU_SOURCE -I"$work/old" -o "$work/before" "$T_ROOT/tests/bench/elfbench.c" \
	"$work/old/elfsym.c" || { t_fail "build before"; t_summary; exit 1; }
$cc -O2 -D_GNU_SOURCE -I"$T_ROOT/node-agent" -I"$T_ROOT/lib" -o "$work/after" \
	"$T_ROOT/tests/bench/elfbench.c" "$T_ROOT/node-agent/elfsym.c" "$T_ROOT/lib/clock.c" \
	"$T_ROOT/lib/digest.c" -lcjson -lcrypto || { t_fail "build after"; t_summary; exit 1; }

files=()
for k in many-symtabs:16 many-symtabs:128 overlap:0 big-strtab:0 many-sections:3000 sized:25; do
	f=$work/${k%%:*}-${k#*:}
	"$MKELF" "${k%%:*}" "${k#*:}" "$f" || t_fail "mkelf $k"
	files+=("$f")
done
for f in /bin/bash /usr/lib/x86_64-linux-gnu/libreadline.so.8 /bin/bash-static; do
	[ -f "$f" ] && files+=("$(readlink -f "$f")")
done
"$work/before" "${files[@]}" >"$work/before.txt" || t_fail "the lookups before"
"$work/after" "${files[@]}" >"$work/after.txt" || t_fail "the lookups after"
echo "one elfsym_find(readline) per file, best of ${BENCH_ELF_RUNS:-3}; before = $BEFORE"
printf '  %-40s %12s %12s  %s\n' file "before ms" "after ms" "after: result"
paste "$work/before.txt" "$work/after.txt" | while IFS=$'\t' read -r b _ _ a res f; do
	printf '  %-40s %12s %12s  %s\n' "$(basename "$f")" "$b" "$a" "$res"
done
echo "  (sized-25: the costliest file within the bounds, 1M symbols and 1 MiB of strings)"
t_eq "every file looked up before and after" "${#files[@]} ${#files[@]}" \
	"$(wc -l <"$work/before.txt") $(wc -l <"$work/after.txt")"
t_summary
