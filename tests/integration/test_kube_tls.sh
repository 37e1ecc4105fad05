#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lib/ TLS and credentials (kube_tls.c), on both watch transports:
#   - a client pinned to the cluster CA refuses a server whose certificate
#     comes from a second CA that the system trusts. "The system" is a
#     private copy of /etc/ssl/certs holding that CA, bind-mounted in a
#     mount namespace of this test alone: the machine's store is not
#     touched. The same server is accepted without a CA (the system store
#     is used then: the copy is really read) and with a CA bundle;
#   - tls-server-name and insecure-skip-tls-verify against the real API
#     server, reached at 127.0.0.2, which its certificate does not name;
#   - a token file rotated under a running client, then removed.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

PROG=$T_BUILD/asan/tests/integration/kube_tls
FAKE=$T_ROOT/tests/integration/fakeapi.py

t_cluster_up
pki=$SHELLAUDIT_RUN/pki
work=$(mktemp -d /tmp/shellaudit-tls.XXXXXX)
t_cleanup "rm -rf '$work'"
k() { kubectl "$@"; }

# start NAME ADDR PORT ARGS...: fakeapi.py in the background until the end
# of the test, once it listens on ADDR:PORT.
start() {
	local name=$1 addr=$2 port=$3 pid
	shift 3
	python3 "$FAKE" "$@" >"$work/$name.log" 2>&1 &
	pid=$!
	t_cleanup "kill $pid"
	t_wait 20 bash -c "exec 3<>/dev/tcp/$addr/$port" || { t_fail "$name listens" "$(cat "$work/$name.log")"; return 1; }
}

# kubeconfig FILE SERVER CLUSTER_EXTRA USER_YAML: a kubeconfig file.
kubeconfig() {
	cat >"$1" <<-EOF
	apiVersion: v1
	kind: Config
	current-context: t
	contexts:
	- name: t
	  context: {cluster: c, user: u}
	clusters:
	- name: c
	  cluster:
	    server: $2
	$(printf '%s' "$3" | sed 's/^/    /')
	users:
	- name: u
	  user:
	$(printf '%s' "$4" | sed 's/^/    /')
	EOF
}

# --- a second CA, trusted by the private system store ------------------------------

openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca2.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca2.key" -subj /CN=shellaudit-test-public-ca -days 2 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
	-out "$work/ca2.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/srv.key" 2>/dev/null
openssl req -new -key "$work/srv.key" -subj /CN=127.0.0.1 -out "$work/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/srv.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$work/ca2.crt" -CAkey "$work/ca2.key" -CAcreateserial \
	-days 2 -extfile "$work/srv.ext" -out "$work/srv.crt" 2>/dev/null
mkdir "$work/certs"
cp /etc/ssl/certs/ca-certificates.crt "$work/certs/" 2>/dev/null || true
cat "$work/ca2.crt" >>"$work/certs/ca-certificates.crt"
cp "$work/ca2.crt" "$work/certs/shellaudit-test-public-ca.pem"
openssl rehash "$work/certs" 2>/dev/null || c_rehash "$work/certs" >/dev/null

port=$(t_free_port)
start tls 127.0.0.1 "$port" tls "$port" "$work/srv.crt" "$work/srv.key"
kubeconfig "$work/pinned" "https://127.0.0.1:$port" "certificate-authority: $pki/ca.crt" "token: x"
kubeconfig "$work/system" "https://127.0.0.1:$port" "" "token: x"
cat "$pki/ca.crt" "$work/ca2.crt" >"$work/bundle.crt"
kubeconfig "$work/bundle" "https://127.0.0.1:$port" "certificate-authority: $work/bundle.crt" "token: x"
t_run_program "kube_tls ca-pin" "$(command -v unshare)" -m --propagation private sh -c \
	"mount --bind '$work/certs' /etc/ssl/certs && exec '$PROG' ca-pin '$work/pinned' '$work/system' '$work/bundle'"
t_eq "the machine's trust store does not hold the test CA" "" \
	"$(grep -l shellaudit-test-public-ca /etc/ssl/certs/*.pem 2>/dev/null)"

# --- tls-server-name and insecure against the real API server ------------------------

k create namespace tls-test >/dev/null
fwd=$(t_free_port)
start forward 127.0.0.2 "$fwd" forward 127.0.0.2 "$fwd" "$SHELLAUDIT_APISERVER_PORT"
admin="client-certificate: $pki/admin.crt
client-key: $pki/admin.key"
kubeconfig "$work/none" "https://127.0.0.2:$fwd" "certificate-authority: $pki/ca.crt" "$admin"
kubeconfig "$work/right" "https://127.0.0.2:$fwd" "certificate-authority: $pki/ca.crt
tls-server-name: kubernetes.default.svc" "$admin"
kubeconfig "$work/wrong" "https://127.0.0.2:$fwd" "certificate-authority: $pki/ca.crt
tls-server-name: not-the-apiserver.example" "$admin"
kubeconfig "$work/insecure" "https://127.0.0.2:$fwd" "insecure-skip-tls-verify: true" "$admin"
t_run_program "kube_tls server-name" "$PROG" server-name "$work/none" "$work/right" "$work/wrong" "$work/insecure"

# --- a rotated token file ------------------------------------------------------------

k -n tls-test create serviceaccount sa-a >/dev/null
k -n tls-test create serviceaccount sa-b >/dev/null
k -n tls-test create role cm-watch --verb=get,list,watch --resource=configmaps >/dev/null
k -n tls-test create rolebinding cm-watch --role=cm-watch --serviceaccount=tls-test:sa-a >/dev/null
k -n tls-test create token sa-a >"$work/a.tok"
k -n tls-test create token sa-b >"$work/b.tok"
kubeconfig "$work/tokenfile" "https://127.0.0.1:$SHELLAUDIT_APISERVER_PORT" \
	"certificate-authority: $pki/ca.crt" "tokenFile: $work/token"
t_run_program "kube_tls token" "$PROG" token "$work/tokenfile" "$work/token" "$work/a.tok" "$work/b.tok"

t_summary
