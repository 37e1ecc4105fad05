#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make lint: every checker runs, even after another one found something,
# and the script fails if any of them did.
#
#   clang-tidy   (.clang-tidy) one process per C file, $LINT_JOBS at a time
#   cppcheck     the same C files, $LINT_JOBS threads
#   scripts      shellcheck
#   columns      no line of a C source or header over 100 columns (the C
#                code's limit, .clang-format's; hack/rewrap.sh rewraps)
#   SPDX         every source, script and manifest opens with its SPDX line
#   check-fmt    clang-format on the lines changed since FMT_BASE
#
# The Makefile passes what to check in the environment: LINT_C (C files),
# LINT_SH (scripts), LINT_CFLAGS (clang-tidy's compiler flags),
# CPPCHECK_FLAGS, FMT_BASE.
set -uo pipefail

. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.." || exit
jobs=${LINT_JOBS:-$(nproc)}
read -r -a cflags <<<"${LINT_CFLAGS:-}"
cflags+=('-DSHELLAUDIT_VERSION="lint"')
read -r -a cppflags <<<"${CPPCHECK_FLAGS:-}"
read -r -a c_files <<<"${LINT_C:-}"
read -r -a sh_files <<<"${LINT_SH:-}"
failed=()

step() { printf '  %-8s %s\n' "$1" "$2"; }

if [ ${#c_files[@]} -gt 0 ]; then
	step TIDY "${#c_files[@]} files, $jobs at a time"
	# The file comes last (xargs appends it), the flags before it. clang-tidy
	# says "N warnings generated." for what its filters hid: not a finding.
	# shellcheck disable=SC2016 # the script bash -c runs, with its own $@
	printf '%s\0' "${c_files[@]}" |
		xargs -0 -n1 -P"$jobs" bash -c 'f=${!#}; set -- "${@:1:$#-1}"
			out=$(clang-tidy --quiet "$f" -- "$@" 2>&1) && exit 0
			grep -v "^[0-9]* warnings\? generated\.$" <<<"$out"; exit 1' _ "${cflags[@]}" ||
		failed+=(clang-tidy)

	step CPPCHECK "${#c_files[@]} files"
	cppcheck -j"$jobs" "${cppflags[@]}" "${c_files[@]}" || failed+=(cppcheck)
fi

if [ ${#sh_files[@]} -gt 0 ]; then
	step SHCHECK "${#sh_files[@]} files"
	shellcheck "${sh_files[@]}" || failed+=(shellcheck)
fi

# Git's view of the tree: what is committed or staged, without build/
# (sort -u: a file in conflict is listed once per stage).
mapfile -t tracked < <(git ls-files --cached --others --exclude-standard | sort -u)

step COLUMNS "C sources and headers: 100 at most"
long=()
for f in "${tracked[@]}"; do
	case $f in
	*.c | *.h) ;;
	*) continue ;;
	esac
	[ -f "$f" ] || continue
	# A tab counts as up to 8 columns, as in .clang-format.
	while IFS= read -r hit; do long+=("$f:$hit"); done < <(expand -t8 "$f" |
		awk 'length($0) > 100 { printf "%d: %d columns\n", NR, length($0) }')
done
if [ ${#long[@]} -gt 0 ]; then
	printf '%s\n' "${long[@]}" "(hack/rewrap.sh rewraps them)"
	failed+=(columns)
fi

step SPDX "every source, script and manifest"
# All that git holds but the license, the documents and the tests' data.
missing=()
for f in "${tracked[@]}"; do
	case $f in
	LICENSE | *.md | .gitignore | tests/*.txt) continue ;;
	esac
	[ -f "$f" ] || continue
	grep -q SPDX-License-Identifier "$f" || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
	printf '%s: no SPDX-License-Identifier line\n' "${missing[@]}"
	failed+=(SPDX)
fi

step FMT "changes since ${FMT_BASE:-the merge-base with main}"
hack/check-fmt.sh ${FMT_BASE:+"$FMT_BASE"} || failed+=(check-fmt)

[ ${#failed[@]} -eq 0 ] || die "make lint: findings from ${failed[*]}"
