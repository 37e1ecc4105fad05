#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make install: DESTDIR and prefix honoured, the two daemons and the kubectl
# plugin installed executable, kubectl finding the plugin on PATH and
# running it, and the plugin's --help reading like a manual page for every
# subcommand. Needs no cluster.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

dest=$(mktemp -d /tmp/shellaudit-install.XXXXXX)
t_cleanup "rm -rf '$dest'"
t_run "make install DESTDIR=... prefix=/usr" make -C "$T_ROOT" --no-print-directory install \
	DESTDIR="$dest" prefix=/usr
for b in shellaudit-controller shellaudit-agent kubectl-shellaudit; do
	if [ -x "$dest/usr/bin/$b" ] && [ ! -L "$dest/usr/bin/$b" ]; then
		t_pass "$b installed in \$DESTDIR/usr/bin, executable"
	else
		t_fail "$b installed in \$DESTDIR/usr/bin, executable" "$(ls -la "$dest/usr/bin" 2>&1)"
	fi
done
t_eq "nothing else installed" "bin" "$(ls "$dest/usr")"
t_run "bindir overrides prefix/bin" make -C "$T_ROOT" --no-print-directory install \
	DESTDIR="$dest" bindir=/opt/sa
t_run "the plugin in the given bindir" test -x "$dest/opt/sa/kubectl-shellaudit"

kubectl=$KUBE_BIN/kubectl
if [ -x "$kubectl" ]; then
	t_match "kubectl plugin list finds it on PATH" "$dest/usr/bin/kubectl-shellaudit" \
		"$(PATH=$dest/usr/bin:$PATH "$kubectl" plugin list 2>/dev/null)"
	t_match "kubectl shellaudit --help runs the plugin" '^NAME' \
		"$(PATH=$dest/usr/bin:$PATH "$kubectl" shellaudit --help)"
else
	t_fail "$kubectl exists" "build it with hack/kube-build.sh (make kube)"
fi

# A manual page's sections, in order, for the plugin and each subcommand.
P=$dest/usr/bin/kubectl-shellaudit
sections() { grep -E '^[A-Z][A-Z ]+$' | tr '\n' ' '; }
t_eq "--help: NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS EXIT STATUS ENVIRONMENT EXAMPLES" \
	"NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS EXIT STATUS ENVIRONMENT EXAMPLES " \
	"$("$P" --help | sections)"
for c in sessions show logs verify; do
	t_match "$c --help: NAME, SYNOPSIS, DESCRIPTION ... EXAMPLES" '^NAME SYNOPSIS DESCRIPTION .*EXAMPLES $' \
		"$("$P" "$c" --help | sections)"
	t_eq "help $c is $c --help" "$("$P" "$c" --help)" "$("$P" help "$c")"
done
t_match "--help says what each exit status means" $'\n''    3   verify: the container has no AuditRecords' \
	"$("$P" --help)"
t_match "--version" '^kubectl-shellaudit ' "$("$P" --version)"
set +e
"$P" >/dev/null 2>&1
t_eq "no command: usage on stderr, exit 2" 2 $?
set -e
t_summary
