# SPDX-License-Identifier: Apache-2.0
# Helpers of the BPF capture tests: containers made with unshare + a root
# directory, interactive shells on a pty, the agent in the background.
# Sourced after tests/lib.sh, not run.

TOOLS=$T_BUILD/tests/tools
AGENT=$T_BUILD/shellaudit-agent
PROMPT='rootfs$ '
# The environment of shells in the containers: nothing from the host.
CENV=(env -i PATH=/bin:/usr/bin HOME=/root TERM=xterm LANG=C.UTF-8)

# cap_setup: checks what the tests need and makes $work and $RFS.
cap_setup() {
	if [ "$(id -u)" != 0 ]; then
		t_fail "BPF tests must run as root"
		t_summary
		exit 1
	fi
	for f in "$AGENT" "$TOOLS/ptytype" "$TOOLS/sa-lines"; do
		[ -x "$f" ] || { t_fail "missing $f (run make all)"; t_summary; exit 1; }
	done
	work=$(mktemp -d /tmp/shellaudit-bpf.XXXXXX)
	[ -n "${KEEP:-}" ] || t_cleanup "rm -rf '$work'"
	# One root per version of the script: a root in use is never rebuilt.
	RFS=${SHELLAUDIT_CACHE:-/var/cache/shellaudit}/rootfs-$(sha256sum "$T_ROOT/hack/mkrootfs.sh" | cut -c1-12)
	"$T_ROOT/hack/mkrootfs.sh" "$RFS" 2>/dev/null || { t_fail "hack/mkrootfs.sh failed"; t_summary; exit 1; }
	: >"$work/targets"
}

# cap_container NAME [ROOT]: starts a container (new mount and pid
# namespaces, ROOT as its root, default $RFS) whose init sleeps; sets
# CPID[NAME] to the init's pid (initial pid namespace).
declare -A CPID
cap_container() {
	local name=$1 root=${2:-$RFS} up child
	unshare --mount --pid --fork --kill-child=KILL --root="$root" /bin/sleep 1000000 2>/dev/null &
	up=$!
	disown "$up"
	t_cleanup "kill -KILL $up"
	t_wait 20 pgrep -P "$up" || { t_fail "container $name did not start"; return 1; }
	child=$(pgrep -P "$up")
	t_cleanup "kill -KILL $child"
	CPID[$name]=$child
}

# cap_pivot_container NAME ROOT: like cap_container, but ROOT (bound on
# itself) becomes the container's root by pivot_root(2), as runtimes do,
# not by chroot: a chroot'ed process may not create user namespaces. Its
# /tmp is a tmpfs of its own holding sa-ns (tests/tools/sa-ns.c), /opt
# is the host's /usr, read-only (python3's library, a tree to chroot to),
# and /dev a tmpfs with the /dev/fd link runtimes make (a script run by
# fexecve is opened again by its interpreter as /dev/fd/N).
cap_pivot_container() {
	local name=$1 root=$2 up child
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
	unshare --mount --pid --fork --kill-child=KILL /bin/sh -c '
		set -e
		mount --bind "$1" "$1"
		mount -t tmpfs -o mode=1777 tmpfs "$1/tmp"
		cp "$2" "$1/tmp/sa-ns"
		mount --bind -o ro /usr "$1/opt"
		mount -t proc proc "$1/proc"
		mount -t tmpfs -o mode=755 tmpfs "$1/dev"
		ln -s /proc/self/fd "$1/dev/fd"
		cd "$1"
		pivot_root . .
		umount -l .
		exec /bin/sleep 1000000' - "$root" "$TOOLS/sa-ns" 2>"$work/container-$name.err" &
	up=$!
	disown "$up"
	t_cleanup "kill -KILL $up"
	# shellcheck disable=SC2317 # called by t_wait
	is_up() { [ "$(cat "/proc/$(pgrep -P "$up")/comm" 2>/dev/null)" = sleep ]; }
	t_wait 20 is_up || { t_fail "container $name did not start" "$(cat "$work/container-$name.err")"; return 1; }
	child=$(pgrep -P "$up")
	t_cleanup "kill -KILL $child"
	CPID[$name]=$child
}

# cap_shell NAME LINES_FILE [PTYTYPE_OPTS...] [-- SHELL]: types the lines into
# an interactive shell entered into container NAME with nsenter, as
# `kubectl exec -it` does. Blocks until the shell exited.
cap_shell() {
	local name=$1 lines=$2 shell=/bin/bash opts=()
	shift 2
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			shell=$2
			break
		fi
		opts+=("$1")
		shift
	done
	"$TOOLS/ptytype" --prompt "$PROMPT" --lines "$lines" --log "$work/pty-$name.log" "${opts[@]}" -- \
		nsenter --target "${CPID[$name]}" --mount --pid --root --wd \
		"${CENV[@]}" "$shell" --rcfile /root/.bashrc -i
}

# cap_agent [ARGS...]: starts the agent on $work/targets in the background.
cap_agent() {
	"$AGENT" --targets-file "$work/targets" --output "$work/out.jsonl" --log-level debug "$@" \
		2>>"$work/agent.log" &
	AGENT_PID=$!
	t_cleanup "kill -KILL $AGENT_PID"
	t_wait 60 grep -q '"msg":"capture running"' "$work/agent.log"
}

# cap_agent_stop: stops the agent cleanly (it drains and flushes), and
# checks that it was still running, exits 0 and says it stopped: a crash
# on the way out, after the output was written, must fail the test.
cap_agent_stop() {
	local rc
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		wait "$AGENT_PID" 2>/dev/null
		t_fail "the agent runs until it is stopped" "it had ended (status $?)" "$(tail -5 "$work/agent.log")"
		return 1
	fi
	kill -TERM "$AGENT_PID"
	# shellcheck disable=SC2317 # called by t_wait
	stopped() { ! kill -0 "$AGENT_PID" 2>/dev/null; }
	t_wait 60 stopped || kill -KILL "$AGENT_PID"
	wait "$AGENT_PID"
	rc=$?
	t_eq "SIGTERM stops the agent with status 0" 0 "$rc"
	t_match "the agent logs that it stopped" '"msg":"stopped"' "$(tail -3 "$work/agent.log")"
}

# cap_target NAME: adds container NAME to the targets file, waits for it.
cap_target() {
	echo "${CPID[$1]} $1" >>"$work/targets"
	t_wait 30 grep -q "\"msg\":\"target added\",\"container\":\"$1\"" "$work/agent.log"
}

# flood_start CMD...: a flood beside the typing, in a session of its own
# (its process group is stopped whole); flood_stop SIGNAL stops it, and
# sets flooding to yes if it still ran then.
flood_start() {
	setsid "$@" >/dev/null 2>&1 &
	flood=$!
}
# shellcheck disable=SC2034 # flooding: read by the tests
flood_stop() {
	flooding=$(kill -0 "$flood" 2>/dev/null && echo yes)
	kill "-$1" -- "-$flood"
	wait "$flood" 2>/dev/null
}

# rl_flood_start NAME: an endless readline flood in container NAME, with
# flood_start: a bash fed its lines by a pipe of its own (yes : | bash
# -i), which takes the container's rate; fails unless its first count
# came within 60 s.
rl_flood_start() {
	# shellcheck disable=SC2016 # the inner shell's expansion
	flood_start nsenter --target "${CPID[$1]}" --mount --pid --root --wd "${CENV[@]}" \
		HISTFILE=/dev/null /bin/bash -c 'i=0; while :; do echo ": rl-flood-$((i += 1))"; done |
			/bin/bash --norc -i'
	t_wait 60 rl_counted 1
}
# rl_flood_counted NAME HEAD TAIL: feeds lines HEAD1TAIL, HEAD2TAIL, ...
# to a bash -i of container NAME reading them from a pipe of its own (which
# takes the container's rate), until the agent has reported lines counted
# past the rate RL_FLOOD_NOTES (20) times, or RL_FLOOD_MAX (400,000) lines
# were fed; prints how many were fed. The feeder looks every 500 lines
# for a file in the container's /tmp, made once the counts are there: the
# flood lasts as long as proving what it is for takes on this machine,
# where a fixed number of lines is too few for a fast one (no count) or
# minutes of bash on a slow one. The lines should cost bash little (`:
# ...`, not a redirection to the /dev/null the containers lack, whose
# error message made bash slower than the rate on a busy machine).
rl_flood_counted() {
	local stop=/tmp/rl-flood-stop.$$ feeder
	# shellcheck disable=SC2016 # the inner shell's expansion
	nsenter --target "${CPID[$1]}" --mount --pid --root --wd "${CENV[@]}" HISTFILE=/dev/null \
		/bin/bash -c 'exec 3>&1
			{
				i=0
				while ((i < $3)); do
					((i % 500)) || [ ! -e "$4" ] || break
					echo "$1$((i += 1))$2"
				done
				echo "$i" >&3
			} | /bin/bash --norc -i >/dev/null 2>&1' - "$2" "$3" "${RL_FLOOD_MAX:-400000}" "$stop" \
		>"$work/rl-flood.fed" 2>/dev/null &
	feeder=$!
	t_wait 300 rl_counted "${RL_FLOOD_NOTES:-20}"
	: >"/proc/${CPID[$1]}/root$stop"
	wait "$feeder"
	rm -f "/proc/${CPID[$1]}/root$stop"
	cat "$work/rl-flood.fed"
}
# rl_counted N: the agent reported lines counted past their rate N times.
rl_counted() {
	[ "$(grep -c 'lines read by readline, past their rate' "$work/out.jsonl")" -ge "$1" ]
}
# rl_walk NAME HEAD TAIL N: the lines of container NAME walked in the
# order of capture, where lines HEAD1TAIL to HEAD<N>TAIL were fed to
# readline past its rate: each one recorded at its place, each count of
# lines moving the place on, the end at N. Prints "COUNTED NOTES RECORDED
# ERR" (ERR empty when the walk holds). A count may stand at the exit of
# another process than the reader (the pipe's writer).
rl_walk() {
	"$TOOLS/sa-lines" --kind line --container "$1" --field line "$work/out.jsonl" |
		awk -v head="$2" -v tail="$3" -v n="$4" '
		/^\[not recorded: [0-9]+ lines read by readline, past their rate\]$/ {
			split($0, a, " "); k += a[3]; c++; pos += a[3]; next }
		index($0, head) != 1 { next }
		$0 != sprintf("%s%d%s", head, pos + 1, tail) { if (!err) err = "entry " NR ": " $0 " at line " pos + 1 }
		{ pos++; r++ }
		END { if (!err && pos != n) err = "the end at line " pos
			print k + 0, c + 0, r + 0, err }'
}

# cap_lines NAME: the lines captured in container NAME, decoded.
cap_lines() { "$TOOLS/sa-lines" --kind line --container "$1" "$work/out.jsonl"; }

# cap_has_line NAME TEXT: true once TEXT was captured in container NAME.
cap_has_line() { cap_lines "$1" | t_grep -qxF -- "$2"; }

# cap_same NAME EXPECTED ACTUAL: t_eq for long values; a failure shows
# lengths and the first differing byte instead of the values.
cap_same() {
	if [ "$2" = "$3" ]; then
		t_pass "$1"
	else
		local i=0
		while [ "${2:$i:1}" = "${3:$i:1}" ] && [ $i -lt ${#2} ]; do i=$((i + 1)); done
		t_fail "$1" "expected ${#2} bytes, got ${#3}; first difference at byte $i"
	fi
}
