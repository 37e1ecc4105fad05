/* SPDX-License-Identifier: Apache-2.0 */
/* The key of what one ring buffer record made: its kernel time, its thread
 * and its kind ('l' a line readline returned, 't' a terminal or stdin
 * read, 'n' a namespace change, 'x' an exec), and for a read which of the
 * lines it completed (one read can complete several). A sink writes the
 * key beside what a record made, so that an agent started after one that
 * died knows which of the ring buffer's first records were written already
 * (capture_skip_handled): a record is written once across a kill -9. */
#ifndef SHELLAUDIT_EVENTKEY_H
#define SHELLAUDIT_EVENTKEY_H

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "../bpf/shellaudit.h"

#define EVENTKEY_MAX 64

/* The kind letter of a record of type `type` (SA_EV_*), 0 for those that
 * make no entry of their own (exits). */
static inline char eventkey_kind(uint32_t type)
{
	return type == SA_EV_LINE ? 'l' :
	       type == SA_EV_TTY  ? 't' :
	       type == SA_EV_NS	  ? 'n' :
	       type == SA_EV_EXEC ? 'x' :
				    0;
}

/* v in lower-case hex without leading zeros at p; returns the end. */
static inline char *eventkey_hex(char *p, uint64_t v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "<ts>-<tid>-<kind>[<part>]", in hex; part NULL: the key every part of a
 * read's lines starts with. Cut to cap as snprintf would (one is made for
 * each record: no format is parsed). */
static inline void eventkey_make(char *buf, size_t cap, uint64_t ts, uint32_t tid, char kind,
				 const uint32_t *part)
{
	char tmp[EVENTKEY_MAX], *p = tmp;
	size_t n;

	p = eventkey_hex(p, ts);
	*p++ = '-';
	p = eventkey_hex(p, tid);
	*p++ = '-';
	*p++ = kind;
	if (part)
		p = eventkey_hex(p, *part);
	if (!cap)
		return;
	n = (size_t)(p - tmp) < cap ? (size_t)(p - tmp) : cap - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

/* The key of the record with header h, into buf (EVENTKEY_MAX): "" for
 * one that makes no entry of its own. */
static inline void eventkey_of(const struct sa_event_hdr *h, char *buf, size_t cap)
{
	char kind = eventkey_kind(h->type);

	if (kind)
		eventkey_make(buf, cap, h->ts, h->pid, kind, NULL);
	else if (cap)
		buf[0] = '\0';
}

/* Whether record key want is a read's ("...-t"), whose lines' keys start
 * with it. */
static inline bool eventkey_is_read(const char *want)
{
	size_t n = strlen(want);

	return n >= 2 && want[n - 2] == '-' && want[n - 1] == 't';
}

/* Whether written key k is record key want: the same, or want a read's
 * and k one of its lines. */
static inline bool eventkey_is(const char *k, const char *want)
{
	if (!want[0])
		return false;
	if (eventkey_is_read(want))
		return !strncmp(k, want, strlen(want));
	return !strcmp(k, want);
}

#endif
