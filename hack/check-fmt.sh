#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-format (.clang-format) on the C lines changed since a base commit,
# committed or not: prints what clang-format would change and fails, or
# says nothing and passes. Existing code is held to the format as it is
# touched, not reformatted at once (git's own stance on its .clang-format).
#
#   hack/check-fmt.sh [BASE]    BASE: a commit [the merge-base with main]
set -euo pipefail

. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
base=${1:-$(git merge-base HEAD main 2>/dev/null || echo HEAD)}
command -v git-clang-format >/dev/null || die "git-clang-format is missing (make deps: clang-format)"
git rev-parse --verify -q "$base^{commit}" >/dev/null || die "no such commit: $base"
# --diff prints the changes it would make; "no modified files" or "did not
# modify" when there are none.
out=$(git clang-format --quiet --diff --extensions c,h "$base" -- . 2>&1) || true
if [ -z "$out" ] || [[ $out == *"no modified files to format"* ]] ||
	[[ $out == *"clang-format did not modify any files"* ]]; then
	exit 0
fi
printf '%s\n' "$out"
die "the lines above, changed since $(git rev-parse --short "$base"), are not formatted:" \
	"run git clang-format $base"
