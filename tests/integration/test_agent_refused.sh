#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent in Kubernetes mode (real kube-apiserver + etcd, the controller,
# the ASan agent, the kernel) on a container that holds crafted ELF files
# at paths the agent probes: the container is attached (its bash is
# probed, its lines captured), the refused files are in its target's
# ShellAuditNode status (probeRefused: path and reason; the CRD keeps the
# field), and the refusals are remembered in the spool dir's parent, the agent's
# state dir by default in this mode.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"
. "$T_ROOT/tests/bpf/capture-lib.sh"
. "$T_ROOT/tests/integration/agent-lib.sh"

# The audited root: the test root with two crafted files beside its bash.
cap_setup
AG_ROOT=$work/rfs-refused
cp -a "$RFS" "$AG_ROOT"
mkdir -p "$AG_ROOT/usr/local/bin" "$AG_ROOT/usr/lib64"
"$T_BUILD/tests/tools/mkelf" many-symtabs 128 "$AG_ROOT/usr/local/bin/bash"
"$T_BUILD/tests/tools/mkelf" overlap 0 "$AG_ROOT/usr/lib64/libedit.so.2"
ag_setup refused-test-node

k apply -f - >/dev/null <<'YAML'
apiVersion: shellaudit.io/v1alpha1
kind: ShellAuditPolicy
metadata: {name: demo}
spec:
  podSelector: {matchLabels: {app: demo}}
YAML
ag_controller "$T_BUILD/asan/shellaudit-controller"
("$T_BUILD/asan/shellaudit-agent" --node-name "$node" --spool-dir "$dir/spool" --port 0 \
	--bpf-dir '' --batch-ms 500 --log-level debug >>"$dir/agent.log" 2>&1 & echo $! >"$dir/agent.pid")
t_cleanup "kill -9 $(cat "$dir/agent.pid") 2>/dev/null"

if t_wait 120 ag_attached; then
	t_pass "the container with crafted files is attached"
else
	t_fail "the container with crafted files is attached" "$(tail -5 "$dir/agent.log")"
fi
refused() {
	k get shellauditnode "$node" \
		-o jsonpath='{range .status.targets[0].probeRefused[*]}{.path}{"\t"}{.reason}{"\n"}{end}' |
		sort
}
two() { [ "$(refused | wc -l)" = 2 ]; }
t_wait 60 two || true
t_eq "the refused files are in the target's status, with why" \
	"$(printf '%s\t%s\n' /usr/lib64/libedit.so.2 'ELF sections overlap' \
		/usr/local/bin/bash 'ELF file has more than one .dynsym, .symtab or .dynamic')" \
	"$(refused)"
t_eq "and the target stays attached" "true" \
	"$(k get shellauditnode "$node" -o jsonpath='{.status.targets[0].attached}')"
printf 'echo still-audited\n' >"$work/lines.txt"
cap_shell audited "$work/lines.txt" >/dev/null || t_fail "the shell in the audited container failed"
entries() { k get auditrecords -n shop -o json | grep -c '"text": "echo still-audited"' || true; }
has_line() { [ "$(entries)" -ge 1 ]; }
if t_wait 120 has_line; then
	t_pass "its bash is still probed: the line is in an AuditRecord"
else
	t_fail "its bash is still probed: the line is in an AuditRecord"
fi
t_match "logged with the container and the file" \
	'"msg":"file refused: not probed","container":"containerd://[0-9a-f]*","file":"/usr/local/bin/bash"' \
	"$(cat "$dir/agent.log")"
saved() { [ "$(grep -c '^v1 ' "$dir/elf-refused" 2>/dev/null)" = 2 ]; }
t_wait 30 saved || true # written at most every 5 s
t_eq "remembered in the state dir (the spool dir's parent)" 2 \
	"$(grep -c '^v1 ' "$dir/elf-refused" 2>/dev/null || true)"
for p in agent controller; do
	if grep -q 'AddressSanitizer\|runtime error' "$dir/$p.log"; then
		t_fail "$p ran clean under sanitizers" "$(grep -A8 'AddressSanitizer\|runtime error' "$dir/$p.log" | head -12)"
	fi
done
t_summary
