#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make mutants: deliberate breakages of the product (tests/mutants.list),
# each of which the test it names must catch. For each line, in a scratch
# copy of the tree (never this one: an interrupted run leaves nothing
# broken here), the sed expression is applied to the file, what the test
# needs is built, and the test is run; it must fail. Before that, every
# test named is run once on the unbroken copy and must pass, or its verdict
# would mean nothing.
#
#   tests/mutants.sh [REGEX]   only the lines matching REGEX
#
# Prints one line per mutant (killed, SURVIVED, or NOT APPLIED when the
# expression changed nothing) and a summary; exits 1 unless every mutant
# was killed. Like make test it runs as root (BPF, clusters). Logs are in
# build/mutants/. Time limits per test are those of tests/run.sh
# (SHELLAUDIT_TEST_TIMEOUT_<SUITE>); a test that runs past its limit has
# failed, so it counts as killed.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
list=$root/tests/mutants.list
filter=${1:-}
logs=$root/build/mutants
mkdir -p "$logs"
rm -f "$logs"/*.log

scratch=$(mktemp -d /tmp/shellaudit-mutants.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

# What is in this tree now, committed or not (untracked files too, unless
# ignored): the mutants are judged against the tests as they are.
git -C "$root" ls-files -z --cached --others --exclude-standard |
	(cd "$root" && tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$scratch" ||
	{ echo "cannot copy the tree to $scratch" >&2; exit 2; }
# The copy is no git work tree: the build's version string comes from here.
version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)

limit() {
	case $1 in
	unit) echo "${SHELLAUDIT_TEST_TIMEOUT_UNIT:-300}" ;;
	bpf) echo "${SHELLAUDIT_TEST_TIMEOUT_BPF:-900}" ;;
	integration) echo "${SHELLAUDIT_TEST_TIMEOUT_INTEGRATION:-1200}" ;;
	e2e) echo "${SHELLAUDIT_TEST_TIMEOUT_E2E:-1800}" ;;
	esac
}

# build TEST: makes what TEST (unit/test_x, bpf/test_x.sh, ...) needs.
build() {
	local targets
	case $1 in
	unit/*) targets="build/asan/tests/$1" ;;
	bpf/*) targets="all" ;;
	integration/*) targets="all build/asan/shellaudit-controller build/asan/shellaudit-agent $(
		cd "$scratch" && printf '%s\n' tests/integration/*.c | sed 's#^tests/\(.*\)\.c$#build/asan/tests/\1#' | tr '\n' ' ')" ;;
	e2e/*) targets="all" ;;
	*) return 2 ;;
	esac
	# Warnings are no errors here: a mutant that leaves a variable unused
	# must still build, or it would prove nothing about the test.
	# shellcheck disable=SC2086 # several targets
	make -C "$scratch" VERSION="$version" WARN="-Wall -Wextra -Wno-unused" $targets
}

# run TEST LOG: runs TEST in the scratch tree; its exit status.
run() {
	local suite=${1%%/*} path
	path=$scratch/tests/$1
	[ "$suite" = unit ] && path=$scratch/build/asan/tests/$1
	timeout --kill-after=60 "$(limit "$suite")" "$path" >>"$2" 2>&1
}

mapfile -t lines < <(grep -v '^[[:space:]]*\(#\|$\)' "$list" | { if [ -n "$filter" ]; then grep -E -- "$filter"; else cat; fi; })
[ ${#lines[@]} -gt 0 ] || { echo "no mutant in $list${filter:+ matches $filter}" >&2; exit 2; }

# The unbroken tree first: every test named must pass on it.
declare -A baseline
for l in "${lines[@]}"; do
	read -r _ test _ <<<"$l"
	[ -n "${baseline[$test]:-}" ] && continue
	log=$logs/baseline-${test//\//-}.log
	if ! build "$test" >"$log" 2>&1; then
		baseline[$test]=broken
		echo "baseline  $test does not build (see $log)"
	elif run "$test" "$log"; then
		baseline[$test]=ok
		echo "baseline  $test passes"
	else
		baseline[$test]=broken
		echo "baseline  $test FAILS without any mutant (see $log)"
	fi
done

killed=0
survived=0
other=0
n=0
for l in "${lines[@]}"; do
	read -r file test expr <<<"$l"
	n=$((n + 1))
	log=$logs/$n.log
	what="$file: $expr ($test)"
	if [ "${baseline[$test]}" != ok ]; then
		echo "UNJUDGED  $what: the test fails without the mutant"
		other=$((other + 1))
		continue
	fi
	cp -p "$scratch/$file" "$scratch/$file.orig"
	printf 'mutant: %s\n' "$what" >"$log"
	if ! sed -i -e "$expr" "$scratch/$file" 2>>"$log" || cmp -s "$scratch/$file" "$scratch/$file.orig"; then
		echo "NOT APPLIED $what: the expression changes nothing (the list is stale)"
		other=$((other + 1))
	elif ! build "$test" >>"$log" 2>&1; then
		# A mutant that does not compile proves nothing about the test.
		echo "NOT APPLIED $what: does not build (see $log)"
		other=$((other + 1))
	elif run "$test" "$log"; then
		echo "SURVIVED  $what"
		survived=$((survived + 1))
	else
		echo "killed    $what"
		killed=$((killed + 1))
	fi
	# Back to the unbroken file, newer than what the mutant built, so
	# that the next build compiles it again.
	mv -f "$scratch/$file.orig" "$scratch/$file"
	touch "$scratch/$file"
done

echo "$killed killed, $survived survived, $other not judged (of $n mutants)"
[ $survived = 0 ] && [ $other = 0 ]
