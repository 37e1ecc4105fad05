/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who opened each session of the node's audited containers. The kernel
 * marks every process with its session root, the process that entered the
 * container from outside (runc exec's child, nsenter), or none for the
 * container's own processes; the agent tells this module of each root's
 * first event and exec (attrib_observe). A root is decided once its window
 * has closed (delay after its exec, so that a pending session the API
 * server's watch brings late is still seen), by match.c against the node's
 * pending sessions (pending.c); a Matched session whose ShellAuditSession
 * expects the audit log waits for it (audit_wait after the exec at most).
 * Each decision is handed to the journal callback once (the spool), and
 * the sink asks here for the attribution of every entry's session
 * (attrib_lookup): the decision, or ATTRIB_AWAIT until there is one.
 *
 * Owned by the agent's loop. Decided roots are kept (at most max_roots,
 * the least recently asked for going first) for the entries their
 * processes still make.
 */
#ifndef SHELLAUDIT_ATTRIB_H
#define SHELLAUDIT_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "match.h"
#include "pending.h"

/* attrib_lookup's "not decided yet". */
extern const cJSON attrib_await;
#define ATTRIB_AWAIT (&attrib_await)

struct attrib_opts {
	uint64_t before_ns;	/* a pending may come this long before an exec [10 s] */
	uint64_t delay_ns;	/* a root is decided this long after its exec [1 s] */
	uint64_t audit_wait_ns; /* ...or, waiting for the audit log, this long at most [5 s] */
	size_t max_roots;	/* [16384] */
};

/* What the kernel said of a root, at its first event and its exec. */
struct attrib_event {
	const char *cid;     /* the target's container ID */
	const cJSON *id;     /* its record identity (ns, pod, podUID, container) */
	uint32_t root;	     /* 0: the container's own processes */
	uint64_t root_start; /* the root's start, as the kernel keys it */
	uint64_t ts;	     /* the node's monotonic ns */
	bool exec;	     /* the root process's own exec: what follows is its */
	const char *argv;    /* NUL-separated */
	size_t argv_len;
	uint32_t argc; /* as the kernel counted it */
	bool truncated;
	int tty; /* 1, 0, -1 unknown */
	enum match_stdin in;
	/* A pipe or socket stdin whose reads are captured (terminal capture
	 * on for the target): its lines are entries with source stdin. */
	bool in_recorded;
};

struct attrib;

/* Journals a decision: 0, or <0 to be called again at the next tick. */
typedef int (*attrib_journal_fn)(void *arg, const char *cid, const char *root_key, const cJSON *id,
				 const cJSON *attr);

/* ps stays the caller's (NULL: no pending sessions, everything is
 * decided without). */
int attrib_new(const struct attrib_opts *o, struct pending_set *ps, attrib_journal_fn journal,
	       void *arg, struct attrib **out);
void attrib_free(struct attrib *a);

/* Keeps the decisions in the file at path too (JSON lines), so that an
 * agent restarted mid-session says of it what the one before said: the
 * decisions of roots that still run (and of containers' own processes) are
 * loaded now, the file rewritten with them, and each new one appended.
 * Logs what it cannot read; -errno when the file cannot be written. */
int attrib_persist(struct attrib *a, const char *path);

void attrib_observe(struct attrib *a, const struct attrib_event *ev);
/* The attribution of the sessions of root in container cid (a root this
 * module has not been told of counts as seen now, its exec unseen):
 * ATTRIB_AWAIT with root_key filled (the entry is spooled awaiting it),
 * or the decision (valid until the next call into this module). */
const cJSON *attrib_lookup(struct attrib *a, const char *cid, const cJSON *id, uint32_t root,
			   uint64_t root_start, uint64_t now, char *root_key, size_t cap);
/* Decides the roots that are due at now; returns how many. */
int attrib_tick(struct attrib *a, uint64_t now);
/* Milliseconds until the next root is due (-1: none waits). */
long attrib_wait_ms(const struct attrib *a, uint64_t now);
/* The container is no longer a target: its roots go. */
void attrib_forget(struct attrib *a, const char *cid);
/* Decides every waiting root now (the agent stops). */
void attrib_flush(struct attrib *a, uint64_t now);
size_t attrib_count(const struct attrib *a);

/* The root's key in the spool: "own" or "PID-START". */
void attrib_root_key(uint32_t root, uint64_t root_start, char *buf, size_t cap);

#endif
