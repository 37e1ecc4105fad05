/* SPDX-License-Identifier: Apache-2.0 */
/* Finding a container's processes on this node and what identifies it to
 * the kernel (mount namespace inode, cgroup id). */
#ifndef SHELLAUDIT_CONTAINER_H
#define SHELLAUDIT_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONTAINER_ID_MAX 129 /* 64 hex digits for containerd, CRI-O, docker */

struct container_ident {
	uint64_t mntns; /* inode of /proc/PID/ns/mnt */
	/* The mount namespace's id (NS_GET_MNTNS_ID), never reused unlike the
	 * inode; 0 on kernels without it. */
	uint64_t nsid;
	uint64_t cgroup; /* cgroup v2 id (0 when there is no v2 hierarchy) */
	uint64_t start; /* when the process started: clock ticks since boot */
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

/*
 * Finds the container's init process: the one its runtime recorded, from a
 * runc state.json (init_process_pid, checked against its start time) under
 * one of `roots` (colon-separated runtime state directories, e.g.
 * /run/containerd/runc; the file is ROOT/ID/state.json or
 * ROOT/NAMESPACE/ID/state.json), else the oldest process whose cgroup
 * paths (v1 and v2 lines of /proc/PID/cgroup) name the container: the
 * first process of a container is its init, and a process its user makes
 * later is younger whatever its pid (pids wrap). *how gets which way it was
 * found. Returns 0 or -ESRCH.
 */
int container_find_init(const char *id, const char *roots, pid_t *pid, const char **how);

/* Reads init_process_pid and init_process_start of a runc state.json held
 * in json (n bytes). 0, or -EINVAL when they are not there. */
int container_runtime_state_parse(const char *json, size_t n, pid_t *pid, uint64_t *start);

/* What /proc/PID/stat says of a process. */
struct container_stat {
	pid_t ppid;
	pid_t sid; /* its session leader */
	uint64_t start; /* clock ticks since boot */
};

/* 0 or a negative errno. */
int container_proc_stat(pid_t pid, struct container_stat *out);

/* True when one of the cgroup paths of pid names container id. */
bool container_pid_in(pid_t pid, const char *id);

/* The id of the mount namespace open at nsfd, or 0 when the kernel has no
 * such ids (before NS_GET_MNTNS_ID). */
uint64_t container_mntns_id(int nsfd);

/* The identity of the container that process pid runs in. */
int container_ident_of_pid(pid_t pid, struct container_ident *out);

/* Mount namespace inode of a process, or a negative errno. */
int container_mntns_of_pid(pid_t pid, uint64_t *mntns);

#endif
