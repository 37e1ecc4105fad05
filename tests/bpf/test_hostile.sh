#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile container content at the paths the agent probes: symlinks out of
# the root, a truncated ELF, absurd section counts, a 10 GB sparse file, a
# FIFO, a symlink loop. The agent must not crash, must not probe anything
# outside the container, and must say why for each.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/capture-lib.sh"

cap_setup
H=$work/rfs-h
cp -a "$RFS" "$H"
hostbash=$RFS/bin/bash # exists on the host, has readline, is not in $H
rm -f "$H/bin/bash"
ln -s "$hostbash" "$H/bin/bash"
mkdir -p "$H/usr/bin" "$H/usr/local/bin" "$H/lib/x86_64-linux-gnu"
ln -s "../../../../../../../../../..$hostbash" "$H/usr/bin/sh"
head -c 65536 "$RFS/bin/bash" >"$H/usr/bin/bash"
cp "$RFS/bin/bash" "$H/usr/local/bin/bash"
# e_shnum (offset 60, 2 bytes) = 65520 sections.
printf '\xf0\xff' | dd of="$H/usr/local/bin/bash" bs=1 seek=60 conv=notrunc status=none
rm -f "$H/bin/sh"
truncate -s 10G "$H/bin/sh"
mkfifo "$H/lib/x86_64-linux-gnu/libreadline.so.8"
ln -s libedit.so.2 "$H/lib/x86_64-linux-gnu/libedit.so.2"

cap_container h "$H"
cap_container ok
cap_agent || { t_fail "agent did not start"; t_summary; exit 1; }
start=$SECONDS
cap_target h || t_fail "hostile target not added"
t_run "agent survives the hostile container" kill -0 "$AGENT_PID"
t_match "target added with no probe" '"container":"h".*"probes":"0"' \
	"$(grep '"target added"' "$work/agent.log")"
echo "  note hostile target handled in $((SECONDS - start)) s"

log=$(grep -v '"source":"libbpf"' "$work/agent.log")
t_match "symlink to a host path: said so" \
	'"msg":"not probed: symlink does not resolve inside the container","file":"/bin/bash"' "$log"
t_match "symlink escaping with ..: said so" \
	'"msg":"not probed: symlink does not resolve inside the container","file":"/usr/bin/sh"' "$log"
t_match "truncated ELF: said why" \
	'"file":"/usr/bin/bash",[^}]*"reason":"ELF section headers lie outside the file"' "$log"
t_match "absurd section count: said why" \
	'"file":"/usr/local/bin/bash",[^}]*"reason":"ELF file has too many sections"' "$log"
t_match "10 GB sparse file: said why" '"file":"/bin/sh",[^}]*"reason":"not an ELF file"' "$log"
t_match "FIFO: refused without blocking" \
	'cannot open inside the container: Invalid argument","file":"/lib/x86_64-linux-gnu/libreadline.so.8"' \
	"$log"
t_match "symlink loop: refused" \
	'cannot open inside the container: Too many levels of symbolic links","file":"/lib/x86_64-linux-gnu/libedit.so.2"' \
	"$log"
t_eq "no probe attached for the hostile container" "" \
	"$(grep '"readline probe attached"' "$work/agent.log")"
# unshare(1) joined the container's mount namespace but keeps the host's
# root: it is not in the container.
t_eq "no host program examined (the container's root is the scope)" "" \
	"$(grep '"file":"/usr/bin/unshare"' "$work/agent.log")"

# The agent still works for a sane container afterwards.
cap_target ok || t_fail "target ok not added"
printf 'echo still working\n' >"$work/ok.txt"
cap_shell ok "$work/ok.txt" >/dev/null || t_fail "shell in ok failed"
t_wait 30 cap_has_line ok "echo still working"
t_eq "a sane container is still captured" "echo still working" "$(cap_lines ok)"
cap_agent_stop
t_summary
