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

# t_grep GREP_ARGS...: grep on its standard input, read whole first. Under
# pipefail, `cmd | grep -q` quits at the first match and cmd, still writing,
# dies of SIGPIPE: the pipeline fails and a match reads as none (or, after
# `!`, a line that is there as absent). Use `cmd | t_grep -q ...` instead.
t_grep() {
	local in
	in=$(cat)
	grep "$@" <<<"$in"
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

# t_stop MESSAGE [DETAIL...]: a failed check that leaves nothing to test
# after it: counted, the summary printed, the script ended.
t_stop() {
	t_fail "$@"
	t_summary
	exit 1
}

# t_port_free PORT: nothing listens on 127.0.0.1:PORT.
t_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# t_free_port [TAKEN...]: prints a port nothing listens on, none of TAKEN
# (picked already, not yet listened on), away from the defaults of a
# `make run` cluster and below the ephemeral range, for a daemon a test
# starts (its /metrics, say).
t_free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		[[ " $* " == *" $p "* ]] && continue
		t_port_free "$p" && echo "$p" && return 0
	done
	return 1
}

# t_http URL: "<status> <first word of the body>" of a GET (status 000 when
# nothing answers), for /healthz and /readyz.
t_http() {
	local out
	out=$(curl -s --max-time 5 -w '\n%{http_code}' "$1")
	echo "${out##*$'\n'} $(head -1 <<<"${out%$'\n'*}" | awk '{ print $1 }')"
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
	# SHELLAUDIT_TEST_KEEP=DIR: the state dir's logs are copied there first.
	[ -z "${SHELLAUDIT_TEST_KEEP:-}" ] ||
		t_cleanup "mkdir -p '$SHELLAUDIT_TEST_KEEP' && cp -a '$SHELLAUDIT_RUN'/*.log '$SHELLAUDIT_TEST_KEEP'/"
	t_cleanup "'$T_ROOT/hack/cluster.sh' down"
}

# t_run_program NAME PROG ARGS...: runs a C test program that prints its
# own checks and an "N passed, N failed" line, and adds its counts. A
# program that exits non-zero with no failure in its summary (it died after
# printing it, say) is one more failure.
t_run_program() {
	local name=$1 out summary rc
	shift
	if [ ! -x "$1" ]; then
		t_fail "$name is built" "$1 missing: run make test"
		return
	fi
	out=$("$@" 2>&1) && rc=0 || rc=$?
	grep -Ev '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" || true
	summary=$(tail -1 <<<"$out")
	if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
		T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
		[ "$rc" = 0 ] || [ "${BASH_REMATCH[2]}" != 0 ] || t_fail "$name exits 0" "it exited $rc"
	else
		t_fail "$name ran to the end" "exit status $rc"
	fi
}

# Daemons a test starts and stops (agents, controllers, candidates).
declare -A T_DAEMON_PID T_DAEMON_LOG T_DAEMON_OFF
T_DAEMON_DIR=

# t_daemon NAME LOG CMD...: starts CMD in the background, stdout and stderr
# appended to LOG, and kills it (-9) at exit if it still runs. Its exit
# status is kept for t_daemon_stop. Sets T_DAEMON_PID[NAME].
t_daemon() {
	local name=$1 log=$2 dir
	shift 2
	if [ -z "$T_DAEMON_DIR" ]; then
		T_DAEMON_DIR=$(mktemp -d /tmp/shellaudit-daemons.XXXXXX)
		t_cleanup "rm -rf '$T_DAEMON_DIR'"
	fi
	dir=$T_DAEMON_DIR
	rm -f "$dir/$name.pid" "$dir/$name.rc"
	T_DAEMON_LOG[$name]=$log
	T_DAEMON_OFF[$name]=$(stat -c %s "$log" 2>/dev/null || echo 0)
	# A subshell waits for it and writes its status; killing the daemon
	# is then no job of this shell's, and nothing reports it.
	(
		"$@" >>"$log" 2>&1 &
		echo $! >"$dir/$name.pid"
		rc=0
		wait $! || rc=$?
		echo $rc >"$dir/$name.rc"
	) 2>/dev/null &
	until [ -s "$dir/$name.pid" ]; do sleep 0.05; done
	T_DAEMON_PID[$name]=$(cat "$dir/$name.pid")
	t_cleanup "kill -9 ${T_DAEMON_PID[$name]} 2>/dev/null"
}

# t_daemon_ended NAME: true once the daemon has exited.
t_daemon_ended() { [ -s "$T_DAEMON_DIR/$1.rc" ]; }

# t_daemon_log NAME: what the daemon logged since t_daemon started it.
t_daemon_log() { tail -c +$((T_DAEMON_OFF[$1] + 1)) "${T_DAEMON_LOG[$1]}" 2>/dev/null; }

# t_daemon_kill NAME: kill -9, and wait until it is gone.
t_daemon_kill() {
	kill -9 "${T_DAEMON_PID[$1]}" 2>/dev/null
	t_wait 30 t_daemon_ended "$1" || true
}

# t_daemon_stop NAME SIGNAL SHUTDOWN-REGEX [SECONDS]: checks the daemon
# still runs, sends SIGNAL, and checks that it ends within SECONDS (60)
# with status 0 and logs a line matching SHUTDOWN-REGEX on its way out.
t_daemon_stop() {
	local name=$1 sig=$2 regex=$3 secs=${4:-60}
	if ! kill -0 "${T_DAEMON_PID[$name]}" 2>/dev/null; then
		t_fail "$name runs until it is stopped" "it had ended (status $(cat "$T_DAEMON_DIR/$name.rc" 2>/dev/null))" \
			"$(t_daemon_log "$name" | tail -5)"
		return 0 # counted; a test with set -e goes on
	fi
	kill "-$sig" "${T_DAEMON_PID[$name]}"
	if ! t_wait "$secs" t_daemon_ended "$name"; then
		t_fail "SIG$sig stops $name" "still running after ${secs}s" "$(t_daemon_log "$name" | tail -5)"
		return 0
	fi
	t_eq "SIG$sig stops $name with status 0" 0 "$(cat "$T_DAEMON_DIR/$name.rc")"
	t_match "$name logs its shutdown" "$regex" "$(t_daemon_log "$name" | tail -20)"
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
