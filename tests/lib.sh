# SPDX-License-Identifier: Apache-2.0
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

# t_eventually NAME SECONDS CMD...: passes once CMD exits 0 within SECONDS
# (what another process publishes a moment later: a chain's head); else
# fails with CMD's last output.
t_eventually() {
	local name=$1 secs=$2 out
	shift 2
	if t_wait "$secs" "$@"; then
		t_pass "$name"
	else
		out=$("$@" 2>&1)
		t_fail "$name" "command: $*" "$out"
	fi
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

# t_port_free PORT: nothing listens on 127.0.0.1:PORT.
t_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# t_free_port: prints a port nothing listens on, away from the defaults of
# a `make run` cluster and below the ephemeral range.
t_free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		t_port_free "$p" && echo "$p" && return 0
	done
	return 1
}

# t_cluster_env: a private state dir and three consecutive free ports away
# from the defaults of a `make run` cluster and below the ephemeral range
# (32768 and up), exported for hack/cluster.sh;
# registers `hack/cluster.sh down` and the removal of the state dir.
t_cluster_env() {
	local base
	for _ in $(seq 50); do
		base=$((20000 + RANDOM % 12000))
		t_port_free $base && t_port_free $((base + 1)) && t_port_free $((base + 2)) &&
			t_port_free $((base + 3)) && t_port_free $((base + 4)) && break
	done
	SHELLAUDIT_RUN=$(mktemp -d /tmp/shellaudit-test.XXXXXX)
	export SHELLAUDIT_RUN
	export SHELLAUDIT_APISERVER_PORT=$base
	export SHELLAUDIT_ETCD_CLIENT_PORT=$((base + 1))
	export SHELLAUDIT_ETCD_PEER_PORT=$((base + 2))
	# Where the API server sends its audit log (hack/cluster.sh); base + 3
	# is the agent's metrics port in the integration tests.
	export SHELLAUDIT_APISERVER_AUDIT_PORT=$((base + 4))
	t_cleanup "rm -rf '$SHELLAUDIT_RUN'"
	t_cleanup "'$T_ROOT/hack/cluster.sh' down"
}

# t_run_program NAME PROG ARGS...: runs a C test program that prints its
# own checks and an "N passed, N failed" line, and adds its counts.
t_run_program() {
	local name=$1 out summary
	shift
	if [ ! -x "$1" ]; then
		t_fail "$name is built" "$1 missing: run make test"
		return
	fi
	out=$("$@" 2>&1) || true
	grep -Ev '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" || true
	summary=$(tail -1 <<<"$out")
	if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
		T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
	else
		t_fail "$name ran to the end"
	fi
}

# t_cluster_up: a private control plane (see t_cluster_env), up and with
# KUBECONFIG exported. Another program can take a port between the check
# and the bind (tests may run beside a busy machine): a start that fails is
# retried on other ports; the test ends here, failed, after three.
t_cluster_up() {
	local attempt
	for attempt in 1 2 3; do
		t_cluster_env
		if "$T_ROOT/hack/cluster.sh" up 2>"$SHELLAUDIT_RUN/up.log"; then
			eval "$("$T_ROOT/hack/cluster.sh" env)"
			return 0
		fi
		"$T_ROOT/hack/cluster.sh" down >/dev/null 2>&1 || true
		echo "  note control plane did not start (attempt $attempt): $(tail -3 "$SHELLAUDIT_RUN/up.log" | tr '\n' ' ')"
	done
	t_fail "control plane starts" "$(tail -20 "$SHELLAUDIT_RUN/up.log")"
	t_summary
	exit 1
}
