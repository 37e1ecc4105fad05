# SPDX-License-Identifier: Apache-2.0
# The node half of hack/cluster.sh (sourced by it, not run): the node of
# `up --node`, made of kube-controller-manager, kube-scheduler, containerd
# (Debian's, with a config, root, state, socket and runc root of its own
# under the state dir), a kubelet and a CNI bridge; and more nodes added
# with `node-add NAME`, each a containerd, a kubelet and a CNI bridge of
# its own (own ports, pod range, cgroup root and node name) on this same
# machine, in the same cluster.
#
# The functions below act on one node at a time, chosen by node_use_main
# or node_use NAME; what each node was made with is kept in its env file,
# so that status and down find the same bridge, ranges and names again.
#
# What it changes on the machine, and how `down` undoes each:
#   processes      the four daemons, containerd's shims and the containers:
#                  pods are deleted through the API first (kubelet and CRI
#                  tear them down), what is left is killed through containerd,
#                  then by cgroup
#   mounts         under the state dir (kubelet's rshared root dir, pod
#                  volumes, container root file systems, sandbox /dev/shm)
#                  and the pods' network namespaces in /run/netns: unmounted
#   interfaces     the CNI bridge (SHELLAUDIT_CNI_BRIDGE), the pods' veths,
#                  and the dummy interface when one was made (an empty
#                  bridge on kernels without the dummy driver): deleted
#   cgroups        <SHELLAUDIT_CGROUP_ROOT>/kubepods in every hierarchy (and
#                  the root itself when it is not /): removed
#   BPF file system one per node on $SHELLAUDIT_RUN/bpf/<node>, the agent's
#                  pins (hack/local-overlay.sh mounts it there): unmounted
#   iptables       one nat PREROUTING DNAT rule that makes the `kubernetes`
#                  Service (the first service IP, port 443) reach the API
#                  server for pods on the bridge: deleted
#   sysctls        the kubelet sets vm.overcommit_memory, vm.panic_on_oom,
#                  kernel.panic, kernel.panic_on_oops, kernel.keys.root_max*
#                  and the CNI bridge net.ipv4.ip_forward: put back as the
#                  first node found them, once no other kubelet runs
#   directories    /run/containerd, /run/netns, /var/lib/cni,
#                  /var/log/containers and /var/lib/kubelet/device-plugins
#                  (its socket) are made by containerd, CNI and the kubelet
#                  whatever their configuration says: removed when this node
#                  made them, they are empty and no other kubelet runs
#
# Pods reach the API server through the `kubernetes` Service as on any
# cluster: there is no kube-proxy, and the one DNAT rule above stands in for
# it (other Services do not work; pods with hostNetwork do not get the rule).
# The API server listens on 0.0.0.0 and advertises the node IP.

# shellcheck disable=SC2034 # hack/cluster.sh, which sources this file, uses it
NODE_COMPONENTS=(kube-controller-manager kube-scheduler containerd kubelet)

NODE_DUMMY=${SHELLAUDIT_NODE_DUMMY:-sa-dummy0}
NODE_DUMMY_CIDR=${SHELLAUDIT_NODE_DUMMY_CIDR:-10.200.0.1/24}
KCM_PORT=${SHELLAUDIT_KCM_PORT:-10257}
SCHEDULER_PORT=${SHELLAUDIT_SCHEDULER_PORT:-10259}
CNI_BIN_DIR=/usr/lib/cni
# What makes one node; kept in its env file.
NODE_VARS=(NODE_NAME POD_CIDR CNI_BRIDGE CGROUP_ROOT KUBELET_PORT KUBELET_HEALTHZ_PORT)

# node_paths: the paths of the selected node, from NODE_DIR and NODE_NAME.
node_paths() {
	CTRD_DIR=$NODE_DIR/containerd
	CTRD_SOCK=$CTRD_DIR/containerd.sock
	KUBELET_DIR=$NODE_DIR/kubelet
	# Keyed by node name, so that one DaemonSet mounts each node's own
	# (subPathExpr: $(NODE_NAME), hack/local-overlay.sh).
	NODE_BPF=$RUN/bpf/$NODE_NAME
	NODE_AGENT=$RUN/agent/$NODE_NAME
	NODE_RUNC=$RUN/runc/$NODE_NAME
}

# node_load: the selected node's settings as it was made, once it was.
node_load() {
	local v
	if [ -f "$NODE_DIR/env" ]; then
		# shellcheck disable=SC1091 # written by node_save
		. "$NODE_DIR/env"
	fi
	for v in "${NODE_VARS[@]}"; do [ -n "${!v:-}" ] || die "node $NODE_DIR: $v unknown"; done
	node_paths
}

node_save() {
	local v
	mkdir -p "$NODE_DIR"
	chmod 700 "$NODE_DIR"
	[ ! -f "$NODE_DIR/env" ] || return 0
	for v in "${NODE_VARS[@]}"; do printf '%s=%q\n' "$v" "${!v}"; done >"$NODE_DIR/env.tmp"
	mv "$NODE_DIR/env.tmp" "$NODE_DIR/env"
}

# node_use_main: the node of `up --node` (its processes are containerd and
# kubelet), from SHELLAUDIT_* as long as it was not made.
node_use_main() {
	NODE_DIR=$RUN/node
	NODE_SUFFIX=
	NODE_NAME=${SHELLAUDIT_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
	POD_CIDR=${SHELLAUDIT_POD_CIDR:-10.244.0.0/24}
	CNI_BRIDGE=${SHELLAUDIT_CNI_BRIDGE:-sa-cni0}
	CGROUP_ROOT=${SHELLAUDIT_CGROUP_ROOT:-/}
	KUBELET_PORT=${SHELLAUDIT_KUBELET_PORT:-10250}
	KUBELET_HEALTHZ_PORT=${SHELLAUDIT_KUBELET_HEALTHZ_PORT:-10248}
	node_load
}

# node_use NAME: a node added with node-add (containerd-NAME, kubelet-NAME).
node_use() {
	NODE_DIR=$RUN/nodes/$1
	NODE_SUFFIX=-$1
	[ -f "$NODE_DIR/env" ] || die "no node $1 in $RUN (hack/cluster.sh node-add $1)"
	node_load
}

# node_added: the names of the nodes added with node-add.
node_added() {
	local f d
	for f in "$RUN"/nodes/*/env; do
		[ -f "$f" ] || continue
		d=${f%/env}
		echo "${d##*/}"
	done
}

# node_define NAME: selects node NAME to add (or the one made before),
# with settings from SHELLAUDIT_ADD_*, else derived from the first node's
# and the new node's rank, so that nothing is shared.
node_define() {
	local name=$1 k bridge cidr root port hz a b c
	if [ -f "$RUN/nodes/$name/env" ]; then
		node_use "$name"
		return 0
	fi
	node_use_main
	[ "$name" != "$NODE_NAME" ] || die "$name is the cluster's first node"
	bridge=$CNI_BRIDGE cidr=$POD_CIDR root=$CGROUP_ROOT port=$KUBELET_PORT hz=$KUBELET_HEALTHZ_PORT
	k=$(($(node_added | wc -l) + 1))
	NODE_DIR=$RUN/nodes/$name
	NODE_SUFFIX=-$name
	NODE_NAME=$name
	CNI_BRIDGE=${SHELLAUDIT_ADD_CNI_BRIDGE:-${bridge:0:12}n$k}
	if [ -n "${SHELLAUDIT_ADD_POD_CIDR:-}" ]; then
		POD_CIDR=$SHELLAUDIT_ADD_POD_CIDR
	else
		[[ $cidr =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)\.0/24$ ]] ||
			die "pod range $cidr is not a /24: set SHELLAUDIT_ADD_POD_CIDR"
		a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]}
		[ $((c + k)) -le 255 ] || die "no /24 after $cidr: set SHELLAUDIT_ADD_POD_CIDR"
		POD_CIDR=$a.$b.$((c + k)).0/24
	fi
	root=${root%/}
	CGROUP_ROOT=${SHELLAUDIT_ADD_CGROUP_ROOT:-${root:-/shellaudit}-$name}
	KUBELET_PORT=${SHELLAUDIT_ADD_KUBELET_PORT:-$((port + 100 * k))}
	KUBELET_HEALTHZ_PORT=${SHELLAUDIT_ADD_KUBELET_HEALTHZ_PORT:-$((hz + 100 * k))}
	{ [ "$CNI_BRIDGE" != "$bridge" ] && [ "$POD_CIDR" != "$cidr" ] && [ "$CGROUP_ROOT" != "${root:-/}" ]; } ||
		die "node $name would share the bridge, pod range or cgroup root of the first node"
	node_paths
}

# Host paths that containerd, CNI and the kubelet make whatever their
# configuration says (deepest first); `down` removes those this node made.
NODE_HOST_DIRS=(/run/containerd/s /run/containerd /run/netns /var/lib/cni/results /var/lib/cni
	/var/log/containers /var/lib/kubelet/device-plugins /var/lib/kubelet
	/usr/libexec/kubernetes/kubelet-plugins/volume/exec
	/usr/libexec/kubernetes/kubelet-plugins/volume /usr/libexec/kubernetes/kubelet-plugins
	/usr/libexec/kubernetes)
# Kernel settings the kubelet and the CNI bridge plugin change.
NODE_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
	kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward)

kctl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_node() { timeout 30 ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# port_in_use_on ADDR PORT: whether something listens on ADDR:PORT.
port_in_use_on() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# --- up --------------------------------------------------------------------------

node_preflight() {
	local b
	[ "$(id -u)" = 0 ] || die "a node needs root (containers, mounts, interfaces)"
	[[ $RUN != *[[:space:]]* ]] || die "the state dir '$RUN' must not contain white space"
	# sun_path holds 107 bytes; containerd adds ".ttrpc" to its socket.
	[ ${#CTRD_SOCK} -le 100 ] || die "state dir path too long for containerd's socket ($CTRD_SOCK)"
	for b in kubelet kube-controller-manager kube-scheduler kubectl; do
		[ -x "$KUBE_BIN/$b" ] || die "$KUBE_BIN/$b is missing; build it with hack/kube-build.sh --node (make kube)"
	done
	for b in containerd containerd-shim-runc-v2 runc ctr iptables ip; do
		command -v "$b" >/dev/null || die "$b is missing (make deps)"
	done
	for b in bridge host-local loopback; do
		[ -x "$CNI_BIN_DIR/$b" ] || die "CNI plugin $CNI_BIN_DIR/$b is missing (make deps: containernetworking-plugins)"
	done
	[[ $NODE_NAME =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
		die "node name '$NODE_NAME' is not a DNS subdomain (set SHELLAUDIT_NODE_NAME)"
	[ ${#CNI_BRIDGE} -le 15 ] || die "interface name $CNI_BRIDGE is longer than 15 characters"
	[[ $CGROUP_ROOT == /* ]] || die "SHELLAUDIT_CGROUP_ROOT=$CGROUP_ROOT is not an absolute cgroup path"
	[ -n "$(node_cgroup_mounts)" ] || die "no cgroup file system is mounted"
}

# node_address ADVERTISE: the node IP, which the API server also advertises:
# SHELLAUDIT_NODE_IP, else ADVERTISE unless it is loopback, else the address
# of a dummy interface made here (a machine with no network at all).
node_address() {
	local a=${SHELLAUDIT_NODE_IP:-$1}
	if [[ $a == 127.* ]]; then
		a=${NODE_DUMMY_CIDR%/*}
		if ! ip link show "$NODE_DUMMY" >/dev/null 2>&1; then
			log "no address but loopback: making dummy interface $NODE_DUMMY with $NODE_DUMMY_CIDR"
			mkdir -p "$NODE_DIR"
			# A kernel without the dummy driver (CONFIG_DUMMY) still has
			# bridges: an empty one holds an address as well.
			ip link add "$NODE_DUMMY" type dummy 2>/dev/null ||
				ip link add "$NODE_DUMMY" type bridge ||
				die "cannot create interface $NODE_DUMMY (neither dummy nor bridge)"
			echo "$NODE_DUMMY" >"$NODE_DIR/dummy"
			{ ip addr add "$NODE_DUMMY_CIDR" dev "$NODE_DUMMY" &&
				ip link set "$NODE_DUMMY" up; } || die "cannot configure $NODE_DUMMY"
		fi
	fi
	[[ $a =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die "node IP '$a' is not an IPv4 address"
	echo "$a"
}

# node_check_control_plane ADVERTISE: a control plane started without a node
# listens on loopback only; pods could not reach it.
node_check_control_plane() {
	local pid cmd
	pid=$(proc_pid kube-apiserver)
	[ -n "$pid" ] || return 0
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	[[ $cmd == *"--bind-address=$APISERVER_BIND "* && $cmd == *"--advertise-address=$1 "* ]] ||
		die "the running kube-apiserver does not listen on $APISERVER_BIND or advertise $1 as a node needs; run hack/cluster.sh down first"
}

kube-controller-manager_check_ports() {
	check_port_free kube-controller-manager "$KCM_PORT" SHELLAUDIT_KCM_PORT
}
kube-scheduler_check_ports() {
	check_port_free kube-scheduler "$SCHEDULER_PORT" SHELLAUDIT_SCHEDULER_PORT
}
containerd_check_ports() {
	[ ! -S "$CTRD_SOCK" ] || ! ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 ||
		die "a containerd not started by this script serves $CTRD_SOCK"
}
kubelet_check_ports() {
	local b
	# Another node of this cluster (node-add) must not be given the same.
	for b in $(node_others_bridges); do
		[ "$b" != "$CNI_BRIDGE" ] || die "bridge $CNI_BRIDGE is another node's (set SHELLAUDIT_ADD_CNI_BRIDGE)"
	done
	check_port_free "kubelet healthz" "$KUBELET_HEALTHZ_PORT" SHELLAUDIT_KUBELET_HEALTHZ_PORT
	! port_in_use_on "$(<"$RUN/advertise-address")" "$KUBELET_PORT" ||
		die "kubelet port $KUBELET_PORT is in use by another program (set SHELLAUDIT_KUBELET_PORT)"
}

# node_others_bridges: the bridges of the cluster's other nodes.
node_others_bridges() {
	local f
	for f in "$RUN/node/env" "$RUN"/nodes/*/env; do
		{ [ -f "$f" ] && [ "$f" != "$NODE_DIR/env" ]; } || continue
		# shellcheck disable=SC1090 # a node's env file (node_save)
		(. "$f" && echo "$CNI_BRIDGE")
	done
}

# node_pki NODE_IP: the node's certificates, signed by the cluster CA (the
# controller-manager's and scheduler's with the first node).
node_pki() {
	local ip=$1 client='keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth' kc=kubelet-client$NODE_SUFFIX ks=kubelet$NODE_SUFFIX
	(
		umask 077
		# The Node authorizer knows a kubelet by this name and group.
		if [ ! -f "$PKI/$kc.crt" ] ||
			! openssl x509 -in "$PKI/$kc.crt" -noout -subject |
			grep -q "CN *= *system:node:$NODE_NAME\$"; then
			pki_sign "$kc" "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
		fi
		if [ ! -f "$PKI/$ks.crt" ] ||
			! openssl x509 -in "$PKI/$ks.crt" -noout -checkip "$ip" | grep -q 'does match'; then
			pki_sign "$ks" "/CN=$NODE_NAME" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$NODE_NAME,IP:$ip,IP:127.0.0.1"
		fi
		[ -n "$NODE_SUFFIX" ] || [ -f "$PKI/kube-controller-manager.crt" ] ||
			pki_sign kube-controller-manager "/CN=system:kube-controller-manager" "$client"
		[ -n "$NODE_SUFFIX" ] || [ -f "$PKI/kube-scheduler.crt" ] ||
			pki_sign kube-scheduler "/CN=system:kube-scheduler" "$client"
	)
	kubeconfig_write "$NODE_DIR/kubelet.kubeconfig" "$kc"
	[ -z "$NODE_SUFFIX" ] || return 0
	kubeconfig_write "$NODE_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
	kubeconfig_write "$NODE_DIR/kube-scheduler.kubeconfig" kube-scheduler
}

# node_cgroup_mounts: the mount points of every cgroup hierarchy (v1 and v2).
node_cgroup_mounts() {
	awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5 }' \
		/proc/self/mountinfo
}

# node_save_host_state: what `down` puts back, recorded once per node.
node_save_host_state() {
	local d k
	if [ ! -f "$NODE_DIR/host-dirs" ]; then
		for d in "${NODE_HOST_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done >"$NODE_DIR/host-dirs"
	fi
	if [ ! -f "$NODE_DIR/sysctls" ]; then
		for k in "${NODE_SYSCTLS[@]}"; do
			[ -r "/proc/sys/$k" ] && echo "$k $(<"/proc/sys/$k")"
		done >"$NODE_DIR/sysctls.tmp"
		mv "$NODE_DIR/sysctls.tmp" "$NODE_DIR/sysctls"
	fi
}

# node_has_cap BIT: whether the bounding set of this shell holds capability BIT.
node_has_cap() {
	local bnd
	bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
	(((0x$bnd >> $1) & 1))
}

node_write_configs() {
	local svc=$1 ip=$2 restrict_oom=false
	# Without CAP_SYS_RESOURCE (24) nobody here can lower an oom_score_adj,
	# and runc fails on the -998 the kubelet asks for the sandbox: clamp
	# to containerd's own value instead, as for rootless containerd.
	if ! node_has_cap 24; then
		log "no CAP_SYS_RESOURCE on this machine: containers keep oom_score_adj >= $(</proc/self/oom_score_adj)"
		restrict_oom=true
	fi
	mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam" "$CTRD_DIR" "$KUBELET_DIR" "$NODE_DIR/pod-logs"
	# The network is named after the bridge, so that two nodes on a machine
	# keep apart in CNI's cache (/var/lib/cni/results/<name>-...). No ipMasq:
	# pods only talk to this host, and it would add iptables rules.
	cat >"$NODE_DIR/cni/net.d/10-shellaudit.conflist" <<-EOF
	{
	  "cniVersion": "1.0.0",
	  "name": "$CNI_BRIDGE",
	  "plugins": [
	    {
	      "type": "bridge",
	      "bridge": "$CNI_BRIDGE",
	      "isGateway": true,
	      "ipMasq": false,
	      "hairpinMode": true,
	      "ipam": {
	        "type": "host-local",
	        "dataDir": "$NODE_DIR/cni/ipam",
	        "ranges": [[{ "subnet": "$POD_CIDR" }]],
	        "routes": [{ "dst": "0.0.0.0/0" }]
	      }
	    }
	  ]
	}
	EOF
	cat >"$CTRD_DIR/config.toml" <<-EOF
	# containerd for the shellaudit local node $NODE_NAME ($RUN); written by hack/cluster.sh.
	version = 2
	root = "$CTRD_DIR/root"
	state = "$CTRD_DIR/state"
	disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
	  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

	[grpc]
	  address = "$CTRD_SOCK"

	[plugins."io.containerd.internal.v1.opt"]
	  path = "$CTRD_DIR/opt"

	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "$PAUSE_IMAGE"
	  stream_server_address = "127.0.0.1"
	  stream_server_port = "0"
	  enable_selinux = false
	  restrict_oom_score_adj = $restrict_oom
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    snapshotter = "overlayfs"
	    default_runtime_name = "runc"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
	        SystemdCgroup = false
	        Root = "$NODE_RUNC"
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "$CNI_BIN_DIR"
	    conf_dir = "$NODE_DIR/cni/net.d"
	    max_conf_num = 1
	EOF
	# Eviction and image GC thresholds are low: the images cannot be pulled
	# again, and a busy developer disk must not evict the demo.
	cat >"$NODE_DIR/kubelet.yaml" <<-EOF
	apiVersion: kubelet.config.k8s.io/v1beta1
	kind: KubeletConfiguration
	address: $ip
	port: $KUBELET_PORT
	readOnlyPort: 0
	healthzBindAddress: 127.0.0.1
	healthzPort: $KUBELET_HEALTHZ_PORT
	tlsCertFile: $PKI/kubelet$NODE_SUFFIX.crt
	tlsPrivateKeyFile: $PKI/kubelet$NODE_SUFFIX.key
	authentication:
	  anonymous:
	    enabled: false
	  webhook:
	    enabled: true
	  x509:
	    clientCAFile: $PKI/ca.crt
	authorization:
	  mode: Webhook
	cgroupDriver: cgroupfs
	cgroupRoot: $CGROUP_ROOT
	failCgroupV1: false
	containerRuntimeEndpoint: unix://$CTRD_SOCK
	podLogsDir: $NODE_DIR/pod-logs
	failSwapOn: false
	makeIPTablesUtilChains: false
	clusterDomain: cluster.local
	resolvConf: /etc/resolv.conf
	serializeImagePulls: false
	imageGCHighThresholdPercent: 100
	imageGCLowThresholdPercent: 99
	evictionHard:
	  memory.available: 100Mi
	  nodefs.available: 1%
	  nodefs.inodesFree: 1%
	  imagefs.available: 1%
	EOF
}

# node_iptables_rule: the DNAT rule standing in for kube-proxy for the
# kubernetes Service, as iptables arguments after the table.
node_iptables_rule() {
	local svc=$1 ip=$2
	echo "PREROUTING -i $CNI_BRIDGE -d $svc/32 -p tcp --dport 443 -m comment --comment shellaudit:$RUN -j DNAT --to-destination $ip:$APISERVER_PORT"
}

# node_prepare ADVERTISE SERVICE_IP: certificates, configs, cgroup root,
# what `down` restores, and the Service rule; all idempotent.
node_prepare() {
	local ip=$1 svc=$2 mp rule
	node_save
	PAUSE_IMAGE=$("$HACK/images.sh" ref pause)
	# The first node keeps what the machine was like; later ones would find
	# it changed by the first.
	[ -n "$NODE_SUFFIX" ] || node_save_host_state
	node_pki "$ip"
	node_write_configs "$svc" "$ip"
	# The agent's pinned capture state, on a BPF file system of this node
	# alone: unmounting it in `down` releases whatever is pinned there.
	mkdir -p "$NODE_BPF" "$NODE_AGENT" "$NODE_RUNC"
	mountpoint -q "$NODE_BPF" || mount -t bpf bpf "$NODE_BPF" ||
		die "cannot mount a BPF file system on $NODE_BPF"
	# The kubelet wants its cgroup root to exist in every hierarchy.
	if [ "$CGROUP_ROOT" != / ]; then
		for mp in $(node_cgroup_mounts); do mkdir -p "$mp$CGROUP_ROOT"; done
	fi
	rule=$(node_iptables_rule "$svc" "$ip")
	# shellcheck disable=SC2086 # the rule is words without spaces inside
	if ! iptables -w -t nat -C $rule 2>/dev/null; then
		iptables -w -t nat -A $rule || die "cannot add the iptables rule for the kubernetes Service"
		echo "$rule" >>"$NODE_DIR/iptables"
		log "kubernetes Service $svc:443 -> $ip:$APISERVER_PORT for pods on $CNI_BRIDGE (iptables nat)"
	fi
}

kube-controller-manager_start() {
	local kc=$NODE_DIR/kube-controller-manager.kubeconfig
	proc_start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
		--kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--cert-dir="$NODE_DIR/kcm-certs" \
		--root-ca-file="$PKI/ca.crt" \
		--service-account-private-key-file="$PKI/sa.key" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--use-service-account-credentials=true \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--cluster-name=shellaudit \
		--leader-elect=false \
		--profiling=false
	wait_for kube-controller-manager kube-controller-manager_ready
}

kube-controller-manager_ready() {
	curl -sfk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz" | grep -qx ok
}

kube-scheduler_start() {
	local kc=$NODE_DIR/kube-scheduler.kubeconfig
	proc_start kube-scheduler "$KUBE_BIN/kube-scheduler" \
		--kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
		--cert-dir="$NODE_DIR/scheduler-certs" \
		--leader-elect=false \
		--profiling=false
	wait_for kube-scheduler kube-scheduler_ready
}

kube-scheduler_ready() {
	curl -sfk --max-time 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz" | grep -qx ok
}

containerd_start() {
	proc_start "containerd$NODE_SUFFIX" containerd --config "$CTRD_DIR/config.toml"
	wait_for "containerd$NODE_SUFFIX" containerd_ready
}

containerd_ready() {
	ctr --address "$CTRD_SOCK" version >/dev/null 2>&1
}

kubelet_start() {
	# The sandbox image cannot be pulled: it must be there first.
	SHELLAUDIT_RUN=$RUN SHELLAUDIT_CONTAINERD_SOCK=$CTRD_SOCK "$HACK/images.sh" import pause
	proc_start "kubelet$NODE_SUFFIX" "$KUBE_BIN/kubelet" \
		--config="$NODE_DIR/kubelet.yaml" \
		--kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
		--root-dir="$KUBELET_DIR" \
		--cert-dir="$KUBELET_DIR/pki" \
		--volume-plugin-dir="$KUBELET_DIR/volume-plugins" \
		--hostname-override="$NODE_NAME" \
		--node-ip="$(<"$RUN/advertise-address")" \
		--pod-infra-container-image="$PAUSE_IMAGE" \
		--v=1
	wait_for "kubelet$NODE_SUFFIX" kubelet_ready
}

kubelet_ready() {
	curl -sf --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" | grep -qx ok
}

node_is_ready() {
	[ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

node_default_sa() { kctl get serviceaccount default -n default -o name; }

node_up_done() {
	wait_for "kubelet$NODE_SUFFIX" node_is_ready
	# Pods are refused until the controller-manager made this one.
	wait_for kube-controller-manager node_default_sa
	log "node $NODE_NAME Ready (IP $(<"$RUN/advertise-address"), pods $POD_CIDR on $CNI_BRIDGE, containerd $CTRD_SOCK)"
}

node_ready_status() {
	if node_is_ready; then
		log "node $NODE_NAME: Ready"
	else
		log "node $NODE_NAME: not Ready"
		return 1
	fi
}

# --- down ------------------------------------------------------------------------

# node_delete_pods: every pod deleted through the API while the kubelets
# run, so that they stop them the normal way (CNI DEL, volumes unmounted).
# The controllers that would make new pods are stopped first.
node_delete_pods() {
	local deadline
	proc_stop kube-scheduler
	proc_stop kube-controller-manager
	[ -n "$(proc_pid kubelet)" ] && [ -n "$(proc_pid kube-apiserver)" ] && apiserver_readyz || return 0
	[ -n "$(kctl get pods -A -o name 2>/dev/null)" ] || return 0
	log "deleting every pod of the cluster's nodes"
	kctl delete pods -A --all --grace-period=1 --wait=false >/dev/null 2>&1 || true
	deadline=$((SECONDS + 60))
	while [ -n "$(kctl get pods -A -o name 2>/dev/null)" ]; do
		if [ $SECONDS -ge $deadline ]; then
			log "pods still there after 60s; killing the rest through containerd"
			return 0
		fi
		sleep 0.5
	done
}

# node_kill_containers: what the kubelet left, killed and deleted through
# containerd; the network namespaces of those sandboxes are noted for
# node_unmount.
node_kill_containers() {
	local id ns
	[ -n "$(proc_pid containerd)" ] && containerd_ready || return 0
	for id in $(ctr_node tasks ls -q 2>/dev/null); do
		ctr_node tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctr_node tasks ls -q 2>/dev/null); do
		ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctr_node containers ls -q 2>/dev/null); do
		ns=$(ctr_node containers info "$id" 2>/dev/null |
			grep -o '"/var/run/netns/cni-[0-9a-f-]*"' | tr -d '"') || true
		# A sandbox: its network namespace and CNI cache entries stay
		# behind when CNI DEL never ran.
		[ -z "$ns" ] || printf '%s %s\n' "$id" "$ns" >>"$NODE_DIR/sandboxes"
		ctr_node containers delete "$id" >/dev/null 2>&1 || true
	done
}

# node_kill_shims: containerd does not stop its shims when it exits.
node_kill_shims() {
	local pid
	for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $CTRD_SOCK( |\$)"); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# node_cgroups_remove: the pods' cgroups, after killing whatever still runs in
# them (only after the kubelet and containerd are gone).
node_cgroups_remove() {
	local mp dir pid _
	for mp in $(node_cgroup_mounts); do
		dir=$mp${CGROUP_ROOT%/}/kubepods
		[ -d "$dir" ] || continue
		for _ in 1 2 3 4 5; do
			pid=$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | head -1)
			[ -n "$pid" ] || break
			# shellcheck disable=SC2038 # xargs reads PIDs, not file names
			find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
			sleep 0.2
		done
		find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ ! -d "$dir" ] || log "warning: cannot remove cgroup $dir"
	done
	if [ "$CGROUP_ROOT" != / ]; then
		for mp in $(node_cgroup_mounts); do
			[ ! -d "$mp$CGROUP_ROOT" ] || rmdir "$mp$CGROUP_ROOT" 2>/dev/null ||
				log "warning: cannot remove cgroup $mp$CGROUP_ROOT"
		done
	fi
}

# node_mounts: mount points under the node's dir and its BPF file system,
# deepest first (the kernel's names: symlinks in the state dir's path
# resolved).
node_mounts() {
	awk -v p="$(realpath -m -- "$NODE_DIR")/" -v b="$(realpath -m -- "$NODE_BPF")" \
		'index($5, p) == 1 || $5 == b || index($5, b "/") == 1 { print length($5), $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2-
}

node_unmount() {
	local m _
	# Mounts under a shared mount come back as peers: go again until none.
	for _ in 1 2 3; do
		for m in $(node_mounts); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	if [ -f "$NODE_DIR/sandboxes" ]; then
		cut -d' ' -f2 "$NODE_DIR/sandboxes" | sort -u | while read -r m; do
			umount "$m" 2>/dev/null || true
			rm -f "$m"
		done
	fi
}

node_network_remove() {
	local ifc rule id
	if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
		for ifc in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
			ip link del "$ifc" 2>/dev/null || true
		done
		ip link del "$CNI_BRIDGE" || log "warning: cannot delete bridge $CNI_BRIDGE"
	fi
	if [ -f "$NODE_DIR/dummy" ]; then
		ifc=$(<"$NODE_DIR/dummy")
		ip link del "$ifc" 2>/dev/null || true
	fi
	if [ -f "$NODE_DIR/iptables" ]; then
		while read -r rule; do
			# shellcheck disable=SC2086
			while iptables -w -t nat -C $rule 2>/dev/null; do
				iptables -w -t nat -D $rule || break
			done
		done <"$NODE_DIR/iptables"
	fi
	rm -f /var/lib/cni/results/"$CNI_BRIDGE"-*
	if [ -f "$NODE_DIR/sandboxes" ]; then
		while read -r id _; do
			rm -f "/var/lib/cni/results/cni-loopback-$id-lo"
		done <"$NODE_DIR/sandboxes"
	fi
}

# node_host_restore: sysctls and host directories as they were, unless
# another kubelet (another local node) still relies on them.
node_host_restore() {
	local k v d
	local pid others=""
	# A kubelet stopped a moment ago can linger as a zombie: not a user.
	for pid in $(pgrep -x kubelet); do
		proc_alive "$pid" && others+=" $pid"
	done
	if [ -n "$others" ]; then
		log "another kubelet runs (pid$others): sysctls and shared host directories stay as they are"
		return 0
	fi
	if [ -f "$NODE_DIR/sysctls" ]; then
		while read -r k v; do
			[ "$(cat "/proc/sys/$k" 2>/dev/null)" = "$v" ] || echo "$v" >"/proc/sys/$k" 2>/dev/null ||
				log "warning: cannot restore $k to $v"
		done <"$NODE_DIR/sysctls"
	fi
	if [ -f "$NODE_DIR/host-dirs" ]; then
		while read -r d; do
			# The kubelet's device plugin socket ignores --root-dir.
			[ "$d" != /var/lib/kubelet/device-plugins ] || rm -f "$d/kubelet.sock"
			[ -z "$d" ] || rmdir "$d" 2>/dev/null || true
		done <"$NODE_DIR/host-dirs"
	fi
}

# node_log_links_remove: the kubelet's /var/log/containers links into this
# node's pod logs (it removes them only with containers it garbage-collects).
node_log_links_remove() {
	local l t real
	real=$(realpath -m -- "$NODE_DIR")
	for l in /var/log/containers/*.log; do
		[ -L "$l" ] || continue
		t=$(readlink -- "$l")
		if [[ $t == "$NODE_DIR/"* || $t == "$real/"* ]]; then
			rm -f -- "$l"
		fi
	done
	return 0
}

# node_teardown: the selected node's processes, containers, mounts,
# network, cgroups and state, once its pods are gone.
node_teardown() {
	local left
	proc_stop "kubelet$NODE_SUFFIX"
	node_kill_containers
	proc_stop "containerd$NODE_SUFFIX"
	node_kill_shims
	node_cgroups_remove
	node_unmount
	node_network_remove
	node_log_links_remove
	[ -n "$NODE_SUFFIX" ] || node_host_restore
	left=$(node_mounts)
	if [ -n "$left" ]; then
		log "error: mounts left under $NODE_DIR or $NODE_BPF, not removing them: $left"
		return 1
	fi
	rmdir -- "$NODE_BPF" 2>/dev/null || true
	rm -rf -- "${NODE_DIR:?}" "${NODE_AGENT:?}" "${NODE_RUNC:?}"
	log "node $NODE_NAME down"
}

# node_down: every node of the cluster, the added ones first (the first
# node puts the machine's settings back once no kubelet of it runs).
node_down() {
	local n ok=0
	node_use_main
	node_delete_pods
	for n in $(node_added); do
		node_use "$n"
		node_teardown || ok=1
	done
	if [ -d "$RUN/node" ]; then
		node_use_main
		node_teardown || ok=1
	fi
	rmdir -- "$RUN/nodes" "$RUN/bpf" "$RUN/agent" "$RUN/runc" 2>/dev/null || true
	return $ok
}
