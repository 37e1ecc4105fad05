/* SPDX-License-Identifier: Apache-2.0 */
/* A shell's own line editor, replayed: the editing keys of busybox ash's
 * editor and readline's emacs mode (which agree on these) applied to the
 * bytes a process read from a terminal in raw mode, to rebuild the line it
 * saw. Exact for typing, Backspace/DEL, ^U, ^W, ^K, ^D, left/right, word
 * left/right, Home/End and Delete, ^V and bracketed paste; keys whose
 * effect depends on what it cannot see (history, completion, search, yank,
 * transpose, unknown sequences) make the line inexact. Never longer than
 * its maximum (then truncated). */
#ifndef SHELLAUDIT_LINEEDIT_H
#define SHELLAUDIT_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>

#define LINEEDIT_INEXACT 0x1 /* a key whose effect could not be known */
#define LINEEDIT_TRUNCATED 0x2 /* longer than the maximum: the rest was dropped */

struct lineedit {
	char *buf; /* the line, len bytes, not NUL-terminated; owned */
	size_t len, cursor, cap, max;
	unsigned flags;
	int esc; /* where in an escape sequence */
	char params[16]; /* CSI parameter bytes */
	size_t nparams;
	bool lnext; /* after ^V: the next byte is inserted as it is */
	bool after_cr; /* the last byte was CR: a LF right after it ends no line */
};

/* What lineedit_key did. */
enum lineedit_result {
	LINEEDIT_MORE, /* the line goes on */
	LINEEDIT_LINE, /* Enter: the line is complete (buf, len, flags) */
	LINEEDIT_EOF, /* ^D on an empty line: end of input */
	LINEEDIT_CANCEL, /* ^C: the line was abandoned (and cleared) */
};

/* An empty editor of lines up to max bytes. Nothing to free until a key. */
void lineedit_init(struct lineedit *le, size_t max);
void lineedit_free(struct lineedit *le);
/* Empties the line (after its LINE result was used) and the flags; an
 * escape sequence or ^V in progress is kept. */
void lineedit_clear(struct lineedit *le);
/* Applies one byte. After LINEEDIT_LINE the line is in buf until the
 * caller clears it. */
enum lineedit_result lineedit_key(struct lineedit *le, unsigned char c);
/* Appends c as it is (a byte of a line the terminal edited already). */
void lineedit_put(struct lineedit *le, unsigned char c);

#endif
