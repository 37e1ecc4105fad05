#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the pinned upstream Kubernetes binaries (and etcd) from the Go module
# proxy into a cache outside the repo, keyed by version, so that later runs
# reuse them. Prints the bin directory on stdout.
#
#   hack/kube-build.sh            kube-apiserver, kubectl, etcd
#   hack/kube-build.sh --node     also kubelet, kube-controller-manager, kube-scheduler
#
# The throwaway module requires k8s.io/kubernetes at KUBE_VERSION and
# replaces every k8s.io staging module (which upstream points at ./staging)
# by its published v0.x twin of the same patch release.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

want_node=0
[ "${1:-}" = "--node" ] && want_node=1

bin="$KUBE_BIN"
core=(kube-apiserver kubectl etcd)
node=(kubelet kube-controller-manager kube-scheduler)
targets=("${core[@]}")
[ $want_node = 1 ] && targets+=("${node[@]}")

missing=()
for t in "${targets[@]}"; do
	[ -x "$bin/$t" ] || missing+=("$t")
done
if [ ${#missing[@]} = 0 ]; then
	echo "$bin"
	exit 0
fi

command -v go >/dev/null || die "go is needed to build Kubernetes $KUBE_VERSION (Debian: golang-go)"

minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
staging_version="v0.${KUBE_VERSION#v1.}"
work="$SHELLAUDIT_CACHE/kube-build-$KUBE_VERSION"
mkdir -p "$work" "$bin"
cd "$work"

# The published twin of a staging module: the same patch release when the
# module proxy serves it, else the newest earlier patch of the same minor
# (seen: k8s.io/endpointslice v0.32.13 is refused while v0.32.12 is served;
# staging modules change little within a minor release).
staging_twin() {
	local m=$1 served best
	# The version list the proxy gives is not complete: ask for the exact one.
	if go mod download "$m@$staging_version" >/dev/null 2>&1; then
		echo "$staging_version"
		return
	fi
	served=$(go list -m -versions "$m" 2>/dev/null | tr ' ' '\n' | grep "^v0\.$minor\.") || true
	best=""
	while read -r v; do
		[ -n "$v" ] || continue
		[ "$(printf '%s\n%s\n' "$v" "$staging_version" | sort -V | tail -1)" = "$staging_version" ] &&
			best=$v
	done < <(sort -V <<<"$served")
	log "$m $staging_version is not served; using $best"
	echo "${best:-$staging_version}"
}

log "building Kubernetes $KUBE_VERSION (${missing[*]}) in $work; the first build takes a while"

if [ ! -f go.mod ]; then
	upstream_mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
		sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	[ -f "$upstream_mod" ] || die "cannot download k8s.io/kubernetes@$KUBE_VERSION go.mod"
	etcd_version=$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v3\.[0-9.]*\).*#\1#p' "$upstream_mod" | head -1)
	[ -n "$etcd_version" ] || die "no etcd server version in k8s.io/kubernetes@$KUBE_VERSION go.mod"
	{
		echo "module shellaudit.local/kubebuild"
		echo
		echo "go 1.23.0"
		echo
		echo "godebug default=go1.23"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo "require go.etcd.io/etcd/server/v3 $etcd_version"
		echo
		sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$upstream_mod" |
			while read -r m; do echo "replace $m => $m $(staging_twin "$m")"; done
	} > go.mod.tmp
	# Tools-only imports so that `go mod tidy` keeps every package we build.
	cat > tools.go <<-EOF
	//go:build tools

	package tools

	import (
		_ "go.etcd.io/etcd/server/v3"
		_ "k8s.io/kubernetes/cmd/kube-apiserver"
		_ "k8s.io/kubernetes/cmd/kube-controller-manager"
		_ "k8s.io/kubernetes/cmd/kube-scheduler"
		_ "k8s.io/kubernetes/cmd/kubectl"
		_ "k8s.io/kubernetes/cmd/kubelet"
	)
	EOF
	mv go.mod.tmp go.mod
	go mod tidy -e >tidy.log 2>&1 || { cat tidy.log >&2; rm -f go.mod; die "go mod tidy failed"; }
fi

date_now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$date_now"
done

for t in "${missing[@]}"; do
	case $t in
	etcd) pkg=go.etcd.io/etcd/server/v3 ;;
	*) pkg=k8s.io/kubernetes/cmd/$t ;;
	esac
	start=$(date +%s)
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$t.tmp" "$pkg"
	mv "$bin/$t.tmp" "$bin/$t"
	log "built $t in $(( $(date +%s) - start ))s"
done
echo "$bin"
