/* SPDX-License-Identifier: Apache-2.0 */
/* A durable append-only journal of opaque items in segment files, with a
 * cursor of what has been handed on. For the agent's spool: entries are
 * appended before they are published and dropped once acknowledged.
 *
 * Faults end in counted losses, never in a wedge: a corrupt item (a bad
 * sector, bit rot, a segment file gone) is skipped by journal_read, which
 * says so and where the next readable item starts; only the last segment's
 * torn tail (a crash mid-append) is ever cut. A failed fdatasync is taken
 * as lost durability: what was appended since the last good one is written
 * again from memory and synced again before journal_sync reports success.
 * Errors are returned, never logged: the caller logs, with the directory. */
#ifndef SHELLAUDIT_JOURNAL_H
#define SHELLAUDIT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_ITEM_MAX (4u << 20)
/* Appended bytes kept in memory until they are synced (to write them
 * again after a failed fdatasync); past this, journal_append syncs. */
#define JOURNAL_UNSYNCED_MAX (16u << 20)

struct journal_opts {
	const char *dir;	/* created if missing; owned by this journal alone */
	size_t segment_bytes;	/* a new segment after this many bytes [4 MiB] */
	size_t max_bytes;	/* unacknowledged bytes at most [256 MiB] */
	/* fdatasync(2) [NULL]; a unit test's stand-in makes it fail. */
	int (*datasync)(int fd);
	/* The items not yet synced and the last JOURNAL_MEM_KEEP bytes synced
	 * (or, when more, what the last sync made durable, up to 4 times that,
	 * until a trim) are read from memory, not from the file [false]: for
	 * readers that follow closely behind the writer, or behind what is
	 * durable. They are the bytes written: what rots on disk meanwhile
	 * shows after a restart, when they are read from the file and skipped
	 * as any corrupt item. */
	bool read_recent;
};

#define JOURNAL_MEM_KEEP (64u << 10)

struct journal_stats {
	uint64_t appended, append_bytes;
	uint64_t rejected_full;		/* appends refused with -ENOSPC */
	uint64_t torn_bytes;		/* cut from the last segment's torn tail at open */
	uint64_t segments_removed;
	uint64_t sync_failures;		/* fdatasync or directory fsync errors */
	uint64_t sync_rewrites;		/* unsynced data written again after one */
	uint64_t dir_syncs;		/* fsyncs of the directory (new or removed segments) */
	bool cursor_reset;		/* the cursor file was unreadable or pointed
					 * at no item: replay starts at the oldest
					 * segment (replays are idempotent) */
};

struct journal;

/* Opens (or creates) the journal in opts->dir. Caller frees *out with
 * journal_close(). */
int journal_open(const struct journal_opts *opts, struct journal **out);
void journal_close(struct journal *j);

/* Appends one item; *pos (optional) gets its position. -ENOSPC when the
 * unacknowledged part would exceed max_bytes, -E2BIG past JOURNAL_ITEM_MAX.
 * Not durable until journal_sync. */
int journal_append(struct journal *j, const void *data, size_t len, uint64_t *pos);
/* journal_append, for a caller that has the CRC-32 (zlib's crc32) of data's
 * first done bytes already: crc. The item's check is the same. */
int journal_append_crc(struct journal *j, const void *data, size_t len, size_t done, uint32_t crc,
		       uint64_t *pos);
/* The same for a small item that lets the caller free room (say, a marker
 * that closes what holds the journal): it may go JOURNAL_RESERVE past
 * max_bytes, so that a full journal never wedges its own consumer. */
#define JOURNAL_RESERVE (1u << 20)
int journal_append_reserved(struct journal *j, const void *data, size_t len, uint64_t *pos);
/* Makes every appended item durable: fdatasync, and fsync of the directory
 * once a new segment was made. 0 only when all of it is on disk. */
int journal_sync(struct journal *j);
/* On: items appended from now on are kept in memory (and read from there),
 * not written, until the gathering ends (off), a journal_flush or a sync:
 * one write for many items. Off: writes what was gathered. A process that
 * dies while gathering loses what it gathered: the caller gathers only
 * what it can have again (records the ring buffer keeps until the flush). */
int journal_gather(struct journal *j, bool on);
/* Writes what was gathered, or what a failed write left, to the file (the
 * page cache: safe from the process's death, not the machine's). A write
 * cut short (-EIO) or failed leaves the rest for the next flush or sync. */
int journal_flush(struct journal *j);
/* Gives back the memory the copy of recent items holds beyond what it
 * keeps (the items not yet synced and, for read_recent, the last
 * JOURNAL_MEM_KEEP bytes synced): a burst grows it up to
 * 4 * JOURNAL_MEM_KEEP, kept for the next one, with what the last sync
 * made durable. For a caller's idle time.
 * Returns the bytes given back. */
size_t journal_trim(struct journal *j);
/* Everything before this position is durable. */
uint64_t journal_synced(const struct journal *j);

/* Reads the item at pos: *data (caller frees) and *len, *next the position
 * after it. -ENODATA at the end. -EBADMSG when no valid item starts at pos
 * (corrupt, or in a segment that is gone): *next is where the next readable
 * one starts, and *data (caller frees; NULL when there are none) and *len
 * the damaged bytes up to it, past where the item's header would be. */
int journal_read(struct journal *j, uint64_t pos, void **data, size_t *len, uint64_t *next);
/* journal_read without a copy, for an item in the memory copy: *data points
 * into it (not NUL-terminated) and stays valid until the journal is next
 * appended to, synced, acknowledged or closed. -ENOENT when the item is not
 * there (journal_read reads it then). */
int journal_peek(struct journal *j, uint64_t pos, const void **data, size_t *len, uint64_t *next);

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
/* Where the last n segments start (a walk of the journal's last items;
 * each open starts a segment). */
uint64_t journal_tail(const struct journal *j, size_t n);
void journal_get_stats(const struct journal *j, struct journal_stats *out);

#endif
