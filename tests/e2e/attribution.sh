# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2154 # sourced: work, pod, node... are test_audit.sh's
# Who opened a session (issue 14): sourced by test_audit.sh on its node,
# once the demo pod ($pod, container shell) is audited, to share its set-up.
# Two people with client certificates of the cluster's CA (CN=alice and
# CN=bob, made by hack/cluster.sh), allowed to exec by a Role:
#   - each one's `kubectl exec -it` session: its records (every one of them
#     alike) and Events name its user, with the audit log's audit ID and
#     source IPs; SessionOpened says who opened what; `kubectl get
#     auditrecords` has a USER column; `kubectl shellaudit sessions --user`
#     finds it;
#   - alice's `kubectl debug -it`: attributed through its ephemeral container;
#   - alice's `kubectl exec -i` without a terminal: a builtin piped into it
#     is recorded (source stdin) as hers, and SessionOpened says so; a
#     command it runs without its newline is an Event while it is open;
#   - alice and bob run the same command in the same container at once: both
#     sessions recorded, each Ambiguous naming both (or each Matched, one
#     each, when their execs came far enough apart);
#   - the controller stopped: an exec still works, and is recorded
#     Unattributed with the reason;
#   - an exec into the untargeted pod leaves no ShellAuditSession at all;
#   - forgeries: a tenant or a cluster admin creating a ShellAuditSession is
#     refused, an AdmissionReview or audit EventList POSTed without the API
#     server's client certificate is refused and changes nothing.
# attribution_late_checks, called after test_audit.sh's retention wait:
# every ShellAuditSession was deleted once expired.

ADMIN=shellaudit-admin
tag=$RANDOM$RANDOM
attr_start=$SECONDS
export PATH="$T_BUILD:$PATH" # kubectl finds kubectl-shellaudit there
ka() { KUBECONFIG="$SHELLAUDIT_RUN/kubeconfig-alice" "$KUBE_BIN/kubectl" "$@"; }
kb() { KUBECONFIG="$SHELLAUDIT_RUN/kubeconfig-bob" "$KUBE_BIN/kubectl" "$@"; }

# attr_of KIND TEXT: what the records of the session holding an entry of
# that kind and text say of who opened it: "N same|differ STATUS USER
# METHOD TTY AUDITID SOURCEIP CANDIDATES SESSIONID REASON", N the session's
# records; "none" when no record holds it. All sessions holding it with -a,
# one line each.
attr_of() {
	local all=
	[ "$1" = -a ] && all=1 && shift
	k get auditrecords -o json >"$work/attr-records.json" 2>/dev/null || return 1
	python3 - "$work/attr-records.json" "$1" "$2" "$all" <<-'EOF'
	import json, sys
	recs = json.load(open(sys.argv[1]))["items"]
	kind, text, every = sys.argv[2], sys.argv[3], sys.argv[4]
	def key(r):
	    return (r["spec"]["containerID"], r["spec"].get("session", {}).get("id"))
	keys = []
	for r in sorted(recs, key=lambda r: r["metadata"]["creationTimestamp"]):
	    for e in r["spec"]["entries"]:
	        if e["kind"] == kind and e.get("text") == text and key(r) not in keys:
	            keys.append(key(r))
	if not keys:
	    print("none")
	for k in (keys if every else keys[:1]):
	    attrs = [json.dumps(r["spec"].get("attribution"), sort_keys=True) for r in recs if key(r) == k]
	    a = json.loads(attrs[0]) or {}
	    audit = a.get("audit", {})
	    cands = ",".join(sorted(c.get("username", "?") for c in a.get("candidates", []))) or "-"
	    print(len(attrs), "same" if len(set(attrs)) == 1 else "differ", a.get("status", "-"),
	          a.get("user", {}).get("username", "-"), a.get("method", "-"),
	          str(a.get("root", {}).get("tty", "-")).lower(), audit.get("auditID", "-") or "-",
	          (audit.get("sourceIPs") or ["-"])[0], cands, a.get("sessionID", "-"),
	          (a.get("reason") or "-").replace(" ", "_"))
	EOF
}
has_attr() { [ "$(attr_of "$@" | head -1)" != none ]; }
# shell_event POD TEXT: the message of the ShellCommand Event of that line.
shell_event() { events "$1" | grep -F -- "$2" | head -1; }
opened_events() {
	k get events --field-selector "reason=SessionOpened,involvedObject.name=$1" \
		-o jsonpath='{range .items[*]}{.type} {.message}{"\n"}{end}'
}

# --- two people ------------------------------------------------------------------------

k apply -f - >"$work/attr-rbac.log" 2>&1 <<EOF || t_fail "the Role that lets alice and bob exec" "$(cat "$work/attr-rbac.log")"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: exec-into-pods
  namespace: default
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/exec, pods/attach]
  verbs: [get, create]
- apiGroups: [""]
  resources: [pods/ephemeralcontainers]
  verbs: [get, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: exec-into-pods
  namespace: default
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: exec-into-pods
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}
EOF

# Every pending session made from here on, as the watch sees it come.
k get shellauditsessions --watch --output-watch-events \
	-o jsonpath='{.type} {.object.metadata.name} {.object.spec.pod}{"\n"}' >"$work/sas-watch" 2>&1 &
sas_watch=$!
t_cleanup "kill $sas_watch 2>/dev/null"

for who in alice bob; do
	# One after the other, a second or two apart: alike sessions of two
	# people within half a second of an exec would be Ambiguous (below).
	[ "$who" = bob ] && sleep 2
	printf 'echo %s-was-here-%s\nexit\n' "$who" "$tag" >"$work/$who.txt"
	session "$who: kubectl exec -it" "$work/$who.txt" --size 0x0 -- env \
		KUBECONFIG="$SHELLAUDIT_RUN/kubeconfig-$who" "$KUBE_BIN/kubectl" exec -it "$pod" -c shell -- bash
done
for who in alice bob; do
	line="echo $who-was-here-$tag"
	t_wait "$WAIT" has_attr line "$line" || true
	read -r _ same status user method tty auditid ip _ sid reason <<<"$(attr_of line "$line")"
	t_eq "$who's session: its records name $who (Matched, from the admission)" \
		"Matched $who AdmissionTuple true" "$status $user $method $tty"
	t_eq "$who's session: every record of it says the same" same "$same"
	if [ "$auditid" != - ] && [ "$ip" != - ]; then
		t_pass "$who's session: the audit log's audit ID and source IP ($auditid, $ip)"
	else
		t_fail "$who's session: the audit log's audit ID and source IP" "$(attr_of line "$line")"
	fi
	printf -v "sid_$who" '%s' "$sid"
	t_wait "$WAIT" shell_event "$pod" "$line" >/dev/null || true
	t_eq "$who's session: the ShellCommand Event names $who" "$who: $line" "$(shell_event "$pod" "$line")"
	# SessionOpened goes out at the decision's place, after the Events
	# of lines typed before it.
	# shellcheck disable=SC2317 # called by t_wait
	opened() { opened_events "$pod" | t_grep -q "^Normal $who opened .*(AdmissionTuple, session $sid)"; }
	t_wait "$WAIT" opened || true
	t_match "$who's session: a SessionOpened Event says who opened what in which container" \
		"Normal $who opened \`bash\` \(tty\) in container shell \(AdmissionTuple, session $sid\)" \
		"$(opened_events "$pod")"
done
t_match "kubectl get auditrecords shows a USER column" "^NAME +POD +CONTAINER +USER " \
	"$(k get auditrecords 2>&1 | head -1)"
t_match "  with alice and bob in it" "shell +alice .*shell +bob |shell +bob .*shell +alice " \
	"$(k get auditrecords --no-headers 2>&1 | tr '\n' ' ')"
t_match "kubectl shellaudit sessions --user alice finds her session" " default +$pod +shell +alice " \
	"$(k shellaudit sessions -n default --user alice 2>&1)"
t_eq "  and not bob's" "0" "$(k shellaudit sessions -n default --user alice 2>&1 | tail -n +2 | grep -cw bob)"

# A forged audit event for alice's session, without the API server's
# client certificate (none, then alice's own): refused, nothing changes.
audit_before=$(k get shellauditsession "$sid_alice" -o jsonpath='{.status.audit.auditID}' 2>/dev/null)
forged_audit="{\"kind\":\"EventList\",\"items\":[{\"stage\":\"ResponseStarted\",\"auditID\":\"forged-$tag\",\"annotations\":{\"sessions.shellaudit.io/session-id\":\"$sid_alice\"}}]}"
code_none=$(curl -sk -m 10 -o /dev/null -w '%{http_code}' -X POST -d "$forged_audit" \
	"https://127.0.0.1:$SHELLAUDIT_APISERVER_AUDIT_PORT/audit")
code_alice=$(curl -sk -m 10 -o /dev/null -w '%{http_code}' -X POST -d "$forged_audit" \
	--cert "$SHELLAUDIT_RUN/pki/alice.crt" --key "$SHELLAUDIT_RUN/pki/alice.key" \
	"https://127.0.0.1:$SHELLAUDIT_APISERVER_AUDIT_PORT/audit")
t_eq "the audit receiver refuses events without the API server's certificate (none, alice's)" \
	"403 403" "$code_none $code_alice"
sleep 2
t_eq "  and the session's audit ID is still the API server's" "$audit_before" \
	"$(k get shellauditsession "$sid_alice" -o jsonpath='{.status.audit.auditID}' 2>/dev/null)"

# --- a session without a terminal ---------------------------------------------------------

# kubectl exec -i: the shell reads what is piped to it, neither through
# readline nor from a terminal; what it reads from the session's pipe is
# recorded (source stdin), a builtin's line included, with alice's name,
# and its SessionOpened Event says the pipe is recorded.
printf 'echo piped-by-alice-%s > /dev/null\n' "$tag" | ka exec -i "$pod" -c shell -- bash >"$work/piped.out" 2>&1 ||
	t_fail "alice's kubectl exec -i works" "$(cat "$work/piped.out")"
line="echo piped-by-alice-$tag > /dev/null"
t_wait "$WAIT" has_attr line "$line" || true
read -r _ same status user method _ <<<"$(attr_of line "$line")"
t_eq "a builtin piped into kubectl exec -i: its line is recorded, as alice's" \
	"Matched alice AdmissionTuple same" "$status $user $method $same"
t_match "  with source stdin" '"source": "stdin"' \
	"$(k get auditrecords -o json | python3 -c 'import json, sys
for r in json.load(sys.stdin)["items"]:
    for e in r["spec"]["entries"]:
        if e.get("text") == sys.argv[1]: print(json.dumps({"source": e.get("source")}))' "$line")"
t_wait "$WAIT" shell_event "$pod" "$line" >/dev/null || true
t_eq "  and its ShellCommand Event" "alice: $line" "$(shell_event "$pod" "$line")"
piped_opened() { opened_events "$pod" | grep -q 'alice opened .bash. (stdin a pipe'; }
t_wait "$WAIT" piped_opened || true
t_match "a session fed through a pipe: its SessionOpened Event says its input is recorded" \
	"Normal alice opened \`bash\` \(stdin a pipe: recorded as read\) in container shell \(AdmissionTuple, session [^)]+\)" \
	"$(opened_events "$pod")"

# A command read without its newline (read -N) and run by eval, the
# session then left open and waiting: its Event comes while alice is
# still in, not when she leaves.
cmd="echo nonl-by-alice-$tag > /dev/null"
mkfifo "$work/nonl.fifo"
ka exec -i "$pod" -c shell -- bash <"$work/nonl.fifo" >"$work/nonl.out" 2>&1 &
kpid=$!
t_cleanup "kill $kpid 2>/dev/null"
exec 9>"$work/nonl.fifo"
# shellcheck disable=SC2016 # $c is the container shell's
printf 'read -r -N %d c; eval "$c"\n%s' "${#cmd}" "$cmd" >&9
t_wait "$WAIT" shell_event "$pod" "$cmd" >/dev/null || true
t_eq "a command run without its newline: its Event while the session is open" \
	"alice: $cmd open" "$(shell_event "$pod" "$cmd") $(kill -0 "$kpid" 2>/dev/null && echo open)"
# no_newline TEXT: noNewline of the AuditRecord entries of that line.
no_newline() {
	k get auditrecords -o json >"$work/nl-records.json" 2>/dev/null || return 1
	python3 - "$work/nl-records.json" "$1" <<-'EOF'
	import json, sys
	recs = json.load(open(sys.argv[1]))["items"]
	print(" ".join(str(e.get("noNewline", False)).lower() for r in recs
	               for e in r["spec"]["entries"] if e["kind"] == "line" and e.get("text") == sys.argv[2]))
	EOF
}
t_wait "$WAIT" has_attr line "$cmd" || true
t_eq "  its AuditRecord entry says it ended before its newline" "true" "$(no_newline "$cmd")"
exec 9>&-
wait "$kpid" 2>/dev/null

# --- kubectl debug as alice ----------------------------------------------------------------

dbg=dbg-$tag
cat >"$work/dbg.txt" <<EOF
echo debug-by-alice-$tag
exit
EOF
cat >"$work/dbg-ready.sh" <<EOF
#!/bin/sh
cid=\$("$KUBE_BIN/kubectl" get pod "$pod" -o jsonpath='{.status.ephemeralContainerStatuses[?(@.name=="$dbg")].containerID}')
[ -n "\$cid" ] && "$KUBE_BIN/kubectl" get shellauditnode "$node" \\
	-o jsonpath='{range .status.targets[?(@.attached==true)]}{.containerID}{"\n"}{end}' | grep -qxF "\$cid"
EOF
chmod +x "$work/dbg-ready.sh"
session "alice: kubectl debug -it" "$work/dbg.txt" --attach --ready "$work/dbg-ready.sh" -- env \
	KUBECONFIG="$SHELLAUDIT_RUN/kubeconfig-alice" "$KUBE_BIN/kubectl" debug -it "$pod" \
	--image="$("$T_ROOT/hack/images.sh" ref demo)" --image-pull-policy=Never --target=shell \
	--profile=general -c "$dbg" -- bash
line="echo debug-by-alice-$tag"
t_wait "$WAIT" has_attr line "$line" || true
read -r _ same status user method tty auditid ip _ sid reason <<<"$(attr_of line "$line")"
t_eq "alice's debug container: its records name alice, through the ephemeral container" \
	"Matched alice EphemeralContainer same" "$status $user $method $same"
t_wait "$WAIT" shell_event "$pod" "$line" >/dev/null || true
t_eq "  and its ShellCommand Event" "alice: $line" "$(shell_event "$pod" "$line")"
# shellcheck disable=SC2317 # called by t_wait
dbg_opened() { opened_events "$pod" | t_grep -q "alice opened .* in container $dbg (EphemeralContainer"; }
t_wait "$WAIT" dbg_opened || true
t_match "  and a SessionOpened Event for it" "alice opened .* in container $dbg \(EphemeralContainer" \
	"$(opened_events "$pod")"

# --- the same command, at once -------------------------------------------------------------

same="echo same-$tag"
( ka exec "$pod" -c shell -- sh -c "$same" >"$work/same-alice.out" 2>"$work/same-alice.err"; echo $? >"$work/same-alice.rc" ) &
pa=$!
( kb exec "$pod" -c shell -- sh -c "$same" >"$work/same-bob.out" 2>"$work/same-bob.err"; echo $? >"$work/same-bob.rc" ) &
pb=$!
wait "$pa" "$pb"
# Exit codes and outputs; what kubectl said on stderr only shows on failure.
same_got=$(cat "$work/same-alice.rc" "$work/same-bob.rc" "$work/same-alice.out" "$work/same-bob.out" | tr '\n' ' ' | sed 's/ $//')
if [ "$same_got" = "0 0 same-$tag same-$tag" ]; then
	t_pass "alice and bob run the same command at once: both execs work"
else
	t_fail "alice and bob run the same command at once: both execs work" \
		"expected: 0 0 same-$tag same-$tag" "actual:   $same_got" \
		"alice's stderr: $(head -c 400 "$work/same-alice.err" | tr '\n' ' ')" \
		"bob's stderr: $(head -c 400 "$work/same-bob.err" | tr '\n' ' ')"
fi
two_sessions() { [ "$(attr_of -a exec "sh -c $same" | grep -vc none)" -ge 2 ]; }
t_wait "$WAIT" two_sessions || true
attr_of -a exec "sh -c $same" >"$work/same.attr"
verdict=$(awk '{ print $3, ($3 == "Ambiguous" ? $9 : $4) }' "$work/same.attr" | sort | tr '\n' ' ')
case $verdict in
"Ambiguous alice,bob Ambiguous alice,bob ") t_pass "  both sessions recorded, each Ambiguous naming alice and bob" ;;
"Matched alice Matched bob ") t_pass "  both sessions recorded, told apart (their execs far enough apart)" ;;
*) t_fail "  both sessions recorded, each Ambiguous naming both (or Matched one each)" "$(cat "$work/same.attr")" ;;
esac
t_eq "  every record of each says the same" "" "$(grep -v ' same ' "$work/same.attr")"

# --- the controller stopped ---------------------------------------------------------------

k -n shellaudit-system scale deployment/shellaudit-controller --replicas=0 >/dev/null
no_controller() { [ -z "$(k -n shellaudit-system get pods -l app.kubernetes.io/component=controller -o name)" ]; }
t_wait "$WAIT" no_controller || t_fail "the controller is stopped"
out=$(ka exec "$pod" -c shell -- sh -c "echo no-controller-$tag" 2>"$work/no-controller.err")
t_eq "with the controller stopped, alice's exec still works (failurePolicy Ignore)" "no-controller-$tag" "$out"
k -n shellaudit-system scale deployment/shellaudit-controller --replicas=1 >/dev/null
line="sh -c echo no-controller-$tag"
t_wait "$WAIT" has_attr exec "$line" || true
read -r _ same status user method tty auditid ip _ sid reason <<<"$(attr_of exec "$line")"
t_eq "  the session is recorded, Unattributed" "Unattributed -" "$status $user"
t_match "  with the reason" "admission_webhook_did_not_see_it" "$reason"
k -n shellaudit-system rollout status deployment/shellaudit-controller --timeout="${WAIT}s" >/dev/null 2>&1 ||
	t_fail "the controller is back" "$(k -n shellaudit-system get pods 2>&1)"
# Back: the new replica's CA is in the caBundle, its sessions are written.
admin_sessions() {
	k get shellauditsessions -o jsonpath='{range .items[*]}{.spec.user.username} {.metadata.name}{"\n"}{end}' |
		awk -v u="$ADMIN" '$1 == u { print $2 }' | sort
}
admin_sessions >"$work/admin-sessions-before"
webhook_back() {
	k exec "$pod" -c shell -- true >/dev/null 2>&1 &&
		[ -n "$(comm -13 "$work/admin-sessions-before" <(admin_sessions))" ]
}
if t_wait "$WAIT" webhook_back; then
	t_pass "the controller back, sessions are recorded again"
else
	t_fail "the controller back, sessions are recorded again" \
		"$(k -n shellaudit-system logs deploy/shellaudit-controller --tail=20 2>&1)"
fi

# --- the untargeted pod ------------------------------------------------------------------

# (kubectl's own warnings, "Unknown stream id 1, discarding message" once,
# go to stderr: only what the command printed is compared.)
out=$(ka exec "$other" -c shell -- sh -c "echo untargeted-$tag" 2>"$work/untargeted.err")
t_eq "alice's exec into the untargeted pod works" "untargeted-$tag" "$out"
sleep 3 # any ShellAuditSession would have been written before the exec ran
t_eq "  and left no ShellAuditSession, not even for a moment" "" "$(grep -F " $other" "$work/sas-watch")"
if grep -q " $pod" "$work/sas-watch"; then
	t_pass "  (the watch saw the demo pod's sessions come)"
else
	t_fail "  (the watch saw the demo pod's sessions come)" "$(cat "$work/sas-watch")"
fi

# --- forgeries ------------------------------------------------------------------------------

forged_sas() {
	cat <<-EOF
	apiVersion: shellaudit.io/v1alpha1
	kind: ShellAuditSession
	metadata:
	  name: forged-$1-$tag
	spec:
	  kind: Exec
	  node: $node
	  namespace: default
	  pod: $pod
	  container: shell
	  command: [bash]
	  tty: true
	  stdin: true
	  user: {username: carol}
	  admittedAt: "2026-01-01T00:00:00Z"
	  expiresAt: "2099-01-01T00:00:00Z"
	EOF
}
out=$(forged_sas alice | ka create -f - 2>&1)
t_match "a tenant (alice) cannot create a ShellAuditSession" "[Ff]orbidden" "$out"
out=$(forged_sas admin | k create -f - 2>&1)
t_match "nor can a cluster admin: only the controller writes them" \
	"only the shellaudit controller writes ShellAuditSessions" "$out"
cip=$(k -n shellaudit-system get pods -l app.kubernetes.io/component=controller \
	-o jsonpath='{.items[0].status.podIP}')
fuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
review="{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"$fuid\",\"resource\":{\"version\":\"v1\",\"resource\":\"pods\"},\"subResource\":\"exec\",\"name\":\"$pod\",\"namespace\":\"default\",\"operation\":\"CONNECT\",\"userInfo\":{\"username\":\"carol\"},\"object\":{\"container\":\"shell\",\"command\":[\"bash\"],\"tty\":true,\"stdin\":true}}}"
code_none=$(curl -sk -m 10 -o /dev/null -w '%{http_code}' -X POST -d "$review" "https://$cip:8443/admit")
code_alice=$(curl -sk -m 10 -o /dev/null -w '%{http_code}' -X POST -d "$review" \
	--cert "$SHELLAUDIT_RUN/pki/alice.crt" --key "$SHELLAUDIT_RUN/pki/alice.key" "https://$cip:8443/admit")
t_eq "an AdmissionReview POSTed to the webhook without the API server's certificate is refused (none, alice's)" \
	"403 403" "$code_none $code_alice"
t_eq "  and records no pending session" "" "$(k get shellauditsession "$fuid" -o name 2>/dev/null)"
printf '       (attribution checks: %ss)\n' "$((SECONDS - attr_start))"

# attribution_late_checks: after the retention wait, every ShellAuditSession
# made above has expired and was deleted.
# expired_left: the ShellAuditSessions expired more than 45 s ago (the
# controller looks every 30 s).
expired_left() {
	k get shellauditsessions -o jsonpath='{range .items[*]}{.metadata.name} {.spec.expiresAt}{"\n"}{end}' |
		while read -r name exp; do
			[ "$(date -u -d "$exp" +%s)" -lt $(($(date -u +%s) - 45)) ] && echo "$name"
		done
}
expired_gone() { [ -z "$(expired_left)" ]; }
attribution_late_checks() {
	local left
	if t_wait "$WAIT" expired_gone; then
		t_pass "expired ShellAuditSessions are deleted (TTL 60 s, 15 min for kubectl debug)"
	else
		left=$(expired_left)
		t_fail "expired ShellAuditSessions are deleted" "$left"
	fi
	t_eq "  alice's and bob's are gone" "" \
		"$(k get shellauditsessions "$sid_alice" "$sid_bob" -o name 2>/dev/null)"
}
