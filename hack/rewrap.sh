#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rewraps the C lines over 100 columns, and only them: clang-format
# (.clang-format) on each such line's range, the rest of the file as it is.
# Prints the lines it could not bring under 100 columns (long string
# literals, which .clang-format never splits: shorten those by hand, then
# git clang-format main lays out the statements they are in) and fails if
# there are any.
#
#   hack/rewrap.sh [FILE...]    FILE: C sources and headers [all that git holds]
set -euo pipefail

. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || die "clang-format is missing (make deps)"

# The numbers of FILE's lines over 100 columns, a tab counting as up to 8
# (as in .clang-format and hack/lint.sh).
long_lines() {
	expand -t8 "$1" | awk 'length($0) > 100 { print NR }'
}

if [ $# -eq 0 ]; then
	# (sort -u: a file in conflict is listed once per stage.)
	mapfile -t files < <(git ls-files -- '*.c' '*.h' | sort -u)
else
	files=("$@")
fi

left=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	mapfile -t lines < <(long_lines "$f")
	[ ${#lines[@]} -gt 0 ] || continue
	ranges=()
	for n in "${lines[@]}"; do ranges+=("--lines=$n:$n"); done
	clang-format -i "${ranges[@]}" "$f"
	while IFS= read -r n; do
		printf '%s:%d: %d columns, not rewrapped\n' "$f" "$n" \
			"$(sed -n "${n}p" "$f" | expand -t8 | wc -L)"
		left=$((left + 1))
	done < <(long_lines "$f")
done
[ "$left" -eq 0 ] || die "$left lines over 100 columns left: split them by hand, then git clang-format main"
