/* SPDX-License-Identifier: Apache-2.0 */
/* Tracepoints by name, for BPF programs attached through a perf event: the
 * id from a tracefs (where one is mounted, or an instance mounted nowhere
 * for the moment), and the perf event. Errors are returned, never logged. */
#ifndef SHELLAUDIT_TRACEPOINT_H
#define SHELLAUDIT_TRACEPOINT_H

#include <stdbool.h>

/* Opens the root of a tracefs: /sys/kernel/tracing or
 * /sys/kernel/debug/tracing where one is mounted, else a new tracefs
 * instance attached to no mount point (fsopen(2)/fsmount(2), which wants
 * CAP_SYS_ADMIN; nothing is left behind once the fd is closed). *detached
 * says which. Returns an O_PATH directory fd the caller closes, or -errno. */
int tracepoint_fs_open(bool *detached);

/* The id of tracepoint category/name ("syscalls", "sys_exit_read") under a
 * tracefs root, or -errno (-ENOENT: the kernel has no such tracepoint). */
long tracepoint_id(int tracefs, const char *category, const char *name);

/* A perf event counting tracepoint id (all processes; a BPF program
 * attached to it runs on every CPU). Returns the fd or -errno. */
int tracepoint_perf_open(long id);

#endif
