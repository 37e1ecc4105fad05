// SPDX-License-Identifier: Apache-2.0
/* Replaying a line editor's keys (see lineedit.h). Positions are bytes;
 * moves and deletions step over whole UTF-8 sequences. */
#include "lineedit.h"

#include <stdlib.h>
#include <string.h>

#define CTRL(c) ((c) & 0x1f)
#define ESC 0x1b
#define DEL 0x7f

enum { ESC_NONE, ESC_START, ESC_CSI, ESC_SS3 };

void lineedit_init(struct lineedit *le, size_t max)
{
	memset(le, 0, sizeof(*le));
	le->max = max;
}

void lineedit_free(struct lineedit *le)
{
	free(le->buf);
	le->buf = NULL;
	le->len = le->cursor = le->cap = 0;
}

void lineedit_clear(struct lineedit *le)
{
	le->len = le->cursor = 0;
	le->flags = 0;
}

static bool lineedit_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

static size_t lineedit_prev(const struct lineedit *le, size_t at)
{
	if (at == 0)
		return 0;
	at--;
	while (at > 0 && lineedit_cont((unsigned char)le->buf[at]))
		at--;
	return at;
}

static size_t lineedit_next(const struct lineedit *le, size_t at)
{
	if (at >= le->len)
		return le->len;
	at++;
	while (at < le->len && lineedit_cont((unsigned char)le->buf[at]))
		at++;
	return at;
}

static bool lineedit_word_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c >= 0x80;
}

static size_t lineedit_word_left(const struct lineedit *le, size_t at)
{
	while (at > 0 && !lineedit_word_char((unsigned char)le->buf[at - 1]))
		at--;
	while (at > 0 && lineedit_word_char((unsigned char)le->buf[at - 1]))
		at--;
	return at;
}

static size_t lineedit_word_right(const struct lineedit *le, size_t at)
{
	while (at < le->len && !lineedit_word_char((unsigned char)le->buf[at]))
		at++;
	while (at < le->len && lineedit_word_char((unsigned char)le->buf[at]))
		at++;
	return at;
}

/* Removes [from, to) and leaves the cursor where it was relative to the text. */
static void lineedit_cut(struct lineedit *le, size_t from, size_t to)
{
	if (from >= to)
		return;
	memmove(le->buf + from, le->buf + to, le->len - to);
	le->len -= to - from;
	if (le->cursor >= to)
		le->cursor -= to - from;
	else if (le->cursor > from)
		le->cursor = from;
}

static void lineedit_insert(struct lineedit *le, unsigned char c)
{
	if (le->len >= le->max) {
		le->flags |= LINEEDIT_TRUNCATED;
		return;
	}
	if (le->len == le->cap) {
		size_t cap = le->cap ? 2 * le->cap : 128;
		char *b;

		if (cap > le->max)
			cap = le->max;
		b = realloc(le->buf, cap);
		if (!b) {
			le->flags |= LINEEDIT_TRUNCATED;
			return;
		}
		le->buf = b;
		le->cap = cap;
	}
	memmove(le->buf + le->cursor + 1, le->buf + le->cursor, le->len - le->cursor);
	le->buf[le->cursor++] = (char)c;
	le->len++;
}

void lineedit_put(struct lineedit *le, unsigned char c)
{
	le->cursor = le->len;
	lineedit_insert(le, c);
}

/* The parameters of a CSI sequence as "N" or "N;M": N, and M (0 if none). */
static void lineedit_params(const struct lineedit *le, unsigned *n, unsigned *mod)
{
	size_t i;
	unsigned *v = n;

	*n = *mod = 0;
	for (i = 0; i < le->nparams; i++) {
		char c = le->params[i];

		if (c >= '0' && c <= '9' && *v < 100000)
			*v = *v * 10 + (unsigned)(c - '0');
		else if (c == ';' && v == n)
			v = mod;
	}
}

/* The key a CSI or SS3 sequence ending in `final` stands for. */
static void lineedit_sequence(struct lineedit *le, unsigned char final)
{
	unsigned n, mod;
	bool word;

	lineedit_params(le, &n, &mod);
	/* Ctrl (5) or Alt (3) with an arrow: a word at a time. */
	word = mod == 3 || mod == 5;
	switch (final) {
	case 'C':
		le->cursor = word ? lineedit_word_right(le, le->cursor) :
				    lineedit_next(le, le->cursor);
		return;
	case 'D':
		le->cursor = word ? lineedit_word_left(le, le->cursor) :
				    lineedit_prev(le, le->cursor);
		return;
	case 'H':
		le->cursor = 0;
		return;
	case 'F':
		le->cursor = le->len;
		return;
	case '~':
		switch (n) {
		case 1:
		case 7:
			le->cursor = 0;
			return;
		case 4:
		case 8:
			le->cursor = le->len;
			return;
		case 3:
			lineedit_cut(le, le->cursor, lineedit_next(le, le->cursor));
			return;
		case 2: /* Insert: the editors insert anyway */
		case 200: /* bracketed paste begins */
		case 201: /* and ends */
			return;
		}
		break;
	}
	/* Up and down (history), page keys, function keys... */
	le->flags |= LINEEDIT_INEXACT;
}

/* ESC then c: Alt+c. */
static void lineedit_alt(struct lineedit *le, unsigned char c)
{
	switch (c) {
	case 'b':
		le->cursor = lineedit_word_left(le, le->cursor);
		return;
	case 'f':
		le->cursor = lineedit_word_right(le, le->cursor);
		return;
	case 'd':
		lineedit_cut(le, le->cursor, lineedit_word_right(le, le->cursor));
		return;
	case DEL:
	case CTRL('H'):
		lineedit_cut(le, lineedit_word_left(le, le->cursor), le->cursor);
		return;
	}
	le->flags |= LINEEDIT_INEXACT;
}

/* Returns true when c was part of an escape sequence. */
static bool lineedit_escape(struct lineedit *le, unsigned char c)
{
	switch (le->esc) {
	case ESC_START:
		le->esc = c == '[' ? ESC_CSI : c == 'O' ? ESC_SS3 : ESC_NONE;
		le->nparams = 0;
		if (le->esc == ESC_NONE)
			lineedit_alt(le, c);
		return true;
	case ESC_SS3:
		le->esc = ESC_NONE;
		lineedit_sequence(le, c);
		return true;
	case ESC_CSI:
		if (c >= 0x20 && c <= 0x3f) {
			if (le->nparams < sizeof(le->params))
				le->params[le->nparams++] = (char)c;
			else
				le->flags |= LINEEDIT_INEXACT;
			return true;
		}
		le->esc = ESC_NONE;
		if (c >= 0x40 && c <= 0x7e) {
			lineedit_sequence(le, c);
			return true;
		}
		/* Not a sequence after all: the byte counts on its own. */
		le->flags |= LINEEDIT_INEXACT;
		return false;
	}
	return false;
}

enum lineedit_result lineedit_key(struct lineedit *le, unsigned char c)
{
	bool after_cr = le->after_cr;

	le->after_cr = false;
	if (le->lnext) {
		le->lnext = false;
		lineedit_insert(le, c);
		return LINEEDIT_MORE;
	}
	if (le->esc != ESC_NONE && lineedit_escape(le, c))
		return LINEEDIT_MORE;
	switch (c) {
	case '\r':
		le->after_cr = true;
		return LINEEDIT_LINE;
	case '\n':
		return after_cr ? LINEEDIT_MORE : LINEEDIT_LINE;
	case ESC:
		le->esc = ESC_START;
		return LINEEDIT_MORE;
	case DEL:
	case CTRL('H'):
		lineedit_cut(le, lineedit_prev(le, le->cursor), le->cursor);
		return LINEEDIT_MORE;
	case CTRL('A'):
		le->cursor = 0;
		return LINEEDIT_MORE;
	case CTRL('E'):
		le->cursor = le->len;
		return LINEEDIT_MORE;
	case CTRL('B'):
		le->cursor = lineedit_prev(le, le->cursor);
		return LINEEDIT_MORE;
	case CTRL('F'):
		le->cursor = lineedit_next(le, le->cursor);
		return LINEEDIT_MORE;
	case CTRL('C'):
		lineedit_clear(le);
		return LINEEDIT_CANCEL;
	case CTRL('D'):
		if (le->len == 0)
			return LINEEDIT_EOF;
		lineedit_cut(le, le->cursor, lineedit_next(le, le->cursor));
		return LINEEDIT_MORE;
	case CTRL('K'):
		lineedit_cut(le, le->cursor, le->len);
		return LINEEDIT_MORE;
	case CTRL('U'):
		lineedit_cut(le, 0, le->cursor);
		return LINEEDIT_MORE;
	case CTRL('W'): {
		size_t at = le->cursor;

		while (at > 0 && (le->buf[at - 1] == ' ' || le->buf[at - 1] == '\t'))
			at--;
		while (at > 0 && le->buf[at - 1] != ' ' && le->buf[at - 1] != '\t')
			at--;
		lineedit_cut(le, at, le->cursor);
		return LINEEDIT_MORE;
	}
	case CTRL('V'):
		le->lnext = true;
		return LINEEDIT_MORE;
	case CTRL('G'): /* bell, abort: nothing to the line */
	case CTRL('L'): /* redraw */
		return LINEEDIT_MORE;
	case '\t': /* completion: what it added is unknown; the tab shows where */
		le->flags |= LINEEDIT_INEXACT;
		lineedit_insert(le, c);
		return LINEEDIT_MORE;
	}
	if (c < 0x20) {
		/* ^N ^P (history), ^R ^S (search), ^T, ^Y, ^O...: editors differ. */
		le->flags |= LINEEDIT_INEXACT;
		return LINEEDIT_MORE;
	}
	lineedit_insert(le, c);
	return LINEEDIT_MORE;
}
