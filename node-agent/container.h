/* SPDX-License-Identifier: Apache-2.0 */
/* Finding a container's processes on this node and what identifies it to
 * the kernel (mount namespace inode, cgroup id). */
#ifndef SHELLAUDIT_CONTAINER_H
#define SHELLAUDIT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONTAINER_ID_MAX 129 /* 64 hex digits for containerd, CRI-O, docker */

struct container_ident {
	uint64_t mntns; /* inode of /proc/PID/ns/mnt */
	uint64_t cgroup; /* cgroup v2 id (0 when there is no v2 hierarchy) */
};

/*
 * Strips the runtime scheme of a container ID as the kubelet reports it
 * ("containerd://ID", "cri-o://ID", "docker://ID" or a bare ID) into out.
 * Returns 0, or -EINVAL when the ID is not 12-128 hex digits.
 */
int container_parse_id(const char *spec, char *out, size_t cap);

/*
 * The container ID encoded in the last element of a cgroup path, for the
 * layouts of containerd, CRI-O and docker under the cgroupfs and systemd
 * drivers, e.g. /kubepods/burstable/pod<uid>/<id>,
 * /kubepods.slice/.../cri-containerd-<id>.scope, .../crio-<id>.scope,
 * /docker/<id>, /system.slice/docker-<id>.scope. CRI-O's conmon scope
 * (crio-conmon-<id>.scope) is not the container. Returns 0 or -ENOENT.
 */
int container_id_from_cgroup_path(const char *path, char *out, size_t cap);

/* Finds one process of the container (lowest pid) by the cgroup paths in
 * /proc/PID/cgroup, v1 and v2 lines alike. Returns 0 or -ESRCH. */
int container_find_pid(const char *id, pid_t *pid);

/* The identity of the container that process pid runs in. */
int container_ident_of_pid(pid_t pid, struct container_ident *out);

/* Mount namespace inode of a process, or a negative errno. */
int container_mntns_of_pid(pid_t pid, uint64_t *mntns);

#endif
