// SPDX-License-Identifier: Apache-2.0
/* Rebuilding terminal lines (see ttyline.h). Streams are few (one per
 * process reading a terminal): an array searched in order, bounded by
 * TTYLINE_MAX_STREAMS; past it the least recently read stream is sent and
 * closed. At most one line per stream is held back: only the first line of
 * a readline call that began before the probes can be readline's (the
 * next calls are seen), so a new line sends the held one first. */
#include "ttyline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineedit.h"

struct ttyline_stream {
	uint32_t target, tgid, tty;
	uint32_t part;		 /* lines sent with hdr so far */
	struct sa_event_hdr hdr; /* of the last read: the unfinished line's */
	struct lineedit le; /* the line being read */
	unsigned flags; /* TTYLINE_* gathered for it */
	bool is_stdin;	/* a session's stdin (tty 0), not a terminal */
	/* The held line: text and hdr of the read that completed it. */
	bool held;
	struct sa_event_hdr held_hdr;
	char *held_text;
	size_t held_len;
	unsigned held_flags;
	uint32_t held_part;
};

struct ttyline_table {
	size_t line_max;
	ttyline_fn fn;
	void *arg;
	struct ttyline_stream *s;
	size_t n, cap;
	size_t nheld;
	size_t nstdin; /* streams that are a stdin */
};

int ttyline_table_new(size_t line_max, ttyline_fn fn, void *arg, struct ttyline_table **out)
{
	struct ttyline_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->line_max = line_max ? line_max : 1;
	t->fn = fn;
	t->arg = arg;
	*out = t;
	return 0;
}

static void ttyline_emit(struct ttyline_table *t, const struct sa_event_hdr *h, uint32_t tty,
			 const char *text, size_t len, unsigned flags, uint32_t part)
{
	struct ttyline l = { .hdr = h, .text = text, .len = len, .flags = flags, .tty = tty,
			     .part = part };

	t->fn(t->arg, &l);
}

static void ttyline_send_held(struct ttyline_table *t, struct ttyline_stream *s)
{
	if (!s->held)
		return;
	s->held = false;
	t->nheld--;
	ttyline_emit(t, &s->held_hdr, s->tty, s->held_text, s->held_len, s->held_flags,
		     s->held_part);
}

static void ttyline_drop_held(struct ttyline_table *t, struct ttyline_stream *s)
{
	if (s->held) {
		s->held = false;
		t->nheld--;
	}
}

/* The current line of s is complete (h: the read that completed it). */
static void ttyline_complete(struct ttyline_table *t, struct ttyline_stream *s,
			     const struct sa_event_hdr *h, bool hold)
{
	unsigned flags = s->flags;
	const char *text = s->le.buf ? s->le.buf : "";
	size_t len = s->le.len;
	char *copy;

	if (s->le.flags & LINEEDIT_INEXACT)
		flags |= TTYLINE_INEXACT;
	if (s->le.flags & LINEEDIT_TRUNCATED)
		flags |= TTYLINE_TRUNCATED;
	if (s->is_stdin)
		flags |= TTYLINE_STDIN;
	lineedit_clear(&s->le);
	s->flags = 0;
	/* An empty line is no line, unless keys made it so (a recalled
	 * history line run as it was). */
	if (len == 0 && !(flags & TTYLINE_INEXACT))
		return;
	if (flags & TTYLINE_ECHO_OFF) {
		text = TTYLINE_WITHHELD;
		len = strlen(TTYLINE_WITHHELD);
	}
	ttyline_send_held(t, s);
	if (hold && (copy = realloc(s->held_text, len ? len : 1))) {
		memcpy(copy, text, len);
		s->held_text = copy;
		s->held_len = len;
		s->held_flags = flags;
		s->held_hdr = *h;
		s->held_part = s->part++;
		s->held = true;
		t->nheld++;
		return;
	}
	ttyline_emit(t, h, s->tty, text, len, flags, s->part++);
}

/* The line s is reading ends where it is, before any newline (h: the
 * event that ends it). */
static void ttyline_cut(struct ttyline_table *t, struct ttyline_stream *s,
			const struct sa_event_hdr *h)
{
	if (s->is_stdin && s->le.len)
		s->flags |= TTYLINE_NO_NEWLINE;
	ttyline_complete(t, s, h, false);
}

/* Sends what s holds, its unfinished line too. */
static void ttyline_flush(struct ttyline_table *t, struct ttyline_stream *s)
{
	ttyline_send_held(t, s);
	ttyline_cut(t, s, &s->hdr);
}

static void ttyline_close(struct ttyline_table *t, size_t i)
{
	struct ttyline_stream *s = &t->s[i];

	ttyline_flush(t, s);
	lineedit_free(&s->le);
	free(s->held_text);
	if (s->is_stdin)
		t->nstdin--;
	/* The last stream takes the slot (none when it was the last), and
	 * the slot left unused is cleared: no copy of a pointer, freed or
	 * now s[i]'s, stays behind (one owner per buffer, which the static
	 * analyzer, following the fuzz target into here, can then see). */
	if (i != --t->n)
		t->s[i] = t->s[t->n];
	memset(&t->s[t->n], 0, sizeof(t->s[t->n]));
}

static struct ttyline_stream *ttyline_stream(struct ttyline_table *t, const struct sa_event_hdr *h,
					     uint32_t tty)
{
	struct ttyline_stream *s, *p;
	size_t i, oldest = 0;

	for (i = 0; i < t->n; i++) {
		s = &t->s[i];
		if (s->target == h->target && s->tgid == h->tgid && s->tty == tty)
			return s;
		if (s->hdr.ts < t->s[oldest].hdr.ts)
			oldest = i;
	}
	if (t->n == TTYLINE_MAX_STREAMS)
		ttyline_close(t, oldest);
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;

		if (!(p = realloc(t->s, cap * sizeof(*p))))
			return NULL;
		t->s = p;
		t->cap = cap;
	}
	s = &t->s[t->n++];
	memset(s, 0, sizeof(*s));
	s->target = h->target;
	s->tgid = h->tgid;
	s->tty = tty;
	s->is_stdin = h->flags & SA_F_TTY_STDIN;
	if (s->is_stdin)
		t->nstdin++;
	lineedit_init(&s->le, t->line_max);
	return s;
}

/* n bytes read into s where only LF ends a line (canonical mode, a
 * stdin): the editing, if any, is done already. */
static void ttyline_put_lines(struct ttyline_table *t, struct ttyline_stream *s,
			      const struct sa_event_hdr *h, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\n')
			ttyline_complete(t, s, h, false);
		else
			lineedit_put(&s->le, b[i]);
	}
}

/* Bytes of s were not recorded (h: the read that says so): the line being
 * read, if any, ends there, cut. */
static void ttyline_cut_short(struct ttyline_table *t, struct ttyline_stream *s,
			      const struct sa_event_hdr *h)
{
	if (s->le.len) {
		s->flags |= TTYLINE_TRUNCATED;
		ttyline_complete(t, s, h, false);
	}
}

/* Bytes of s were not recorded (h: the read that says so, note: the line
 * that says how many): the line being read ends there, cut, and note
 * follows it. */
static void ttyline_gap(struct ttyline_table *t, struct ttyline_stream *s,
			const struct sa_event_hdr *h, const char *note)
{
	ttyline_cut_short(t, s, h);
	ttyline_emit(t, h, s->tty, note, strlen(note),
		     TTYLINE_TRUNCATED | (s->is_stdin ? TTYLINE_STDIN : 0), s->part++);
}

/* n bytes of the stdin of s were not recorded (h: the read that says so). */
static void ttyline_stdin_gap(struct ttyline_table *t, struct ttyline_stream *s,
			      const struct sa_event_hdr *h, uint32_t n)
{
	char note[96];

	if (!n)
		return;
	snprintf(note, sizeof(note), TTYLINE_SKIPPED, n);
	ttyline_gap(t, s, h, note);
}

/* What the container's terminal rate counted, carried by a record of s:
 * bytes of its terminals (in a terminal's record; a stdin's skipped are
 * its own) and io_submit reads, each a line saying how many. */
static void ttyline_counts(struct ttyline_table *t, struct ttyline_stream *s,
			   const struct capture_event *ev)
{
	char note[128];

	if (!s->is_stdin && ev->skipped) {
		snprintf(note, sizeof(note), TTYLINE_TTY_SKIPPED, ev->skipped);
		ttyline_gap(t, s, ev->hdr, note);
	}
	if (ev->calls) {
		snprintf(note, sizeof(note), TTYLINE_AIO_PAST, ev->calls);
		ttyline_gap(t, s, ev->hdr, note);
	}
}

/* An io_submit(2) read into s (SA_F_TTY_AIO). */
static void ttyline_aio(struct ttyline_table *t, struct ttyline_stream *s,
			const struct capture_event *ev)
{
	char note[128];

	if (s->is_stdin)
		snprintf(note, sizeof(note), TTYLINE_AIO_STDIN, ev->asked);
	else
		snprintf(note, sizeof(note), TTYLINE_AIO, ev->asked);
	ttyline_gap(t, s, ev->hdr, note);
}

/* A read of a session's stdin into s (see ttyline.h). */
static void ttyline_stdin(struct ttyline_table *t, struct ttyline_stream *s,
			  const struct capture_event *ev)
{
	const struct sa_event_hdr *h = ev->hdr;

	ttyline_stdin_gap(t, s, h, ev->skipped);
	ttyline_counts(t, s, ev);
	if (h->flags & SA_F_TTY_AIO) {
		ttyline_aio(t, s, ev);
		return;
	}
	ttyline_put_lines(t, s, h, (const unsigned char *)ev->text, ev->text_len);
	ttyline_stdin_gap(t, s, h, ev->lost);
	/* Nothing read: end of input; or the reader went on before a
	 * newline. */
	if ((ev->text_len == 0 && ev->lost == 0) || (h->flags & SA_F_TTY_BREAK))
		ttyline_cut(t, s, h);
}

/* Whether s is a stdin holding part of a line. */
static bool ttyline_stdin_open(const struct ttyline_stream *s)
{
	return s->is_stdin && s->le.len;
}

void ttyline_read(struct ttyline_table *t, const struct capture_event *ev)
{
	const struct sa_event_hdr *h = ev->hdr;
	const unsigned char *b = (const unsigned char *)ev->text;
	bool canon = h->flags & SA_F_TTY_CANON, hold = !canon && (h->flags & SA_F_TTY_NO_RL);
	struct ttyline_stream *s = ttyline_stream(t, h, ev->tty);
	size_t i;

	if (!s)
		return;
	s->hdr = *h;
	s->part = 0;
	if (s->is_stdin) {
		ttyline_stdin(t, s, ev);
		return;
	}
	/* A later read of the stream: the held line was not readline's. */
	ttyline_send_held(t, s);
	/* Reads of the thread before this one were past the rate: the line
	 * it was reading ends, cut. */
	if (h->flags & SA_F_TTY_CUT)
		ttyline_cut_short(t, s, h);
	ttyline_counts(t, s, ev);
	if (h->flags & SA_F_TTY_COUNT)
		return;
	if (h->flags & SA_F_TTY_AIO) {
		ttyline_aio(t, s, ev);
		return;
	}
	if (h->flags & SA_F_TTY_MOVED) {
		char note[96];

		snprintf(note, sizeof(note), TTYLINE_MOVED, ev->lost);
		ttyline_gap(t, s, h, note);
		return;
	}
	if (h->flags & SA_F_TRUNCATED)
		s->flags |= TTYLINE_TRUNCATED | (canon ? 0 : TTYLINE_INEXACT);
	if (!canon) {
		for (i = 0; i < ev->text_len; i++) {
			switch (lineedit_key(&s->le, b[i])) {
			case LINEEDIT_LINE: ttyline_complete(t, s, h, hold); break;
			case LINEEDIT_CANCEL:
				s->flags = 0;
				break;
			case LINEEDIT_EOF:
			case LINEEDIT_MORE:
				break;
			}
		}
		return;
	}
	if (h->flags & SA_F_TTY_NOECHO)
		s->flags |= TTYLINE_ECHO_OFF;
	ttyline_put_lines(t, s, h, b, ev->text_len);
	/* A canonical read returns at most one line and stops early only at
	 * its end: shorter than asked without LF, Ctrl-D or an EOL character
	 * ended it; nothing at all is end of input. */
	if ((ev->text_len == 0 && ev->lost == 0) ||
	    (ev->text_len && b[ev->text_len - 1] != '\n' &&
	     (uint64_t)ev->text_len + ev->lost < ev->asked))
		ttyline_complete(t, s, h, false);
}

void ttyline_before(struct ttyline_table *t, const struct capture_event *ev)
{
	const struct sa_event_hdr *h = ev->hdr;
	bool recovered = h->type == SA_EV_LINE && (h->flags & SA_F_RECOVERED);
	bool exec = h->type == SA_EV_EXEC && t->nstdin;
	size_t i;

	if (!t->nheld && !recovered && !exec)
		return;
	for (i = 0; i < t->n; i++) {
		struct ttyline_stream *s = &t->s[i];

		if (s->target != h->target)
			continue;
		/* A program starts in the session: what its stdin readers
		 * read of a line may have made it start. */
		if (exec && ttyline_stdin_open(s) && s->hdr.sid == h->sid)
			ttyline_cut(t, s, &s->hdr);
		if (recovered && s->tgid == h->tgid) {
			/* readline's own line, which its reads made too: the
			 * held line if it is that line, the unfinished one if
			 * it begins it. Another (a program that calls
			 * rl_deprep_terminal itself, to have its own line taken
			 * for readline's) is sent, or kept. */
			if (s->held && s->held_hdr.pid == h->pid) {
				if (s->held_len == ev->text_len &&
				    (!s->held_len || !memcmp(s->held_text, ev->text, s->held_len)))
					ttyline_drop_held(t, s);
				else
					ttyline_send_held(t, s);
			}
			if (s->hdr.pid == h->pid && !(s->hdr.flags & SA_F_TTY_CANON) &&
			    s->le.len <= ev->text_len &&
			    (!s->le.len || !memcmp(s->le.buf, ev->text, s->le.len))) {
				lineedit_clear(&s->le);
				s->flags = 0;
			}
			continue;
		}
		if (s->held && s->held_hdr.sid == h->sid)
			ttyline_send_held(t, s);
	}
}

void ttyline_exit(struct ttyline_table *t, const struct sa_event_hdr *h)
{
	size_t i = 0;

	while (i < t->n) {
		if (t->s[i].target == h->target && t->s[i].tgid == h->tgid)
			ttyline_close(t, i);
		else
			i++;
	}
}

void ttyline_tick(struct ttyline_table *t, uint64_t now_ns)
{
	size_t i;

	for (i = 0; (t->nheld || t->nstdin) && i < t->n; i++) {
		struct ttyline_stream *s = &t->s[i];

		if (s->held && now_ns - s->held_hdr.ts >= TTYLINE_HOLD_NS)
			ttyline_send_held(t, s);
		if (ttyline_stdin_open(s) && now_ns - s->hdr.ts >= TTYLINE_HOLD_NS)
			ttyline_cut(t, s, &s->hdr);
	}
}

void ttyline_end_target(struct ttyline_table *t, uint32_t target)
{
	size_t i = 0;

	while (i < t->n) {
		if (t->s[i].target == target)
			ttyline_close(t, i);
		else
			i++;
	}
}

size_t ttyline_count(const struct ttyline_table *t)
{
	return t->n;
}

void ttyline_table_free(struct ttyline_table *t)
{
	if (!t)
		return;
	while (t->n)
		ttyline_close(t, t->n - 1);
	free(t->s);
	free(t);
}
