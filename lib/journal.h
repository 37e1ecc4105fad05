/* SPDX-License-Identifier: Apache-2.0 */
/* A durable append-only journal of opaque items in segment files, with a
 * cursor of what has been handed on. For the agent's spool: entries are
 * appended before they are published and dropped once acknowledged. */
#ifndef SHELLAUDIT_JOURNAL_H
#define SHELLAUDIT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_ITEM_MAX (4u << 20)

struct journal_opts {
	const char *dir;	/* created if missing; owned by this journal alone */
	size_t segment_bytes;	/* a new segment after this many bytes [4 MiB] */
	size_t max_bytes;	/* unacknowledged bytes at most [256 MiB] */
};

struct journal_stats {
	uint64_t appended, append_bytes;
	uint64_t rejected_full;		/* appends refused with -ENOSPC */
	uint64_t torn_bytes;		/* cut from a torn tail at open */
	uint64_t segments_removed;
};

struct journal;

/* Opens (or creates) the journal in opts->dir. A torn last item (a crash
 * mid-write) is cut off and counted; a corrupt item elsewhere ends the
 * readable part of its segment. Caller frees *out with journal_close(). */
int journal_open(const struct journal_opts *opts, struct journal **out);
void journal_close(struct journal *j);

/* Appends one item; *pos (optional) gets its position. -ENOSPC when the
 * unacknowledged part would exceed max_bytes, -E2BIG past JOURNAL_ITEM_MAX.
 * Not durable until journal_sync. */
int journal_append(struct journal *j, const void *data, size_t len, uint64_t *pos);
/* Makes every appended item durable (fdatasync). */
int journal_sync(struct journal *j);

/* Reads the item at pos: *data (caller frees) and *len, *next the position
 * after it. -ENODATA at the end. */
int journal_read(struct journal *j, uint64_t pos, void **data, size_t *len, uint64_t *next);

/* Reads the last item appended, acknowledged or not, as journal_read does:
 * what a process that died right after appending it had got to. -ENOENT
 * when there is none, -ENODATA when its segment was removed. */
int journal_last(struct journal *j, void **data, size_t *len);
/* Everything before pos is done: the cursor is persisted (atomically) and
 * segments wholly before it are removed. */
int journal_ack(struct journal *j, uint64_t pos);
/* The persisted cursor (where a replay starts) and the end. */
uint64_t journal_acked(const struct journal *j);
uint64_t journal_end(const struct journal *j);
void journal_get_stats(const struct journal *j, struct journal_stats *out);

#endif
