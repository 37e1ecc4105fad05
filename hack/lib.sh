# SPDX-License-Identifier: Apache-2.0
# Shared settings of the hack/ scripts. Sourced, not run.

KUBE_VERSION=${KUBE_VERSION:-v1.32.13}
SHELLAUDIT_CACHE=${SHELLAUDIT_CACHE:-/var/cache/shellaudit}
KUBE_BIN=${KUBE_BIN:-$SHELLAUDIT_CACHE/kube-$KUBE_VERSION/bin}
# A bash linking the system's libreadline.so.8, for the BPF tests
# (hack/bash-readline.sh).
BASH_RL_VERSION=${BASH_RL_VERSION:-5.2.15}
BASH_RL=${BASH_RL:-$SHELLAUDIT_CACHE/bash-$BASH_RL_VERSION-libreadline/bash}
# State of a running local cluster: PKI, etcd data, logs, kubeconfig.
SHELLAUDIT_RUN=${SHELLAUDIT_RUN:-/var/run/shellaudit/cluster}

log() { printf '%s hack: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
