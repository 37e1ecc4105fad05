#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Terminal capture (issue 11, part 2): what processes of a targeted container
# read from their terminal while readline is not reading it, rebuilt into
# the lines they saw and reported once, with their source:
#   - bash after `set +o emacs`, bash --noediting, the read builtin, dash,
#     cat, and busybox ash, whose own line editor reads raw keys
#     (backspace, cursor moves, ^A, ^W, ^U, history);
#   - bash with readline on: readline's lines only, never again as terminal;
#   - hostile: readline turned off from vi mode, a paste of many lines,
#     a line without newline then Ctrl-D (read whole, and byte by byte),
#     control characters, a line with echo off (withheld, not lost), a flood
#     (recorded + counted past the container's rate = typed, each line at
#     its place), a pty pair of the user's own read one byte per read (the
#     same, nothing dropped), a long line (bounded, truncated),
#     32-bit reads (a 32-bit program's, seen by either hook; int $0x80
#     from 64-bit code, seen by the sys_exit hook, and by the tracepoints'
#     once a 32-bit program ran); a shell exec'd from a
#     `bind -x` command, inside readline, with the terminal non-canonical;
#     a read whose fd, or a readv whose iovec, another thread points
#     elsewhere while it blocks; a loop of io_submit reads with nothing
#     typed (a burst of entries, the rest counted, adding up);
#   - a shell without readline in new namespaces (unshare -Urm dash): its
#     lines are still the container's (the task marks);
#   - nothing from an untargeted container typing the same, and no terminal
#     entry with --no-terminal.
# The read builtin's prompt is typed as "$PS1" (expanded by the shell in
# the container, never here): typed literally, the prompt's own text in
# the line's echo could be taken for the next prompt, and the next line
# typed one step early (a Ctrl-D before the line editor was back made ash
# read an empty line and never exit).
# shellcheck disable=SC2016
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
# ptytype itself: after a line whose echo holds the prompt's text, the
# next line is typed at the real prompt (here the one after a sleep), not
# at that text.
printf '%s\n' 'sleep 1 # P> ' 'echo T=done' 'exit' >"$work/pl"
for mode in --prompt-last ""; do
	"$TOOLS/ptytype" --prompt 'P> ' $mode --lines "$work/pl" --log "$work/pl.log" --timeout 60 -- \
		env -i PS1='P> ' TERM=dumb bash --norc --noprofile -i >/dev/null 2>&1 ||
		t_fail "ptytype runs bash ${mode:-(prompt anywhere)}"
	t_eq "ptytype types the next line at the prompt, not at its text in an echo ${mode:-(prompt anywhere)}" \
		"" "$(tr -d '\r' <"$work/pl.log" | grep -x 'echo T=done')"
done
# ptytype --newline: a line editor that redraws the prompt and then, a
# moment later, the rest of the line (busybox ash recalling a history line,
# its output in two reads) gets the next line only after its Enter; the
# stand-in editor notes a line typed ahead of that.
# shellcheck disable=SC2028
editor='stty -echo; printf "P> "; while IFS= read -r l; do
	if [ "$l" = redraw ]; then printf "\rP> "; sleep 1; ! read -t 0 || echo early >>"$1"; fi
	[ "$l" = exit ] && exit; printf "%s\nP> " "$l"; done'
printf '%s\n' redraw next exit >"$work/nl"
: >"$work/nl.early"
"$TOOLS/ptytype" --prompt 'P> ' --prompt-last --newline --lines "$work/nl" --timeout 60 -- \
	bash -c "$editor" editor "$work/nl.early" >/dev/null 2>&1 || t_fail "ptytype --newline runs the stand-in editor"
t_eq "ptytype --newline types the next line after the Enter's newline, not at a redrawn prompt" \
	"" "$(cat "$work/nl.early")"
for f in read32 cat32 ttyswap uringread aioread ptyflood; do
	[ -x "$TOOLS/$f" ] || { t_fail "missing $TOOLS/$f (run make all)"; t_summary; exit 1; }
done
# The container's root: the shared one plus read32, cat32, ttyswap, uringread, aioread and
# ptyflood.
"$T_ROOT/hack/mkrootfs.sh" "$work/rfs" "$TOOLS/read32" "$TOOLS/cat32" "$TOOLS/ttyswap" \
	"$TOOLS/uringread" "$TOOLS/aioread" "$TOOLS/ptyflood" 2>/dev/null ||
	t_fail "root with read32, cat32, ttyswap, uringread, aioread and ptyflood"
cap_container t "$work/rfs"
cap_container u "$work/rfs"
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
cap_target t || t_fail "target t not added"
t_match "the syscall tracepoints are the hook on this kernel" '"hook":"tracepoint"' \
	"$(grep '"msg":"terminal capture attached"' "$work/agent.log")"

# tt NAME LINES PTYTYPE_OPTS... -- CMD...: CMD in container NAME on a pty,
# the lines typed into it (a line once the prompt is back, without --fast).
n_pty=0
tt() {
	local name=$1 lines=$2 opts=()
	shift 2
	while [ "$1" != -- ]; do opts+=("$1") && shift; done
	shift
	n_pty=$((n_pty + 1))
	"$TOOLS/ptytype" --prompt "$PROMPT" --prompt-last --lines "$lines" \
		--log "$work/pty-$name-$n_pty.log" --timeout 300 "${opts[@]}" -- \
		nsenter --target "${CPID[$name]}" --mount --pid --root --wd "${CENV[@]}" \
		PS1="$PROMPT" HISTFILE=/dev/null "$@" >/dev/null
	[ $? != 125 ] || t_fail "session $n_pty in $name: every line typed" "$(tail -c 300 "$work/pty-$name-$n_pty.log")"
}
BASH_RL=(/bin/bash --rcfile /root/.bashrc -i)
ASH=(/bin/busybox sh -i)
DASH=(/bin/dash -i)

# The sessions, in order; each is one session (sid) in the output. ($v is
# typed, not expanded here.)
printf '%s\n' 'echo rl-before' 'set +o emacs' 'echo builtin-1 > /dev/null' \
	'read -p "$PS1" v' 'read-value-1' 'echo "got:$v" > /dev/null' >"$work/s1"
tt t "$work/s1" -- "${BASH_RL[@]}"
printf '%s\n' 'echo noediting-1 > /dev/null' 'read -p "$PS1" w' 'noediting-value' >"$work/s2"
tt t "$work/s2" -- /bin/bash --noediting --rcfile /root/.bashrc -i
printf 'echo abcx\x7fd > /dev/null\necho > /dev/null helo\x1b[Dl\ncho X > /dev/null\x01e\n' >"$work/s3"
printf 'echo one two\x17three > /dev/null\ngarbage\x15echo clean > /dev/null\n\x1b[A\n' >>"$work/s3"
printf '%s\n' 'read -p "$PS1" z' 'ash-read-value' >>"$work/s3"
tt t "$work/s3" --newline -- "${ASH[@]}"
printf '%s\n' 'echo dash-1 > /dev/null' 'read -p "$PS1" d' 'dash-value' >"$work/s4"
tt t "$work/s4" -- "${DASH[@]}"
# cat reads what is typed ahead of it, up to Ctrl-D (the lines are one
# typing, NUL-separated).
printf 'cat > /dev/null\ncat-line-1\ncat-line-2\n\x04\0' >"$work/s5"
tt t "$work/s5" --nul -- "${DASH[@]}"
printf '%s\n' 'echo rl-once-1' 'echo rl-once-2' >"$work/s6"
tt t "$work/s6" -- "${BASH_RL[@]}"

# Hostile: readline turned off from its vi mode.
printf '%s\n' 'set -o vi' 'set +o vi' 'echo after-vi-off > /dev/null' >"$work/h1"
tt t "$work/h1" -- "${BASH_RL[@]}"
# 50 lines pasted at once into dash.
{ seq -f 'echo paste-%g > /dev/null' 1 50 | tr '\n' '\r' | sed 's/\r$//'; printf '\0'; } >"$work/h2"
tt t "$work/h2" --nul -- "${DASH[@]}"
# A line without newline then Ctrl-D: read whole (dash) and byte by byte
# (the read builtin), and control characters in a line.
printf 'echo nonl-dash > /dev/null\x04\0' >"$work/h3"
printf 'echo ctl-\x01\x02\x1b[31m-x > /dev/null\0' >>"$work/h3"
tt t "$work/h3" --nul -- "${DASH[@]}"
printf 'read -p "$PS1" q\0partial-value\x04\0' >"$work/h4"
tt t "$work/h4" --nul -- /bin/bash --noediting --rcfile /root/.bashrc -i
# A password-like line: echo off, canonical.
printf '%s\n' 'busybox stty -echo' 'echo secret-typed-xyz > /dev/null' 'busybox stty echo' \
	'echo visible-again > /dev/null' >"$work/h5"
tt t "$work/h5" -- "${DASH[@]}"
# A 32-bit read from 64-bit code (int $0x80) before any 32-bit program ran:
# the tracepoints do not see it (the sys_exit hook does, below).
printf 'read32 > /dev/null\nr32-line-tp\n\x04\0' >"$work/h6"
tt t "$work/h6" --nul -- "${DASH[@]}"
# A flood: 10,000 lines into cat as fast as the pty takes them.
{ printf 'cat > /dev/null\n'; seq -f 'flood-%g' 1 10000; printf '\x04\0'; } >"$work/h7"
tt t "$work/h7" --nul -- "${DASH[@]}"
# A shell exec'd from inside a readline call (a `bind -x` command on Enter
# that leaves the terminal non-canonical): what it reads is the terminal's,
# not readline's.
printf '%s\n' "bind -x '\"\\C-m\": busybox stty -icanon icrnl; exec /bin/dash -i'" '' \
	'echo bindx-exec > /dev/null' 'exit' >"$work/h8"
tt t "$work/h8" -- "${BASH_RL[@]}"
# A reader that points its fd at /dev/null, or its iovec at a buffer of
# newlines, while its read blocks (another thread, 200 ms in; the line is
# typed a second later): what the read took from the terminal is recorded.
for m in dup2 iov; do
	printf '%s\n' "ttyswap --$m > /dev/null" "echo swapped-$m > /dev/null" >"$work/h-$m"
	tt t "$work/h-$m" --fast --delay 1000 -- "${DASH[@]}"
done
# A reader that takes the line with no read at all: splice(2) (its fd
# pointed at /dev/null meanwhile) or sendfile(2) into a pipe.
for m in splice-dup2 sendfile; do
	printf '%s\n' "ttyswap --$m > /dev/null" "echo moved-$m > /dev/null" >"$work/h-$m"
	tt t "$work/h-$m" --fast --delay 1000 -- "${DASH[@]}"
done
# `bind -x` commands, run on the line being edited from inside readline
# with the terminal left raw: one runs the line itself (readline never
# returns it), one reads the terminal itself and runs what it read. (Each
# line ends with Enter: after either key, readline returns an empty line.)
printf '%s\0' "bind -x '\"\\C-t\": eval \"\$READLINE_LINE\"; READLINE_LINE='" \
	$'echo bindx-eval > /dev/null\x14' "bind -x '\"\\C-y\": read -rn 15 x; eval \"\$x\"'" \
	$'\x19echo bindx-read' exit >"$work/h9"
tt t "$work/h9" --nul -- "${BASH_RL[@]}"
# A reader that takes the line through io_uring, of its fd or of a
# registered (fixed) file whose fd is closed; read, or spliced into a pipe;
# spliced from an fd pointed elsewhere while the splice waits; read with no
# completion posted.
for m in '' ' --fixed' ' --splice' ' --splice-fixed' ' --splice-dup2' ' --skip'; do
	printf '%s\n' "uringread$m > /dev/null" "echo uring-line$m > /dev/null" >"$work/h-uring$m"
	tt t "$work/h-uring$m" --fast --delay 1000 -- "${DASH[@]}"
done
# The same with the line typed ahead, there before the request: it
# completes as it goes in.
printf '%s\n' "sleep 1; uringread --skip > /dev/null" "echo uring-ahead > /dev/null" >"$work/h-uring-ahead"
tt t "$work/h-uring-ahead" --fast --delay 300 -- "${DASH[@]}"
# A reader that takes the line through Linux AIO (io_submit), alone or as
# the last of 1,000 iocbs of one call.
printf '%s\n' "aioread > /dev/null" "echo aio-line > /dev/null" >"$work/h-aio"
tt t "$work/h-aio" --fast --delay 1000 -- "${DASH[@]}"
printf '%s\n' "aioread --many 1000 > /dev/null" "echo aio-many > /dev/null" >"$work/h-aio-many"
tt t "$work/h-aio-many" --fast --delay 1000 -- "${DASH[@]}"
# 20,000 io_submit reads of the terminal made non-blocking, nothing typed:
# a burst of entries, then counts.
printf '%s\n' "aioread --flood 20000 > /dev/null" "echo aio-flood-after > /dev/null" >"$work/h-aio-flood"
tt t "$work/h-aio-flood" --fast --delay 1000 -- "${DASH[@]}"
# A 32-bit program (an i386 ELF) reading a line typed after it started: its
# exec moves terminal capture to the raw tracepoints, which see 32-bit
# syscalls; from then on, 32-bit reads of 64-bit code (int $0x80) are
# seen too, and 64-bit reads still once.
printf '%s\n' 'cat32 > /dev/null' c32-line-tp >"$work/h-ia32"
tt t "$work/h-ia32" --fast --delay 1000 -- "${DASH[@]}"
printf 'read32 > /dev/null\nr32-line-ia32\n\x04\0' >"$work/h-ia32-int80"
tt t "$work/h-ia32-int80" --nul -- "${DASH[@]}"

# The same typing in the untargeted container.
printf '%s\n' 'echo untargeted-ash > /dev/null' >"$work/u1"
tt u "$work/u1" --newline -- "${ASH[@]}"
printf '%s\n' 'set +o emacs' 'echo untargeted-bash > /dev/null' >"$work/u2"
tt u "$work/u2" -- "${BASH_RL[@]}"

t_wait 60 grep -q 'r32-line-ia32' "$work/out.jsonl" || t_fail "the last line typed into t arrived"
t_wait 30 grep -q 'bindx-exec' "$work/out.jsonl" || true
cap_agent_stop
cp "$work/out.jsonl" "$work/run1.jsonl"

# group N: "comm<TAB>line" of the terminal lines of the N-th session of t
# with terminal lines, in order of appearance, decoded; flags N: their
# inexact flags.
lines_of() { "$TOOLS/sa-lines" --kind line --container t "$@" "$work/run1.jsonl"; }
lines_of --source terminal --field session,comm,line,inexact >"$work/terminal.tsv"
group() {
	awk -F'\t' -v want="$1" '!($1 in seen) { seen[$1] = ++n } seen[$1] == want { print $2 "\t" $3 }' \
		"$work/terminal.tsv"
}
flags() {
	awk -F'\t' -v want="$1" '!($1 in seen) { seen[$1] = ++n }
		seen[$1] == want { printf "%s%s", sep, ($4 == "" ? "-" : $4); sep = " " }' "$work/terminal.tsv"
}
# Sessions of t with terminal lines, in order: s1 s2 s3 s4 s5 h1 h2 h3 h4 h5 h6 h7 h8
# h-dup2 h-iov h-splice-dup2 h-sendfile h9 h-uring h-uring --fixed
# h-uring --splice h-uring --splice-fixed h-uring --splice-dup2 h-uring --skip
# h-uring-ahead h-aio h-aio-many h-aio-flood
# h-ia32 h-ia32-int80 (s6 has none).
# shellcheck disable=SC2016
t_eq "bash after set +o emacs: builtins and the read builtin's input, as terminal lines" \
	"$(printf 'bash\t%s\n' 'echo builtin-1 > /dev/null' 'read -p "$PS1" v' 'read-value-1' \
		'echo "got:$v" > /dev/null')" "$(group 1)"
t_eq "bash --noediting" "$(printf 'bash\t%s\n' 'echo noediting-1 > /dev/null' \
	'read -p "$PS1" w' 'noediting-value')" "$(group 2)"
t_eq "busybox ash: the line editor's keys applied" \
	"$(printf 'busybox\t%s\n' 'echo abcd > /dev/null' 'echo > /dev/null hello' 'echo X > /dev/null' \
		'echo one three > /dev/null' 'echo clean > /dev/null' '' 'read -p "$PS1" z' \
		'ash-read-value')" "$(group 3)"
t_eq "busybox ash: a recalled history line is an inexact entry, the others exact" \
	"- - - - - true - -" "$(flags 3)"
t_eq "dash and its read builtin" "$(printf 'dash\t%s\n' 'echo dash-1 > /dev/null' \
	'read -p "$PS1" d' 'dash-value')" "$(group 4)"
t_eq "cat reading the terminal" "$(printf '%s\t%s\n' dash 'cat > /dev/null' cat cat-line-1 cat cat-line-2)" \
	"$(group 5)"
t_eq "readline's lines once, as readline, never as terminal lines" \
	"$(printf '%s\n' 'echo rl-before' 'set +o emacs' 'echo rl-once-1' 'echo rl-once-2' 'set -o vi' \
		'set +o vi' "bind -x '\"\\C-m\": busybox stty -icanon icrnl; exec /bin/dash -i'" \
		"bind -x '\"\\C-t\": eval \"\$READLINE_LINE\"; READLINE_LINE='" \
		'echo bindx-eval > /dev/null' '' "bind -x '\"\\C-y\": read -rn 15 x; eval \"\$x\"'" '' \
		exit)" \
	"$(lines_of --source readline)"
t_eq "readline off from vi mode: what is typed next is a terminal line" \
	"$(printf 'bash\techo after-vi-off > /dev/null')" "$(group 6)"
t_eq "50 lines pasted at once: each one, in order" \
	"$(seq -f 'dash	echo paste-%g > /dev/null' 1 50)" "$(group 7)"
t_eq "a line without newline then Ctrl-D, and control characters" \
	"$(printf 'dash\t%s\n' 'echo nonl-dash > /dev/null' $'echo ctl-\x01\x02\x1b[31m-x > /dev/null')" \
	"$(group 8)"
t_eq "byte by byte then Ctrl-D (the read builtin)" \
	"$(printf 'bash\t%s\n' 'read -p "$PS1" q' 'partial-value')" "$(group 9)"
t_eq "echo off: the line is an entry, its text withheld" \
	"$(printf 'dash\t%s\n' 'busybox stty -echo' '[not recorded: typed with echo off]' \
		'[not recorded: typed with echo off]' 'echo visible-again > /dev/null')" "$(group 10)"
t_eq "echo off: the typed secret is nowhere" "" "$(grep -o 'secret-typed-xyz' "$work/run1.jsonl")"
t_eq "echo off: flagged" "2" "$(grep -c '"echo_off":true' "$work/run1.jsonl")"
echo "  note a 32-bit read with the tracepoint hook: $(grep -c 'r32-line-tp' "$work/run1.jsonl") entries (the tracepoints do not see ia32 syscalls; no 32-bit program ran yet)"
t_eq "a shell exec'd from inside readline (bind -x): its lines, from the terminal" \
	"$(printf 'dash\t%s\n' 'echo bindx-exec > /dev/null' 'exit')" "$(group 13)"
t_eq "a read whose fd another thread points at /dev/null while it blocks: the terminal's line" \
	"$(printf '%s\t%s\n' dash 'ttyswap --dup2 > /dev/null' ttyswap 'echo swapped-dup2 > /dev/null')" \
	"$(group 14)"
t_eq "a readv whose iovec another thread points at newlines while it blocks: the line read" \
	"$(printf '%s\t%s\n' dash 'ttyswap --iov > /dev/null' ttyswap 'echo swapped-iov > /dev/null')" \
	"$(group 15)"
moved() { printf '[not recorded: %d bytes taken from the terminal by splice, sendfile or io_uring]' "$1"; }
t_eq "splice(2) from the terminal, its fd swapped: an entry says how many bytes, none lost silently" \
	"$(printf '%s\t%s\n' dash 'ttyswap --splice-dup2 > /dev/null' ttyswap "$(moved 35)")" \
	"$(group 16)"
t_eq "sendfile(2) from the terminal: an entry says how many bytes" \
	"$(printf '%s\t%s\n' dash 'ttyswap --sendfile > /dev/null' ttyswap "$(moved 32)")" \
	"$(group 17)"
t_eq "a bind -x command that runs the line being edited: that line, the one readline line marked inexact" \
	"$(printf '%s\t%s' 'echo bindx-eval > /dev/null' true)" \
	"$(lines_of --source readline --field line,inexact | awk -F'\t' '$2 == "true"')"
t_eq "a bind -x command that reads the terminal itself: what it read, as a terminal line" \
	"$(printf 'bash\techo bindx-read')" "$(group 18)"
# The io_uring read completes in the reader or in its io-wq worker thread
# (comm iou-wrk-PID): the lines only.
t_eq "an io_uring read of the terminal: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread > /dev/null' "$(moved 28)")" "$(group 19 | cut -f2)"
t_eq "an io_uring read of a fixed file, its fd closed: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread --fixed > /dev/null' "$(moved 36)")" "$(group 20 | cut -f2)"
t_eq "an io_uring splice of the terminal into a pipe: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread --splice > /dev/null' "$(moved 37)")" "$(group 21 | cut -f2)"
t_eq "an io_uring splice of a fixed file, its fd closed: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread --splice-fixed > /dev/null' "$(moved 43)")" "$(group 22 | cut -f2)"
t_eq "an io_uring splice whose input fd is pointed at /dev/null while it waits: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread --splice-dup2 > /dev/null' "$(moved 42)")" "$(group 23 | cut -f2)"
t_eq "an io_uring read that posts no completion: an entry says how many bytes" \
	"$(printf '%s\n' 'uringread --skip > /dev/null' "$(moved 35)")" "$(group 24 | cut -f2)"
t_eq "the same of a line typed ahead: an entry says how many bytes" \
	"$(printf '%s\n' 'sleep 1; uringread --skip > /dev/null' "$(moved 29)")" "$(group 25 | cut -f2)"
t_eq "an io_submit read of the terminal: an entry says so, and how many bytes it asked for" \
	"$(printf '%s\t%s\n' dash 'aioread > /dev/null' aioread \
		'[not recorded: a read of up to 4096 bytes from the terminal by io_submit]')" \
	"$(group 26)"
t_eq "an io_submit read of the terminal as the last of 1,000 iocbs: an entry says so" \
	"$(printf '%s\t%s\n' dash 'aioread --many 1000 > /dev/null' aioread \
		'[not recorded: a read of up to 4096 bytes from the terminal by io_submit]')" \
	"$(group 27)"
aio='[not recorded: a read of up to 4096 bytes from the terminal by io_submit]'
t_eq "20,000 io_submit reads of the terminal: the shell's lines, then the reader's entries" \
	"$(printf '%s\t%s\n' dash 'aioread --flood 20000 > /dev/null' aioread "$aio" dash \
		'echo aio-flood-after > /dev/null')" \
	"$(group 28 | awk -F'\t' '$1 != "aioread" || !seen[$0]++' | grep -v 'reads of a terminal or stdin')"
read -r entries counted counts <<<"$(group 28 | awk -F'\t' -v aio="$aio" '$1 != "aioread" { next }
	$2 == aio { e++ }
	$2 ~ /^\[not recorded: [0-9]+ reads of a terminal or stdin by io_submit, past their rate\]$/ {
		split($2, a, " "); k += a[3]; c++ } END { print e + 0, k + 0, c + 0 }')"
t_eq "20,000 io_submit reads of the terminal: entries + counted reads = the calls ($entries entries)" \
	20000 "$((entries + counted))"
t_run "20,000 io_submit reads of the terminal: a burst of entries, the rest counted ($entries, $counts counts)" \
	test "$entries" -ge 1 -a "$entries" -le 1000 -a "$counts" -ge 1
t_eq "a 32-bit program's read of the terminal, with the tracepoint hook: its line" \
	"$(printf '%s\t%s\n' dash 'cat32 > /dev/null' cat32 c32-line-tp)" "$(group 29)"
t_eq "then a 32-bit read of 64-bit code (int \$0x80) too, and 64-bit reads once" \
	"$(printf '%s\t%s\n' dash 'read32 > /dev/null' read32 r32-line-ia32)" "$(group 30)"
t_eq "the 32-bit program's exec entry, and it alone, says ia32" "$(printf '/bin/cat32\ttrue')" \
	"$("$TOOLS/sa-lines" --kind exec --field filename,ia32 "$work/run1.jsonl" | awk -F'\t' '$2 != ""')"
t_eq "terminal capture moved to the raw tracepoints once, on the 32-bit exec" 1 \
	"$(grep -c '"msg":"a 32-bit program runs in an audited container: terminal capture moves' "$work/agent.log")"
t_eq "the lines moved so are nowhere in clear" "" \
	"$(grep -oE 'moved-(splice|sendfile)|uring-line|uring-ahead|aio-line|aio-many' "$work/run1.jsonl")"
# The flood, past the container's terminal rate (a line read is about 200
# bytes of records): lines recorded, the rest counted in bytes.
past='^\[not recorded: [0-9]+ bytes read from the container.s terminals, past their rate\]$'
group 12 | awk -F'\t' '$1 == "cat"' | cut -f2 >"$work/flood-got"
flood=$(grep -c '^flood-' "$work/flood-got")
counted=$(grep -E "$past" "$work/flood-got" | awk '{ s += $3 } END { print s + 0 }')
lost=$("$TOOLS/sa-lines" --kind lost --field lost_terminal_reads "$work/run1.jsonl" | awk '{ s += $1 } END { print s + 0 }')
t_eq "flood: no terminal read dropped in the ring buffer" 0 "$lost"
t_eq "flood: recorded + counted bytes = typed" "$(seq -f 'flood-%g' 1 10000 | wc -c)" \
	"$(($(grep '^flood-' "$work/flood-got" | wc -c) + counted))"
# Each recorded line is the line typed where the counts before it put it.
t_eq "flood: each line recorded is the one typed at its place, the counts exact" "" \
	"$(awk -v past="$past" 'NR == FNR { at[off] = FNR; line[FNR] = $0; off += length($0) + 1; next }
		$0 ~ past { pos += $3; next }
		!(pos in at) || line[at[pos]] != $0 { print "entry " FNR ": " $0 " at byte " pos; exit }
		{ pos += length($0) + 1 }' <(seq -f 'flood-%g' 1 10000) "$work/flood-got")"
echo "  note 10,000 flood lines: $flood recorded, $counted bytes counted past the rate"
t_eq "nothing of the untargeted container" "" \
	"$(grep -E '"container":"u"|untargeted-' "$work/run1.jsonl")"

# --- escaped into new namespaces -------------------------------------------------------

# A container entered the way kubectl exec does, from which dash leaves
# for new user and mount namespaces: what it reads is still e's, also what
# io_uring splices off the terminal there (in an io-wq worker, which acts
# for its process outside the target's mount namespace).
"$T_ROOT/hack/mkrootfs.sh" "$work/erfs" unshare mount umount pivot_root "$TOOLS/uringread" \
	2>/dev/null || t_fail "the escape root"
cap_pivot_container e "$work/erfs" || t_fail "container e did not start"
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (escape)"
cap_target e || t_fail "target e not added"
printf '%s\n' 'unshare -Urm /bin/dash -i' 'uringread --splice > /dev/null' 'echo uring-escaped > /dev/null' \
	'echo escaped-marker' 'exit' >"$work/e1"
"$TOOLS/ptytype" --prompt "$PROMPT" --fast --delay 1000 --lines "$work/e1" --log "$work/pty-e.log" \
	--timeout 120 -- \
	nsenter --target "${CPID[e]}" --mount --pid --uts --ipc --net --cgroup --root --wd \
	"${CENV[@]}" PS1="$PROMPT" /bin/dash -i >/dev/null
[ $? != 125 ] || t_fail "session in e: every line typed" "$(tail -c 300 "$work/pty-e.log")"
t_wait 30 grep -q escaped-marker "$work/out.jsonl"
cap_agent_stop
x=$("$TOOLS/sa-lines" --kind line --container e --source terminal --field line,mntns "$work/out.jsonl")
t_eq "dash in new namespaces: its lines are still the container's terminal lines" \
	"$(printf '%s\n' 'unshare -Urm /bin/dash -i' 'uringread --splice > /dev/null' \
		'[not recorded: 31 bytes taken from the terminal by splice, sendfile or io_uring]' \
		'echo escaped-marker' exit)" "$(cut -f1 <<<"$x")"
t_eq "typed in another mount namespace than the container's" 2 "$(cut -f2 <<<"$x" | sort -u | wc -l)"

# --- a terminal of its own, flooded -------------------------------------------------

# A user who opens a pty pair in the container and reads its slave one
# byte per read while a child writes its master in a loop: a terminal
# record per byte, as fast as the syscall goes, which would fill the ring
# buffer and drop the records of every container. The container's
# terminals share a rate: the first part is recorded, the rest counted,
# recorded + counted = read, and nothing is dropped. (The master is opened
# here: the container has no /dev.)
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (pty flood)"
cap_target t || t_fail "target t not added (pty flood)"
nsenter --target "${CPID[t]}" --mount --pid --root --wd "${CENV[@]}" ptyflood 2000000 \
	3<>/dev/ptmx >"$work/ptyflood" 2>&1
printf '%s\n' 'echo after-pty-flood > /dev/null' >"$work/pf1"
tt t "$work/pf1" -- "${DASH[@]}"
t_wait 30 grep -q 'after-pty-flood' "$work/out.jsonl"
cap_agent_stop
t_eq "ptyflood read its 2,000,007 bytes one by one" "2000007 bytes read" "$(cat "$work/ptyflood")"
"$TOOLS/sa-lines" --kind line --container t --field comm,line,truncated,pid "$work/out.jsonl" |
	awk -F'\t' '$1 == "ptyflood"' >"$work/ptyflood.tsv"
# Walked along what was written (line i, "p%07d\n", at byte 9 * (i - 1)):
# each line the reader recorded is the text at its place, up to its
# newline, or cut by the rate (truncated), or by its exit (its last);
# each count moves the place on by its bytes; the end is the end. After a
# count, a newline read alone is an empty line, which is no line: the only
# byte skipped without a count. The count of what was left when the
# reader's child (the writer, which reads no terminal) exited goes last;
# the reader's last line, sent at its exit, reads the same whether its
# newline was read or was counted there (then the end is one further).
read -r counted notes recorded err <<<"$(awk -F'\t' '
	function text(p, n) { return substr(sprintf("p%07d\n", (int(p / 9) + 1) % 10000000), p % 9 + 1, n) }
	NR == 1 { reader = $4 }
	$2 ~ /^\[not recorded: [0-9]+ bytes read from the container.s terminals, past their rate\]$/ {
		split($2, a, " "); k += a[3]; c++
		if ($4 != reader) { later += a[3]; next }
		if (note && pos % 9 == 8) pos++
		pos += a[3]; note = 1; lf = 0; next }
	$4 != reader { if (!err) err = "entry " NR ": a line of another process"; next }
	{
		if (note && pos % 9 == 8) pos++
		note = 0
		n = length($2)
		want = $3 == "true" ? text(pos, n) : substr(text(pos, 9), 1, 9 - pos % 9)
		got = $2 ($3 == "true" ? "" : "\n")
		if (want != got && $3 != "true" && text(pos, n) == $2) { want = $2; last = NR }
		if ((want != got && want != $2) || (last && last != NR))
			if (!err) err = "entry " NR ": " $2 " at byte " pos
		pos += length(want); r++
		lf = want ~ /\n$/
	}
	END { if (note && pos % 9 == 8) pos++
		if (!err && pos + later != 2000007 && !(lf && later && pos + later == 2000008))
			err = "the end at byte " pos + later
		print k + 0, c + 0, r + 0, err }' "$work/ptyflood.tsv")"
t_eq "a pty flood: each line recorded is the one written at its place, the counts exact ($recorded lines, $notes counts)" \
	"" "$err"
t_run "a pty flood: most of it counted, not recorded ($counted bytes)" test "$counted" -ge 1000000
t_eq "a pty flood: no terminal read dropped in the ring buffer" 0 \
	"$("$TOOLS/sa-lines" --kind lost --field lost_terminal_reads "$work/out.jsonl" |
		awk '{ s += $1 } END { print s + 0 }')"
t_eq "a pty flood: the line typed after it is recorded" \
	"$(printf 'dash\techo after-pty-flood > /dev/null')" \
	"$("$TOOLS/sa-lines" --kind line --container t --field comm,line "$work/out.jsonl" |
		grep after-pty-flood)"

# --- a pty flood into a full ring buffer ----------------------------------------------

# The same flood while the agent is stopped, its ring buffer of 1 MiB: the
# reads the rate lets go find it full, a counted drop each. The count of
# bytes such a record was to carry goes back to the rate, for the next
# record or exit, so that every byte read is recorded, counted, or one of
# the dropped reads' (a byte each: their number is in the gap entry), or
# the lone newline after a count (no entry). Without, the bytes read
# between two dropped reads were missing without a trace.
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent --ringbuf-mb 1 || t_fail "agent did not start (full ring buffer)"
cap_target t || t_fail "target t not added (full ring buffer)"
kill -STOP "$AGENT_PID"
nsenter --target "${CPID[t]}" --mount --pid --root --wd "${CENV[@]}" ptyflood 6000000 \
	3<>/dev/ptmx >"$work/ptyflood-full" 2>&1
kill -CONT "$AGENT_PID"
printf '%s\n' 'echo after-full-flood > /dev/null' >"$work/pf3"
tt t "$work/pf3" -- "${DASH[@]}"
t_wait 60 grep -q 'after-full-flood' "$work/out.jsonl"
cap_agent_stop
t_eq "ptyflood read its 6,000,003 bytes one by one (full ring buffer)" "6000003 bytes read" \
	"$(cat "$work/ptyflood-full")"
read -r recorded counted notes <<<"$("$TOOLS/sa-lines" --kind line --container t \
	--field comm,line,truncated "$work/out.jsonl" | awk -F'\t' '
	$2 ~ /^\[not recorded: [0-9]+ bytes read from the container.s terminals, past their rate\]$/ {
		split($2, a, " "); k += a[3]; c++; next }
	$1 == "ptyflood" { r += length($2) + ($3 == "true" ? 0 : 1) }
	END { print r + 0, k + 0, c + 0 }')"
lost=$("$TOOLS/sa-lines" --kind lost --field lost_terminal_reads "$work/out.jsonl" |
	awk '{ s += $1 } END { print s + 0 }')
missing=$((6000003 - recorded - counted))
echo "  note full ring buffer: $recorded bytes recorded, $counted counted ($notes counts), $lost reads dropped, $missing bytes neither"
t_run "a pty flood into a full ring buffer: reads were dropped ($lost)" test "$lost" -gt 0
t_run "a pty flood into a full ring buffer: no byte missing but the dropped reads' and the lone newlines ($missing)" \
	test "$missing" -ge 0 -a "$missing" -le $((lost + notes))

# --- a flood beside the session's terminal -------------------------------------------

# The same flood, kept going, while lines are typed into dash on the
# session's own terminal (the one its root was given from outside, as the
# runtime gives kubectl exec's): a user must not hide what they type
# behind a flood of a pty pair of their own, which takes the container's
# rate. The session's terminal has a rate of its own: each line typed is
# recorded, whole, and the flood is still counted.
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (flood beside a session)"
cap_target t || t_fail "target t not added (flood beside a session)"
flood_start nsenter --target "${CPID[t]}" --mount --pid --root --wd "${CENV[@]}" ptyflood 2000000000 \
	3<>/dev/ptmx
t_wait 60 grep -q "bytes read from the container's terminals, past their rate" "$work/out.jsonl" ||
	t_fail "beside a flood: the flood went past the rate before the typing"
{ seq -f 'echo beside-flood-%g > /dev/null' 1 200 && echo 'echo beside-flood-end > /dev/null'; } \
	>"$work/bf1"
tt t "$work/bf1" -- "${DASH[@]}"
flood_stop TERM
t_wait 30 grep -q 'beside-flood-end' "$work/out.jsonl"
cap_agent_stop
t_eq "beside a flood: the flood still ran when the typing ended" yes "$flooding"
t_eq "beside a flood: each line typed on the session's terminal is recorded, whole" \
	"$(cat "$work/bf1")" \
	"$("$TOOLS/sa-lines" --kind line --container t --field comm,line "$work/out.jsonl" |
		awk -F'\t' '$1 == "dash" && $2 !~ /^\[not recorded: [0-9]+ bytes read from the container.s terminals, past their rate\]$/' |
		cut -f2)"
t_run "beside a flood: the flood was counted, not recorded, the while" test "$(
	"$TOOLS/sa-lines" --kind line --container t --field comm,line "$work/out.jsonl" |
		awk -F'\t' '$1 == "ptyflood" && $2 ~ /^\[not recorded: / { split($2, a, " "); s += a[3] }
			END { print s + 0 }')" -gt 0

# The same, the dash session opened before the agent ran, entered the way
# runc exec enters (its root's parent outside the container): the agent's
# sweep marks it, no exec of its root is seen, and the root takes its
# session's terminal at its first terminal read.
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
{ seq -f 'echo swept-flood-%g > /dev/null' 1 100 && echo 'echo swept-flood-end > /dev/null'; } \
	>"$work/bf3"
"$TOOLS/ptytype" --prompt "$PROMPT" --prompt-last --lines "$work/bf3" --log "$work/pty-swept.log" \
	--timeout 300 \
	--ready "grep -q 'bytes read from the container.s terminals, past their rate' '$work/out.jsonl'" \
	-- nsenter --target "${CPID[t]}" --pid -- nsenter --target "${CPID[t]}" --mount --root --wd \
	"${CENV[@]}" PS1="$PROMPT" HISTFILE=/dev/null /bin/dash -i >/dev/null &
typer=$!
t_wait 30 grep -qF "$PROMPT" "$work/pty-swept.log" || t_fail "a session open before the target: dash's prompt"
cap_agent || t_fail "agent did not start (a session open before the target)"
cap_target t || t_fail "target t not added (a session open before the target)"
flood_start nsenter --target "${CPID[t]}" --mount --pid --root --wd "${CENV[@]}" ptyflood 2000000000 \
	3<>/dev/ptmx
wait "$typer"
[ $? != 125 ] || t_fail "a session open before the target: every line typed" "$(tail -c 300 "$work/pty-swept.log")"
flood_stop TERM
t_wait 30 grep -q 'swept-flood-end' "$work/out.jsonl"
cap_agent_stop
t_eq "a session open before the target: the flood still ran when the typing ended" yes "$flooding"
t_eq "a session open before the target: each line typed on its terminal beside a flood is recorded, whole" \
	"$(cat "$work/bf3")" \
	"$("$TOOLS/sa-lines" --kind line --container t --field comm,line "$work/out.jsonl" |
		awk -F'\t' '$1 == "dash" && $2 !~ /^\[not recorded: [0-9]+ bytes read from the container.s terminals, past their rate\]$/' |
		cut -f2)"

# --- readline's lines, flooded ---------------------------------------------------------

# bash fed its lines by a pipe (yes : | bash -i) returns from readline as
# fast as it runs them: a line record each, tens of thousands a second,
# without a terminal. Readline's lines go by the container's rate: the
# first part recorded, the rest counted in lines, each line whole or
# counted, nothing dropped in the ring buffer; and the lines typed
# meanwhile on the session's terminal, under no rate, are all recorded.
: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (readline flood)"
cap_target t || t_fail "target t not added (readline flood)"
fed=$(rl_flood_counted t ': rl-flood-' '')
printf '%s\n' 'echo after-rl-flood > /dev/null' >"$work/rf1"
tt t "$work/rf1" -- "${BASH_RL[@]}"
t_wait 30 grep -q 'after-rl-flood' "$work/out.jsonl"
cap_agent_stop
read -r counted notes recorded err <<<"$(rl_walk t ': rl-flood-' '' "$fed")"
t_eq "a readline flood: each line recorded is the one fed at its place, the counts exact ($fed lines fed: $recorded recorded, $notes counts)" \
	"" "$err"
t_run "a readline flood: past the rate, lines counted, not recorded ($counted)" test "$counted" -gt 0
t_eq "a readline flood: no line dropped in the ring buffer" 0 \
	"$("$TOOLS/sa-lines" --kind lost --field lost_lines "$work/out.jsonl" | awk '{ s += $1 } END { print s + 0 }')"
t_eq "a readline flood: the line typed after it is recorded" "echo after-rl-flood > /dev/null" \
	"$("$TOOLS/sa-lines" --kind line --container t --field line "$work/out.jsonl" | grep after-rl-flood)"

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent || t_fail "agent did not start (readline flood beside a session)"
cap_target t || t_fail "target t not added (readline flood beside a session)"
rl_flood_start t || t_fail "beside a readline flood: the flood went past the rate before the typing"
{ seq -f 'echo beside-rl-flood-%g' 1 200 && echo 'echo beside-rl-flood-end'; } >"$work/rf2"
tt t "$work/rf2" -- "${BASH_RL[@]}"
flood_stop KILL
t_wait 30 grep -q 'beside-rl-flood-end' "$work/out.jsonl"
cap_agent_stop
t_eq "beside a readline flood: the flood still ran when the typing ended" yes "$flooding"
t_eq "beside a readline flood: each line typed on the session's terminal is recorded" \
	"$(cat "$work/rf2")" \
	"$("$TOOLS/sa-lines" --kind line --container t --field line "$work/out.jsonl" | grep '^echo beside-rl-flood-')"

# --- --no-terminal --------------------------------------------------------------------

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent --no-terminal || t_fail "agent with --no-terminal did not start"
cap_target t || t_fail "target t not added (--no-terminal)"
printf '%s\n' 'echo notty-dash > /dev/null' >"$work/n1"
tt t "$work/n1" -- "${DASH[@]}"
printf '%s\n' 'echo notty-rl' 'set +o emacs' 'echo notty-bash > /dev/null' >"$work/n2"
tt t "$work/n2" -- "${BASH_RL[@]}"
t_wait 30 grep -q 'notty-rl' "$work/out.jsonl"
cap_agent_stop
t_eq "--no-terminal: readline's lines only" "$(printf '%s\n' 'echo notty-rl' 'set +o emacs')" \
	"$("$TOOLS/sa-lines" --kind line --container t "$work/out.jsonl")"
t_eq "--no-terminal: no terminal entry" "" "$(grep '"source":"terminal"' "$work/out.jsonl")"

# --- the sys_exit hook, with a small --max-line ---------------------------------------

: >"$work/out.jsonl"
: >"$work/agent.log"
: >"$work/targets"
cap_agent --terminal-hook sys_exit --max-line 64 || t_fail "agent with --terminal-hook sys_exit did not start"
cap_target t || t_fail "target t not added (sys_exit)"
t_match "sys_exit: the raw tracepoint is the hook" '"hook":"sys_exit"' \
	"$(grep '"msg":"terminal capture attached"' "$work/agent.log")"
long="echo $(printf 'L%.0s' $(seq 1 200)) > /dev/null"
printf 'echo sysexit-dash > /dev/null\n%s\n' "$long" >"$work/x1"
tt t "$work/x1" -- "${DASH[@]}"
printf 'read32 > /dev/null\nr32-line-sysexit\n\x04\0' >"$work/x2"
tt t "$work/x2" --nul -- "${DASH[@]}"
printf 'echo sysexit-ash\x7f\x7f\x7fASH > /dev/null\n' >"$work/x3"
tt t "$work/x3" --newline -- "${ASH[@]}"
printf '%s\n' 'ttyswap --iov > /dev/null' 'echo sysexit-swapped > /dev/null' >"$work/x4"
tt t "$work/x4" --fast --delay 1000 -- "${DASH[@]}"
printf '%s\n' 'ttyswap --sendfile-dup2 > /dev/null' 'echo sysexit-moved > /dev/null' >"$work/x5"
tt t "$work/x5" --fast --delay 1000 -- "${DASH[@]}"
printf '%s\n' 'aioread > /dev/null' 'echo sysexit-aio > /dev/null' >"$work/x6"
tt t "$work/x6" --fast --delay 1000 -- "${DASH[@]}"
printf '%s\n' 'read32 --aio > /dev/null' 'echo sysexit-aio32 > /dev/null' >"$work/x7"
tt t "$work/x7" --fast --delay 1000 -- "${DASH[@]}"
t_wait 30 sh -c "[ \$(grep -c 'from the terminal by io_submit' '$work/out.jsonl') -ge 2 ]"
cap_agent_stop
x=$(paste <("$TOOLS/sa-lines" --kind line --source terminal --field comm "$work/out.jsonl") \
	<("$TOOLS/sa-lines" --kind line --source terminal "$work/out.jsonl") \
	<("$TOOLS/sa-lines" --kind line --source terminal --field truncated "$work/out.jsonl"))
t_eq "sys_exit: dash, a long line cut at --max-line, a 32-bit reader, ash, a readv's iovec swapped, io_submit (64 and 32 bits)" \
	"$(printf '%s\t%s\t%s\n' dash 'echo sysexit-dash > /dev/null' false dash "${long:0:64}" true \
		dash 'read32 > /dev/null' false read32 r32-line-sysexit false \
		busybox 'echo sysexit-ASH > /dev/null' false dash 'ttyswap --iov > /dev/null' false \
		ttyswap 'echo sysexit-swapped > /dev/null' false \
		dash 'ttyswap --sendfile-dup2 > /dev/null' false ttyswap "$(moved 31)" true \
		dash 'aioread > /dev/null' false aioread \
		'[not recorded: a read of up to 4096 bytes from the terminal by io_submit]' true \
		dash 'read32 --aio > /dev/null' false read32 \
		'[not recorded: a read of up to 4096 bytes from the terminal by io_submit]' true)" "$x"

t_summary
