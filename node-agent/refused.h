/* SPDX-License-Identifier: Apache-2.0 */
/* The ELF files the agent refused to parse (elfsym.h: headers over a bound
 * or malformed, or too slow to read), remembered by their identity (size
 * and a hash of their headers, which `touch` or a copy does not change), so
 * that neither another container holding the same file nor the next agent
 * does the work again. Kept in a small file of the agent's state directory.
 *
 * A refusal decided from the headers holds for good: any file with the
 * same id is refused the same way. A file refused for time is looked at
 * again after a delay that doubles each time (REFUSED_RETRY_MIN_S up to
 * REFUSED_RETRY_MAX_S): it may only have been cold on a slow disk.
 *
 * Nothing here logs: errors are returned. Not thread-safe: one owner. */
#ifndef SHELLAUDIT_REFUSED_H
#define SHELLAUDIT_REFUSED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfsym.h"

#define REFUSED_MAX 512 /* entries; the least recently seen one goes first */
#define REFUSED_WHY_MAX 128
#define REFUSED_FILE "elf-refused"    /* in the state directory */
#define REFUSED_FILE_MAX (256u << 10) /* a larger file is not read */
#define REFUSED_RETRY_MIN_S 60
#define REFUSED_RETRY_MAX_S 86400
#define REFUSED_SAVE_S 5 /* at most one write per this many seconds */

struct refused_entry {
	char id[ELFSYM_ID_LEN];
	int err; /* negative errno */
	char why[REFUSED_WHY_MAX];
	int64_t retry_at;   /* unix seconds; 0: never */
	uint32_t backoff_s; /* the last delay, for a file refused for time */
	int64_t seen;	    /* unix seconds, last met */
};

struct refused;

/*
 * Opens the table kept in dir/REFUSED_FILE (dir NULL or "": in memory
 * only). A missing file is an empty table; lines that do not parse are
 * skipped. Returns 0, or a negative errno with *out still usable in memory
 * (the caller logs it): the file exists but cannot be read. Caller frees
 * with refused_close().
 */
int refused_open(const char *dir, struct refused **out);

/* Saves if needed (see refused_flush) and frees. NULL-safe. Returns the
 * save's error. */
int refused_close(struct refused *r);

/* The entry of id while it holds at now (unix seconds), else NULL. The
 * entry stays valid until the next call that changes the table. */
const struct refused_entry *refused_find(struct refused *r, const char *id, int64_t now);

/* Remembers id as refused with err and why. retry: refused for time, to be
 * looked at again later. Returns 0 or -EINVAL (an empty id). */
int refused_add(struct refused *r, const char *id, int err, const char *why, bool retry,
		int64_t now);

/* Forgets id (a file refused for time that was read in time later). */
void refused_forget(struct refused *r, const char *id);

/* Writes the table when it changed and the last write is at least
 * REFUSED_SAVE_S old (force: whatever its age). 1 written, 0 nothing to
 * do, or a negative errno. The write replaces the file atomically. */
int refused_flush(struct refused *r, int64_t now, bool force);

size_t refused_count(const struct refused *r);

/* The path of the file ("" in memory only). */
const char *refused_path(const struct refused *r);

/* Parses one line of the file into e: 0 or -EINVAL. For the tests. */
int refused_parse_line(const char *line, struct refused_entry *e);

#endif
