/* Finding the readline a container's shells call: in the executable of a
 * process, in the libreadline/libedit it maps or links, or at the usual
 * shell paths inside the container root. Every file is reached through the
 * process (/proc/PID/exe, /proc/PID/map_files) or the container root
 * (rootfs.h), never through a host path. */
#ifndef SHELLAUDIT_DISCOVER_H
#define SHELLAUDIT_DISCOVER_H

#include <stdint.h>
#include <sys/types.h>

struct probe_set;

/* Probes the readline of process pid for `owner` when the process is in
 * mount namespace mntns. Returns 1 when a probe was attached now, 0 when
 * the process's readline was already probed or it has none, or a negative
 * errno (-ESRCH: the process is gone or not in the container). */
int discover_process(struct probe_set *ps, uint32_t owner, uint64_t mntns, pid_t pid);

/* Probes the readline users among the container's running processes and
 * at the usual shell and library paths of its root, seen through pid. */
int discover_container(struct probe_set *ps, uint32_t owner, uint64_t mntns, pid_t pid);

#endif
