#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build a bash that links the system's libreadline.so.8 instead of its own
# bundled copy (as Arch and Alpine ship it; Debian's bash has readline
# inside), for the BPF tests: the readline probe must then land on the
# library, not on bash. Built from Debian's pristine source tarball into a
# cache outside the repo, keyed by version, so that later runs reuse it.
# Prints the path of the bash on stdout.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

url="http://deb.debian.org/debian/pool/main/b/bash/bash_$BASH_RL_VERSION.orig.tar.gz"
sha256=7a315bc0e9d90713159e4390ec1096a41e4f33cd8cc3d1a749a8e5ad56600f51
dir=$(dirname "$BASH_RL")

if [ -x "$BASH_RL" ]; then
	echo "$BASH_RL"
	exit 0
fi

for t in curl sha256sum make gcc ldd nm; do
	command -v "$t" >/dev/null || die "$t is needed to build bash $BASH_RL_VERSION (hack/install-deps.sh)"
done
# bash 5.2 falls back to its bundled readline when the installed one is
# older than 8.2; refuse that here rather than build the wrong thing.
header=/usr/include/readline/readline.h
[ -f "$header" ] || die "$header missing: install libreadline-dev (hack/install-deps.sh)"
rl_version=$(sed -n 's/^#define RL_READLINE_VERSION[[:space:]]*0x\([0-9a-f]*\).*/\1/p' "$header")
{ [ -n "$rl_version" ] && [ $((16#$rl_version)) -ge $((16#0802)) ]; } ||
	die "bash $BASH_RL_VERSION needs libreadline 8.2 or later; $header says 0x${rl_version:-?}"

# Built and installed in temporary directories next to the cache, then
# renamed into place: an interrupted build leaves no half cache.
mkdir -p "$(dirname "$dir")"
build=$(mktemp -d "$dir.build.XXXXXX")
trap 'rm -rf "$build"' EXIT

start=$(date +%s)
log "building bash $BASH_RL_VERSION against the system libreadline in $build"
curl -fsSL --retry 3 -o "$build/bash.tar.gz" "$url" || die "cannot download $url"
echo "$sha256  $build/bash.tar.gz" | sha256sum -c --status ||
	die "$url: sha256 is $(sha256sum "$build/bash.tar.gz" | cut -d' ' -f1), expected $sha256"
tar -xzf "$build/bash.tar.gz" -C "$build"
src="$build/bash-$BASH_RL_VERSION"
[ -d "$src" ] || die "the tarball has no bash-$BASH_RL_VERSION directory"

# --without-bash-malloc: glibc's malloc, like every distribution's bash.
(cd "$src" && ./configure --with-installed-readline --without-bash-malloc --disable-nls \
	>"$build/configure.log" 2>&1) || { tail -30 "$build/configure.log" >&2; die "configure failed"; }
make -C "$src" -j2 bash >"$build/make.log" 2>&1 || { tail -30 "$build/make.log" >&2; die "make failed"; }

# Outputs in variables, not piped into grep -q, which would end the
# writer with SIGPIPE and fail the pipe.
bin="$src/bash"
libs=$(ldd "$bin")
grep -q 'libreadline\.so\.8 => /' <<<"$libs" || die "$bin does not link libreadline.so.8: $libs"
grep -qw 'U readline' <<<"$(nm -D "$bin")" || die "$bin does not import readline"
"$bin" -c 'echo ok' >/dev/null || die "$bin does not run"

mkdir "$build/out"
cp "$bin" "$build/out/bash"
echo "$url $sha256 --with-installed-readline --without-bash-malloc --disable-nls" >"$build/out/BUILD"
# Another build of the same version may have finished first: keep that one.
mv -T "$build/out" "$dir" 2>/dev/null || [ -x "$BASH_RL" ] || die "cannot move the build into $dir"
log "bash $BASH_RL_VERSION with libreadline.so.8 in $dir ($(($(date +%s) - start))s)"
echo "$BASH_RL"
