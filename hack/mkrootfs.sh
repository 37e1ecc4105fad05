#!/usr/bin/env bash
# Builds a small root file system from this machine's own bash, a few
# coreutils and their shared libraries (found with ldd), for the BPF tests'
# containers.
#
#   hack/mkrootfs.sh DIR [PROGRAM...]
#
# PROGRAMs (names on PATH or absolute paths) are added with their libraries.
# The result is rebuilt only when DIR/.mkrootfs lists other programs.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PROGRAM...]"
dir=$1
shift
programs=(bash ls cat true echo env sleep grep head wc tr mkdir rm id pwd "$@")
stamp="${programs[*]}"

if [ -f "$dir/.mkrootfs" ] && [ "$(cat "$dir/.mkrootfs")" = "$stamp" ]; then
	exit 0
fi

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
# An interactive prompt that the test drivers can wait for.
printf 'PS1="rootfs$ "\n' >"$tmp/root/.bashrc"
echo "$stamp" >"$tmp/.mkrootfs"

rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
mv "$tmp" "$dir"
trap - EXIT
log "root file system in $dir"
