/* SPDX-License-Identifier: Apache-2.0 */
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

/* What is inside a container: its mount namespace and the root directory
 * its processes see. A process in the namespace with another root (the
 * host's, e.g. a runtime helper that joined the namespace) is not in it. */
struct discover_scope {
	uint64_t mntns;
	dev_t root_dev;
	ino_t root_ino;
};

/* The scope of the container process pid runs in. */
int discover_scope_of_pid(pid_t pid, struct discover_scope *out);

/* Probes the readline of process pid for `owner` when the process is in
 * the scope; NULL scope: whatever its namespaces and root (a process the
 * kernel marked as the container's, which may have left them). Returns 1
 * when a probe was attached now, 0 when the process's readline was already
 * probed or it has none, or a negative errno (-ESRCH: the process is gone
 * or not in the container; -EAGAIN: it imports readline from a library not
 * found yet, try again once it is mapped). */
int discover_process(struct probe_set *ps, uint32_t owner, const struct discover_scope *scope,
		     pid_t pid);

/* Probes the readline users among the container's running processes and
 * at the usual shell and library paths of its root, seen through pid. */
int discover_container(struct probe_set *ps, uint32_t owner, const struct discover_scope *scope,
		       pid_t pid);

#endif
