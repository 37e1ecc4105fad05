#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Start and stop a local Kubernetes control plane (etcd + kube-apiserver) from
# the binaries hack/kube-build.sh caches. Everything it owns lives in the
# state dir $SHELLAUDIT_RUN: PKI, etcd data, pids, logs and an admin
# kubeconfig, so that tests can run their own cluster next to `make run`'s.
#
#   hack/cluster.sh up        start what is not running, wait until ready
#   hack/cluster.sh up --node also a node: kube-controller-manager,
#                             kube-scheduler, containerd, kubelet, CNI;
#                             waits until the node is Ready
#   hack/cluster.sh node-add NAME
#                             one more node NAME in the same cluster, on
#                             this machine (after up --node): a containerd,
#                             a kubelet and a CNI bridge of its own; waits
#                             until it is Ready. Again: starts what of it
#                             does not run
#   hack/cluster.sh down      stop everything (every node too), remove the
#                             state dir; no process, mount, interface,
#                             iptables rule or container is left behind
#   hack/cluster.sh env       print `export KUBECONFIG=...` lines for eval
#   hack/cluster.sh status    say what runs; exit 0 only when all of it is ready
#
# Environment (defaults in brackets):
#   SHELLAUDIT_RUN                state dir [/var/run/shellaudit/cluster]
#   SHELLAUDIT_APISERVER_PORT     kube-apiserver secure port [6443]
#   SHELLAUDIT_APISERVER_BIND     kube-apiserver bind address [127.0.0.1;
#                                 0.0.0.0 with --node, so that pods reach it
#                                 on the node IP]
#   SHELLAUDIT_ETCD_CLIENT_PORT   etcd client port [2379]
#   SHELLAUDIT_ETCD_PEER_PORT     etcd peer port [2380]
#   SHELLAUDIT_SERVICE_CIDR       service cluster IP range [10.96.0.0/12]
#   SHELLAUDIT_ADVERTISE_ADDRESS  address published in the kubernetes
#                                 Service [the default route's source
#                                 address, else a global one, else 127.0.0.1]
#   SHELLAUDIT_START_TIMEOUT      seconds to wait for each component [180]
#   SHELLAUDIT_APISERVER_AUDIT_PORT where the API server sends its audit log:
#                                 https://127.0.0.1:PORT/audit, shellaudit's
#                                 audit receiver (config/audit) [8444]
# and for the node (hack/cluster-node.sh says more):
#   SHELLAUDIT_NODE_NAME          node name [the host name, lower case]
#   SHELLAUDIT_NODE_IP            node IP [the advertise address; when that
#                                 is loopback, a dummy interface's]
#   SHELLAUDIT_NODE_DUMMY         dummy interface made when the machine has
#                                 no other address [sa-dummy0]
#   SHELLAUDIT_NODE_DUMMY_CIDR    its address [10.200.0.1/24]
#   SHELLAUDIT_POD_CIDR           pod addresses (CNI host-local) [10.244.0.0/24]
#   SHELLAUDIT_CNI_BRIDGE         CNI bridge, also the network name [sa-cni0]
#   SHELLAUDIT_CGROUP_ROOT        kubelet cgroupRoot [/]; another one for a
#                                 second node next to `make run`'s
#   SHELLAUDIT_KCM_PORT           kube-controller-manager secure port [10257]
#   SHELLAUDIT_SCHEDULER_PORT     kube-scheduler secure port [10259]
#   SHELLAUDIT_KUBELET_PORT       kubelet port [10250]
#   SHELLAUDIT_KUBELET_HEALTHZ_PORT kubelet healthz port [10248]
# and for a node-add NAME (k: 1 for the first one added, 2...), derived from
# the first node's unless set:
#   SHELLAUDIT_ADD_CNI_BRIDGE     its bridge [the first's, cut to 12, + nk]
#   SHELLAUDIT_ADD_POD_CIDR       its pod range [the first's /24, + k in the
#                                 third byte]
#   SHELLAUDIT_ADD_CGROUP_ROOT    its kubelet cgroupRoot [the first's + -NAME,
#                                 /shellaudit-NAME when that is /]
#   SHELLAUDIT_ADD_KUBELET_PORT   [the first's + 100 k]
#   SHELLAUDIT_ADD_KUBELET_HEALTHZ_PORT [the first's + 100 k]
# A node's settings are kept in the state dir when it is made: later
# commands use those, whatever the environment says then.
#
# Only logs go to stderr; stdout carries nothing but `env`'s output. Every
# process runs detached with its output in $SHELLAUDIT_RUN/logs, and is
# identified by its pid file *and* by its command line naming the state dir,
# so that `down` never signals a process that is not this cluster's.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
HACK=$(cd "$(dirname "$0")" && pwd)

APISERVER_PORT=${SHELLAUDIT_APISERVER_PORT:-6443}
APISERVER_BIND=${SHELLAUDIT_APISERVER_BIND:-127.0.0.1}
ETCD_CLIENT_PORT=${SHELLAUDIT_ETCD_CLIENT_PORT:-2379}
ETCD_PEER_PORT=${SHELLAUDIT_ETCD_PEER_PORT:-2380}
SERVICE_CIDR=${SHELLAUDIT_SERVICE_CIDR:-10.96.0.0/12}
START_TIMEOUT=${SHELLAUDIT_START_TIMEOUT:-180}
AUDIT_PORT=${SHELLAUDIT_APISERVER_AUDIT_PORT:-8444}
STOP_TIMEOUT=30
# The API server's: after SIGTERM it waits on what its clients left open
# (30 s and a SIGKILL after test_audit's uninstall), and down removes
# the cluster with it: nothing is lost by not waiting.
APISERVER_STOP_TIMEOUT=5

[ -n "$SHELLAUDIT_RUN" ] || die "SHELLAUDIT_RUN is empty"
RUN=$(realpath -m -s -- "$SHELLAUDIT_RUN")
PKI=$RUN/pki
LOGS=$RUN/logs
PIDS=$RUN/pids
KUBECONFIG_FILE=$RUN/kubeconfig
APISERVER_DIR=$RUN/apiserver

# What `down` removes from the state dir; anything else found there stays.
STATE_ENTRIES=(pki etcd logs pids kubeconfig kubeconfig-alice kubeconfig-bob advertise-address
	apiserver node nodes bpf agent runc)

# Components in start order; `down` stops them in reverse. Each has
# <name>_check_ports, <name>_start and <name>_ready functions; `up --node`
# appends NODE_COMPONENTS (hack/cluster-node.sh).
COMPONENTS=(etcd kube-apiserver)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;/SPDX-License-Identifier/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

# --- processes ---------------------------------------------------------------

# proc_pid NAME: the pid of the cluster's running NAME, or nothing.
proc_pid() {
	local f=$PIDS/$1.pid pid
	[ -f "$f" ] || return 0
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	# A recycled pid runs something else: only trust a command line that
	# names our state dir.
	if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$RUN/"; then
		echo "$pid"
	fi
}

# proc_start NAME CMD...: starts CMD detached (own session, no terminal, all
# output to logs/NAME.log) and records its pid.
proc_start() {
	local name=$1 pid i
	shift
	mkdir -p "$LOGS" "$PIDS"
	# setsid does not fork here (a background job is no group leader), so $!
	# is the daemon's own pid.
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDS/$name.pid"
	# Until the background shell has opened the log and exec'd the daemon,
	# its command line is this script's, which proc_pid does not trust: a
	# check right after (wait_for) would take the daemon for dead. Wait for
	# the exec, 5 s at most.
	for ((i = 0; i < 500; i++)); do
		{ [ -n "$(proc_pid "$name")" ] || ! proc_alive "$pid"; } && break
		sleep 0.01
	done
	log "started $name (pid $pid, log $LOGS/$name.log)"
}

# proc_alive PID: whether PID runs (a zombie waiting for its reaper does not).
proc_alive() {
	kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# proc_stop NAME [SECONDS]: SIGTERM, wait up to SECONDS (STOP_TIMEOUT),
# then SIGKILL.
proc_stop() {
	local name=$1 secs=${2:-$STOP_TIMEOUT} pid deadline
	pid=$(proc_pid "$name")
	if [ -z "$pid" ]; then
		rm -f "$PIDS/$name.pid"
		return 0
	fi
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + secs))
	while proc_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	if proc_alive "$pid"; then
		log "$name (pid $pid) still running after ${secs}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while proc_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
		proc_alive "$pid" && die "$name (pid $pid) survived SIGKILL"
	fi
	rm -f "$PIDS/$name.pid"
}

# fail_with_log NAME WHY: the error for a component that did not come up.
fail_with_log() {
	local f=$LOGS/$1.log
	log "error: $1 $2; log: $f; its last lines:"
	tail -n 25 "$f" 2>/dev/null | sed 's/^/    /' >&2 || true
	exit 1
}

# port_in_use PORT: whether something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_port_free() {
	port_in_use "$2" && die "$1 port $2 on 127.0.0.1 is in use by another program (set $3)"
	return 0
}

# wait_for NAME CHECK...: polls CHECK until it succeeds, failing early when
# the process dies.
wait_for() {
	local name=$1 pid start=$SECONDS
	shift
	until "$@" >/dev/null 2>&1; do
		pid=$(proc_pid "$name")
		{ [ -n "$pid" ] && proc_alive "$pid"; } || fail_with_log "$name" "exited during startup"
		[ $((SECONDS - start)) -lt "$START_TIMEOUT" ] ||
			fail_with_log "$name" "not ready after ${START_TIMEOUT}s"
		sleep 0.5
	done
	log "$name ready after $((SECONDS - start))s"
}

# --- addresses ---------------------------------------------------------------

# first_service_ip CIDR: the network address plus one (10.96.0.0/12 -> 10.96.0.1).
first_service_ip() {
	local ip=${1%/*} bits=${1#*/} a b c d n mask
	{ [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] && [ "$bits" -le 30 ]; } ||
		die "SHELLAUDIT_SERVICE_CIDR=$1 is not an IPv4 CIDR with room for addresses"
	IFS=. read -r a b c d <<<"$ip"
	n=$(((a << 24) | (b << 16) | (c << 8) | d))
	mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
	n=$(((n & mask) + 1))
	echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

# advertise_address: what the apiserver publishes as the kubernetes Service's
# endpoint. A loopback address works for a control plane alone, but pods of a
# later node need a real one; the machine may have no default route.
advertise_address() {
	local a=${SHELLAUDIT_ADVERTISE_ADDRESS:-}
	if [ -z "$a" ] && [ -f "$RUN/advertise-address" ]; then
		a=$(<"$RUN/advertise-address")
	fi
	if [ -z "$a" ] && command -v ip >/dev/null; then
		a=$(ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)
		# Never one of the sa-* interfaces a local node makes (bridge,
		# dummy): another cluster's could vanish under this one.
		[ -n "$a" ] || a=$(ip -4 -o addr show scope global 2>/dev/null |
			awk '$2 !~ /^sa-/ { sub(/\/.*/, "", $4); print $4 }' | head -1)
	fi
	a=${a:-127.0.0.1}
	[[ $a =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die "advertise address '$a' is not an IPv4 address"
	echo "$a"
}

# --- PKI -----------------------------------------------------------------------

# pki_sign NAME SUBJECT EXTENSIONS: a P-256 key and a certificate signed by
# the cluster CA, valid one year.
pki_sign() {
	local name=$1 subj=$2 ext=$3
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	printf '%s\n' "$ext" >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days 365 -sha256 -extfile "$PKI/$name.ext" \
		-out "$PKI/$name.crt" 2>"$PKI/openssl.err" ||
		{ cat "$PKI/openssl.err" >&2; die "cannot sign the $name certificate"; }
	rm -f "$PKI/$name.csr" "$PKI/$name.ext" "$PKI/openssl.err"
}

# pki_ensure ADVERTISE_IP SERVICE_IP: creates whatever certificate is missing;
# the serving certificate again when it does not name the advertised address.
pki_ensure() {
	local adv=$1 svc=$2 client='keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
	command -v openssl >/dev/null || die "openssl is needed for the cluster PKI (make deps)"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	(
		umask 077
		if [ ! -f "$PKI/ca.crt" ]; then
			log "generating the cluster PKI in $PKI"
			openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
			openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=shellaudit-local-ca" \
				-days 3650 -sha256 -out "$PKI/ca.crt" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null ||
				die "cannot create the cluster CA"
		fi
		if [ ! -f "$PKI/apiserver.crt" ] ||
			! openssl x509 -in "$PKI/apiserver.crt" -noout -checkip "$adv" | grep -q 'does match'; then
			pki_sign apiserver "/CN=kube-apiserver" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$svc,IP:$adv"
		fi
		[ -f "$PKI/etcd.crt" ] || pki_sign etcd "/CN=etcd" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
		[ -f "$PKI/apiserver-etcd-client.crt" ] ||
			pki_sign apiserver-etcd-client "/CN=kube-apiserver-etcd-client" "$client"
		# How the apiserver authenticates to kubelets (logs, exec) once a node exists.
		[ -f "$PKI/apiserver-kubelet-client.crt" ] ||
			pki_sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
		[ -f "$PKI/admin.crt" ] || pki_sign admin "/O=system:masters/CN=shellaudit-admin" "$client"
		# How the apiserver authenticates to admission webhooks (the
		# session webhook answers this name only) and to the audit
		# receiver it sends its audit log to.
		[ -f "$PKI/apiserver-webhook-client.crt" ] ||
			pki_sign apiserver-webhook-client "/CN=kube-apiserver-webhook-client" "$client"
		[ -f "$PKI/apiserver-audit-client.crt" ] ||
			pki_sign apiserver-audit-client "/CN=kube-apiserver-audit-client" "$client"
		[ -f "$PKI/audit-receiver.crt" ] || pki_sign audit-receiver "/CN=shellaudit-audit" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
		# Two people, for the tests of who opened a session: they may
		# do only what RBAC grants them (nothing, until a test does).
		[ -f "$PKI/alice.crt" ] || pki_sign alice "/CN=alice" "$client"
		[ -f "$PKI/bob.crt" ] || pki_sign bob "/CN=bob" "$client"
		if [ ! -f "$PKI/sa.key" ]; then
			openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
			openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
		fi
	)
}

# kubeconfig_write FILE USER: a kubeconfig with the CA and the USER client
# certificate embedded, so that it can be copied elsewhere.
kubeconfig_write() {
	local file=$1 user=$2 tmp
	tmp=$(mktemp "$file.XXXXXX")
	cat >"$tmp" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: shellaudit
	  cluster:
	    server: https://127.0.0.1:$APISERVER_PORT
	    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
	users:
	- name: $user
	  user:
	    client-certificate-data: $(base64 -w0 "$PKI/$user.crt")
	    client-key-data: $(base64 -w0 "$PKI/$user.key")
	contexts:
	- name: shellaudit
	  context:
	    cluster: shellaudit
	    user: $user
	current-context: shellaudit
	EOF
	mv "$tmp" "$file"
}

# apiserver_configs: what the API server reads besides flags, in
# $APISERVER_DIR: the client certificate it shows admission webhooks, its
# audit policy (sessions only) and where its audit log goes (batch mode, a
# second at most in the buffer).
apiserver_configs() {
	local d=$APISERVER_DIR
	mkdir -p "$d"
	chmod 700 "$d"
	cat >"$d/admission.yaml" <<-EOF
	apiVersion: apiserver.config.k8s.io/v1
	kind: AdmissionConfiguration
	plugins:
	- name: ValidatingAdmissionWebhook
	  configuration:
	    apiVersion: apiserver.config.k8s.io/v1
	    kind: WebhookAdmissionConfiguration
	    kubeConfigFile: $d/webhook-client.kubeconfig
	EOF
	cat >"$d/webhook-client.kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	users:
	- name: "*.svc"
	  user:
	    client-certificate: $PKI/apiserver-webhook-client.crt
	    client-key: $PKI/apiserver-webhook-client.key
	EOF
	cat >"$d/audit-policy.yaml" <<-EOF
	apiVersion: audit.k8s.io/v1
	kind: Policy
	omitStages: ["RequestReceived"]
	rules:
	# No verbs filter: a websocket exec is a get, a SPDY one a create.
	- level: Metadata
	  resources:
	  - group: ""
	    resources: ["pods/exec", "pods/attach", "pods/portforward"]
	- level: Request
	  resources:
	  - group: ""
	    resources: ["pods/ephemeralcontainers"]
	- level: Metadata
	  verbs: ["create"]
	  resources:
	  - group: ""
	    resources: ["pods"]
	- level: None
	EOF
	cat >"$d/audit-webhook.kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: shellaudit-audit
	  cluster:
	    server: https://127.0.0.1:$AUDIT_PORT/audit
	    certificate-authority: $PKI/ca.crt
	users:
	- name: kube-apiserver
	  user:
	    client-certificate: $PKI/apiserver-audit-client.crt
	    client-key: $PKI/apiserver-audit-client.key
	contexts:
	- name: default
	  context:
	    cluster: shellaudit-audit
	    user: kube-apiserver
	current-context: default
	EOF
	echo "$AUDIT_PORT" >"$d/audit-port"
}

# --- components --------------------------------------------------------------

etcd_healthy() {
	curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" \
		--key "$PKI/apiserver-etcd-client.key" "https://127.0.0.1:$ETCD_CLIENT_PORT/health" |
		grep -q '"health":"true"'
}

etcd_start() {
	mkdir -p "$RUN/etcd"
	chmod 700 "$RUN/etcd"
	proc_start etcd "$KUBE_BIN/etcd" \
		--name=shellaudit \
		--data-dir="$RUN/etcd" \
		--listen-client-urls="https://127.0.0.1:$ETCD_CLIENT_PORT" \
		--advertise-client-urls="https://127.0.0.1:$ETCD_CLIENT_PORT" \
		--listen-peer-urls="https://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls="https://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="shellaudit=https://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster-state=new \
		--cert-file="$PKI/etcd.crt" --key-file="$PKI/etcd.key" \
		--trusted-ca-file="$PKI/ca.crt" --client-cert-auth=true \
		--peer-cert-file="$PKI/etcd.crt" --peer-key-file="$PKI/etcd.key" \
		--peer-trusted-ca-file="$PKI/ca.crt" --peer-client-cert-auth=true
	wait_for etcd etcd_healthy
}

etcd_ready() { etcd_healthy; }

etcd_check_ports() {
	check_port_free etcd "$ETCD_CLIENT_PORT" SHELLAUDIT_ETCD_CLIENT_PORT
	check_port_free "etcd peer" "$ETCD_PEER_PORT" SHELLAUDIT_ETCD_PEER_PORT
}

apiserver_readyz() {
	curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		"https://127.0.0.1:$APISERVER_PORT/readyz" | grep -qx ok
}

kube-apiserver_start() {
	local adv=$1 svc_cidr=$2
	proc_start kube-apiserver "$KUBE_BIN/kube-apiserver" \
		--bind-address="$APISERVER_BIND" \
		--secure-port="$APISERVER_PORT" \
		--advertise-address="$adv" \
		--cert-dir="$PKI" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--etcd-servers="https://127.0.0.1:$ETCD_CLIENT_PORT" \
		--etcd-cafile="$PKI/ca.crt" \
		--etcd-certfile="$PKI/apiserver-etcd-client.crt" \
		--etcd-keyfile="$PKI/apiserver-etcd-client.key" \
		--service-cluster-ip-range="$svc_cidr" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--authorization-mode=Node,RBAC \
		--enable-admission-plugins=NodeRestriction \
		--admission-control-config-file="$APISERVER_DIR/admission.yaml" \
		--enable-aggregator-routing=true \
		--audit-policy-file="$APISERVER_DIR/audit-policy.yaml" \
		--audit-webhook-config-file="$APISERVER_DIR/audit-webhook.kubeconfig" \
		--audit-webhook-mode=batch \
		--audit-webhook-batch-max-wait=1s \
		--audit-webhook-initial-backoff=1s \
		--kubelet-preferred-address-types=InternalIP,Hostname \
		--allow-privileged=true \
		--profiling=false
	wait_for kube-apiserver apiserver_readyz
}

kube-apiserver_ready() { apiserver_readyz; }

kube-apiserver_check_ports() {
	check_port_free kube-apiserver "$APISERVER_PORT" SHELLAUDIT_APISERVER_PORT
}

# --- commands ----------------------------------------------------------------

cmd_up() {
	local node=0 adv svc c pid
	while [ $# -gt 0 ]; do
		case $1 in
		--node) node=1 ;;
		*) usage ;;
		esac
		shift
	done
	for c in "${COMPONENTS[@]}"; do
		[ -x "$KUBE_BIN/$c" ] || die "$KUBE_BIN/$c is missing; build it with hack/kube-build.sh (make kube)"
	done
	command -v curl >/dev/null || die "curl is needed to check readiness (make deps)"

	mkdir -p "$RUN"
	chmod 700 "$RUN"
	if [ $node = 0 ] && [ -d "$RUN/node" ]; then
		log "this cluster has a node; checking it too"
		node=1
	fi
	if [ $node = 1 ]; then
		node_use_main
		node_preflight
		# Pods reach the API server on the node IP, not on loopback.
		[ -n "${SHELLAUDIT_APISERVER_BIND:-}" ] || APISERVER_BIND=0.0.0.0
	fi
	adv=$(advertise_address)
	[ $node = 0 ] || adv=$(node_address "$adv")
	svc=$(first_service_ip "$SERVICE_CIDR")
	echo "$adv" >"$RUN/advertise-address"
	[ $node = 0 ] || COMPONENTS+=("${NODE_COMPONENTS[@]}")
	# Fail before starting anything rather than leave half a cluster.
	for c in "${COMPONENTS[@]}"; do
		[ -n "$(proc_pid "$c")" ] || "${c}_check_ports"
	done
	[ $node = 0 ] || node_check_control_plane "$adv"
	pki_ensure "$adv" "$svc"
	apiserver_configs
	kubeconfig_write "$KUBECONFIG_FILE" admin
	kubeconfig_write "$RUN/kubeconfig-alice" alice
	kubeconfig_write "$RUN/kubeconfig-bob" bob
	[ $node = 0 ] || node_prepare "$adv" "$svc"

	for c in "${COMPONENTS[@]}"; do
		pid=$(proc_pid "$c")
		if [ -n "$pid" ]; then
			log "$c already running (pid $pid)"
			wait_for "$c" "${c}_ready"
			continue
		fi
		case $c in
		kube-apiserver) "${c}_start" "$adv" "$SERVICE_CIDR" ;;
		*) "${c}_start" ;;
		esac
	done
	log "control plane up: KUBECONFIG=$KUBECONFIG_FILE (apiserver https://127.0.0.1:$APISERVER_PORT, advertised $adv)"
	[ $node = 0 ] || node_up_done
}

cmd_down() {
	local i
	[ $# = 0 ] || usage
	if [ ! -d "$RUN" ]; then
		log "nothing to stop: no state dir $RUN"
		return 0
	fi
	# The node first, while the API server can still see its pods go. Best
	# effort (a failed step does not stop the next), and the control plane
	# is stopped whatever happens; a node not fully undone keeps the state
	# dir, so that down can be run again.
	local node_ok=1
	if [ -d "$RUN/node" ] || [ -d "$RUN/nodes" ]; then
		node_down || node_ok=0
	fi
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		case ${COMPONENTS[i]} in
		kube-apiserver) proc_stop kube-apiserver "$APISERVER_STOP_TIMEOUT" ;;
		*) proc_stop "${COMPONENTS[i]}" ;;
		esac
	done
	[ $node_ok = 1 ] || die "a node is not fully undone; its state stays in $RUN: run down again"
	for i in "${STATE_ENTRIES[@]}"; do rm -rf -- "${RUN:?}/$i"; done
	if rmdir -- "$RUN" 2>/dev/null; then
		log "cluster down; removed $RUN"
	else
		log "cluster down; left $RUN: it holds files that are not the cluster's"
	fi
}

cmd_env() {
	[ $# = 0 ] || usage
	printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
	# shellcheck disable=SC2016 # $PATH is the user's, expanded where this is eval'd
	printf 'export PATH=%q:"$PATH"\n' "$KUBE_BIN"
}

# status_of NAME CHECK: says whether process NAME runs and CHECK passes.
status_of() {
	local pid
	pid=$(proc_pid "$1")
	if [ -z "$pid" ]; then
		log "$1: not running"
		return 1
	elif "$2" >/dev/null 2>&1; then
		log "$1: ready (pid $pid)"
	else
		log "$1: running, not ready (pid $pid)"
		return 1
	fi
}

cmd_status() {
	local c n rc=0
	[ $# = 0 ] || usage
	if [ -d "$RUN/node" ]; then
		COMPONENTS+=("${NODE_COMPONENTS[@]}")
		node_use_main
	fi
	for c in "${COMPONENTS[@]}"; do
		status_of "$c" "${c}_ready" || rc=1
	done
	if [ -d "$RUN/node" ] && [ $rc = 0 ]; then
		node_ready_status || rc=1
	fi
	for n in $(node_added); do
		node_use "$n"
		status_of "containerd$NODE_SUFFIX" containerd_ready || rc=1
		status_of "kubelet$NODE_SUFFIX" kubelet_ready || rc=1
		[ $rc != 0 ] || node_ready_status || rc=1
	done
	return $rc
}

cmd_node_add() {
	local name adv svc c pid
	[ $# = 1 ] || usage
	name=$1
	[[ $name =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] || die "node name '$name' is not a DNS subdomain"
	[ -d "$RUN/node" ] || die "this cluster has no node yet: hack/cluster.sh up --node first"
	{ [ -n "$(proc_pid kube-apiserver)" ] && apiserver_readyz; } ||
		die "the control plane does not run: hack/cluster.sh up --node first"
	node_define "$name"
	node_preflight
	adv=$(<"$RUN/advertise-address")
	svc=$(first_service_ip "$SERVICE_CIDR")
	for c in containerd kubelet; do
		[ -n "$(proc_pid "$c$NODE_SUFFIX")" ] || "${c}_check_ports"
	done
	node_prepare "$adv" "$svc"
	for c in containerd kubelet; do
		pid=$(proc_pid "$c$NODE_SUFFIX")
		if [ -n "$pid" ]; then
			log "$c$NODE_SUFFIX already running (pid $pid)"
			wait_for "$c$NODE_SUFFIX" "${c}_ready"
		else
			"${c}_start"
		fi
	done
	node_up_done
}

. "$HACK/cluster-node.sh"

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
env) cmd_env "$@" ;;
status) cmd_status "$@" ;;
node-add) cmd_node_add "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
