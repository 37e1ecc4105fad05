#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what building and testing shellaudit needs on Debian 12, only when
# something is missing. The one list of the project's system dependencies.
#
#   hack/install-deps.sh [GROUP...]   build, demo, pause and test by default
#
# Groups: build (the binaries: what images/agent and images/controller
# install), demo (the demo image's programs), pause (the static pause
# program), test (the rest: tests, the local cluster, lint), bench (what
# make bench compares the agent with; asked for by the bench alone).
set -euo pipefail

. "$(dirname "$0")/lib.sh"

build=(
	make gcc clang llvm pkg-config
	libbpf-dev libelf-dev zlib1g-dev bpftool
	libcurl4-openssl-dev libwebsockets-dev libcjson-dev libyaml-dev
	# hack/libcurl.sh: the static libcurl, from Debian's source package,
	# with HTTP/2 (nghttp2's static archive)
	dpkg-dev libnghttp2-dev
	# SHA-256 and Ed25519 of the AuditRecord chain (libcrypto), the websocket
	# watch's TLS (libssl: the SSL_CTX it hands libwebsockets)
	libssl-dev
)
demo=(
	bash coreutils findutils sed grep procps iproute2 strace busybox-static hostname
)
pause=(gcc libc6-dev)
test=(
	# sanitizers for clang-built tests
	libclang-rt-14-dev
	# tests and the local cluster
	openssl curl ca-certificates iproute2 procps psmisc util-linux python3
	tmux runc containerd containernetworking-plugins
	# the local node: the Service rule, the static pause program, the demo image
	iptables libc6-dev busybox-static strace
	# the BPF tests: a stripped static bash, a program linking libreadline
	bash-static sqlite3
	# ... and a bash linking libreadline.so.8, built by hack/bash-readline.sh
	libreadline-dev libncurses-dev
	# Kubernetes is built from the Go module proxy
	golang-go git
	# the plugin test parses its YAML output
	python3-yaml
	# make lint and make check-fmt
	clang-format clang-tidy cppcheck shellcheck
	# the image test: the Containerfiles built with buildah, the archives read by skopeo
	buildah skopeo
)
# tests/bench/publish.sh: the same exec loop traced by bpftrace and by auditd
# (its rules removed and the daemon stopped when the bench ends)
bench=(bpftrace auditd)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build demo pause test)
packages=()
for g in "${groups[@]}"; do
	case $g in
	build) packages+=("${build[@]}") ;;
	demo) packages+=("${demo[@]}") ;;
	pause) packages+=("${pause[@]}") ;;
	test) packages+=("${build[@]}" "${test[@]}") ;;
	bench) packages+=("${bench[@]}") ;;
	*) die "unknown group $g (build, demo, pause, test, bench)" ;;
	esac
done

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing+=("$p")
done

# The machine may already carry a newer Go than Debian's; keep it.
if command -v go >/dev/null; then
	tmp=()
	for p in "${missing[@]}"; do [ "$p" = golang-go ] || tmp+=("$p"); done
	missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} = 0 ]; then
	exit 0
fi
[ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root or install them"
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || log "apt-get update failed; trying with the cached lists"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
