/* SPDX-License-Identifier: Apache-2.0 */
/* Lines typed at a terminal, rebuilt from what processes read from it
 * (SA_EV_TTY events), one stream per process and terminal:
 *  - canonical mode: the line discipline applied the editing keys already;
 *    a line ends with LF, or with a read shorter than asked (Ctrl-D or an
 *    EOL character ended it), or with end of input;
 *  - raw mode: lineedit replays the editing keys; Enter ends the line;
 *  - a session's stdin, a pipe or socket (SA_F_TTY_STDIN): the bytes as
 *    they came, a line ends with LF or end of input, or without LF where
 *    what was read of it may already act: its reader went on to something
 *    else (SA_F_TTY_BREAK), a program starts in its session
 *    (ttyline_before), or TTYLINE_HOLD_NS pass without more of it
 *    (ttyline_tick), the rest being a line of its own; bytes the kernel
 *    did not record (past the stream's rate) end the line being read, as
 *    truncated, and are a line of their own (TTYLINE_SKIPPED) saying how
 *    many;
 *  - bytes splice(2), sendfile(2) or io_uring took from a terminal
 *    (SA_F_TTY_MOVED) end the line being typed the same way, and a line
 *    (TTYLINE_MOVED) says how many; so does an io_submit(2) read of it
 *    (SA_F_TTY_AIO, TTYLINE_AIO: how many bytes it asked for), and of a
 *    session's stdin (TTYLINE_AIO_STDIN);
 *  - what was past the container's terminal rate, which the kernel only
 *    counted, bytes of its terminals (TTYLINE_TTY_SKIPPED) and io_submit
 *    reads (TTYLINE_AIO_PAST), is a line saying how many before the next
 *    record that carries the count, or alone at the exit of one of its
 *    processes (SA_F_TTY_COUNT); the line of a thread whose reads were
 *    past it ends there, cut (SA_F_TTY_CUT).
 * A line typed with echo off in canonical mode (a password prompt) is
 * withheld: its text is TTYLINE_WITHHELD. Empty lines are not lines (but
 * an empty inexact one is: a history line run as recalled). A process's
 * unfinished line is sent when it exits.
 *
 * A raw-mode line of a thread that had no readline state may have been
 * read by a readline call that began before the probes, whose line the
 * recovery programs send as well: such lines are held back until the next
 * event of their session (ttyline_before: dropped if a recovered line of
 * its thread is the same text, sent otherwise) or for at most
 * TTYLINE_HOLD_NS (ttyline_tick). */
#ifndef SHELLAUDIT_TTYLINE_H
#define SHELLAUDIT_TTYLINE_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

#define TTYLINE_TRUNCATED 0x1 /* longer than the maximum, or bytes of a read lost */
#define TTYLINE_INEXACT 0x2 /* raw mode: keys whose effect could not be known */
#define TTYLINE_ECHO_OFF 0x4 /* canonical with echo off: text withheld */
#define TTYLINE_STDIN 0x8    /* read from the session's stdin, not a terminal */
/* A stdin line ended before its newline (its reader went on, a program
 * started, a pause, end of input, exit): the next line of its stream may
 * be the rest of it. */
#define TTYLINE_NO_NEWLINE 0x10

#define TTYLINE_WITHHELD "[not recorded: typed with echo off]"
/* The text of the line that stands for bytes of a stdin not recorded
 * (with TTYLINE_TRUNCATED): printf format of their count, a uint32_t. */
#define TTYLINE_SKIPPED "[not recorded: %" PRIu32 " bytes of stdin]"
/* The text of the line that stands for bytes splice(2), sendfile(2) or
 * io_uring took from a terminal (SA_F_TTY_MOVED, with TTYLINE_TRUNCATED):
 * printf format of their count, a uint32_t. */
#define TTYLINE_MOVED                                                                              \
	"[not recorded: %" PRIu32 " bytes taken from the terminal by splice, sendfile or io_uring]"
/* The text of the line that stands for an io_submit(2) read of a terminal
 * (SA_F_TTY_AIO, with TTYLINE_TRUNCATED): printf format of the bytes it
 * asked for, a uint32_t. */
#define TTYLINE_AIO                                                                                \
	"[not recorded: a read of up to %" PRIu32 " bytes from the terminal by io_submit]"
#define TTYLINE_AIO_STDIN "[not recorded: a read of up to %" PRIu32 " bytes of stdin by io_submit]"
/* The text of the line that stands for io_submit reads of a container's
 * terminals and stdins that made no record (past their rate): printf
 * format of their count, a uint32_t. */
#define TTYLINE_AIO_PAST                                                                           \
	"[not recorded: %" PRIu32 " reads of a terminal or stdin by io_submit, past their rate]"
/* The text of the line that stands for bytes read from the container's
 * terminals past their rate: printf format of their count, a uint32_t. */
#define TTYLINE_TTY_SKIPPED                                                                        \
	"[not recorded: %" PRIu32 " bytes read from the container's terminals, past their rate]"
#define TTYLINE_MAX_STREAMS 1024
#define TTYLINE_HOLD_NS 1000000000ull

/* One line, valid during the callback. */
struct ttyline {
	const struct sa_event_hdr *hdr; /* of the read that completed it */
	const char *text;
	size_t len;
	unsigned flags; /* TTYLINE_* */
	uint32_t tty;	/* major << 20 | minor; 0 for a stdin */
	uint32_t part; /* lines the same read completed before this one */
};

typedef void (*ttyline_fn)(void *arg, const struct ttyline *l);

struct ttyline_table;

/* Lines of at most line_max bytes go to fn. Caller frees with
 * ttyline_table_free(). */
int ttyline_table_new(size_t line_max, ttyline_fn fn, void *arg, struct ttyline_table **out);
/* Sends what is held and unfinished, then frees. */
void ttyline_table_free(struct ttyline_table *t);

/* One terminal read (ev->hdr->type SA_EV_TTY). */
void ttyline_read(struct ttyline_table *t, const struct capture_event *ev);
/* Call before handling any other event: lines held in ev's session are
 * sent first, or dropped when ev is the recovered readline line of their
 * thread (with that thread's unfinished line); an exec first ends the
 * stdin lines read in part in its session. */
void ttyline_before(struct ttyline_table *t, const struct capture_event *ev);
/* Process h->tgid exited (h: its exit event): its unfinished lines are sent
 * and its streams closed. */
void ttyline_exit(struct ttyline_table *t, const struct sa_event_hdr *h);
/* Sends the lines held, and ends the stdin lines read in part, longer
 * than TTYLINE_HOLD_NS before now_ns. */
void ttyline_tick(struct ttyline_table *t, uint64_t now_ns);
/* Sends what target's streams hold, unfinished lines included, and closes
 * them (the target goes away). */
void ttyline_end_target(struct ttyline_table *t, uint32_t target);
size_t ttyline_count(const struct ttyline_table *t);

#endif
