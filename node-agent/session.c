// SPDX-License-Identifier: Apache-2.0
/* Grouping events into sessions (see session.h). Events arrive in ring
 * buffer order, which is the order the kernel reserved them in, so order
 * within a session is the order things happened. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "clock.h"
#include "sink.h"
#include "ttyline.h"

struct session {
	uint32_t target;
	uint32_t sid;
	uint64_t next_seq;
	uint64_t mntns, cgroup;
	char container[128];
};

struct session_table {
	struct sink *sink;
	struct session *s; /* unordered; open sessions are few */
	size_t n, cap;
};

int session_table_new(struct sink *sink, struct session_table **out)
{
	struct session_table *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->sink = sink;
	*out = st;
	return 0;
}

static void session_end(struct session_table *st, size_t i, uint64_t ts, int32_t code,
			const struct sa_event_hdr *h, const char *reason)
{
	struct session *s = &st->s[i];
	struct sink_entry e = {
		.kind = SINK_SESSION_END,
		.ts = ts,
		.container = s->container,
		.mntns = s->mntns,
		.cgroup = s->cgroup,
		.session = s->sid,
		.seq = s->next_seq,
		.pid = s->sid,
		.tid = s->sid,
		.exit_code = code,
		.reason = reason,
	};

	if (h) {
		e.ppid = h->ppid;
		e.uid = h->uid;
		e.comm = h->comm;
	}
	sink_write(st->sink, &e);
	st->s[i] = st->s[--st->n];
}

void session_table_free(struct session_table *st)
{
	uint64_t now = clock_now_ns();

	if (!st)
		return;
	while (st->n)
		session_end(st, st->n - 1, now, -1, NULL, "agent stopped");
	sink_flush(st->sink);
	free(st->s);
	free(st);
}

static long session_find(struct session_table *st, uint32_t target, uint32_t sid)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (st->s[i].target == target && st->s[i].sid == sid)
			return (long)i;
	return -1;
}

static void session_fill(struct sink_entry *e, const struct session *s,
			 const struct sa_event_hdr *h)
{
	e->ts = h->ts;
	e->container = s->container;
	e->mntns = h->mntns;
	e->cgroup = h->cgroup;
	e->session = s->sid;
	e->pid = h->tgid;
	e->tid = h->pid;
	e->ppid = h->ppid;
	e->uid = h->uid;
	e->comm = h->comm;
	e->session_root = h->root;
	e->session_root_start = h->root_start;
}

/* The names of enum sa_ns_type, and of the root bit after them. */
static const char *const session_ns_names[SA_NS_COUNT + 1] = {
	[SA_NS_MNT] = "mnt",	   [SA_NS_PID] = "pid",	  [SA_NS_NET] = "net",
	[SA_NS_UTS] = "uts",	   [SA_NS_IPC] = "ipc",	  [SA_NS_USER] = "user",
	[SA_NS_CGROUP] = "cgroup", [SA_NS_TIME] = "time", [SA_NS_ROOT] = "root",
};

/* Fills e's namespace fields from ev, with a one-line summary in buf:
 * "unshare, setns, chroot or pivot_root: mnt 4026532177 -> 4026532301,
 * root 0:52/2 -> 0:52/1311 (newroot)". */
static void session_ns(struct sink_entry *e, const struct sa_ns_event *ev, char *buf, size_t cap)
{
	size_t used;
	int i, n;

	e->how = ev->how == SA_NS_CLONED ? "clone" : ev->how == SA_NS_FOUND ? "found" : "changed";
	e->child = ev->how == SA_NS_CLONED ? ev->child : 0;
	if (ev->how == SA_NS_CLONED)
		n = snprintf(buf, cap, "clone into new namespaces (pid %u):", ev->child);
	else if (ev->how == SA_NS_FOUND)
		n = snprintf(buf, cap, "in other namespaces than the container's init when "
				       "auditing started:");
	else
		n = snprintf(buf, cap, "unshare, setns, chroot or pivot_root:");
	used = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	for (i = 0; i <= SA_NS_COUNT; i++) {
		if (!(ev->changed & (1u << i)))
			continue;
		e->ns[e->nns].type = session_ns_names[i];
		if (i == SA_NS_ROOT) {
			e->ns[e->nns].from = ev->from.root_ino;
			e->ns[e->nns].to = ev->to.root_ino;
			e->root_name = ev->root_name;
			n = snprintf(buf + used, cap - used,
				     "%s root %u:%u/%llu -> %u:%u/%llu (%.*s)", e->nns ? "," : "",
				     ev->from.root_dev >> 20, ev->from.root_dev & 0xfffff,
				     (unsigned long long)ev->from.root_ino, ev->to.root_dev >> 20,
				     ev->to.root_dev & 0xfffff, (unsigned long long)ev->to.root_ino,
				     (int)strnlen(ev->root_name, sizeof(ev->root_name)),
				     ev->root_name);
		} else {
			e->ns[e->nns].from = ev->from.ns[i];
			e->ns[e->nns].to = ev->to.ns[i];
			n = snprintf(buf + used, cap - used, "%s %s %u -> %u", e->nns ? "," : "",
				     session_ns_names[i], ev->from.ns[i], ev->to.ns[i]);
		}
		e->nns++;
		if (n > 0 && (size_t)n < cap - used)
			used += (size_t)n;
	}
	e->text = buf;
	e->text_len = used;
}

/* The session of h, opened (its session_start written) if it is new;
 * NULL when out of memory. */
static struct session *session_get(struct session_table *st, const struct sa_event_hdr *h,
				   const char *container)
{
	struct sink_entry e = { 0 };
	struct session *s;
	long i = session_find(st, h->target, h->sid);

	if (i >= 0)
		return &st->s[i];
	if (st->n == SESSION_MAX_OPEN)
		session_end(st, 0, h->ts, -1, NULL, "evicted");
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		struct session *p = realloc(st->s, cap * sizeof(*p));

		if (!p)
			return NULL;
		st->s = p;
		st->cap = cap;
	}
	s = &st->s[st->n++];
	memset(s, 0, sizeof(*s));
	s->target = h->target;
	s->sid = h->sid;
	s->mntns = h->mntns;
	s->cgroup = h->cgroup;
	snprintf(s->container, sizeof(s->container), "%s", container ? container : "");
	e.kind = SINK_SESSION_START;
	session_fill(&e, s, h);
	e.seq = s->next_seq++;
	sink_write(st->sink, &e);
	return s;
}

/* n readline lines of s were not recorded, past their rate (h: the
 * record that says so): an entry that says how many. */
static int session_lines_past(struct session_table *st, struct session *s,
			      const struct sa_event_hdr *h, uint32_t n)
{
	struct sink_entry e = { 0 };
	char note[96];
	int len = snprintf(note, sizeof(note), SESSION_LINES_PAST, n);

	session_fill(&e, s, h);
	e.seq = s->next_seq++;
	e.kind = SINK_LINE;
	e.text = note;
	e.text_len = (size_t)len;
	e.truncated = true;
	return sink_write(st->sink, &e);
}

int session_handle(struct session_table *st, const struct capture_event *ev,
		   const char *container)
{
	const struct sa_event_hdr *h = ev->hdr;
	struct sink_entry e = { 0 };
	struct session *s;
	char summary[512];
	long i;

	if (h->type == SA_EV_EXIT) {
		i = session_find(st, h->target, h->sid);
		/* Only the leader's exit matters: it ends the session. */
		if (i >= 0 && (h->flags & SA_F_SESSION_LEADER) && h->tgid == h->sid)
			session_end(st, (size_t)i, h->ts, ev->exit_code, h, "exit");
		return 0;
	}
	if (h->type == SA_EV_TTY)
		return 0; /* bytes, not lines: ttyline makes the lines */
	if (!(s = session_get(st, h, container)))
		return -ENOMEM;
	if (h->type == SA_EV_LINE && ev->skipped) {
		int r = session_lines_past(st, s, h, ev->skipped);

		if (r < 0 || (h->flags & SA_F_TTY_COUNT))
			return r;
	}
	session_fill(&e, s, h);
	e.seq = s->next_seq++;
	e.text = ev->text;
	e.text_len = ev->text_len;
	e.truncated = (h->flags & SA_F_TRUNCATED) != 0;
	if (h->type == SA_EV_LINE) {
		e.kind = SINK_LINE;
		e.eof = (h->flags & SA_F_EOF) != 0;
		e.recovered = (h->flags & SA_F_RECOVERED) != 0;
		/* The line as a `bind -x` command found it: maybe not the
		 * line run. */
		e.inexact = (h->flags & SA_F_BIND_X) != 0;
	} else if (h->type == SA_EV_NS) {
		e.kind = SINK_NAMESPACE;
		if (ev->ns)
			session_ns(&e, ev->ns, summary, sizeof(summary));
	} else {
		e.kind = SINK_EXEC;
		e.filename = ev->filename;
		e.filename_len = ev->filename_len;
		e.unlinked = ev->unlinked;
		e.unlinked_len = ev->unlinked_len;
		e.truncated |= (h->flags & SA_F_FILENAME_TRUNCATED) != 0;
		e.argc = ev->argc;
		e.ia32 = (h->flags & SA_F_EXEC_IA32) != 0;
	}
	return sink_write(st->sink, &e);
}

int session_handle_tty_line(struct session_table *st, const struct ttyline *l,
			    const char *container)
{
	struct sink_entry e = { 0 };
	struct session *s = session_get(st, l->hdr, container);

	if (!s)
		return -ENOMEM;
	session_fill(&e, s, l->hdr);
	e.seq = s->next_seq++;
	e.kind = SINK_LINE;
	e.source = (l->flags & TTYLINE_STDIN) ? SINK_SOURCE_STDIN : SINK_SOURCE_TERMINAL;
	e.text = l->text;
	e.text_len = l->len;
	e.truncated = (l->flags & TTYLINE_TRUNCATED) != 0;
	e.inexact = (l->flags & TTYLINE_INEXACT) != 0;
	e.no_newline = (l->flags & TTYLINE_NO_NEWLINE) != 0;
	e.echo_off = (l->flags & TTYLINE_ECHO_OFF) != 0;
	e.part = l->part;
	return sink_write(st->sink, &e);
}

void session_end_target(struct session_table *st, uint32_t target, const char *reason)
{
	uint64_t now = clock_now_ns();
	size_t i;

	for (i = 0; i < st->n;) {
		if (st->s[i].target == target)
			session_end(st, i, now, -1, NULL, reason);
		else
			i++;
	}
}

size_t session_count(const struct session_table *st)
{
	return st->n;
}
