/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: a terminal's shell and what runs from it, keyed by (target,
 * session leader). Turns capture events into ordered sink entries:
 * session_start, then lines and execs numbered 1, 2, ..., then session_end
 * when the leader exits. */
#ifndef SHELLAUDIT_SESSION_H
#define SHELLAUDIT_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct capture_event;
struct sink;
struct session_table;
struct ttyline;

#define SESSION_MAX_OPEN 65536

/* The sink stays the caller's. Caller frees with session_table_free(). */
int session_table_new(struct sink *sink, struct session_table **out);
/* Ends every open session (reason "agent stopped") and frees the table. */
void session_table_free(struct session_table *st);

/* The entry of a line record's count of readline lines past their rate
 * (sa_line_event.skipped), before its line if it has one. */
#define SESSION_LINES_PAST "[not recorded: %u lines read by readline, past their rate]"

/* Hands the entries of one event to the sink; `container` names its target. */
int session_handle(struct session_table *st, const struct capture_event *ev,
		   const char *container);
/* Hands a line rebuilt from terminal reads (see ttyline.h) to the sink. */
int session_handle_tty_line(struct session_table *st, const struct ttyline *l,
			    const char *container);
/* Ends the sessions of target `target` (reason given, e.g. "untargeted"). */
void session_end_target(struct session_table *st, uint32_t target, const char *reason);
size_t session_count(const struct session_table *st);

#endif
