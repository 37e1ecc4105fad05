#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make fuzz: runs each libFuzzer target of build/fuzz for FUZZ_SECONDS (60)
# from a seed corpus made here: for elfsym, this machine's bash, libreadline
# and stripped static bash and the crafted hostile files of
# tests/tools/hostile-elf.h; for mountinfo, the lines of this machine's
# mountinfo files and crafted overlay lines; for ttyline, reads of typed
# lines in canonical and raw mode; for re, the patterns of the unit tests'
# Go vectors and the redact rules the tests use, each with texts that make
# backtracking engines blow up; for escape, lines with every kind of byte the
# agent escapes or not; for admission and auditlog, AdmissionReviews and
# audit EventLists as the API server sends them. Each target's corpus grows
# in build/fuzz/corpus/; a crash, leak, hang (-timeout) or broken invariant is
# a finding, saved under build/fuzz/artifacts/. Not part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

SECS=${FUZZ_SECONDS:-60}
F=$T_BUILD/fuzz
MKELF=$T_BUILD/tests/tools/mkelf
for b in "$F/fuzz_elfsym" "$F/fuzz_mountinfo" "$F/fuzz_ttyline" "$F/fuzz_re" "$F/fuzz_escape" \
	"$F/fuzz_admission" "$F/fuzz_auditlog" "$MKELF"; do
	[ -x "$b" ] || { t_fail "missing $b (run make fuzz)"; t_summary; exit 1; }
done
seeds=$(mktemp -d /tmp/shellaudit-fuzz.XXXXXX)
t_cleanup "rm -rf '$seeds'"
mkdir -p "$F/artifacts"
for t in elfsym mountinfo ttyline re escape admission auditlog; do
	mkdir -p "$seeds/$t" "$F/corpus/$t"
done

# elf_seed NAME FILE [HOLES_MIB]: the fuzz input for FILE: one byte of MiB
# of holes to add, then the file's bytes.
elf_seed() {
	local holes=${3:-0}
	{ printf '%b' "\\0$(printf '%03o' "$holes")"; cat "$2"; } >"$seeds/elfsym/$1"
}
real=0
for f in /bin/bash /bin/bash-static /usr/lib/*-linux-gnu/libreadline.so.8 /bin/true; do
	[ -f "$f" ] || continue
	elf_seed "real-$(basename "$f")" "$(readlink -f "$f")"
	real=$((real + 1))
done
t_eq "seeds from this machine's bash, bash-static, libreadline and true" 4 "$real"
# The hostile files are sparse: their first 256 KiB (every header) and the
# rest as holes, up to the 127 MiB the input's first byte can say.
for k in many-symtabs:128 overlap:0 big-strtab:0 many-sections:3000 over-budget:0 sized:8; do
	"$MKELF" "${k%%:*}" "${k#*:}" "$seeds/h.elf" || { t_fail "mkelf $k"; continue; }
	size=$(stat -c %s "$seeds/h.elf")
	head -c 262144 "$seeds/h.elf" >"$seeds/h.head"
	holes=$(((size - 262144) / 1048576))
	[ $holes -lt 0 ] && holes=0
	[ $holes -gt 127 ] && holes=127
	elf_seed "hostile-${k%%:*}" "$seeds/h.head" "$holes"
done
rm -f "$seeds/h.elf" "$seeds/h.head"

i=0
for m in /proc/self/mountinfo /proc/1/mountinfo; do
	while IFS= read -r line; do
		printf '%s\n' "$line" >"$seeds/mountinfo/line-$i"
		i=$((i + 1))
	done <"$m"
	cp "$m" "$seeds/mountinfo/file-$i"
done
printf '%s\n' \
	'66 43 0:39 / / rw,relatime shared:5 master:2 - overlay overlay rw,lowerdir=/l/3/fs:/l/2/fs:/l/1/fs,upperdir=/s/9/fs,workdir=/s/9/work,index=off' \
	'70 43 0:40 / /ro ro - overlay overlay ro,lowerdir=/a:/b' \
	'71 43 0:41 / /x\040y rw - overlay overlay rw,lowerdir=/l/a\134\072b::/data,upperdir=/u,workdir=/w' \
	'72 43 0:42 / /p rw - overlay overlay rw,lowerdir+=/l1,lowerdir+=/l2,datadir+=/d,upperdir=/u,workdir=/w' \
	>"$seeds/mountinfo/crafted"

# ttyline: op (0: a read; 0x04 canonical, 0x08 echo off, 0x10 no readline
# state), who, length, bytes; then a recovered readline line (op 0x05) and
# an exit (op 0x02).
printf '\x04\x00\x09echo one\n' >"$seeds/ttyline/canonical"
printf '\x10\x00\x0eecho helo\x1b[Dl\r\x05\x00\x00' >"$seeds/ttyline/raw-recovered"
printf '\x0c\x01\x08hunter2\n\x02\x01\x00' >"$seeds/ttyline/echo-off"

# re_seed NAME PATTERN TEXT: the input is one byte (the pattern's length)
# then the pattern and the text.
re_seed() {
	{ printf '%b' "\\0$(printf '%03o' "$((${#2} % 256))")"; printf '%s' "$2" "$3"; } >"$seeds/re/$1"
}
i=0
while IFS= read -r p; do
	re_seed "go-$i" "$p" "aaaa_b_ab=xyz AKIA0123456789ABCDEF --password hunter2"
	i=$((i + 1))
done < <(sed -n 's/^\t{ "\(\([^"\\]\|\\.\)*\)", .*/\1/p' "$T_ROOT/tests/unit/test_re_go.inc" | head -200 |
	sed 's/\\\\/\\/g; s/\\"/"/g; s/?\\?/??/g')
re_seed evil-1 '(x+x+)+y' "$(printf 'x%.0s' $(seq 60))"
re_seed evil-2 '(?i)(\w+_)*(TOKEN|SECRET|PASSWORD)=\S+' "$(printf 'a_%.0s' $(seq 60))="
re_seed pw '--password[= ]\S+' 'mysql --password hunter2 -u root'
re_seed aws '(?i)aws_secret_access_key\s*[=:]\s*\S+' 'export AWS_SECRET_ACCESS_KEY=abc'
printf '%s' "sed 's/\\t/ /g' a.tsv" >"$seeds/escape/backslash"
printf 'ls\x1b]0;pwned\x07\x1b[2J\r\n\xe2\x80\xae\xff' >"$seeds/escape/terminal"
printf 'r\xe2\x80\x8bm \xe2\x80\xa8 \xf3\xa0\x81\x81 \xe3\x85\xa4 caf\xc3\xa9 \xf0\x9f\x98\x80' >"$seeds/escape/hidden"

uid=5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d
review() {
	printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","resource":{"group":"","version":"v1","resource":"pods"},%s"name":"demo-1","namespace":"default","operation":"%s","userInfo":{"username":"alice","uid":"u1","groups":["devs","system:authenticated"],"extra":{"k":["v"]}},"object":%s,"oldObject":%s,"dryRun":false}}' \
		"$uid" "$1" "$2" "$3" "$4"
}
review '"subResource":"exec",' CONNECT \
	'{"kind":"PodExecOptions","stdin":true,"tty":true,"container":"shell","command":["bash","-l"]}' null \
	>"$seeds/admission/exec"
review '"subResource":"portforward",' CONNECT '{"kind":"PodPortForwardOptions","ports":[8080]}' null \
	>"$seeds/admission/portforward"
review '"subResource":"ephemeralcontainers",' UPDATE \
	'{"kind":"Pod","metadata":{"uid":"p"},"spec":{"ephemeralContainers":[{"name":"d","image":"i","command":["sh"],"args":["-c","id"],"tty":true,"targetContainerName":"shell"}]}}' \
	'{"kind":"Pod","spec":{"ephemeralContainers":[]}}' >"$seeds/admission/ephemeral"
review '' CREATE '{"metadata":{"name":"node-debugger-n-x","uid":"p"},"spec":{"nodeName":"n","containers":[{"name":"debugger","image":"i"}]}}' \
	null >"$seeds/admission/debugpod"
printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"stage":"ResponseStarted","auditID":"a","user":{"username":"p","groups":["g"]},"impersonatedUser":{"username":"alice"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","responseStatus":{"code":101},"stageTimestamp":"2026-12-01T20:00:00.000001Z","annotations":{"sessions.shellaudit.io/session-id":"%s"}},{"stage":"ResponseComplete"}]}' \
	"$uid" >"$seeds/auditlog/eventlist"

for t in elfsym mountinfo ttyline re escape admission auditlog; do
	log=$F/artifacts/$t.log
	"$F/fuzz_$t" -max_total_time="$SECS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$F/artifacts/$t-" "$F/corpus/$t" "$seeds/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW)' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	echo "  note fuzz_$t: ${execs:-?} executions in ${SECS} s, coverage ${cov:-?}, corpus $(find "$F/corpus/$t" -type f | wc -l) files"
	if [ $rc = 0 ]; then
		t_pass "fuzz_$t: no finding in $SECS s"
	else
		t_fail "fuzz_$t: a finding (exit $rc), see $log" "$(grep -E 'ERROR|SUMMARY|artifact' "$log" | head -5)"
	fi
done
t_summary
