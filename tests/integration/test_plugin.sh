#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kubectl shellaudit against the real API server, on records the real agent
# wrote (tests/integration/agent-lib.sh: control plane, controller, agent
# on the kernel, a container made with unshare): sessions, show, logs (-f
# through a watch), verify and their exit codes, -o json and yaml that
# parse, kubectl's --kubeconfig/--context/KUBECONFIG/-n/-A, colors only on
# a terminal. Hostile text never reaches the terminal raw: a line typed
# with escape sequences and a bidi override, and a forged record whose
# JSON holds raw control characters.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

P=$T_BUILD/asan/kubectl-shellaudit
[ -x "$P" ] || { t_fail "$P is built (make test)"; t_summary; exit 1; }
ag_setup plugin-test-node

k apply -f - >/dev/null <<'EOF2'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
EOF2
ag_controller "$T_BUILD/asan/shellaudit-controller"
mkdir -p "$work/bpf"
mount -t bpf bpf "$work/bpf" || t_fail "cannot mount a BPF file system"
t_cleanup "umount '$work/bpf'"
("$T_BUILD/asan/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port 0 \
	--bpf-dir "$work/bpf/shellaudit" --batch-ms 1000 --batch-entries 4 >>"$dir/agent.log" 2>&1 &
	echo $! >"$dir/agent.pid")
t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"
t_wait 120 ag_attached || t_fail "the agent attaches" "$(tail -5 "$dir/agent.log")"
# The lines are typed once readline is probed in the container's bash: a
# line read before is a terminal line, which show marks as such (on a
# busy machine the session could end before discovery's turn).
t_wait 60 ag_probed ||
	t_fail "the container's bash is probed" "$(tail -5 "$dir/agent.log")"

# A session with a backslash line and a hostile one: OSC title, bell and
# clear-screen typed with Ctrl-V (quoted-insert), then a bidi override.
ESC=$'\e' BEL=$'\a' RLO=$'\u202e'
{
	echo 'echo plugin-one'
	printf '%s\n' "printf 'a\\tb\\n'"
	echo "echo ${ESC}]0;pwned${BEL}${ESC}[2J ${RLO}gnp.exe"
	echo 'ls /'
} >"$work/session.txt"
cap_shell audited "$work/session.txt" --quote >/dev/null || t_fail "the shell in the audited container failed"

# The typed lines as the records hold them (text fields, one per line).
record_lines() {
	k get auditrecords -n shop -o json | python3 -c '
import json, sys
items = [r for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == "web"]
es = [(e["time"], r["spec"]["sequence"], i, e) for r in items for i, e in enumerate(r["spec"]["entries"])]
for _, _, _, e in sorted(es, key=lambda x: x[:3]):
    if e["kind"] == "line":
        print(e["text"])'
}
four_lines() { [ "$(record_lines | wc -l)" -ge 4 ]; }
t_wait 120 four_lines || t_fail "the agent published the session" "$(record_lines)"
stored=$(record_lines)

# raw FILE-or-TEXT: what would act on a terminal (C0 but tab and newline,
# DEL, C1 and bidi controls in UTF-8), or nothing.
raw() { LC_ALL=C grep -naP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]' <<<"$1" || true; }

# --- sessions
out=$("$P" sessions -n shop)
t_match "sessions prints a header kubectl-style" '^SESSION +START +END +NAMESPACE +POD +CONTAINER +USER +LINES +EXECS +CHAIN' "$out"
row=$(grep -E ' web +main ' <<<"$out" | awk '$8 >= 4' | head -1)
t_match "one line for the shell: shop/web main, no user yet, 4 lines, execs, chain intact" \
	'^[0-9a-f]{8}-[0-9]+ +20[0-9-]+T[0-9:]+Z +open +shop +web +main +- +4 +[1-9][0-9]* +intact$' "$row"
sess=$(awk '{ print $1 }' <<<"$row")
t_match "sessions -A names the namespace too" " shop +web +main " "$("$P" sessions -A)"
t_eq "--pod filters on the record's pod" "No sessions found in shop namespace." \
	"$("$P" sessions -n shop --pod nothere 2>&1)"
t_eq "--user: no session is attributed yet" "" "$("$P" sessions -n shop --user alice 2>/dev/null)"
t_match "--since 1h keeps the session" "$sess" "$("$P" sessions -n shop --since 1h)"
json=$("$P" sessions -n shop -o json)
t_eq "sessions -o json parses, the session with its counts" "web main 4 intact True None" \
	"$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); s=[i for i in d["items"] if i["session"]==sys.argv[2]][0]; print(s["pod"], s["container"], s["lines"], s["chain"], s["open"], s["user"])' "$json" "$sess")"
yaml=$("$P" sessions -n shop -o yaml)
t_eq "sessions -o yaml parses to the same document" "yes" \
	"$(python3 -c 'import json,sys,yaml; print("yes" if yaml.safe_load(sys.argv[1]) == json.loads(sys.argv[2]) else "no")' "$yaml" "$json")"

# --- show
shown=$("$P" show "$sess" -n shop)
t_match "show names the session, pod, container, user and chain" \
	"^# session $sess  pod shop/web  container main  user -  chain intact" "$shown"
t_eq "show: the typed lines in order, exactly as the records hold them" "$stored" \
	"$(grep -E '^[0-9T:.-]+Z \$ ' <<<"$shown" | sed -E 's/^[^ ]+ \$ //; s/  \[escaped\]$//')"
t_eq "show: the escaped line, and only it, says so" "1 pwned" \
	"$(grep -c ' \[escaped\]$' <<<"$shown") $(grep ' \[escaped\]$' <<<"$shown" | grep -o pwned)"
t_match "show: the programs run, after +" $'\n''[0-9T:.-]+Z \+ ls /' "$shown"
t_eq "show: nothing that acts on a terminal" "" "$(raw "$shown")"
t_match "the hostile line is there, visibly" 'pwned.*gnp\.exe' "$(grep pwned <<<"$shown")"
sjson=$("$P" show "$sess" -n shop -o json)
t_eq "show -o json: a Transcript whose line texts are the records'" "$stored" \
	"$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["kind"]=="Transcript" and d["session"]==sys.argv[2]; print("\n".join(e["text"] for e in d["entries"] if e["kind"]=="line"))' "$sjson" "$sess")"
t_eq "show -o yaml: the same document" "yes" \
	"$(python3 -c 'import json,sys,yaml; print("yes" if yaml.safe_load(sys.argv[1]) == json.loads(sys.argv[2]) else "no")' "$("$P" show "$sess" -n shop -o yaml)" "$sjson")"
set +e
"$P" show "${sess%%-*}-999999" -n shop >/dev/null 2>&1
t_eq "show of an unknown session: exit 1" 1 $?
"$P" show not-a-session -n shop >/dev/null 2>&1
t_eq "show of a malformed name: exit 2" 2 $?
set -e

# --- logs
logs=$("$P" logs web -n shop)
t_eq "logs (no -c: the one container recorded): the lines in order" "$stored" \
	"$(grep -E ' \$ ' <<<"$logs" | sed -E 's/^[^ ]+  [^ ]+  \$ //; s/  \[escaped\]$//')"
t_match "logs names each entry's session" "Z  $sess  \\$ echo plugin-one" "$logs"
t_eq "logs -c main is the same" "$logs" "$("$P" logs web -c main -n shop)"
t_eq "logs: nothing that acts on a terminal" "" "$(raw "$logs")"

# -f: new records arrive through the watch while it runs.
"$P" logs web -c main -n shop -f -o json >"$work/follow.json" 2>"$work/follow.err" &
follower=$!
t_cleanup "kill $follower 2>/dev/null"
t_wait 30 grep -q plugin-one "$work/follow.json" || t_fail "logs -f prints what exists first"
printf 'echo follow-1\necho follow-2\necho follow-3\n' >"$work/follow.txt"
cap_shell audited "$work/follow.txt" >/dev/null || t_fail "the second shell failed"
if t_wait 60 grep -q follow-3 "$work/follow.json"; then
	t_pass "logs -f prints lines typed after it started"
else
	t_fail "logs -f prints lines typed after it started" "$(tail -3 "$work/follow.json")" "$(cat "$work/follow.err")"
fi
kill "$follower" 2>/dev/null || true
wait "$follower" 2>/dev/null || true
t_eq "logs -f -o json: one JSON document per line, the new lines in order" \
	"echo follow-1 echo follow-2 echo follow-3" \
	"$(python3 -c '
import json, sys
ts = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join(t["text"] for t in ts if t["kind"] == "line" and "follow-" in t["text"]))' "$work/follow.json")"
t_eq "logs -f printed every entry once" "" \
	"$(python3 -c '
import json, sys
seen = set()
for l in open(sys.argv[1]):
    t = json.loads(l)
    k = (t["record"], t["time"], t["kind"], t.get("text"))
    if k in seen: print("twice:", k)
    seen.add(k)' "$work/follow.json")"

# --- colors: only on a terminal, never with NO_COLOR
tty_out=$(script -qec "$P logs web -n shop" /dev/null | tr -d '\r')
t_match "on a terminal, typed lines are bold" $'\e\\[1m\\$ echo plugin-one' "$tty_out"
t_eq "on a terminal, the hostile line still shows escaped" "" \
	"$(raw "$(grep pwned <<<"$tty_out" | sed $'s/\e\\[[0-9;]*m//g')")"
nocolor=$(NO_COLOR=1 script -qec "$P logs web -n shop" /dev/null | tr -d '\r')
t_eq "NO_COLOR: no escape sequence on a terminal" "" "$(raw "$nocolor")"

# --- a forged record: raw controls in its JSON, a digest that lies
k apply -f - >/dev/null <<'EOF2'
{"apiVersion": "shellaudit.io/v1alpha1", "kind": "AuditRecord",
 "metadata": {"name": "forged-c-00000000-0000000000", "namespace": "shop",
  "labels": {"shellaudit.io/pod": "forged", "shellaudit.io/container": "c"}},
 "spec": {"pod": {"name": "forged", "uid": "u-1"}, "container": "c",
  "containerID": "containerd://forged\u001b]0;t\u0007", "node": "n1", "retention": "1h", "sequence": 0,
  "session": {"id": "7\u001b[2J"},
  "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
  "signature": {"keyID": "ed25519:0000000000000000", "value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="},
  "entryCount": 2, "entries": [
   {"time": "2026-01-01T00:00:00.000001Z", "kind": "line", "text": "x\u001b]0;t\u0007\u001b[2J\u202egnp\u009b2J y"},
   {"time": "2026-01-01T00:00:01Z", "kind": "exec", "text": "sh", "filename": "/bin/\u001b[31mevil", "argv": ["sh"]}]}}
EOF2
all_out=$("$P" sessions -A; "$P" logs forged -n shop; "$P" logs forged -n shop -o json;
	"$P" logs forged -n shop -o yaml; "$P" sessions -n shop -o yaml; "$P" verify forged -n shop || true) 2>&1
t_eq "a forged record's raw controls never reach the output" "" "$(raw "$all_out")"
set +e
vout=$("$P" verify forged -n shop 2>&1)
t_eq "verify of the forged record: exit 1" 1 $?
set -e
t_match "verify names its container ID, escaped" 'containerd://forged\\e\]0;t\\x07 \(node n1\):' "$vout"
t_match "the forged chain is broken" ' forged +c +- +1 +1 +broken' "$("$P" sessions -n shop --pod forged)"
t_eq "-o json keeps the forged text, as \\u escapes" "'x\\x1b]0;t\\x07\\x1b[2J\\u202egnp\\x9b2J y'" \
	"$("$P" logs forged -n shop -o json | python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["entries"][0]["text"]))')"
t_match "the executed file is shown escaped" '\+ sh  \(/bin/\\e\[31mevil\)' "$("$P" logs forged -n shop)"

# --- verify and the agent's alias
t_run "verify: exit 0 on an intact chain" "$P" verify web -c main -n shop
t_match "verify says intact" 'intact' "$("$P" verify web -n shop)"
t_run "shellaudit-agent verify, the alias, agrees" "$T_BUILD/asan/shellaudit-agent" verify \
	--namespace shop --pod web --container main
set +e
"$P" verify nothere -n shop >/dev/null 2>&1
t_eq "verify of a pod without records: exit 3" 3 $?
"$P" verify web -c main -n shop --kubeconfig /nonexistent >/dev/null 2>&1
t_eq "verify with a missing kubeconfig: exit 2" 2 $?
"$P" verify >/dev/null 2>&1
t_eq "verify without a pod: exit 2" 2 $?
"$P" sessions --bogus >/dev/null 2>&1
t_eq "an unknown flag: exit 2" 2 $?
set -e

# kubectl's configuration: KUBECONFIG (used above), --kubeconfig, --context
# and the context's namespace.
cp "$KUBECONFIG" "$work/kc"
KUBECONFIG=$work/kc k config set-context shopctx --cluster "$(k config view -o jsonpath='{.contexts[0].context.cluster}')" \
	--user "$(k config view -o jsonpath='{.contexts[0].context.user}')" --namespace shop >/dev/null
t_match "--kubeconfig and --context: the context's namespace" "$sess" \
	"$(env -u KUBECONFIG "$P" sessions --kubeconfig "$work/kc" --context shopctx)"
t_eq "the default context's namespace is default: nothing there" "No sessions found in default namespace." \
	"$(env -u KUBECONFIG "$P" sessions --kubeconfig "$work/kc" 2>&1)"

# A deleted record: verify fails with 1, sessions says broken.
victim=$(k get auditrecords -n shop -o json | python3 -c '
import json, sys
rs = sorted((r["spec"]["sequence"], r["metadata"]["name"]) for r in json.load(sys.stdin)["items"] if r["spec"]["pod"]["name"] == "web")
print(rs[1][1])')
# (No admission policy here: the cluster admin removes the finalizer.)
k patch auditrecord -n shop "$victim" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
k delete auditrecord -n shop "$victim" --timeout=60s >/dev/null
set +e
vout=$("$P" verify web -c main -n shop 2>&1)
rc=$?
set -e
t_eq "verify: exit 1 once a record is deleted" 1 "$rc"
t_match "and names the missing sequence" 'missing: sequence 1\.\.1' "$vout"
t_match "sessions shows the chain broken" "$sess .* broken" "$("$P" sessions -n shop)"
set +e
"$T_BUILD/asan/shellaudit-agent" verify --namespace shop --pod web --container main >/dev/null 2>&1
t_eq "the agent's alias fails the same way" 1 $?
set -e

for f in "$dir/agent.log" "$dir/controller.log" "$work/follow.err"; do
	if grep -q 'AddressSanitizer\|runtime error' "$f"; then
		t_fail "$(basename "$f") clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$f" | head -12)"
	fi
done
t_summary
