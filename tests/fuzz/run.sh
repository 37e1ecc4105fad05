#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make fuzz: runs each libFuzzer target of build/fuzz for FUZZ_SECONDS (60)
# from a seed corpus made here (for fuzz_re, the patterns of the unit
# tests' Go vectors and the redact rules the tests use, each with texts
# that make backtracking engines blow up; for fuzz_escape, lines with every
# kind of byte the agent escapes or not). Each target's corpus grows in
# build/fuzz/corpus/; a crash, leak, hang (-timeout) or broken invariant is
# a finding, saved under build/fuzz/artifacts/. Not part of make test.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

SECS=${FUZZ_SECONDS:-60}
F=$T_BUILD/fuzz
targets=()
for t in "$F"/fuzz_*; do
	[ -x "$t" ] && targets+=("$(basename "$t")")
done
[ ${#targets[@]} -gt 0 ] || { t_fail "no fuzz targets in $F (run make fuzz)"; t_summary; exit 1; }
seeds=$(mktemp -d /tmp/shellaudit-fuzz.XXXXXX)
t_cleanup "rm -rf '$seeds'"
mkdir -p "$F/artifacts"

# re_seed NAME PATTERN TEXT: the input is one byte (the pattern's length)
# then the pattern and the text.
re_seed() {
	mkdir -p "$seeds/fuzz_re"
	{ printf "\\$(printf '%03o' "$((${#2} % 256))")"; printf '%s' "$2" "$3"; } >"$seeds/fuzz_re/$1"
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
mkdir -p "$seeds/fuzz_escape"
printf '%s' "sed 's/\\t/ /g' a.tsv" >"$seeds/fuzz_escape/backslash"
printf 'ls\x1b]0;pwned\x07\x1b[2J\r\n\xe2\x80\xae\xff' >"$seeds/fuzz_escape/terminal"
printf 'r\xe2\x80\x8bm \xe2\x80\xa8 \xf3\xa0\x81\x81 \xe3\x85\xa4 caf\xc3\xa9 \xf0\x9f\x98\x80' >"$seeds/fuzz_escape/hidden"

for t in "${targets[@]}"; do
	mkdir -p "$F/corpus/$t" "$seeds/$t"
	log=$F/artifacts/$t.log
	"$F/$t" -max_total_time="$SECS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$F/artifacts/$t-" "$F/corpus/$t" "$seeds/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	echo "  note $t: ${execs:-?} executions in ${SECS} s, corpus $(find "$F/corpus/$t" -type f | wc -l) files"
	if [ $rc = 0 ]; then
		t_pass "$t: no finding in $SECS s"
	else
		t_fail "$t: a finding (exit $rc), see $log" "$(grep -E 'ERROR|SUMMARY|artifact' "$log" | head -5)"
	fi
done
t_summary
