#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The images a cluster admin pushes. hack/images.sh's OCI archives (what
# `make images` writes) are read by skopeo into oci: and dir: layouts and a
# docker-archive, digests kept, as `skopeo copy oci-archive:... docker://`
# pushes them. images/*/Containerfile are built with Debian's buildah
# (rootful, vfs storage in a temporary directory removed at the end) and
# give the same files, types and modes as the archives, and the same
# entrypoint, command, user and working directory.
#
# No registry is reachable here, so BUILDER (the build stage's base, Debian
# 12 by default) is this Debian 12 machine itself: a skeleton image whose
# /usr, /etc and dpkg database are this machine's, mounted read-only during
# RUN, with the cache of hack/ (the static libcurl make built there).
# hack/install-deps.sh then finds everything installed and the build runs
# the Containerfiles' own steps, offline.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$T_ROOT/hack/lib.sh"

if [ "$(id -u)" != 0 ]; then
	t_fail "runs as root" "rootful buildah"
	t_summary
	exit 1
fi
for b in buildah skopeo; do
	command -v $b >/dev/null || { t_fail "$b is installed (make deps)"; t_summary; exit 1; }
done
for b in shellaudit-controller shellaudit-agent; do
	[ -x "$T_BUILD/$b" ] || { t_fail "$T_BUILD/$b is built (make)"; t_summary; exit 1; }
done

# buildah and skopeo keep a blob cache in /var/lib/containers/cache whatever
# their storage: removed at the end when this test made it.
[ -e /var/lib/containers ] || t_cleanup "rmdir /var/lib/containers"
[ -e /var/lib/containers/cache ] ||
	t_cleanup "rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb; rmdir /var/lib/containers/cache"
work=$(mktemp -d /tmp/shellaudit-images.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
t_cleanup "rm -rf '$work'"
t_cleanup "${B[*]} rm --all; ${B[*]} rmi --all --force"
IMAGES=(pause demo controller agent)

start=$SECONDS
if SHELLAUDIT_IMAGES_DIR=$work/archives "$T_ROOT/hack/images.sh" build "${IMAGES[@]}" 2>"$work/archives.log"; then
	t_pass "hack/images.sh build writes the OCI archives ($((SECONDS - start))s)"
else
	t_fail "hack/images.sh build writes the OCI archives" "$(tail -5 "$work/archives.log")"
	t_summary
	exit 1
fi

# --- skopeo reads the archives as a push would
for i in "${IMAGES[@]}"; do
	a=oci-archive:$work/archives/$i.tar
	ref=$("$T_ROOT/hack/images.sh" ref "$i")
	digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
		<(tar -xOf "$work/archives/$i.tar" index.json))
	if skopeo copy -q "$a" "oci:$work/oci:$i" && skopeo copy -q "$a" "dir:$work/dir-$i" &&
		skopeo copy -q "$a" "docker-archive:$work/$i.docker.tar:registry.example.test/sa/${ref##*/}"; then
		t_pass "$i: skopeo copy oci-archive: to oci:, dir: and docker-archive:"
	else
		t_fail "$i: skopeo copy oci-archive: to oci:, dir: and docker-archive:"
		continue
	fi
	t_eq "$i: the manifest digest survives the copy" "$digest $digest" \
		"$(skopeo inspect "oci:$work/oci:$i" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])') sha256:$(sha256sum <"$work/dir-$i/manifest.json" | cut -d' ' -f1)"
done

# --- the Containerfiles, built with buildah on this machine as BUILDER
ctr=$("${B[@]}" from -q scratch)
mnt=$("${B[@]}" mount "$ctr")
mkdir -p "$mnt"/{usr,etc,var/lib/dpkg,tmp,proc,sys,dev,root,run}
chmod 1777 "$mnt/tmp"
for d in bin lib lib64 sbin; do [ -L "/$d" ] && ln -s "$(readlink "/$d")" "$mnt/$d"; done
"${B[@]}" commit -q "$ctr" localhost/shellaudit-builder:test >/dev/null
"${B[@]}" rm "$ctr" >/dev/null

# files NAME: "type mode path" of every file of image NAME, sorted.
files() {
	local c m
	c=$("${B[@]}" from -q "$1")
	m=$("${B[@]}" mount "$c")
	(cd "$m" && find . -mindepth 1 -printf '%y %m %p\n' | LC_ALL=C sort)
	"${B[@]}" rm "$c" >/dev/null
}
# config NAME: the entrypoint, command, user and working directory.
config() {
	"${B[@]}" inspect --type image "$1" | python3 -c '
import json, sys
c = json.load(sys.stdin)["OCIv1"].get("config", {})
print(c.get("Entrypoint"), c.get("Cmd"), c.get("User", ""), c.get("WorkingDir") or "/")'
}

for i in "${IMAGES[@]}"; do
	start=$SECONDS
	if "${B[@]}" build --isolation chroot --pull-never \
		-v /usr:/usr:ro -v /etc:/etc:ro -v /var/lib/dpkg:/var/lib/dpkg:ro \
		-v "$SHELLAUDIT_CACHE:$SHELLAUDIT_CACHE:ro" \
		--build-arg BUILDER=localhost/shellaudit-builder:test --build-arg VERSION=test \
		-f "$T_ROOT/images/$i/Containerfile" -t "localhost/$i:test" "$T_ROOT" >"$work/build-$i.log" 2>&1; then
		t_pass "images/$i/Containerfile builds with buildah ($((SECONDS - start))s)"
	else
		t_fail "images/$i/Containerfile builds with buildah" "$(tail -8 "$work/build-$i.log")"
		continue
	fi
	"${B[@]}" pull -q "oci-archive:$work/archives/$i.tar" >"$work/id-$i"
	archive=$(files "$(cat "$work/id-$i")")
	built=$(files "localhost/$i:test")
	if [ "$archive" = "$built" ]; then
		t_pass "$i: the Containerfile gives the archive's files ($(wc -l <<<"$archive"))"
	else
		t_fail "$i: the Containerfile gives the archive's files" \
			"$(diff <(echo "$archive") <(echo "$built") | head -10)"
	fi
	t_eq "$i: the same entrypoint, command, user and working directory" \
		"$(config "$(cat "$work/id-$i")")" "$(config "localhost/$i:test")"
done
# hack/libcurl.sh: the daemons link a libcurl with HTTP and HTTPS only, so
# their images hold none of what Debian's shared libcurl would load.
for i in agent controller; do
	extra=$(files "$(cat "$work/id-$i")" | grep -oE 'lib(gnutls|p11-kit|rtmp|ssh2|ldap|lber|sasl2|krb5|gssapi_krb5|nghttp2|idn2|psl|brotlidec|zstd)[^/]*$' || true)
	t_eq "$i: the image holds no library libcurl would load for other protocols" "" "$extra"
done
ctr=$("${B[@]}" from -q localhost/controller:test)
t_match "the built controller runs and prints the VERSION it was built with" '^shellaudit-controller test$' \
	"$("${B[@]}" run --isolation chroot "$ctr" -- /usr/bin/shellaudit-controller --version 2>&1)"
t_summary
