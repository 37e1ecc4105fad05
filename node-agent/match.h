/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who opened a session: the pending sessions the controller's webhook
 * recorded (ShellAuditSessions of this node) against a session root the
 * kernel saw. No I/O, no clock of its own: times are the node's monotonic
 * nanoseconds, the pendings' stamped when the agent received them, so that
 * no two clocks are compared.
 *
 * Strongest first:
 *  1. the container's own processes (no root entered from outside): the
 *     ephemeral container kubectl debug added, or the pod kubectl debug
 *     node/NODE made, names its opener (EphemeralContainer, DebugPod):
 *     every pending session claiming it counts (those naming the pod's UID
 *     over those naming none), and different people claiming it leave it
 *     Ambiguous, all listed; otherwise nobody opened them (Workload);
 *  2. a root entered from outside (runc exec, nsenter): the admitted execs
 *     of the same pod and container, with the same argv, terminal and
 *     stdin, received within [exec - before, exec + after], not taken by an
 *     earlier root. One person among them: Matched (AdmissionTuple; the
 *     earliest one is taken). Several people: Ambiguous, every candidate
 *     listed, none taken. None: Unattributed, with the reason.
 */
#ifndef SHELLAUDIT_MATCH_H
#define SHELLAUDIT_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum match_kind {
	MATCH_EXEC,
	MATCH_ATTACH,
	MATCH_PORTFORWARD,
	MATCH_EPHEMERAL,
	MATCH_DEBUGPOD,
};

enum match_stdin {
	MATCH_STDIN_UNKNOWN,
	MATCH_STDIN_NONE, /* /dev/null: no stdin was asked for */
	MATCH_STDIN_PIPE, /* a pipe or FIFO: kubectl exec -i */
	MATCH_STDIN_TTY,  /* the terminal */
	MATCH_STDIN_OTHER,
};

/* A pending session as received. Strings are the caller's. */
struct match_pending {
	const char *name; /* the session ID */
	const char *ns, *pod, *pod_uid, *container;
	const char *const *argv;
	size_t argc;
	const char *username, *uid;
	uint64_t received_ns;
	/* The small fields last, together: no padding between pointers. */
	enum match_kind kind;
	bool argv_truncated;
	bool tty, stdin;
	bool consumed; /* taken by a root (set by match_decide) */
};

/* A session root (or, own, the container's own processes). */
struct match_root {
	const char *ns, *pod, *pod_uid, *container;
	bool own;
	bool have_argv; /* its exec was seen */
	const char *const *argv;
	size_t argc;
	bool argv_truncated;
	int tty; /* 1, 0, -1 unknown */
	enum match_stdin in;
	uint64_t exec_ns;
};

struct match_window {
	uint64_t before_ns; /* a pending may come this long before the exec */
	uint64_t after_ns;  /* ...or this long after it (the decision's delay) */
};

enum match_status { MATCH_MATCHED, MATCH_AMBIGUOUS, MATCH_UNATTRIBUTED, MATCH_WORKLOAD };
enum match_method { MATCH_BY_NONE, MATCH_BY_EPHEMERAL, MATCH_BY_DEBUGPOD, MATCH_BY_TUPLE };

#define MATCH_MAX_CANDIDATES 16

struct match_result {
	enum match_status status;
	enum match_method method;
	long chosen;			   /* index of the pending (Matched), else -1 */
	size_t cand[MATCH_MAX_CANDIDATES]; /* Ambiguous: indexes, earliest first */
	size_t ncand;
	char reason[512]; /* "" when there is nothing to say */
};

/* Decides who opened r among the n pendings p (the chosen one is marked
 * consumed). */
void match_decide(const struct match_root *r, struct match_pending *p, size_t n,
		  const struct match_window *w, struct match_result *out);

const char *match_status_name(enum match_status s);
const char *match_method_name(enum match_method m);
const char *match_stdin_name(enum match_stdin in);

#endif
