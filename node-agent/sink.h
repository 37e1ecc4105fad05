/* SPDX-License-Identifier: Apache-2.0 */
/* Where the entries of sessions go. A sink writes entries in the order it
 * gets them; the session module guarantees per-session order. */
#ifndef SHELLAUDIT_SINK_H
#define SHELLAUDIT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventkey.h"

struct capture_event;

enum sink_kind {
	SINK_SESSION_START,
	SINK_LINE,
	SINK_EXEC,
	SINK_SESSION_END,
	SINK_LOST, /* a gap: events dropped in the kernel */
	SINK_NAMESPACE, /* an audited process changed namespaces or root */
	SINK_OFF, /* capture was off for the container until now */
};

/* One namespace (or the root directory) a process left for another. */
struct sink_ns_change {
	const char *type; /* "mnt", "pid", "net", "uts", "ipc", "user", "cgroup", "time", "root" */
	uint64_t from, to; /* inode numbers */
};

#define SINK_NS_MAX 9

/* Where a line came from. */
enum sink_source {
	SINK_SOURCE_READLINE, /* the line readline returned */
	SINK_SOURCE_TERMINAL, /* rebuilt from what a process read from its terminal */
	/* rebuilt from what a process read from its session's stdin, a pipe
	 * or socket (kubectl exec -i without -t) */
	SINK_SOURCE_STDIN,
};

/* The name of a source in entries: "readline", "terminal" or "stdin". */
static inline const char *sink_source_name(enum sink_source s)
{
	return s == SINK_SOURCE_TERMINAL ? "terminal" :
	       s == SINK_SOURCE_STDIN	 ? "stdin" :
					   "readline";
}

struct sink_entry {
	enum sink_kind kind;
	uint64_t ts; /* CLOCK_MONOTONIC ns */
	const char *container; /* the target's name */
	uint64_t mntns;
	uint64_t cgroup;
	uint32_t session; /* pid of the session leader */
	uint64_t seq; /* 0 for session_start, then 1, 2, ... within the session */
	uint32_t pid, tid, ppid, uid;
	const char *comm; /* NUL-terminated, at most 16 bytes */
	/* pid of the process that entered the container from outside (kubectl
	 * exec, nsenter) this one descends from; 0 for the container's own */
	uint32_t session_root;
	uint64_t session_root_start; /* its start, as the kernel keys it */
	/* line: the bytes typed; exec: argv, NUL-separated; namespace and
	 * off: a summary for display */
	const char *text;
	size_t text_len;
	bool truncated;
	bool eof; /* line: readline returned NULL (Ctrl-D) */
	bool recovered; /* line: of a call running before the probe (SA_F_RECOVERED) */
	enum sink_source source; /* line */
	/* line: keys whose effect could not be known (terminal); the line a
	 * `bind -x` command ran on, as it stood (readline, SA_F_BIND_X) */
	bool inexact;
	bool no_newline; /* line (stdin): ended before its newline, see TTYLINE_NO_NEWLINE */
	bool echo_off; /* line (terminal): typed with echo off; text withheld */
	uint32_t part; /* line (terminal): lines the same read completed before it */
	const char *filename; /* exec */
	size_t filename_len;
	/* exec: the executed file had no link (a memfd, a deleted or an
	 * O_TMPFILE file): its own name, e.g. "memfd:NAME"; else NULL */
	const char *unlinked;
	size_t unlinked_len;
	uint32_t argc; /* exec: the count the kernel had */
	/* exec (x86): a 32-bit program (SA_F_EXEC_IA32), whose syscalls the
	 * syscall tracepoints do not see (see capture.h) */
	bool ia32;
	int32_t exit_code; /* session_end: wait(2) status of the leader, -1 unknown */
	const char *reason; /* session_end: "exit", "untargeted", "agent stopped"; off: why
			     * ("target-added", "no-capture-state", "capture-state-replaced") */
	uint64_t lost_lines, lost_execs, lost_exits, lost_ns; /* lost */
	uint64_t unmarked; /* lost: processes that could not be marked */
	/* namespace: "changed" (unshare, setns, chroot, pivot_root), "clone"
	 * (created in new namespaces: child is its pid) or "found" (when the
	 * container became a target) */
	const char *how;
	uint32_t child;
	struct sink_ns_change ns[SINK_NS_MAX];
	size_t nns;
	const char *root_name; /* namespace: the new root directory's name, when it changed */
	/* off: CLOCK_MONOTONIC ns the window began at (the container's
	 * start), 0 unknown */
	uint64_t since;
	uint64_t lost_reads; /* lost: terminal reads (each a keystroke or more) */
};

struct sink {
	int (*write)(struct sink *s, const struct sink_entry *e);
	int (*flush)(struct sink *s);
	void (*close)(struct sink *s);
	/* Optional (NULL: nothing to do). gather: while on, entries written
	 * may be kept in memory and written together, when it goes off or at
	 * settle. settle: what was written is handed to the kernel now, safe
	 * from the agent's death (not the machine's). */
	int (*gather)(struct sink *s, bool on);
	int (*settle)(struct sink *s);
	/* Optional (NULL: none known). Sets out[i] when this sink already
	 * wrote what evs[i] makes (its key, eventkey.h), as a previous agent
	 * that died did before it released the record. */
	void (*handled)(struct sink *s, const struct capture_event *evs, size_t n, bool *out);
};

/* The key of the ring buffer record entry e came from (eventkey.h): for a
 * line rebuilt from terminal or stdin reads, its read's and its part. */
static inline void sink_entry_key(const struct sink_entry *e, char *buf, size_t cap)
{
	if (e->kind == SINK_LINE && e->source != SINK_SOURCE_READLINE)
		eventkey_make(buf, cap, e->ts, e->tid, 't', &e->part);
	else
		eventkey_make(buf, cap, e->ts, e->tid,
			      e->kind == SINK_LINE	? 'l' :
			      e->kind == SINK_NAMESPACE ? 'n' :
							  'x',
			      NULL);
}

static inline void sink_handled(struct sink *s, const struct capture_event *evs, size_t n,
				bool *out)
{
	if (s->handled)
		s->handled(s, evs, n, out);
}

static inline int sink_gather(struct sink *s, bool on)
{
	return s->gather ? s->gather(s, on) : 0;
}

static inline int sink_settle(struct sink *s)
{
	return s->settle ? s->settle(s) : 0;
}

static inline int sink_write(struct sink *s, const struct sink_entry *e)
{
	return s->write(s, e);
}

static inline int sink_flush(struct sink *s)
{
	return s->flush(s);
}

static inline void sink_close(struct sink *s)
{
	if (s)
		s->close(s);
}

/* JSON lines: one object per entry on `path` (appended) or stdout when path
 * is NULL or "-". Caller frees with sink_close(). */
int sink_jsonl_open(const char *path, struct sink **out);
/* The same on an open stream the caller keeps owning (for tests). */
int sink_jsonl_open_stream(void *file, struct sink **out);

#endif
