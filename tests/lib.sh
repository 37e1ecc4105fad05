# Helpers for the shell tests under tests/. Sourced, not run.
#
# A test script calls t_pass/t_fail (or the t_* checks), registers its
# cleanup with t_cleanup, and ends with t_summary, which prints the line
# tests/run.sh reads ("N passed, N failed") and sets the exit status.

T_PASSED=0
T_FAILED=0
T_CLEANUPS=()
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_BUILD=${T_BUILD:-$T_ROOT/build}

t_pass() { T_PASSED=$((T_PASSED + 1)); printf '  ok   %s\n' "$1"; }
t_fail() {
	T_FAILED=$((T_FAILED + 1))
	printf '  FAIL %s\n' "$1"
	shift
	[ $# = 0 ] || printf '       %s\n' "$@"
}

# t_eq NAME EXPECTED ACTUAL
t_eq() {
	if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1" "expected: $2" "actual:   $3"; fi
}

# t_match NAME REGEX ACTUAL
t_match() {
	if [[ "$3" =~ $2 ]]; then t_pass "$1"; else t_fail "$1" "expected to match: $2" "actual: $3"; fi
}

# t_run NAME CMD...: passes when CMD exits 0.
t_run() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then t_pass "$name"; else t_fail "$name" "command: $*" "$out"; fi
}

# t_wait SECONDS CMD...: polls CMD until it succeeds; returns 1 on timeout.
# Generous timeouts: a slow machine must not fail a test, only a broken feature.
t_wait() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.5
	done
}

# t_cleanup CMD: run at exit, last registered first, even when the test fails.
t_cleanup() { T_CLEANUPS=("$*" "${T_CLEANUPS[@]}"); }
t__run_cleanups() {
	local c
	for c in "${T_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	T_CLEANUPS=()
}
trap t__run_cleanups EXIT
trap 'exit 130' INT TERM

t_summary() {
	t__run_cleanups
	echo "$T_PASSED passed, $T_FAILED failed"
	[ $T_FAILED = 0 ] && [ $T_PASSED -gt 0 ]
}
