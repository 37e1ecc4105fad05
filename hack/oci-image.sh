#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a single-layer OCI image archive from a directory, without a
# container engine: the layer (a reproducible tar.gz of the directory), the
# image config, the manifest, index.json and oci-layout, all addressed by
# sha256, tarred into one file that `ctr images import` (or `podman load`,
# `skopeo copy oci-archive:...`) reads.
#
#   hack/oci-image.sh ROOTFS OUT.tar NAME:TAG [OPTION...]
#
# Options (each once, except --env):
#   --entrypoint JSON   e.g. '["/pause"]'
#   --cmd JSON          e.g. '["--help"]'
#   --env K=V           repeatable
#   --user U[:G]        numeric, e.g. 65532:65532
#   --workdir DIR
#
# The same directory gives the same digests: file order, owners (0:0),
# times (the epoch) and gzip headers are fixed.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: $0 ROOTFS OUT.tar NAME:TAG [--entrypoint JSON] [--cmd JSON] [--env K=V]... [--user U] [--workdir DIR]"
rootfs=$1 out=$2 ref=$3
shift 3
[ -d "$rootfs" ] || die "$rootfs is not a directory"
[[ $ref == *:* && $ref != *' '* ]] || die "image name '$ref' needs a tag (NAME:TAG)"

entrypoint=null cmd=null user="" workdir="/" envs=()
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--entrypoint) entrypoint=$2 ;;
	--cmd) cmd=$2 ;;
	--env) envs+=("$2") ;;
	--user) user=$2 ;;
	--workdir) workdir=$2 ;;
	*) die "unknown option $1" ;;
	esac
	shift 2
done
for j in "$entrypoint" "$cmd"; do
	[ "$j" = null ] || [[ $j =~ ^\[.*\]$ ]] || die "entrypoint and cmd are JSON arrays, not '$j'"
done

# json_str S: S as a JSON string (the values here are paths, names and
# environment entries; quotes and backslashes are escaped, control characters
# refused).
json_str() {
	local s=$1
	[[ $s != *[[:cntrl:]]* ]] || die "control character in '$s'"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/oci-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"

# blob_add FILE: moves FILE into the blob store; prints "sha256:HEX SIZE".
blob_add() {
	local hex size
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv "$1" "$blobs/$hex"
	echo "sha256:$hex $size"
}

# The layer. --sort and fixed metadata make it reproducible; pax headers
# keep long names and the dropped atime/ctime keep it stable.
tar --sort=name --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	--owner=0 --group=0 --numeric-owner --mtime=@0 \
	--exclude=./.mkrootfs -C "$rootfs" -cf "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$work/layer.tar"
read -r layer_digest layer_size < <(blob_add "$work/layer.tar.gz")

env_json=""
for e in "${envs[@]+"${envs[@]}"}"; do
	env_json+=${env_json:+,}$(json_str "$e")
done
arch=$(uname -m)
case $arch in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
esac

printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"User":%s,"Env":[%s],"Entrypoint":%s,"Cmd":%s,"WorkingDir":%s,"Labels":{"org.opencontainers.image.source":"shellaudit hack/oci-image.sh"}},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"hack/oci-image.sh"}]}' \
	"$arch" "$(json_str "$user")" "$env_json" "$entrypoint" "$cmd" "$(json_str "$workdir")" \
	"$diff_id" >"$work/config.json"
read -r config_digest config_size < <(blob_add "$work/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
	"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
read -r manifest_digest manifest_size < <(blob_add "$work/manifest.json")

# io.containerd.image.name is the full name containerd imports under;
# org.opencontainers.image.ref.name the tag, as other tools read it.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
	"$manifest_digest" "$manifest_size" "$arch" "$(json_str "$ref")" "$(json_str "${ref##*:}")" \
	>"$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"

mkdir -p "$(dirname "$out")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/layout" \
	-cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
log "image $ref in $out (manifest $manifest_digest, layer $((layer_size / 1024)) KiB)"
