#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libcurl the daemons link: prints the linker arguments on stdout.
#
# Debian's libcurl4-openssl-dev brings 27 more shared libraries into every
# process that loads it (GnuTLS and p11-kit through librtmp, Kerberos,
# LDAP, SASL, libssh2, libidn2, libpsl, brotli, zstd): about 3 MiB of the
# agent's RSS, their constructors run at start, and code the agent never
# calls (rtmp://, ldap://, scp://) sits in a privileged process. The
# daemons speak HTTP/1.1 and HTTP/2 (nghttp2, linked statically: the
# Events' window is streams of one connection) over OpenSSL's TLS and
# nothing else, so they link a static libcurl built from the same Debian
# source package (its security patches applied) with only that: HTTP,
# HTTPS, HTTP/2, OpenSSL, the threaded resolver, the same CA defaults as
# Debian's. Built once into a cache outside the repo, keyed by the package
# version and these options.
#
# When it cannot be built (no deb-src reachable, no dpkg-source), it says
# so on stderr and prints -lcurl: the system's libcurl, which works the
# same, with the larger footprint. SHELLAUDIT_LIBCURL=system asks for that.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

OPTS=(--disable-shared --enable-static --with-pic --disable-dependency-tracking
	--with-openssl --with-nghttp2 --enable-threaded-resolver
	--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs
	--disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet
	--disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
	--disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-manual
	--disable-ntlm --disable-alt-svc --disable-cookies --disable-netrc --disable-hsts
	--disable-doh --disable-docs
	--without-librtmp --without-libssh2 --without-libssh --without-gssapi
	--without-libidn2 --without-libpsl --without-brotli --without-zstd
	--without-zlib)

system() {
	log "warning: $*; linking the system's libcurl (27 more shared libraries)"
	echo -lcurl
	exit 0
}

[ "${SHELLAUDIT_LIBCURL:-}" = system ] && { echo -lcurl; exit 0; }
version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null) ||
	system "libcurl4-openssl-dev is not installed"
upstream=${version%%-*}
upstream=${upstream#*:}
# Debian's hardening flags, as its own package is built with (not the
# prefix map, which names the directory this runs in).
cflags=()
for w in $(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -O2); do
	[[ $w == -ffile-prefix-map=* ]] || cflags+=("$w")
done
FLAGS=("CFLAGS=${cflags[*]}"
	"CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)")
key=$(printf '%s\n' "${OPTS[@]}" "${FLAGS[@]}" | sha256sum | cut -c1-8)
dir=$SHELLAUDIT_CACHE/libcurl-$version-$key
# What the linker is given: nghttp2 from its static archive too.
out="$dir/libcurl.a -l:libnghttp2.a"
if [ -f "$dir/libcurl.a" ]; then
	echo "$out"
	exit 0
fi
for t in apt-get dpkg-source make gcc; do
	command -v "$t" >/dev/null || system "$t is missing (hack/install-deps.sh build)"
done
pkg-config --exists libnghttp2 || system "libnghttp2-dev is missing (hack/install-deps.sh build)"

{ mkdir -p "$SHELLAUDIT_CACHE" 2>/dev/null && [ -w "$SHELLAUDIT_CACHE" ]; } ||
	system "cannot write $SHELLAUDIT_CACHE (SHELLAUDIT_CACHE)"
build=$(mktemp -d "$dir.build.XXXXXX") || system "cannot create a build directory in $SHELLAUDIT_CACHE"
trap 'rm -rf "$build"' EXIT
start=$(date +%s)
log "building a static libcurl $version (HTTP, HTTP/2 and HTTPS only) in $build"

# The machine's own Debian sources, as deb-src, in a private apt state:
# the system's lists and caches stay as they are.
mkdir -p "$build/apt/parts" "$build/apt/lists/partial" "$build/apt/cache/archives/partial"
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	sed 's/^Types:.*/Types: deb-src/' "$f" >"$build/apt/parts/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -f "$f" ] || continue
	sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f"
done >"$build/apt/parts/src.list"
aptget() {
	apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$build/apt/parts" \
		-o Dir::State::Lists="$build/apt/lists" -o Dir::Cache="$build/apt/cache" \
		-o APT::Sandbox::User=root "$@"
}
aptget update >"$build/apt.log" 2>&1 || system "apt-get update of the deb-src lists failed: $(tail -1 "$build/apt.log")"
# The installed version (its headers are the ones compiled against); when
# the mirror moved on, the newest source of the same upstream release.
(cd "$build" && { aptget source --download-only "curl=$version" || aptget source --download-only curl; } \
	>>"$build/apt.log" 2>&1) || system "apt-get source curl failed: $(tail -1 "$build/apt.log")"
dsc=$(find "$build" -maxdepth 1 -name 'curl_*.dsc' | head -1)
[ -n "$dsc" ] || system "apt-get source curl fetched no .dsc"
got=$(basename "$dsc" .dsc)
got=${got#curl_}
[ "${got%%-*}" = "$upstream" ] ||
	system "the mirror has curl $got, the installed headers are $upstream"
dpkg-source -x "$dsc" "$build/src" >>"$build/apt.log" 2>&1 || system "dpkg-source -x $dsc failed"

(cd "$build/src" && ./configure "${OPTS[@]}" "${FLAGS[@]}" >"$build/configure.log" 2>&1) ||
	system "configure failed: $(tail -3 "$build/configure.log" | tr '\n' ' ')"
make -C "$build/src/lib" -j2 >"$build/make.log" 2>&1 ||
	system "make failed: $(tail -3 "$build/make.log" | tr '\n' ' ')"
lib=$build/src/lib/.libs/libcurl.a
# In a variable, not piped into grep -q, which would end nm with SIGPIPE.
syms=$(nm "$lib" 2>/dev/null) || true
grep -q ' T curl_easy_perform$' <<<"$syms" || system "$lib has no curl_easy_perform"

mkdir "$build/out"
cp "$lib" "$build/out/libcurl.a"
{
	echo "curl $got (Debian source, its patches applied), for libcurl4-openssl-dev $version"
	echo "configure ${OPTS[*]} ${FLAGS[*]}"
} >"$build/out/BUILD"
# Another build of the same key may have finished first: keep that one.
mv -T "$build/out" "$dir" 2>/dev/null || [ -f "$dir/libcurl.a" ] || system "cannot move the build into $dir"
log "static libcurl $got in $dir ($(($(date +%s) - start))s)"
echo "$out"
