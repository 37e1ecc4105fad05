#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a small root file system from this machine's own bash, a few
# coreutils and their shared libraries (found with ldd), for the BPF tests'
# containers.
#
#   hack/mkrootfs.sh DIR [PROGRAM...]
#
# PROGRAMs (names on PATH or absolute paths) are added with their libraries,
# as /bin/NAME: one named like a default replaces it (a bash built
# elsewhere becomes /bin/bash).
# The result is rebuilt only when DIR/.mkrootfs lists other programs. A
# finished root is never changed in place (containers may be running on
# it): callers that share one put a version in DIR's name.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PROGRAM...]"
dir=$1
shift
programs=(bash ls cat true echo env sleep grep head wc tr mkdir rm id pwd busybox dash "$@")
stamp="2 ${programs[*]}" # bump the number when the layout changes

current() { [ -f "$dir/.mkrootfs" ] && [ "$(cat "$dir/.mkrootfs")" = "$stamp" ]; }
current && exit 0
# One build at a time: tests started together on a fresh machine all ask
# for the same root; a second build must not replace the first's root
# while containers run on it.
mkdir -p "$(dirname "$dir")"
exec {lock}>"$dir.lock"
flock "$lock"
current && exit 0

tmp="$dir.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,usr/bin,lib,lib64,usr/lib,etc,proc,dev,tmp,root,opt}
chmod 1777 "$tmp/tmp"

# copy_file SRC: copies SRC to the same path under the root, following links.
copy_file() {
	local src=$1
	mkdir -p "$tmp$(dirname "$src")"
	cp -L "$src" "$tmp$src"
}

for p in "${programs[@]}"; do
	path=$p
	[[ $p == /* ]] || path=$(type -P "$p") || die "program $p not found"
	path=$(readlink -f "$path")
	mkdir -p "$tmp/bin"
	cp -L "$path" "$tmp/bin/$(basename "$p")"
	# ldd prints "name => /path (addr)" or "/path (addr)" for the loader.
	while read -r lib; do
		[ -n "$lib" ] && [ -e "$lib" ] && copy_file "$lib"
	done < <(ldd "$path" 2>/dev/null | awk '/=>/ { print $3; next } /^\t\// { print $1 }')
done

printf 'root:x:0:0:root:/root:/bin/bash\n' >"$tmp/etc/passwd"
printf 'root:x:0:\n' >"$tmp/etc/group"
# An interactive prompt that the test drivers can wait for, and no history
# file: the root is shared by test runs and must stay as built.
printf 'PS1="rootfs$ "\nunset HISTFILE\n' >"$tmp/root/.bashrc"
# Readline passes every byte through (no meta-key conversion), no bell.
printf 'set input-meta on\nset output-meta on\nset convert-meta off\nset bell-style none\n' \
	>"$tmp/etc/inputrc"
echo "$stamp" >"$tmp/.mkrootfs"

if [ -e "$dir" ]; then
	# DIR is outdated (or half built by a build that died): move it
	# aside before removing it.
	old="$dir.old.$$"
	mv -T "$dir" "$old" && rm -rf "$old"
fi
mv -T "$tmp" "$dir" || die "cannot move the root into $dir"
rm -rf "$tmp"
trap - EXIT
log "root file system in $dir"
