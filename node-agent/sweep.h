/* SPDX-License-Identifier: Apache-2.0 */
/* Marking the processes a container already has when it becomes a target.
 * The kernel marks those that come later (see bpf/shellaudit.bpf.c): a
 * task created by a marked one, or one seen in the container's mount
 * namespace. What runs before the target is added may have left that
 * namespace already (unshare -Urm bash), so the sweep takes, besides the
 * processes in the namespace, those whose cgroup names the container (a
 * container ID target) and every descendant of one of them, wherever it
 * went. */
#ifndef SHELLAUDIT_SWEEP_H
#define SHELLAUDIT_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../bpf/shellaudit.h"

struct capture;

/* The container being swept. */
struct sweep_scope {
	uint32_t id; /* the target id */
	uint64_t mntns; /* its mount namespace inode (the kernel map's key) */
	uint64_t nsid; /* its mount namespace id, 0 unknown */
	pid_t init; /* its init */
	const char *cid; /* its container ID (bare hex), or NULL for a pid target */
};

/* One process of the node as the sweep sees it. */
struct sweep_proc {
	pid_t pid, ppid;
	uint64_t start; /* clock ticks since boot */
	bool direct;	/* in the container's mount namespace or cgroup */
	/* Filled by sweep_container, on a session's root (the init for the
	 * container's own tree): the stdin its marks carry, once read. */
	bool stdin_read;
	uint32_t stdin_ino;
	/* Filled by sweep_plan: */
	int member; /* 1 in the container, 0 not, -1 not decided yet */
	pid_t root; /* its session root (0: the container's own tree) */
	uint64_t root_start;
};

/*
 * Decides, for procs[0..n) (sorted by pid), which belong to the container
 * of `init`: those marked direct, and every descendant of one (by ppid,
 * whatever namespaces it is in). A member whose parent is not one entered
 * from outside and is its own session root, unless it is the init;
 * others inherit their parent's. Returns the number of members.
 */
size_t sweep_plan(struct sweep_proc *procs, size_t n, pid_t init);

/* What a sweep found before marking: a process already in other
 * namespaces (or under another root) than the container's init. The
 * header is filled as the kernel would (target, pids, uid, session,
 * comm, session root); the event is valid during the callback. */
typedef void (*sweep_found_fn)(void *arg, const struct sa_ns_event *ev);

struct sweep_stats {
	unsigned int marked; /* tasks (threads included) marked now */
	unsigned int had_mark; /* members the kernel had marked already */
	unsigned int failed; /* members that could not be marked */
	unsigned int passes;
};

/* Marks the container's processes and their threads, in passes until one
 * finds nothing new (what forked meanwhile), at most a few. A session's
 * marks carry its root's stdin as it is now (a pipe or socket: a session
 * opened with kubectl exec -i before the target keeps its input recorded
 * from here on), the container's own processes' marks the init's (a pipe
 * when the container has stdin open: kubectl attach -i). Returns 0 or a
 * negative errno (/proc unreadable). */
int sweep_container(struct capture *c, const struct sweep_scope *scope, sweep_found_fn found,
		    void *arg, struct sweep_stats *out);

#endif
