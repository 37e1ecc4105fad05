/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the readline a container's shells call: in the executable of a
 * process, in the libreadline/libedit it maps or links, or at the usual
 * shell paths inside the container root. Every file is reached through the
 * process (/proc/PID/exe, /proc/PID/map_files) or the container root
 * (rootfs.h), never through a host path.
 *
 * Discovery is a queue of small units of work that discover_step() runs
 * within a time budget, so that what a container holds (many crafted
 * files, many processes, a file slow to read) delays its own discovery and
 * never the caller's loop. One unit examines at most one file (probe.h:
 * one parse, within the bounds of elfsym.h), or looks at most
 * DISCOVER_SCAN_BATCH entries of /proc, or reads one process's maps (at
 * most DISCOVER_MAPS_LINES lines). So discover_step(budget) returns within
 * budget + one unit: budget + ELFSYM_MAX_MS + one read of ELFSYM_READ_CHUNK
 * bytes, plus what the kernel takes to attach one uprobe. Containers take
 * turns, one unit each; within a container, processes from exec events and
 * the scan of its root and processes take turns.
 *
 * A discover object holds no state of the caller's loop: it owns its queue
 * and uses the probe set and the refused table it is given (whoever runs
 * discover_step owns those too; a worker thread may run it, with the
 * calls below made on that thread). Nothing here blocks but the file
 * system calls of one unit. */
#ifndef SHELLAUDIT_DISCOVER_H
#define SHELLAUDIT_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfsym.h"
#include "probe.h"

struct refused;

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

#define DISCOVER_STEP_MS 20	/* the agent's budget per loop turn */
#define DISCOVER_QUEUE_MAX 256	/* processes waiting per container */
#define DISCOVER_SCAN_BATCH 256 /* /proc entries looked at per unit */
#define DISCOVER_MAPS_LINES 65536
#define DISCOVER_REFUSED_MAX 64 /* refused files kept per container */
#define DISCOVER_PATH_MAX 256

/* A file of a container refused by the ELF bounds (probe.h). */
struct discover_refusal {
	char path[DISCOVER_PATH_MAX]; /* inside the container, escaped (escape.h) */
	char why[PROBE_WHY_MAX];
	char id[ELFSYM_ID_LEN];
};

struct discover;

/* Called from discover_step() when the first scan of a container ended,
 * with the number of probes it attached, or a negative errno when the
 * container's root could not be searched. It must not call back into d. */
typedef void discover_scanned_fn(void *arg, uint32_t owner, int probes);

/* ps and refused (may be NULL) are the caller's and outlive d. Caller
 * frees with discover_free(). */
int discover_new(struct probe_set *ps, struct refused *refused, discover_scanned_fn *scanned,
		 void *arg, struct discover **out);
void discover_free(struct discover *d);

/* The target id the kernel marked process pid with (a task of a container,
 * wherever its namespaces are now), or 0. Called from discover_step(),
 * without the caller's locks; it must not call back into d. */
typedef uint32_t discover_marked_fn(void *arg, pid_t pid);
/* Scans then take a process as owner's when fn says it is marked so, as
 * well as by its mount namespace. */
void discover_set_marked(struct discover *d, discover_marked_fn *fn, void *arg);

/*
 * The word that a process ended (discover_ended) comes from its exit
 * event, which the kernel sends before the process is gone. fn returns how
 * far the events' ring buffer is reserved (called from discover_step(),
 * without the caller's locks); discover_read() says how far its events
 * were read and handed over. A process found gone when fn said n makes a
 * scan owed once the events through n were handed over without its word;
 * without fn, at once.
 */
typedef uint64_t discover_reserved_fn(void *arg);
void discover_set_ring(struct discover *d, discover_reserved_fn *fn, void *arg);
void discover_read(struct discover *d, uint64_t n);

/*
 * Queues the discovery of a container for owner (a target id): the usual
 * shell and library paths of its root seen through process pid, then its
 * running processes. `name` names the container in logs. Called again for
 * the same owner, starts over. 0 or -ENOMEM.
 */
int discover_container(struct discover *d, uint32_t owner, const char *name,
		       const struct discover_scope *scope, pid_t pid);

/*
 * Queues process pid of owner's container, from its exec event at exec_ts
 * (CLOCK_MONOTONIC ns): a process the kernel marked as the container's, so
 * probed whatever its namespaces and root now. A program that imports readline from a library not
 * found yet is looked at again as its loader maps it (20 ms, 40 ms, ...
 * 320 ms later). Returns 0; -ESRCH when owner has no discovery queued;
 * -ENOSPC when the container's queue is full: its processes are then
 * scanned again, which finds this one if it still runs. A process gone
 * before its turn makes a scan of its container's processes too (one per
 * 2 s at most on the node, containers in turn), which finds what it forked
 * without an exec, unless its exit says it made no process
 * (discover_ended). So does an exec of a process that made processes
 * before (forked: SA_F_EXEC_FORKED) while its last exec still waits its
 * turn: the program it ran until now, which they may run, is not looked
 * at any more.
 */
int discover_process(struct discover *d, uint32_t owner, pid_t pid, uint64_t exec_ts, bool forked);

/*
 * Process pid of owner's container ended having made no process since its
 * exec (its exit event said so): it is not looked at, and its being gone
 * makes no scan owed (see discover_set_drains). Processes of that pid
 * queued or found gone before it are left as they are.
 */
void discover_ended(struct discover *d, uint32_t owner, pid_t pid);

/* Scans the processes of every container again: execs were not queued
 * (the caller's own queue of them overflowed). */
void discover_rescan_all(struct discover *d);

/* Drops owner's queue and refusals. */
void discover_forget(struct discover *d, uint32_t owner);

/* Runs queued units for about budget_ns (see the bound above) and saves
 * the refused table when it changed. Returns 1 when work is left that is
 * due now, else 0. */
int discover_step(struct discover *d, uint64_t budget_ns);

/* True when the first scan of every container queued is done. */
bool discover_scanned_all(const struct discover *d);

/* Milliseconds until queued work is due: 0 now, -1 when none is queued. */
long discover_wait_ms(const struct discover *d);

/* The files of owner's container refused so far (at most
 * DISCOVER_REFUSED_MAX, the first met). *out stays valid until the next
 * call that changes d. */
size_t discover_refused(const struct discover *d, uint32_t owner,
			const struct discover_refusal **out);

#endif
