#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A session without a terminal (kubectl exec -i without -t): its shell reads
# its commands from the pipe it was opened with, without readline and
# without a terminal. What the session's processes read from that pipe is
# captured (`source: stdin`), lines ending at a newline:
#   - bash and dash fed through a pipe, as the adversary who knows that
#     readline and terminal capture do not see it would type: builtins
#     (a redirection, exec of /dev/tcp, the read builtin and its input), a
#     line without its newline at end of input, control characters;
#   - bash -i reading the pipe with readline: readline's lines only, never
#     again as stdin lines; by the stream's rate, not the container's: all
#     recorded beside a readline flood elsewhere in the container, and a
#     flood through the pipe recorded in part and counted in lines;
#   - a pipe made inside the session (`... | bash`): the line that made it
#     is recorded, what the inner shell reads is another pipe's; a root
#     that execs again with the pipe moved to fd 3 and /dev/null as stdin
#     still has its children's reads of the pipe recorded;
#   - a flood (kubectl cp is tar reading the same pipe): the first part is
#     recorded, the rest counted in a `[not recorded: N bytes of stdin]`
#     line, recorded + counted = sent, and the entries stay few; a reader
#     that leaves before end of input still has its count recorded; a
#     reader that moves the pipe's bytes with splice(2), never read(2), has
#     them counted all the same, and one that copies them out with
#     vmsplice(2) has them recorded; an io_submit(2) read of the pipe is an
#     entry that says so, and a loop of 50,000 of them with nothing to read
#     a burst of entries and counts of the rest, adding up; a count waiting while the user opens
#     5,000 other sessions is still there at the end of input, and the
#     agent's sweep of the kernel's rates removes only what can go;
#   - part of a line that acts before its newline comes (read -N 23 cmd;
#     eval "$cmd"): a line of its own, recorded while its shell waits on
#     the pipe, is stopped or spins, before the program it runs, and before the
#     next line though that one is in the pipe already; bytes a thread
#     gathered before its exec took another thread's pid; a line read
#     while more threads than the kernel keeps bytes for hold some;
#   - a session opened before its container became a target: what it
#     reads after is recorded (the sweep gives its marks the root's stdin),
#     and so is what the init of a container made with its stdin open
#     (kubectl run -i, kubectl attach) reads from it;
#   - nothing of an untargeted container fed the same, nothing with
#     --no-terminal, and a stdin that is a file is not a session's pipe.
# `cat FILE |` is the point: a pipe is the session's stdin, a redirect a
# file. Lines typed for the container hold $ that must not expand here.
# shellcheck disable=SC2002,SC2016
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
for f in splicein streamsweep uringread ttyswap aioread; do
	[ -x "$TOOLS/$f" ] || { t_fail "missing $TOOLS/$f (run make all)"; t_summary; exit 1; }
done
# The container's root: the shared one plus splicein, uringread, ttyswap and aioread.
"$T_ROOT/hack/mkrootfs.sh" "$work/rfs" "$TOOLS/splicein" "$TOOLS/uringread" "$TOOLS/ttyswap" \
	"$TOOLS/aioread" 2>/dev/null || t_fail "root with splicein, uringread, ttyswap and aioread"
cap_container t "$work/rfs"
cap_container u "$work/rfs"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target t || t_fail "target t not added"

# into NAME CMD...: CMD entered into container NAME as kubectl exec -i does
# (nsenter from outside, no terminal), stdin the caller's.
into() {
	local name=$1
	shift
	nsenter --target "${CPID[$name]}" --mount --pid --root --wd "${CENV[@]}" "$@"
}
# A marker line fed to a session of t once the rest is sent: the agent has
# taken everything before it when it shows.
sync_t() {
	printf 'echo %s\n' "$1" | into t /bin/bash >/dev/null
	t_wait 60 grep -q "$1" "$work/out.jsonl" || t_fail "marker $1 arrived"
}

# What the adversary types into kubectl exec -i: builtins only, then a
# last line without its newline.
{
	printf '%s\n' 'echo stdin-builtin > /tmp/pb' 'exec 3<>/dev/null' 'read v' 'read-value-x' \
		'echo "got $v" > /dev/null'
	printf 'echo ctl-\x01\x1b[31m-x > /dev/null\n'
	printf 'echo last-no-newline > /dev/null'
} >"$work/s1"
cat "$work/s1" | into t /bin/bash >/dev/null 2>&1
cat "$work/s1" | into u /bin/bash >/dev/null 2>&1
printf '%s\n' 'echo dash-stdin > /dev/null' 'read w' 'dash-value' >"$work/s2"
cat "$work/s2" | into t /bin/dash >/dev/null 2>&1
# bash -i reads the pipe with readline.
printf '%s\n' 'echo rl-on-pipe > /dev/null' >"$work/s3"
cat "$work/s3" | into t /bin/bash --rcfile /root/.bashrc -i >/dev/null 2>&1
# vmsplice(2) copies the pipe out to a shell on a pipe of its own.
printf '%s\n' 'echo vmspliced-line > /dev/null' | into t /bin/bash -c 'splicein --vmsplice | /bin/bash' \
	>/dev/null 2>&1
# A pipe made inside the session.
printf '%s\n' "printf 'echo inner-hidden\\\\n' | /bin/bash" | into t /bin/bash >/dev/null 2>&1
# stdin a file, not a pipe.
printf '%s\n' 'echo from-a-file > /dev/null' >"$work/s4"
into t /bin/bash <"$work/s4" >/dev/null 2>&1
# The session's root execs again with its pipe moved to fd 3 and /dev/null
# as stdin: what its child reads from the pipe is still the session's.
printf '%s\n' "exec /bin/dash -c '/bin/dash <&3; :' 3<&0 </dev/null" 'echo moved-pipe-read > /dev/null' |
	into t /bin/bash >/dev/null 2>&1
sync_t sync-1

x=$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl")
t_eq "bash fed through a pipe: its builtins, the read builtin's input, a line ended by end of input" \
	"$(printf 'bash\t%s\n' 'echo stdin-builtin > /tmp/pb' 'exec 3<>/dev/null' 'read v' 'read-value-x' \
		'echo "got $v" > /dev/null' $'echo ctl-\x01\x1b[31m-x > /dev/null' 'echo last-no-newline > /dev/null')" \
	"$(grep -v -e dash -e inner -e sync- -e vmspliced <<<"$x")"
t_eq "control characters: the stdin line is escaped and says so" 1 \
	"$(grep '"source":"stdin"' "$work/out.jsonl" | grep -c '"escaped":true')"
t_eq "dash fed through a pipe: every line it read" \
	"$(printf 'dash\t%s\n' 'echo dash-stdin > /dev/null' 'read w' 'dash-value')" \
	"$(grep -P '^dash\t' <<<"$x" | grep -v moved-pipe)"
t_eq "a root that execs again, its pipe moved to fd 3 and /dev/null its stdin: its child's reads of the pipe" \
	"$(printf 'dash\t%s' 'echo moved-pipe-read > /dev/null')" "$(grep moved-pipe-read <<<"$x")"
t_eq "bash -i reading the pipe with readline: its line as readline's only" \
	"$(printf 'readline\t%s\n' 'echo rl-on-pipe > /dev/null')" \
	"$("$TOOLS/sa-lines" --kind line --container t --field source,line "$work/out.jsonl" | grep rl-on-pipe)"
t_eq "a pipe made in the session: the line that made it, not the inner shell's input" \
	"$(printf 'bash\t%s\n' "printf 'echo inner-hidden\\\\n' | /bin/bash")" "$(grep inner <<<"$x")"
t_eq "vmsplice(2) out of the pipe: what it copied is recorded" \
	"$(printf 'splicein\t%s\n' 'echo vmspliced-line > /dev/null')" "$(grep vmspliced <<<"$x")"
t_eq "a stdin that is a file is not captured as a session's stdin" "" "$(grep from-a-file <<<"$x")"
t_eq "nothing of the untargeted container" "" "$(grep -E '"container":"u"' "$work/out.jsonl")"

# --- part of a line that acts before its newline ---------------------------------------

# waiting MARK TEXT: TEXT fed to a shell of t whose pipe stays open: an
# entry holding MARK comes while the shell waits on it.
waiting() {
	local pid
	exec 7> >(into t /bin/bash >/dev/null 2>&1)
	pid=$!
	printf '%s' "$2" >&7
	t_wait 30 grep -q "$1" "$work/out.jsonl" ||
		t_fail "a line without its newline, run, is recorded while its shell waits ($1)"
	exec 7>&-
	wait "$pid"
}
# The read builtin takes a command without its newline and eval runs it:
# builtins only, then the shell waits on its pipe. The command is an
# entry while the shell still waits, a line of its own: read in one read
# (-N), or byte by byte (-d), which the kernel gathers.
waiting nonl-1 "$(printf '%s\n%s' 'read -r -N 23 cmd; eval "$cmd"' 'echo nonl-1 > /tmp/nonl')"
waiting nonl-4 "$(printf '%s\n%s' "read -r -d ';' cmd; eval \"\$cmd\"" 'echo nonl-4 > /tmp/nonl;')"
# acting MARK CMD AFTER STATE WHAT: a shell of t reads CMD (ending in
# '|') without a newline and evals it, AFTER in its pipe already: the
# entry holding MARK comes while the shell is in STATE (a ps state
# letter), held there by what CMD does (WHAT). s7: its nsenter, fd 7 its
# pipe, both left open.
acting() {
	exec 7> >(into t /bin/bash >/dev/null 2>&1)
	s7=$!
	printf '%s\n%s%s\n' "read -r -d '|' cmd; eval \"\$cmd\"" "$2" "$3" >&7
	t_wait 30 grep -q "$1" "$work/out.jsonl" || t_fail "a command that $5 is recorded"
	t_eq "  while its shell $5" "$4" "$(ps -o stat= --ppid "$s7" | cut -c1)"
}
# The same, the command stopping its shell, with more of the script in
# the pipe: no read, no exec, no exit follows; the shell's sleep sends it.
acting nonl-6 'echo nonl-6 > /tmp/nonl && kill -STOP $$|' 'echo nonl-after6' T "stopped itself"
pkill -CONT -P "$s7"
kill -CONT "$s7" # nsenter stops when its child does
exec 7>&-
wait "$s7"
# The same, the command then spinning in user mode (no sleep, syscall,
# fork or exec follows while its CPU may have nothing else to run): a
# tick of its CPU sends it.
acting nonl-7 'x=nonl-7; while :; do :; done|' 'echo nonl-after7' R "spins"
pkill -KILL -P "$s7"
exec 7>&-
wait "$s7"
# The same with a program: the line comes before the program it ran,
# though more of the script is in the pipe already.
printf '%s\n%s\n%s\n' 'read -r -N 15 cmd; eval "$cmd"' '/bin/true nonl2' 'echo nonl-after' |
	into t /bin/bash >/dev/null 2>&1
# Bytes read at once without their newline, then bash's parser reading
# on (one byte at a time) though the next line is in the pipe already:
# another reader of the thread, two lines.
printf '%s\n%s%s\n' 'read -r -N 23 cmd; eval "$cmd"' 'echo nonl-5 > /tmp/nonl' 'echo nonl-after5' |
	into t /bin/bash >/dev/null 2>&1
# A thread other than the first reads bytes, then execs (taking the first
# thread's pid): what it gathered goes out at its exec.
printf 'thread-gathered' | into t /bin/bash -c 'splicein --thread-exec 15 /bin/true' >/dev/null 2>&1
sync_t sync-5
t_eq "a line without its newline: a line of its own" \
	"$(printf 'bash\t%s\n' 'read -r -N 23 cmd; eval "$cmd"' 'echo nonl-1 > /tmp/nonl' \
		"read -r -d ';' cmd; eval \"\$cmd\"" 'echo nonl-4 > /tmp/nonl;' \
		"read -r -d '|' cmd; eval \"\$cmd\"" 'echo nonl-6 > /tmp/nonl && kill -STOP $$|' 'echo nonl-after6' \
		"read -r -d '|' cmd; eval \"\$cmd\"" 'x=nonl-7; while :; do :; done|' \
		'read -r -N 15 cmd; eval "$cmd"' '/bin/true nonl2' 'echo nonl-after' \
		'read -r -N 23 cmd; eval "$cmd"' 'echo nonl-5 > /tmp/nonl' 'echo nonl-after5')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl" |
		grep -e nonl -e 'N 15' -e 'N 23' -e "d ';'" -e "d '|'")"
t_eq "  marked no_newline (one that had its newline not)" \
	"$(printf '%s\n' 'echo nonl-1 > /tmp/nonl	true' 'x=nonl-7; while :; do :; done|	true' 'echo nonl-after5	')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field line,no_newline "$work/out.jsonl" |
		grep -e 'nonl-1 ' -e nonl-7 -e nonl-after5)"
t_eq "bytes a thread read before its exec, which took another thread's pid" "thread-gathered" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin "$work/out.jsonl" | grep thread-)"
t_eq "a line without its newline: before the program it ran" \
	"$(printf '%s\n' 'line	/bin/true nonl2	' 'exec		/bin/true nonl2')" \
	"$("$TOOLS/sa-lines" --container t --field kind,line,argv "$work/out.jsonl" | grep -x '.*	/bin/true nonl2	*')"

# --- floods -----------------------------------------------------------------------------

# 200,000 numbered lines into bash's read loop (one byte per read(2)):
# recorded lines + counted bytes = sent, each recorded line where the
# counts put it, and the entries few (bursts of lines, one count between).
seq 1 200000 >"$work/flood"
cat "$work/flood" | into t /bin/bash -c 'while read -r l; do :; done' >/dev/null 2>&1
# A reader that leaves before end of input: what it skipped is counted at
# its exit.
cat "$work/flood" | into t /bin/bash -c 'i=0; while [ $i -lt 100000 ] && read -r l; do i=$((i + 1)); done' \
	>/dev/null 2>&1
# 300,000 bytes moved out of the pipe by splice(2).
head -c 300000 /dev/zero | into t /bin/bash -c 'splicein > /tmp/spliced' >/dev/null 2>&1
# A line copied out of the pipe by tee(2) and left unread there (a shell
# run from the copy reads nothing of the session's pipe).
printf 'echo teed-line > /dev/null\n' | into t /bin/bash -c 'splicein --tee' >"$work/teed" 2>&1
# A readv(2) whose iovec another thread points at newlines while it
# blocks (200 ms in; the line comes a second later).
(sleep 1 && printf 'echo swapped-stdin > /dev/null\n') | into t /bin/bash -c 'ttyswap --iov' \
	>"$work/swapped" 2>&1
# A line read through io_uring: no read(2) at all; one spliced out of the
# pipe by io_uring, one copied by its tee.
printf 'echo uring-stdin > /dev/null\n' | into t /bin/bash -c 'uringread' >"$work/uringed" 2>&1
printf 'echo uring-spliced > /dev/null\n' | into t /bin/bash -c 'uringread --splice' \
	>"$work/uring-spliced" 2>&1
printf 'echo uring-tee > /dev/null\n' | into t /bin/bash -c 'uringread --tee' >"$work/uring-teed" 2>&1
# A line read through Linux AIO (io_submit): no read(2) either.
printf 'echo aio-stdin > /dev/null\n' | into t /bin/bash -c 'aioread' >"$work/aioed" 2>&1
sync_t sync-2
cap_agent_stop
# root<TAB>line of the stdin lines; the flooded sessions are those whose
# first line is 1.
"$TOOLS/sa-lines" --kind line --container t --source stdin --field session_root,line "$work/out.jsonl" \
	>"$work/stdin.tsv"
roots=$(awk -F'\t' '!seen[$1]++ && $2 == "1" { print $1 }' "$work/stdin.tsv")
t_eq "two flooded sessions" 2 "$(wc -l <<<"$roots")"
n=0
for r in $roots; do
	n=$((n + 1))
	grep -P "^$r\t" "$work/stdin.tsv" | cut -f2- | grep -vx 'echo sync-[0-9]' >"$work/flood-$n"
	sums=$(awk '/^\[not recorded: [0-9]+ bytes of stdin\]$/ { k += $3; notes++; next }
		{ s += length($0) + 1; lines++ } END { print lines + 0, s + 0, k + 0, notes + 0 }' "$work/flood-$n")
	read -r lines bytes skipped notes <<<"$sums"
	if [ $n = 1 ]; then
		want=$(wc -c <"$work/flood")
	else
		want=$(head -n 100000 "$work/flood" | wc -c)
	fi
	t_eq "flood $n: recorded + counted = what the shell read" "$want" "$((bytes + skipped))"
	# Each recorded line is the line sent where the counts before it
	# put it: the counted bytes end on a line's start.
	t_eq "flood $n: each line recorded is the one sent at its place, the counts exact" "" \
		"$(awk 'NR == FNR { at[off] = FNR; line[FNR] = $0; off += length($0) + 1; next }
			/^\[not recorded: [0-9]+ bytes of stdin\]$/ { pos += $3; next }
			!(pos in at) || line[at[pos]] != $0 { print "entry " FNR ": " $0 " at byte " pos; exit }
			{ pos += length($0) + 1 }' "$work/flood" "$work/flood-$n")"
	t_run "flood $n: some lines recorded, most counted ($lines lines, $skipped bytes counted)" \
		test "$lines" -gt 100 -a "$skipped" -gt $((want / 2))
	t_run "flood $n: few count lines ($notes)" test "$notes" -ge 1 -a "$notes" -le 20
done
t_eq "tee(2) copied the line" 27 "$(cat "$work/teed")"
t_eq "uringread read the line" 'echo uring-stdin > /dev/null' "$(cat "$work/uringed")"
t_eq "uringread spliced the line" 'echo uring-spliced > /dev/null' "$(cat "$work/uring-spliced")"
t_eq "uringread copied the line" 'echo uring-tee > /dev/null' "$(cat "$work/uring-teed")"
t_eq "a readv of the pipe whose iovec another thread swapped while it blocked: the line it read" \
	"$(printf 'ttyswap\techo swapped-stdin > /dev/null')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl" |
		grep -F 'swapped-stdin')"
t_eq "an io_uring read, tee and splice of the pipe: the bytes each took counted" \
	"$(printf '%s\n' 27 29 31)" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field session_root,comm,line "$work/out.jsonl" |
		awk -F'\t' '$2 == "uringread" && /not recorded: / { split($3, a, " "); s[$1] += a[3] }
			END { for (r in s) print s[r] }' | sort -n)"
t_eq "the lines io_uring took are nowhere in clear" "" \
	"$(grep -oE 'uring-(stdin|spliced|tee)' "$work/out.jsonl")"
t_eq "aioread read the line" 'echo aio-stdin > /dev/null' "$(cat "$work/aioed")"
t_eq "an io_submit read of the pipe: an entry says so, and how many bytes it asked for" \
	"$(printf 'aioread\t[not recorded: a read of up to 4096 bytes of stdin by io_submit]')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl" |
		grep -F aioread)"
t_eq "the line it took is nowhere in clear" "" "$(grep -o 'aio-stdin' "$work/out.jsonl")"
t_eq "splice(2) out of the pipe: every byte counted; tee(2) of it: the bytes it copied" \
	"$(printf '%s\n' 27 300000)" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field session_root,comm,line "$work/out.jsonl" |
		awk -F'\t' '$2 == "splicein" && /not recorded: / { split($3, a, " "); s[$1] += a[3] }
			END { for (r in s) print s[r] }' | sort -n)"
notes=$(grep '"source":"stdin"' "$work/out.jsonl" | grep '\[not recorded: ')
t_eq "the count lines are marked truncated" "$(grep -c . <<<"$notes")" "$(grep -c '"truncated":true' <<<"$notes")"

# --- more readers than the kernel keeps bytes for --------------------------------------

# A user holding more readers on part of a line than the kernel keeps
# gathered bytes for (stdin_buf, 1,024 threads): another session's bytes
# then go out one by one, and its line is whole all the same.
: >"$work/out.jsonl"
: >"$work/agent.log"
cap_agent || t_fail "agent did not start (full)"
exec 7> >(into t /bin/bash -c 'splicein --threads 1100' >"$work/held" 2>&1)
s7=$!
head -c 1100 /dev/zero | tr '\0' x >&7
t_wait 60 grep -q held "$work/held" || t_fail "1,100 threads hold a byte of their stdin each"
printf 'echo map-full\n' | into t /bin/bash >/dev/null 2>&1
exec 7>&-
wait "$s7"
sync_t sync-6
cap_agent_stop
t_eq "a line read while the kernel keeps no more threads' bytes: whole" "$(printf 'bash\techo map-full')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl" |
		grep map-full)"

# --- a flood of io_submit reads ------------------------------------------------------

# An io_submit(2) read is an entry whatever it reads, and one of a pipe at
# its end (or empty, non-blocking) reads nothing as fast as the syscall
# goes: a loop of them once made an entry each, as many as the ring buffer
# took. A container's share a rate: the first are entries, the rest a
# count, entries + counted = the calls made (the last count at the exit).
: >"$work/out.jsonl"
: >"$work/agent.log"
cap_agent || t_fail "agent did not start (io_submit flood)"
printf '' | into t /bin/bash -c 'aioread --flood 50000' >"$work/aio-flood" 2>&1
sync_t sync-8
cap_agent_stop
t_eq "aioread made its 50,000 io_submit calls of nothing" "50000 calls, 0 bytes read" \
	"$(cat "$work/aio-flood")"
read -r entries counted counts others <<<"$("$TOOLS/sa-lines" --kind line --container t \
	--field comm,line "$work/out.jsonl" | awk -F'\t' '$1 != "aioread" { next }
	$2 == "[not recorded: a read of up to 4096 bytes of stdin by io_submit]" { e++; next }
	$2 ~ /^\[not recorded: [0-9]+ reads of a terminal or stdin by io_submit, past their rate\]$/ {
		split($2, a, " "); k += a[3]; c++; next }
	{ o++ } END { print e + 0, k + 0, c + 0, o + 0 }')"
t_eq "an io_submit flood: entries + counted reads = the calls made ($entries entries)" 50000 \
	"$((entries + counted))"
t_run "an io_submit flood: a burst of entries, the rest counted ($entries entries, $counts counts)" \
	test "$entries" -ge 1 -a "$entries" -le 1000 -a "$counts" -ge 1
t_eq "an io_submit flood: no other line of the reader" 0 "$others"
t_eq "an io_submit flood: no terminal read lost in the ring buffer" 0 \
	"$("$TOOLS/sa-lines" --kind lost --field lost_terminal_reads "$work/out.jsonl" |
		awk '{ s += $1 } END { print s + 0 }')"

# --- more streams than the kernel keeps rates for ------------------------------------

# A user who floods one session's stdin past its rate, then opens more
# sessions than the kernel once kept the rates of (4,096, in a map that
# pushed out the oldest, and its count of bytes not recorded with it): the
# flooded session's count is still there at its end of input.
: >"$work/out.jsonl"
: >"$work/agent.log"
cap_agent || t_fail "agent did not start (streams)"
exec 7> >(into t /bin/bash -c 'while read -r l; do [ "$l" = 50000 ] && echo held; done' \
	>"$work/held-streams" 2>&1)
s7=$!
seq 1 50000 >&7
t_wait 60 grep -q held "$work/held-streams" || t_fail "the flooded session read its lines"
for i in $(seq 1 5000); do
	echo "s$i" | into t /bin/head -n 1 >/dev/null 2>&1
done
exec 7>&-
wait "$s7"
sync_t sync-7
cap_agent_stop
"$TOOLS/sa-lines" --kind line --container t --source stdin --field session_root,line "$work/out.jsonl" \
	>"$work/streams.tsv"
r=$(awk -F'\t' '$2 == "1" { print $1; exit }' "$work/streams.tsv")
t_eq "5,000 more streams: the flooded session's lines + counted bytes = what it read" \
	"$(seq 1 50000 | wc -c)" \
	"$(awk -F'\t' -v r="$r" '$1 != r { next }
		$2 ~ /^\[not recorded: [0-9]+ bytes of stdin\]$/ { split($2, a, " "); k += a[3]; next }
		{ s += length($2) + 1 } END { print s + k }' "$work/streams.tsv")"
t_eq "5,000 more streams: each one's line recorded" 5000 \
	"$(awk -F'\t' '$2 ~ /^s[0-9]+$/' "$work/streams.tsv" | wc -l)"
# The agent removes from the kernel's rates the streams idle a minute with
# nothing counted, and those of targets gone; never one whose count waits
# (of bytes, or of io_submit reads).
t_eq "the sweep of the kernel's stream rates: the idle and the orphaned go, a count stays" \
	"$(printf '%s\n' 'removed 2' 'idle removed' 'counted kept' 'busy kept' 'recent kept' 'gone removed' \
		'aio kept')" \
	"$("$TOOLS/streamsweep" 2>>"$work/agent.log")"

# --- readline's lines from the session's pipe ------------------------------------------

# bash -i reading the session's pipe (kubectl exec -i without -t): its
# readline lines go by that stream's rate, as another reader's bytes of it
# do, not by the container's terminals': a readline flood of the user's
# own elsewhere in the container (a fed bash on a pipe of its own, which
# takes the container's rate) leaves every line fed into the session
# recorded; a flood through the session's pipe itself is recorded in part
# and counted in lines, each line whole or counted.
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (readline beside a flood)"
cap_target t || t_fail "target t not added (readline beside a flood)"
rl_flood_start t ||
	t_fail "readline on the session's pipe: the flood went past the container's rate before it"
seq -f 'echo pipe-rl-%g > /dev/null' 1 200 >"$work/prl"
cat "$work/prl" | into t HISTFILE=/dev/null /bin/bash --rcfile /root/.bashrc -i >/dev/null 2>&1
flood_stop KILL
t_wait 30 grep -q 'pipe-rl-200 ' "$work/out.jsonl"
cap_agent_stop
t_eq "readline on the session's pipe: the flood still ran when the session ended" yes "$flooding"
t_eq "readline on the session's pipe, beside a readline flood: each line fed is recorded, as readline's" \
	"$(sed 's/^/readline\t/' "$work/prl")" \
	"$("$TOOLS/sa-lines" --kind line --container t --field source,line "$work/out.jsonl" |
		grep -P '^readline\techo pipe-rl-')"

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (readline flood on the session's pipe)"
cap_target t || t_fail "target t not added (readline flood on the session's pipe)"
seq -f ': pipe-flood-%g' 1 50000 | into t HISTFILE=/dev/null /bin/bash --norc -i >/dev/null 2>&1
sync_t sync-5
cap_agent_stop
read -r counted notes recorded err <<<"$(rl_walk t ': pipe-flood-' '' 50000)"
t_eq "a readline flood on the session's pipe: each line recorded is the one fed at its place, the counts exact ($recorded lines, $notes counts)" \
	"" "$err"
t_run "a readline flood on the session's pipe: past the stream's rate, lines counted ($counted)" \
	test "$counted" -gt 0

# --- a session opened before the target ------------------------------------------------

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (sweep)"
exec 7> >(into t /bin/bash >/dev/null 2>&1)
s7=$!
printf '%s\n' 'echo before-target > /dev/null' >&7
# A container whose init is a shell reading the pipe it was made with.
exec 8> >(exec unshare --mount --pid --fork --kill-child=KILL --root="$work/rfs" "${CENV[@]}" \
	/bin/bash >/dev/null 2>&1)
up=$!
t_cleanup "kill -KILL $up"
t_wait 20 pgrep -P "$up" >/dev/null || t_fail "container a did not start"
CPID[a]=$(pgrep -P "$up")
sleep 1
cap_target t || t_fail "target t not added (sweep)"
cap_target a || t_fail "target a not added (sweep)"
printf '%s\n' 'echo after-target > /dev/null' 'exit' >&7
printf '%s\n' 'echo attached-line > /dev/null' 'exit' >&8
exec 7>&- 8>&-
# Both shells read to the end and exit before the marker session.
wait "$s7" "$up"
sync_t sync-4
t_wait 30 grep -q attached-line "$work/out.jsonl" || t_fail "the attached line arrived"
cap_agent_stop
t_eq "a session opened before the target: what it reads after is recorded, from its pipe" \
	"$(printf '%s\n' 'echo after-target > /dev/null' 'exit' 'echo sync-4')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin "$work/out.jsonl")"
t_eq "a container made with its stdin open: what its init reads from it is recorded" \
	"$(printf 'bash\t%s\n' 'echo attached-line > /dev/null' 'exit')" \
	"$("$TOOLS/sa-lines" --kind line --container a --source stdin --field comm,line "$work/out.jsonl")"

# --- --no-terminal -----------------------------------------------------------------------

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent --no-terminal || t_fail "agent with --no-terminal did not start"
cap_target t || t_fail "target t not added (--no-terminal)"
printf '%s\n' 'echo notty-stdin > /dev/null' | into t /bin/bash >/dev/null 2>&1
printf '%s\n' 'echo notty-rl' | into t /bin/bash --rcfile /root/.bashrc -i >/dev/null 2>&1
t_wait 30 grep -q 'notty-rl' "$work/out.jsonl" || t_fail "the readline line arrived (--no-terminal)"
cap_agent_stop
t_eq "--no-terminal: no stdin entry" "" "$(grep '"source":"stdin"' "$work/out.jsonl")"

# --- the sys_exit hook ----------------------------------------------------------------------

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent --terminal-hook sys_exit || t_fail "agent with --terminal-hook sys_exit did not start"
cap_target t || t_fail "target t not added (sys_exit)"
printf '%s\n' 'echo sysexit-stdin > /dev/null' 'read v' 'sysexit-value' | into t /bin/bash >/dev/null 2>&1
# Any syscall ends the bytes gathered: the builtin's line is its own,
# though the next line follows in the pipe.
printf '%s\n%s%s\n' 'read -r -N 23 cmd; eval "$cmd"' 'echo nonl-3 > /tmp/nonl' 'echo sysexit-after' |
	into t /bin/bash >/dev/null 2>&1
printf '%s\n' 'echo sysexit-vm > /dev/null' | into t /bin/bash -c 'splicein --vmsplice | /bin/bash' \
	>/dev/null 2>&1
head -c 70000 /dev/zero | into t /bin/bash -c 'splicein > /tmp/spliced' >/dev/null 2>&1
sync_t sync-3
cap_agent_stop
t_eq "sys_exit: bash fed through a pipe, a line without its newline, vmsplice(2) recorded, splice(2) counted" \
	"$(printf '%s\n' 'bash	echo sysexit-stdin > /dev/null' 'bash	read v' 'bash	sysexit-value' \
		'bash	read -r -N 23 cmd; eval "$cmd"' 'bash	echo nonl-3 > /tmp/nonl' 'bash	echo sysexit-after' \
		'splicein	echo sysexit-vm > /dev/null' 'splicein	[not recorded: 70000 bytes of stdin]' \
		'bash	echo sync-3')" \
	"$("$TOOLS/sa-lines" --kind line --container t --source stdin --field comm,line "$work/out.jsonl")"

t_summary
