#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container images of the local node, built from this machine's files
# without a registry or a container engine, and imported into the node's
# containerd.
#
#   hack/images.sh build [NAME...]    build/images/NAME.tar (OCI archives)
#   hack/images.sh import [NAME...]   build, then import into the k8s.io
#                                     namespace of the containerd of every
#                                     node of $SHELLAUDIT_RUN (node-add ones
#                                     too), or of $SHELLAUDIT_CONTAINERD_SOCK
#   hack/images.sh ref NAME           print the image reference of NAME
#   hack/images.sh rootfs NAME DIR    only write NAME's root file system to DIR
#                                     (what images/*/Containerfile copy)
#
# NAMEs (all by default):
#   pause        images/pause/pause.c, static: the pod sandbox image
#   demo         bash, coreutils, ps, ip, strace and their libraries from
#                this machine (hack/mkrootfs.sh), busybox for the rest (vi...)
#   controller   build/shellaudit-controller and its shared libraries
#   agent        build/shellaudit-agent and its shared libraries
#
# References are $SHELLAUDIT_IMAGE_REPO/<name>:$SHELLAUDIT_IMAGE_TAG
# [shellaudit.local/...:dev]; config/ names the same ones. An archive is
# rewritten only when the content of its root file system changed.
# images/*/Containerfile build the same images for a real registry with
# `rootfs`; the entrypoint, user and environment below are theirs too.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HACK=$ROOT/hack
OUT=${SHELLAUDIT_IMAGES_DIR:-$ROOT/build/images}
REPO=${SHELLAUDIT_IMAGE_REPO:-shellaudit.local}
TAG=${SHELLAUDIT_IMAGE_TAG:-dev}
ALL=(pause demo controller agent)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;/SPDX-License-Identifier/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

image_ref() {
	case $1 in
	pause | demo) echo "$REPO/$1:$TAG" ;;
	controller | agent) echo "$REPO/shellaudit-$1:$TAG" ;;
	*) die "unknown image $1 (one of: ${ALL[*]})" ;;
	esac
}

# copy_with_libs ROOT FILE DEST: FILE at DEST under ROOT, and every shared
# library it loads (ldd) at its own path, following symlinks.
copy_with_libs() {
	local root=$1 file=$2 dest=$3 lib
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$file" "$root$dest"
	while read -r lib; do
		{ [ -n "$lib" ] && [ -e "$lib" ]; } || continue
		mkdir -p "$root$(dirname "$lib")"
		[ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
	done < <(ldd "$file" 2>/dev/null | awk '/=>/ { print $3; next } /^\t\// { print $1 }')
}

# base_files ROOT UID NAME: the few files most programs expect.
base_files() {
	local root=$1
	mkdir -p "$root"/{etc,tmp,proc,sys,dev}
	chmod 1777 "$root/tmp"
	{
		echo "root:x:0:0:root:/root:/bin/sh"
		echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"
		echo "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin"
	} >"$root/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

rootfs_pause() {
	local root=$1
	${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror -static -s \
		-o "$OUT/pause.bin" "$ROOT/images/pause/pause.c" ||
		die "cannot build the static pause program (libc6-dev provides libc.a)"
	cp "$OUT/pause.bin" "$root/pause"
	rm -f "$OUT/pause.bin"
}

rootfs_demo() {
	local root=$1 p applet
	command -v busybox >/dev/null || die "busybox is needed for the demo image (make deps)"
	# Real programs where the machine has them: the audit sees the same
	# binaries a Debian container would run.
	"$HACK/mkrootfs.sh" "$OUT/demo.base" cp mv touch ln chmod tail sort uniq cut date uname \
		hostname whoami sed find xargs ps ip strace >/dev/null
	cp -a "$OUT/demo.base/." "$root/"
	rm -f "$root/.mkrootfs"
	mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/sbin" "$root/var/log/demo" "$root/home"
	cp -L "$(command -v busybox)" "$root/bin/busybox"
	# busybox for everything else (vi, less, ping, nc...), never over a real one.
	for applet in $(busybox --list); do
		[ -e "$root/bin/$applet" ] || [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
	done
	{ [ -e "$root/bin/sh" ] && [ ! -L "$root/bin/sh" ]; } || ln -sf bash "$root/bin/sh"
	# A stand-in for apt: the demo has no package manager and no network.
	for p in apt apt-get; do
		printf '#!/bin/sh\necho "%s: this demo image has no package manager (args: $*)" >&2\nexit 100\n' \
			"$p" >"$root/usr/bin/$p"
		chmod 755 "$root/usr/bin/$p"
	done
	printf '2026-01-01T00:00:00Z app started\n2026-01-01T00:00:01Z listening on :8080\n' \
		>"$root/var/log/demo/app.log"
	printf '10.0.0.7 - - [01/Jan/2026:00:00:02 +0000] "GET / HTTP/1.1" 200 12\n' \
		>"$root/var/log/demo/access.log"
	base_files "$root"
	sed -i 's#^root:.*#root:x:0:0:root:/root:/bin/bash#' "$root/etc/passwd"
	echo demo >"$root/etc/hostname"
	# A fixed prompt that test drivers can wait for.
	printf 'PS1="demo:\\w# "\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
		>"$root/root/.bashrc"
}

# rootfs_binary ROOT NAME: build/shellaudit-NAME and its libraries.
rootfs_binary() {
	local root=$1 bin=$ROOT/build/shellaudit-$2
	[ -x "$bin" ] || die "$bin is missing; run make"
	copy_with_libs "$root" "$bin" "/usr/bin/shellaudit-$2"
	base_files "$root"
	mkdir -p "$root/home/nonroot"
}

# image_rootfs NAME DIR: NAME's root file system in DIR (made empty first).
image_rootfs() {
	local name=$1 root=$2
	mkdir -p "$OUT"
	rm -rf "$root"
	mkdir -p "$root"
	case $name in
	controller | agent) rootfs_binary "$root" "$name" ;;
	*) "rootfs_$name" "$root" ;;
	esac
}

# image_build NAME: build/images/NAME.tar, unless the root file system is
# the same as the archive's.
image_build() {
	local name=$1 root=$OUT/$1.rootfs ref sum
	ref=$(image_ref "$name")
	image_rootfs "$name" "$root"
	local args=()
	case $name in
	pause) args=(--entrypoint '["/pause"]' --user 65535:65535) ;;
	demo) args=(--entrypoint '["/bin/sleep"]' --cmd '["infinity"]' --workdir /root
		--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env TERM=xterm) ;;
	controller) args=(--entrypoint '["/usr/bin/shellaudit-controller"]' --user 65532:65532
		--workdir /home/nonroot) ;;
	agent) args=(--entrypoint '["/usr/bin/shellaudit-agent"]' --user 0:0) ;;
	esac
	# What the archive is made of: every file's bytes, mode and link target,
	# the reference and the image config.
	sum=$( (
		cd "$root"
		find . -printf '%p %y %m %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
		echo "$ref ${args[*]}"
		sha256sum "$HACK/oci-image.sh"
	) | sha256sum | cut -d' ' -f1)
	if [ -f "$OUT/$name.tar" ] && [ "$(cat "$OUT/$name.sum" 2>/dev/null)" = "$sum" ]; then
		log "image $ref up to date ($OUT/$name.tar)"
	else
		"$HACK/oci-image.sh" "$root" "$OUT/$name.tar" "$ref" "${args[@]}"
		echo "$sum" >"$OUT/$name.sum"
	fi
	rm -rf "$root"
}

# image_sockets: the containerd of every node of the cluster (the first
# one's and those of node-add), or SHELLAUDIT_CONTAINERD_SOCK's alone.
image_sockets() {
	local s
	if [ -n "${SHELLAUDIT_CONTAINERD_SOCK:-}" ]; then
		echo "$SHELLAUDIT_CONTAINERD_SOCK"
		return 0
	fi
	for s in "$RUN_DIR/node/containerd/containerd.sock" "$RUN_DIR"/nodes/*/containerd/containerd.sock; do
		[ -S "$s" ] && echo "$s"
	done
	return 0
}

image_import() {
	local name=$1 sock n=0
	for sock in $(image_sockets); do
		[ -S "$sock" ] || die "no containerd socket at $sock"
		ctr --address "$sock" --namespace k8s.io images import "$OUT/$name.tar" >/dev/null ||
			die "ctr could not import $OUT/$name.tar into $sock"
		ctr --address "$sock" --namespace k8s.io images check "name==$(image_ref "$name")" |
			grep -q 'complete' || die "$(image_ref "$name") is not complete in $sock after the import"
		n=$((n + 1))
	done
	[ $n -gt 0 ] || die "no containerd socket in $RUN_DIR: start the node first (hack/cluster.sh up --node)"
	log "imported $(image_ref "$name") ($n node$([ $n = 1 ] || echo s))"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
case $cmd in
build | import) for n in "${names[@]}"; do image_ref "$n" >/dev/null; done ;;
*) [ $# -ge 1 ] && image_ref "$1" >/dev/null ;;
esac
RUN_DIR=$(realpath -m -s -- "$SHELLAUDIT_RUN")

case $cmd in
build) for n in "${names[@]}"; do image_build "$n"; done ;;
import)
	for n in "${names[@]}"; do image_build "$n"; done
	for n in "${names[@]}"; do image_import "$n"; done
	;;
ref)
	[ $# = 1 ] || usage
	image_ref "$1"
	;;
rootfs)
	[ $# = 2 ] || usage
	image_rootfs "$1" "$(realpath -m -- "$2")"
	;;
*) usage ;;
esac
