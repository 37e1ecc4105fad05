// SPDX-License-Identifier: Apache-2.0
/* JSON-lines sink: one object per entry. What came from a container (the
 * line, argv, filename) is written as it is when it can be shown as it is
 * (escape_needed); when any of an entry's can not, all of them go through
 * escape_text (no control character, valid UTF-8, reversible with
 * escape_unescape) and the entry says "escaped":true. The command name
 * (comm, which the process sets itself: prctl(PR_SET_NAME), its
 * /proc/PID/comm) is escaped alone when it must be, and says so apart
 * ("comm_escaped":true): a name never makes the typed text escaped. Then
 * JSON's own quoting of '"' and '\'. The names the agent was given
 * (container, reason) are always escaped. An entry made from a ring
 * buffer record (line, exec, namespace) carries the record's "key"
 * (eventkey.h): an agent started after one that died reads the file's
 * tail back for them (sink_jsonl_handled), so what was written before the
 * kill is not written again. A read that completed several lines may have
 * reached the file in part: it is handled again, and the lines of it found
 * there are not written twice. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "clock.h"
#include "escape.h"

struct sink_jsonl {
	struct sink base;
	FILE *f;
	int owns_file;
	char *buf; /* the line being built */
	size_t len, cap;
	char *esc; /* escape_text scratch */
	size_t esc_cap;
	int failed;
	/* The file ended in a line a kill cut: the first entry ends it
	 * first, so that it is a line of its own (sink_jsonl_handled reads
	 * the cut one for what it is before that). */
	bool cut;
	/* Keys of the lines of reads a dead agent wrote, found by
	 * sink_jsonl_handled: their reads go through again, for the lines it
	 * did not write, and these are not written twice. */
	char (*parts)[EVENTKEY_MAX];
	size_t nparts, parts_cap;
};

static int sink_jsonl_grow(struct sink_jsonl *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 4096;
	char *b;

	if (s->len + more + 1 <= s->cap)
		return 0;
	while (cap < s->len + more + 1)
		cap *= 2;
	b = realloc(s->buf, cap);
	if (!b) {
		s->failed = 1;
		return -ENOMEM;
	}
	s->buf = b;
	s->cap = cap;
	return 0;
}

static void sink_jsonl_raw(struct sink_jsonl *s, const char *str, size_t n)
{
	if (sink_jsonl_grow(s, n))
		return;
	memcpy(s->buf + s->len, str, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void sink_jsonl_fmt(struct sink_jsonl *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sink_jsonl_fmt(struct sink_jsonl *s, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sink_jsonl_raw(s, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Appends n bytes as a JSON string: escaped first (escape_text) when
 * escape is set, else as they are (they must pass escape_needed). */
static void sink_jsonl_str(struct sink_jsonl *s, const void *src, size_t n, bool escape)
{
	size_t need = (escape ? escape_text(NULL, 0, src, n) : n) + 1;
	char *e;

	if (need > s->esc_cap) {
		e = realloc(s->esc, need);
		if (!e) {
			s->failed = 1;
			return;
		}
		s->esc = e;
		s->esc_cap = need;
	}
	if (escape) {
		escape_text(s->esc, s->esc_cap, src, n);
	} else {
		if (n)
			memcpy(s->esc, src, n);
		s->esc[n] = '\0';
	}
	/* JSON quoting at most doubles a byte (\" and \\); a control byte,
	 * six, never gets here. */
	if (sink_jsonl_grow(s, 2 * need + 2))
		return;
	s->buf[s->len++] = '"';
	s->len += escape_json(s->buf + s->len, 2 * need, s->esc);
	s->buf[s->len++] = '"';
	s->buf[s->len] = '\0';
}

static void sink_jsonl_key(struct sink_jsonl *s, const char *key)
{
	sink_jsonl_fmt(s, ",\"%s\":", key);
}

static const char *sink_jsonl_kind(enum sink_kind k)
{
	switch (k) {
	case SINK_SESSION_START:
		return "session_start";
	case SINK_LINE:
		return "line";
	case SINK_EXEC:
		return "exec";
	case SINK_SESSION_END:
		return "session_end";
	case SINK_LOST:
		return "lost";
	case SINK_NAMESPACE:
		return "namespace";
	case SINK_OFF:
		return "off";
	}
	return "unknown";
}

/* A monotonic time as an RFC 3339 string. */
static void sink_jsonl_when(struct sink_jsonl *s, uint64_t mono)
{
	int64_t ns = (int64_t)mono + clock_wall_offset_ns();
	time_t sec = (time_t)(ns / 1000000000);
	char ts[40];
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	sink_jsonl_fmt(s, "\"%s.%09" PRId64 "Z\"", ts, ns % 1000000000);
}

static void sink_jsonl_time(struct sink_jsonl *s, uint64_t mono)
{
	sink_jsonl_raw(s, "{\"time\":", 8);
	sink_jsonl_when(s, mono);
}

/* Whether any of what came from the container, its command name aside,
 * must be escaped. */
static bool sink_jsonl_needs_escape(const struct sink_entry *e)
{
	size_t i, start;

	if (e->kind == SINK_LINE)
		return escape_needed(e->text, e->text_len);
	if (e->kind == SINK_NAMESPACE)
		return (e->text && escape_needed(e->text, e->text_len)) ||
		       (e->root_name && escape_needed(e->root_name, strnlen(e->root_name, 64)));
	if (e->kind == SINK_OFF)
		return (e->text && escape_needed(e->text, e->text_len)) ||
		       (e->reason && escape_needed(e->reason, strlen(e->reason)));
	if (e->kind != SINK_EXEC)
		return false;
	if (escape_needed(e->filename, e->filename_len) ||
	    (e->unlinked && escape_needed(e->unlinked, e->unlinked_len)))
		return true;
	for (i = 0, start = 0; i <= e->text_len; i++) {
		if (i < e->text_len && e->text[i] != '\0')
			continue;
		if (escape_needed(e->text + start, i - start))
			return true;
		start = i + 1;
	}
	return false;
}

/* Whether e is a line the dead agent wrote (see parts): it is taken out
 * of them, once. */
static bool sink_jsonl_written(struct sink_jsonl *s, const struct sink_entry *e)
{
	char key[EVENTKEY_MAX];
	size_t i;

	if (!s->nparts || e->kind != SINK_LINE || e->source == SINK_SOURCE_READLINE)
		return false;
	sink_entry_key(e, key, sizeof(key));
	for (i = 0; i < s->nparts; i++)
		if (!strcmp(s->parts[i], key)) {
			memcpy(s->parts[i], s->parts[--s->nparts], sizeof(s->parts[i]));
			return true;
		}
	return false;
}

static int sink_jsonl_write(struct sink *base, const struct sink_entry *e)
{
	struct sink_jsonl *s = (struct sink_jsonl *)base;
	size_t i, start;
	bool esc;

	if (sink_jsonl_written(s, e))
		return 0;
	esc = sink_jsonl_needs_escape(e);
	s->len = 0;
	s->failed = 0;
	sink_jsonl_time(s, e->ts);
	sink_jsonl_fmt(s, ",\"kind\":\"%s\"", sink_jsonl_kind(e->kind));
	if (e->container) {
		sink_jsonl_key(s, "container");
		sink_jsonl_str(s, e->container, strlen(e->container), true);
	}
	sink_jsonl_fmt(s, ",\"mntns\":%" PRIu64 ",\"cgroup\":%" PRIu64, e->mntns, e->cgroup);
	if (e->kind == SINK_LOST) {
		sink_jsonl_fmt(s,
			       ",\"lost_lines\":%" PRIu64 ",\"lost_execs\":%" PRIu64
			       ",\"lost_exits\":%" PRIu64,
			       e->lost_lines, e->lost_execs, e->lost_exits);
		if (e->lost_ns)
			sink_jsonl_fmt(s, ",\"lost_namespace_changes\":%" PRIu64, e->lost_ns);
		if (e->unmarked)
			sink_jsonl_fmt(s, ",\"unmarked_processes\":%" PRIu64, e->unmarked);
		if (e->lost_reads)
			sink_jsonl_fmt(s, ",\"lost_terminal_reads\":%" PRIu64, e->lost_reads);
		goto done;
	}
	if (e->kind == SINK_OFF) {
		if (e->since) {
			sink_jsonl_raw(s, ",\"since\":", 9);
			sink_jsonl_when(s, e->since);
		}
		sink_jsonl_key(s, "reason");
		sink_jsonl_str(s, e->reason ? e->reason : "", e->reason ? strlen(e->reason) : 0,
			       esc);
		sink_jsonl_key(s, "text");
		sink_jsonl_str(s, e->text ? e->text : "", e->text_len, esc);
		goto done;
	}
	sink_jsonl_fmt(s, ",\"session\":%u,\"seq\":%" PRIu64, e->session, e->seq);
	sink_jsonl_fmt(s, ",\"pid\":%u,\"tid\":%u,\"ppid\":%u,\"uid\":%u", e->pid, e->tid, e->ppid,
		       e->uid);
	if (e->kind == SINK_LINE || e->kind == SINK_EXEC || e->kind == SINK_NAMESPACE) {
		char key[EVENTKEY_MAX];

		sink_entry_key(e, key, sizeof(key));
		sink_jsonl_fmt(s, ",\"key\":\"%s\"", key);
	}
	if (e->comm) {
		size_t n = strnlen(e->comm, 16);
		bool comm_esc = escape_needed(e->comm, n);

		sink_jsonl_key(s, "comm");
		sink_jsonl_str(s, e->comm, n, comm_esc);
		if (comm_esc)
			sink_jsonl_raw(s, ",\"comm_escaped\":true", 20);
	}
	if (e->session_root)
		sink_jsonl_fmt(s, ",\"session_root\":%u", e->session_root);
	switch (e->kind) {
	case SINK_LINE:
		sink_jsonl_key(s, "line");
		sink_jsonl_str(s, e->text, e->text_len, esc);
		sink_jsonl_fmt(s, ",\"truncated\":%s", e->truncated ? "true" : "false");
		if (e->eof)
			sink_jsonl_raw(s, ",\"eof\":true", 11);
		if (e->recovered)
			sink_jsonl_raw(s, ",\"recovered\":true", 17);
		sink_jsonl_fmt(s, ",\"source\":\"%s\"", sink_source_name(e->source));
		if (e->inexact)
			sink_jsonl_raw(s, ",\"inexact\":true", 15);
		if (e->no_newline)
			sink_jsonl_raw(s, ",\"no_newline\":true", 18);
		if (e->echo_off)
			sink_jsonl_raw(s, ",\"echo_off\":true", 16);
		break;
	case SINK_EXEC:
		sink_jsonl_key(s, "filename");
		sink_jsonl_str(s, e->filename, e->filename_len, esc);
		if (e->unlinked) {
			sink_jsonl_key(s, "unlinked");
			sink_jsonl_str(s, e->unlinked, e->unlinked_len, esc);
		}
		if (e->ia32)
			sink_jsonl_raw(s, ",\"ia32\":true", 12);
		sink_jsonl_raw(s, ",\"argv\":[", 9);
		for (i = 0, start = 0; i <= e->text_len; i++) {
			if (i < e->text_len && e->text[i] != '\0')
				continue;
			/* A trailing NUL ends the last argument; a cut-off
			 * argument still counts as one. */
			if (i == e->text_len && start == i)
				break;
			if (start)
				sink_jsonl_raw(s, ",", 1);
			sink_jsonl_str(s, e->text + start, i - start, esc);
			start = i + 1;
		}
		sink_jsonl_fmt(s, "],\"argc\":%u,\"truncated\":%s", e->argc,
			       e->truncated ? "true" : "false");
		break;
	case SINK_NAMESPACE:
		sink_jsonl_fmt(s, ",\"how\":\"%s\"", e->how ? e->how : "changed");
		if (e->child)
			sink_jsonl_fmt(s, ",\"child\":%u", e->child);
		sink_jsonl_raw(s, ",\"namespaces\":{", 15);
		for (i = 0; i < e->nns; i++)
			sink_jsonl_fmt(s, "%s\"%s\":[%" PRIu64 ",%" PRIu64 "]", i ? "," : "",
				       e->ns[i].type, e->ns[i].from, e->ns[i].to);
		sink_jsonl_raw(s, "}", 1);
		if (e->root_name) {
			sink_jsonl_key(s, "root_name");
			sink_jsonl_str(s, e->root_name, strnlen(e->root_name, 64), esc);
		}
		sink_jsonl_key(s, "text");
		sink_jsonl_str(s, e->text ? e->text : "", e->text_len, esc);
		break;
	case SINK_SESSION_END:
		sink_jsonl_fmt(s, ",\"exit_code\":%d", e->exit_code);
		if (e->reason) {
			sink_jsonl_key(s, "reason");
			sink_jsonl_str(s, e->reason, strlen(e->reason), true);
		}
		break;
	default:
		break;
	}
done:
	if (esc)
		sink_jsonl_raw(s, ",\"escaped\":true", 15);
	sink_jsonl_raw(s, "}\n", 2);
	if (s->failed)
		return -ENOMEM;
	if (s->cut && fputc('\n', s->f) == EOF)
		return -EIO;
	s->cut = false;
	if (fwrite(s->buf, 1, s->len, s->f) != s->len)
		return -EIO;
	return 0;
}

/* The last bytes of f, a regular file that is not empty: at most max of
 * them, in *out (caller frees), *len of them; -1 when there are none to
 * read. f is open to append only: it is read through a second open of the
 * same file (not of its path, which may name another file now). */
static int sink_jsonl_tail(FILE *f, size_t max, char **out, size_t *len)
{
	char self[64];
	struct stat st;
	ssize_t got = -1;
	int fd = fileno(f), rfd;
	size_t n;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if ((rfd = open(self, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
	if ((*out = malloc(n)))
		got = pread(rfd, *out, n, st.st_size - (off_t)n);
	close(rfd);
	if (got <= 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*len = (size_t)got;
	return 0;
}

/* What a restart reads back of the output's end: more than the entries of
 * the CAPTURE_CHUNK records a dead agent can have written unreleased. */
#define SINK_JSONL_TAIL (4u << 20)

/* Keeps key, a line of a read handled again (see parts); false without
 * room. */
static bool sink_jsonl_part_add(struct sink_jsonl *s, const char *key)
{
	char(*p)[EVENTKEY_MAX];
	size_t cap;

	if (s->nparts == s->parts_cap) {
		cap = s->parts_cap ? 2 * s->parts_cap : 16;
		if (!(p = realloc(s->parts, cap * sizeof(*p))))
			return false;
		s->parts = p;
		s->parts_cap = cap;
	}
	snprintf(s->parts[s->nparts++], EVENTKEY_MAX, "%s", key);
	return true;
}

/* Reads the last SINK_JSONL_TAIL bytes of a regular output file back, for
 * the keys written there. Only the agent writes a "key" in raw form: in a
 * JSON string a '"' is escaped, so a typed line never forges one. A read
 * is not taken as written when one of its lines is: it may have completed
 * more that never reached the file. It goes through again, and the lines
 * found are kept so as not to be written twice (without room for them, it
 * is taken as written, as before). */
static void sink_jsonl_handled(struct sink *base, const struct capture_event *evs, size_t n,
			       bool *out)
{
	struct sink_jsonl *s = (struct sink_jsonl *)base;
	static const char tag[] = "\"key\":\"";
	char(*want)[EVENTKEY_MAX] = NULL, key[EVENTKEY_MAX];
	char *tail = NULL;
	const char *p, *end, *q, *quote;
	size_t got, i;

	if (!n || fflush(s->f) || sink_jsonl_tail(s->f, SINK_JSONL_TAIL, &tail, &got) < 0)
		return;
	if (!(want = calloc(n, sizeof(*want))))
		goto out;
	for (i = 0; i < n; i++)
		eventkey_of(evs[i].hdr, want[i], sizeof(want[i]));
	/* Only whole lines: one the kill cut (stdio had written its head,
	 * the rest was in its buffer) holds the key and not the entry, which
	 * must be written again. */
	if (!(end = memrchr(tail, '\n', got)))
		goto out;
	for (p = tail; (q = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1)); p = quote) {
		q += sizeof(tag) - 1;
		quote = memchr(q, '"', (size_t)(end - q));
		if (!quote)
			break;
		if ((size_t)(quote - q) >= sizeof(key))
			continue;
		memcpy(key, q, (size_t)(quote - q));
		key[quote - q] = '\0';
		for (i = 0; i < n; i++)
			if (eventkey_is(key, want[i]) &&
			    (!eventkey_is_read(want[i]) || !sink_jsonl_part_add(s, key)))
				out[i] = true;
	}
out:
	free(want);
	free(tail);
}

static int sink_jsonl_flush(struct sink *base)
{
	struct sink_jsonl *s = (struct sink_jsonl *)base;

	return fflush(s->f) ? -errno : 0;
}

static void sink_jsonl_close(struct sink *base)
{
	struct sink_jsonl *s = (struct sink_jsonl *)base;

	fflush(s->f);
	if (s->owns_file)
		fclose(s->f);
	free(s->buf);
	free(s->esc);
	free(s->parts);
	free(s);
}

int sink_jsonl_open_stream(void *file, struct sink **out)
{
	struct sink_jsonl *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.write = sink_jsonl_write;
	s->base.flush = sink_jsonl_flush;
	s->base.close = sink_jsonl_close;
	s->base.settle = sink_jsonl_flush;
	s->base.handled = sink_jsonl_handled;
	s->f = file;
	*out = &s->base;
	return 0;
}

/* Whether f, a regular file, ends in a line a kill cut (no newline). */
static bool sink_jsonl_cut(FILE *f)
{
	char *last;
	size_t n;
	bool cut;

	if (sink_jsonl_tail(f, 1, &last, &n) < 0)
		return false;
	cut = last[0] != '\n';
	free(last);
	return cut;
}

int sink_jsonl_open(const char *path, struct sink **out)
{
	FILE *f;
	int err;

	if (!path || strcmp(path, "-") == 0)
		return sink_jsonl_open_stream(stdout, out);
	f = fopen(path, "ae");
	if (!f)
		return -errno;
	err = sink_jsonl_open_stream(f, out);
	if (err) {
		fclose(f);
		return err;
	}
	((struct sink_jsonl *)*out)->owns_file = 1;
	((struct sink_jsonl *)*out)->cut = sink_jsonl_cut(f);
	return 0;
}
