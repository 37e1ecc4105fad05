#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: what loading the agent's BPF programs costs (the kernel's
# verifier, most of the agent's start), for the object of an earlier tree
# (BENCH_VERIFIER_BEFORE, e5beb59 by default: before the global functions
# of bpf/shellaudit.bpf.c) and this tree's, side by side in one run: each
# program's instructions processed and verification time, and the whole
# object's load, best of BENCH_VERIFIER_RUNS (3). Root; timings only,
# never part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

BEFORE=${BENCH_VERIFIER_BEFORE:-e5beb59}
RUNS=${BENCH_VERIFIER_RUNS:-3}
VMLINUX=$T_BUILD/bpf/vmlinux.h
if ! [ -f "$VMLINUX" ] || ! [ -f "$T_BUILD/bpf/shellaudit.skel.h" ]; then
	t_fail "missing $VMLINUX or the skeleton (run make all)"
	t_summary
	exit 1
fi
work=$(mktemp -d /tmp/shellaudit-bench-verifier.XXXXXX)
t_cleanup "rm -rf '$work'"
mkdir -p "$work/old"
{ git -C "$T_ROOT" show "$BEFORE:bpf/shellaudit.bpf.c" >"$work/old/shellaudit.bpf.c" &&
	git -C "$T_ROOT" show "$BEFORE:bpf/shellaudit.h" >"$work/old/shellaudit.h"; } ||
	{ t_fail "cannot read bpf/ at $BEFORE"; t_summary; exit 1; }
arch=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
{ clang -g -O2 -target bpf -D__TARGET_ARCH_"$arch" -Wall -I"$T_BUILD/bpf" -I"$work/old" \
	-c "$work/old/shellaudit.bpf.c" -o "$work/old/shellaudit.bpf.o" &&
	bpftool gen skeleton "$work/old/shellaudit.bpf.o" >"$work/old/shellaudit.skel.h"; } ||
	{ t_fail "build the BPF object of $BEFORE"; t_summary; exit 1; }
cc=${CC:-gcc}
for v in old:"$work/old" new:"$T_BUILD/bpf"; do
	$cc -O2 -I"${v#*:}" -o "$work/${v%%:*}-load" "$T_ROOT/tests/bench/bpfload.c" -lbpf ||
		{ t_fail "build bpfload (${v%%:*})"; t_summary; exit 1; }
done
"$work/old-load" "$RUNS" >"$work/old.txt" || t_fail "load the object of $BEFORE"
"$work/new-load" "$RUNS" >"$work/new.txt" || t_fail "load this tree's object"

echo "the BPF object's load, before = $BEFORE (programs alone; the whole as the agent loads it"
echo "with terminal capture by tracepoints and 32-bit reads, best of $RUNS)"
printf '  %-16s %14s %14s %14s %14s\n' program "before insns" "after insns" "before ms" "after ms"
# One line per program of either object, by name; "?" where one has none.
awk -F'\t' 'NR == FNR { bi[$1] = $2; bm[$1] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } next }
	{ ai[$1] = $2; am[$1] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
	END { for (k = 1; k <= n; k++) { p = order[k]
		printf "  %-16s %14s %14s %14s %14s\n", p, (p in bi) ? bi[p] : "?", (p in ai) ? ai[p] : "?",
			(p in bm) ? bm[p] : "?", (p in am) ? am[p] : "?" } }' "$work/old.txt" "$work/new.txt"
t_eq "the whole object loaded, before and after" "1 1" \
	"$(grep -c '^whole' "$work/old.txt") $(grep -c '^whole' "$work/new.txt")"
t_summary
