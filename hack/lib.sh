# Shared settings of the hack/ scripts. Sourced, not run.

KUBE_VERSION=${KUBE_VERSION:-v1.32.13}
SHELLAUDIT_CACHE=${SHELLAUDIT_CACHE:-/var/cache/shellaudit}
KUBE_BIN=${KUBE_BIN:-$SHELLAUDIT_CACHE/kube-$KUBE_VERSION/bin}
# State of a running local cluster: PKI, etcd data, logs, kubeconfig.
SHELLAUDIT_RUN=${SHELLAUDIT_RUN:-/var/run/shellaudit/cluster}

log() { printf '%s hack: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
