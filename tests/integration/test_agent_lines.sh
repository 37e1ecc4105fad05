#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lines as typed, and redaction that neither leaks nor hides, for real:
# lines with a backslash, quotes, UTF-8, an escape sequence, a bidi
# override, a zero-width space, an emoji with its presentation selector and
# bytes hidden in variation selectors are typed into bash in a container on the
# real kernel, through the agent in Kubernetes mode (a real kube-apiserver,
# the controller) and through a standalone agent writing JSON lines. Lines
# that can be shown as typed are, in the AuditRecords, in the Events
# (kubectl get events) and in the JSON lines, escaped nowhere; the others
# are escaped once and say so, and give their bytes back. `exec -a` shows
# the executed file in the ProgramExecuted Event, and a program run from a
# deleted file names that file wherever its exec shows; a password split over
# two arguments leaks nowhere; a pathological pattern finishes and keeps
# the line; the entries name the rules that matched.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

ag_setup lines-test-node
cap_container plain
# Each container's /tmp a tmpfs of its own (the root is shared), and its
# /proc; before any agent runs.
for c in audited plain; do
	nsenter --target "${CPID[$c]}" --mount --pid /bin/sh -c \
		"mount -t tmpfs tmpfs '$RFS/tmp' && mount -t proc proc '$RFS/proc'" ||
		t_fail "a tmpfs on /tmp and /proc in $c"
done

k apply -f - >/dev/null <<'EOF'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
  events: {ratePerMinute: 6000, execEvents: true}
  redact:
  - name: pw
    pattern: '--password[= ]\S+'
  - name: env
    pattern: '(?i)(\w+_)*(TOKEN|SECRET|PASSWORD)=\S+'
EOF

ag_controller "$T_BUILD/asan/shellaudit-controller"
("$T_BUILD/asan/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port 0 \
	--batch-ms 1000 --batch-entries 4 --log-level debug >>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"
if t_wait 120 ag_attached; then
	t_pass "the agent attaches to the container"
else
	t_fail "the agent attaches to the container" "$(tail -5 "$dir/agent.log")"
fi
t_wait 60 ag_probed || t_fail "the container's bash is probed" "$(tail -5 "$dir/agent.log")"
cap_agent || t_fail "the standalone agent starts"
cap_target plain || t_fail "the standalone agent targets the plain container"

# What is typed: one line each, the control bytes typed after ^V.
long="echo safe #$(printf 'a_%.0s' $(seq 1000))="
{
	printf '%s\n' "sed 's/\\t/ /g' a.tsv"
	printf '%s\n' "echo \"double\" 'single' \\\"q\\\" back\\\\slash"
	printf 'echo caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n'
	printf 'echo \x1b[31mred\x1b[0m\n'
	printf 'echo abc\xe2\x80\xaefdp.exe\n'
	printf 'echo r\xe2\x80\x8bm\n'
	printf '%s\n' '(exec -a ls /bin/sleep 0)'
	printf '%s\n' '/bin/echo --password hunter2 -u root'
	printf '%s\n' "$long"
	printf '%s\n' 'export MY_APP_TOKEN=xyz'
	printf 'echo \xe2\x9d\xa4\xef\xb8\x8f ok\n'
	printf 'echo h\xf3\xa0\x85\x98i\xf3\xa0\x85\x99\n'
	printf '%s\n' '(busybox cp /bin/sleep /tmp/gone && exec 3</tmp/gone && rm /tmp/gone && exec /proc/self/fd/3 0)'
	printf '%s\n' 'echo end-of-lines'
} >"$work/typed.txt"
cap_shell audited "$work/typed.txt" --quote >/dev/null || t_fail "the shell in the audited container"
cap_shell plain "$work/typed.txt" --quote >/dev/null || t_fail "the shell in the plain container"

recorded() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
n = 0
for r in json.load(sys.stdin)["items"]:
    n += sum(1 for e in r["spec"]["entries"] if e["kind"] == "line")
print(n)'
}
records_in() { [ "$(recorded)" -ge 14 ]; }
has_events() { [ "$(k get events -n shop --field-selector reason=ShellCommand -o name | wc -l)" -ge 14 ]; }
t_wait 180 records_in || t_fail "14 lines in the AuditRecords" "$(tail -5 "$dir/agent.log")"
t_wait 60 has_events || t_fail "14 ShellCommand Events"
# The Events of a session go out together, in a window of requests the
# API server may answer in any order: the three execs' too.
progs_in() {
	[ "$(k get events -n shop --field-selector reason=ProgramExecuted \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' |
		grep -cE 'ls \(/bin/sleep\) 0$|gone \(deleted\)\) 0$|/bin/echo \[REDACTED\] -u root$')" -ge 3 ]
}
t_wait 60 progs_in || t_fail "3 ProgramExecuted Events"
t_wait 30 cap_has_line plain "echo end-of-lines" || t_fail "the lines in the JSON lines"
cap_agent_stop

k get auditrecords -n shop -o json >"$work/records.json"
k get events.events.k8s.io -n shop -o json >"$work/events.json"
k get events -n shop >"$work/events.txt"

# The checks, on the bytes: PASS or FAIL lines, one per check.
python3 - "$work/typed.txt" "$work/records.json" "$work/events.json" "$work/out.jsonl" \
	"$T_BUILD/tests/tools/sa-lines" >"$work/checks.txt" <<'EOF'
import json, subprocess, sys

typed = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
records = json.load(open(sys.argv[2]))["items"]
events = json.load(open(sys.argv[3]))["items"]
jsonl = [json.loads(l) for l in open(sys.argv[4], encoding="utf-8")]

def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("\t" + detail if not ok and detail else ""))

# How the AuditRecords, Events and (for lines) JSON lines must show each
# line: as typed, or escaped once and marked so.
expect = [
    (typed[0], False, None), (typed[1], False, None), (typed[2], False, None),
    (b"echo \\e[31mred\\e[0m", True, None),
    (b"echo abc\\u{202e}fdp.exe", True, None),
    (b"echo r\\u{200b}m", True, None),
    (typed[6], False, None),
    (b"/bin/echo [REDACTED] -u root", False, ["pw"]),
    (typed[8], False, None),
    (b"export [REDACTED]", False, ["env"]),
    (typed[10], False, None),
    (b"echo h\\u{e0158}i\\u{e0159}", True, None),
    (typed[12], False, None),
    (typed[13], False, None),
]
recs = sorted((r for r in records if r["spec"]["pod"]["name"] == "web"),
              key=lambda r: (r["spec"].get("session", {}).get("id", ""), r["spec"]["sequence"]))
lines = [e for r in recs for e in r["spec"]["entries"] if e["kind"] == "line"]
execs = [e for r in recs for e in r["spec"]["entries"] if e["kind"] == "exec"]
check("AuditRecords hold the 14 lines", len(lines) == 14, str(len(lines)))
for i, (want, esc, red) in enumerate(expect):
    e = lines[i] if i < len(lines) else {}
    got = e.get("text", "").encode()
    check("record line %d shown %s" % (i, "escaped and marked" if esc else "as typed"),
          got == want and bool(e.get("escaped")) == esc and e.get("redacted") == red,
          "%r escaped=%r redacted=%r" % (got, e.get("escaped"), e.get("redacted")))
check("a pathological pattern finishes: the long line is kept, not withheld",
      len(lines) > 8 and "withheld" not in lines[8])
sleep = [e for e in execs if e.get("filename") == "/bin/sleep"]
check("exec -a: the entry keeps argv[0] and the file",
      len(sleep) == 1 and sleep[0]["argv"] == ["ls", "0"], repr(sleep))
gone = [e for e in execs if e.get("filename") == "/proc/self/fd/3"]
check("a program run from a deleted file: its exec entry names that file",
      len(gone) == 1 and gone[0].get("unlinked") == "gone" and gone[0]["argv"] == ["/proc/self/fd/3", "0"],
      repr(gone))
check("the other execs, run from their files, have no unlinked name",
      len(execs) > 1 and len([e for e in execs if "unlinked" in e]) == 1, repr(execs))
echo = [e for e in execs if e.get("filename") == "/bin/echo"]
check("the password split over two arguments is redacted in the exec entry",
      len(echo) == 1 and echo[0]["argv"] == ["/bin/echo", "[REDACTED]", "[REDACTED]", "-u", "root"]
      and echo[0]["text"] == "/bin/echo [REDACTED] -u root" and echo[0].get("redacted") == ["pw"],
      repr(echo))
check("the secrets are nowhere in the AuditRecords",
      b"hunter2" not in json.dumps(records).encode() and b"xyz" not in json.dumps(records).encode())

# Events: the note is who typed it, then the record's text, never escaped
# again; an escaped one says so in an annotation. The shell here is started
# on the node, not by a kubectl exec: "(unattributed): LINE".
who = b"(unattributed): "
ours = sorted((ev for ev in events if ev["regarding"]["name"] == "web"),
              key=lambda ev: ev["metadata"]["name"])
notes = [ev for ev in ours if ev["reason"] == "ShellCommand"]
check("one ShellCommand Event per line", len(notes) == 14, str(len(notes)))
for i, (want, esc, red) in enumerate(expect):
    ev = notes[i] if i < len(notes) else {"note": ""}
    ann = ev.get("metadata", {}).get("annotations", {}).get("shellaudit.io/escaped")
    note = ev["note"].encode()
    if len(want) > 1000:  # the API's 1 kB: cut, and said so
        ok = (note.startswith(who) and note.endswith(b" [truncated]") and
              want.startswith(note[len(who):-12]) and len(note) <= 1024)
    else:
        ok = note == who + want
    check("Event of line %d shown %s" % (i, "escaped once and marked" if esc else "as typed"),
          ok and (ann == "true") == esc, "%r %r" % (ev["note"], ann))
progs = [ev["note"] for ev in ours if ev["reason"] == "ProgramExecuted"]
check("exec -a: the ProgramExecuted Event shows the executed file",
      "(unattributed): ls (/bin/sleep) 0" in progs, repr(progs))
check("a program run from a deleted file: its ProgramExecuted Event names that file",
      "(unattributed): /proc/self/fd/3 (/proc/self/fd/3: gone (deleted)) 0" in progs, repr(progs))
check("the password split over two arguments is redacted in its Event",
      "(unattributed): /bin/echo [REDACTED] -u root" in progs, repr(progs))
check("the secrets are nowhere in the Events",
      b"hunter2" not in json.dumps(events).encode() and b"MY_APP_TOKEN=xyz" not in json.dumps(events).encode())

# JSON lines: as typed when they can be, escaped and marked otherwise; sa-lines
# gives back the bytes typed.
jl = [o for o in jsonl if o.get("kind") == "line" and o.get("container") == "plain" and not o.get("eof")]
check("the JSON lines hold the 14 lines", len(jl) == 14, str(len(jl)))
jx = [o for o in jsonl if o.get("kind") == "exec" and o.get("container") == "plain"
      and o.get("filename") == "/proc/self/fd/3"]
check("a program run from a deleted file: its JSON line names that file",
      len(jx) == 1 and jx[0].get("unlinked") == "gone", repr(jx))
for i, t in enumerate(typed):
    o = jl[i] if i < len(jl) else {}
    esc = expect[i][1]
    shown = o.get("line", "").encode()
    check("JSON line %d %s" % (i, "escaped and marked" if esc else "as typed"),
          bool(o.get("escaped")) == esc and (esc or shown == t), repr(shown))
back = subprocess.run([sys.argv[5], "--kind", "line", "--container", "plain", sys.argv[4]],
                      capture_output=True).stdout.split(b"\n")[:-1]
check("sa-lines gives back every byte typed", back == typed, repr(back[:6]))
EOF
while IFS= read -r l; do
	case $l in
	PASS\ *) t_pass "${l#PASS }" ;;
	FAIL\ *) t_fail "${l#FAIL }" ;;
	esac
done <"$work/checks.txt"
[ -s "$work/checks.txt" ] || t_fail "the checks ran"
# What a person sees: kubectl get events, the line as typed.
if grep -qF "sed 's/\\t/ /g' a.tsv" "$work/events.txt" && ! grep -qF 's/\\\\t' "$work/events.txt"; then
	t_pass "kubectl get events shows the line as typed, one backslash"
else
	t_fail "kubectl get events shows the line as typed, one backslash" "$(grep -F 'a.tsv' "$work/events.txt")"
fi
t_eventually "the chain verifies" 30 "$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main
for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
