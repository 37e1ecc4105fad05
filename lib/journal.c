// SPDX-License-Identifier: Apache-2.0
/*
 * Journal layout: <dir>/<start>.seg segment files named by the position of
 * their first byte (16 hex digits), items as
 *   u32 magic | u32 length | u32 crc32 of the payload | payload
 * and <dir>/cursor holding the acknowledged position, replaced by rename.
 * Positions are global byte offsets, so they survive segment removal.
 *
 * A valid item is one whose magic, length and CRC agree; a reader that
 * meets anything else looks for the next valid item further on. No
 * payload the spool writes can hide a valid item: a length (at most
 * JOURNAL_ITEM_MAX) has a zero byte, which the spool's JSON never holds.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define JOURNAL_MAGIC 0x53414a31u /* "SAJ1" */
#define JOURNAL_HDR 12
#define JOURNAL_MAX_SEGMENTS 4096
#define JOURNAL_SCAN_CHUNK (64u << 10)
/* Bytes of an item read with its header (the rest, when longer, after). */
#define JOURNAL_READ_AHEAD 2048

struct journal_segment {
	uint64_t start, end;	/* [start, end): the bytes of the segment */
};

struct journal {
	char dir[PATH_MAX - 64];
	struct journal_opts opts;
	struct journal_segment *segs;
	size_t nsegs;
	int wfd;		/* the last segment, open for appending */
	int rfd;		/* the segment read last, kept open, or -1 */
	uint64_t rstart;	/* where rfd's segment starts */
	uint64_t acked;
	uint64_t last;		/* position of the last item, UINT64_MAX: none */
	uint64_t synced;	/* everything before it is durable */
	bool dir_dirty;		/* a segment was made since the directory's fsync */
	/* The write segment's last nmem bytes: its nunsynced last ones not
	 * yet synced (written again from here after a failed fdatasync), the
	 * rest what was synced last, kept to read from (JOURNAL_MEM_KEEP). */
	unsigned char *mem;
	size_t nmem, nunsynced, capmem;
	/* The last nunwritten of the unsynced bytes are not in the file yet:
	 * gathered (journal_gather), or a write of them failed. */
	size_t nunwritten;
	bool gather;
	/* Items at or past it that are still in mem are read from there: a
	 * write cut short leaves bytes a reader must find corrupt on disk. */
	uint64_t mem_whole;
	/* Synced, and nothing written since: a sync has nothing to do (a
	 * records journal is synced on every tick, mostly unchanged). */
	bool clean;
	struct journal_stats stats;
};

static void journal_seg_path(const struct journal *j, uint64_t start, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%016" PRIx64 ".seg", j->dir, start);
}

static int journal_cmp_seg(const void *a, const void *b)
{
	const struct journal_segment *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The length of the valid item at off in fd (whose valid bytes end at
 * size), or -1. *data (optional) gets its payload, NUL-terminated. */
static long journal_item_at(int fd, uint64_t off, uint64_t size, void **data)
{
	/* The header and what follows it in one read: most items fit. */
	unsigned char first[JOURNAL_HDR + JOURNAL_READ_AHEAD], *buf;
	size_t want = size - off < sizeof(first) ? (size_t)(size - off) : sizeof(first), have;
	uint32_t magic, len, crc;
	ssize_t got;

	if (off + JOURNAL_HDR > size || (got = pread(fd, first, want, (off_t)off)) < JOURNAL_HDR)
		return -1;
	memcpy(&magic, first, 4);
	memcpy(&len, first + 4, 4);
	memcpy(&crc, first + 8, 4);
	if (magic != JOURNAL_MAGIC || len > JOURNAL_ITEM_MAX || off + JOURNAL_HDR + len > size)
		return -1;
	if (!(buf = malloc((size_t)len + 1)))
		return -2;
	have = (size_t)got - JOURNAL_HDR < len ? (size_t)got - JOURNAL_HDR : len;
	memcpy(buf, first + JOURNAL_HDR, have);
	if ((have < len && pread(fd, buf + have, len - have, (off_t)(off + JOURNAL_HDR + have)) !=
				   (ssize_t)(len - have)) ||
	    (uint32_t)crc32(0, buf, len) != crc) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	if (data)
		*data = buf;
	else
		free(buf);
	return (long)len;
}

/* The offset of the first valid item at or after from, or size. */
static uint64_t journal_resync(int fd, uint64_t from, uint64_t size)
{
	static const unsigned char magic[4] = { 0x31, 0x4a, 0x41, 0x53 };
	unsigned char *buf = malloc(JOURNAL_SCAN_CHUNK + 3);
	uint64_t off;
	ssize_t n;
	size_t i;

	if (!buf)
		return size; /* cannot look: the rest of the segment is skipped */
	for (off = from; off < size; off += JOURNAL_SCAN_CHUNK) {
		size_t want = size - off < JOURNAL_SCAN_CHUNK + 3 ? (size_t)(size - off) :
								      JOURNAL_SCAN_CHUNK + 3;

		if ((n = pread(fd, buf, want, (off_t)off)) < 4)
			break;
		for (i = 0; i + 4 <= (size_t)n && i < JOURNAL_SCAN_CHUNK; i++) {
			if (memcmp(buf + i, magic, 4))
				continue;
			if (journal_item_at(fd, off + i, size, NULL) >= 0) {
				free(buf);
				return off + i;
			}
		}
	}
	free(buf);
	return size;
}

/* Scans a segment: *valid gets the end of its last valid item (0 when it
 * has none), *last that item's offset (unchanged when there is none). */
static void journal_scan(int fd, uint64_t size, uint64_t *valid, uint64_t *last)
{
	uint64_t off = 0;
	long len;

	*valid = 0;
	while (off + JOURNAL_HDR <= size) {
		if ((len = journal_item_at(fd, off, size, NULL)) >= 0) {
			*last = off;
			off += JOURNAL_HDR + (uint64_t)len;
			*valid = off;
			continue;
		}
		off = journal_resync(fd, off + 1, size);
	}
}

/* The cursor file: decimal digits and a newline, nothing else. -EBADMSG
 * when it is anything else. */
static int journal_read_cursor(struct journal *j)
{
	char path[PATH_MAX], buf[32];
	unsigned long long v = 0;
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof(path), "%s/cursor", j->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 1 || n == (ssize_t)sizeof(buf) || buf[n - 1] != '\n')
		return -EBADMSG;
	for (i = 0; i < n - 1; i++) {
		if (buf[i] < '0' || buf[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (unsigned)(buf[i] - '0');
	}
	j->acked = v;
	return 0;
}

static int journal_list(struct journal *j)
{
	DIR *d = opendir(j->dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct journal_segment *s;
		char *end;
		uint64_t start = strtoull(de->d_name, &end, 16);

		if (strcmp(end, ".seg") || end - de->d_name != 16)
			continue;
		if (j->nsegs >= JOURNAL_MAX_SEGMENTS) {
			ret = -EMFILE;
			break;
		}
		if (!(s = realloc(j->segs, (j->nsegs + 1) * sizeof(*s)))) {
			ret = -ENOMEM;
			break;
		}
		j->segs = s;
		j->segs[j->nsegs++] = (struct journal_segment){ start, start };
	}
	closedir(d);
	if (!ret && j->nsegs)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), journal_cmp_seg);
	return ret;
}

/* Sizes every segment; the last one's torn tail is cut; finds the last item. */
static int journal_load(struct journal *j)
{
	char path[PATH_MAX];
	size_t i;
	int ret = 0;

	if ((ret = journal_list(j)) < 0)
		return ret;
	for (i = j->nsegs; i-- > 0;) {
		struct stat st;
		uint64_t valid, last = UINT64_MAX, size;
		int fd;

		journal_seg_path(j, j->segs[i].start, path, sizeof(path));
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			if (fd >= 0)
				close(fd);
			return ret;
		}
		size = (uint64_t)st.st_size;
		/* A segment never reaches into the next one's positions. */
		if (i + 1 < j->nsegs && j->segs[i].start + size > j->segs[i + 1].start)
			size = j->segs[i + 1].start - j->segs[i].start;
		if (i + 1 == j->nsegs || j->last == UINT64_MAX) {
			journal_scan(fd, size, &valid, &last);
			if (last != UINT64_MAX && j->last == UINT64_MAX)
				j->last = j->segs[i].start + last;
			if (i + 1 == j->nsegs && valid < size) {
				/* Only here can a crash mid-append have left a
				 * partial item: nothing valid follows it. */
				j->stats.torn_bytes += size - valid;
				if (ftruncate(fd, (off_t)valid) < 0)
					ret = -errno;
				size = valid;
			}
		}
		close(fd);
		if (ret < 0)
			return ret;
		j->segs[i].end = j->segs[i].start + size;
	}
	return 0;
}

/* Whether an item starts at pos, or pos is a segment's end. */
static bool journal_boundary(const struct journal *j, uint64_t pos)
{
	char path[PATH_MAX];
	size_t i;
	long len;
	int fd;

	for (i = 0; i < j->nsegs; i++) {
		if (pos == j->segs[i].start || pos == j->segs[i].end)
			return true;
		if (pos < j->segs[i].start || pos >= j->segs[i].end)
			continue;
		journal_seg_path(j, j->segs[i].start, path, sizeof(path));
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return false;
		len = journal_item_at(fd, pos - j->segs[i].start, j->segs[i].end - j->segs[i].start,
				      NULL);
		close(fd);
		return len >= 0;
	}
	return false;
}

static int journal_fsync_dir(struct journal *j)
{
	int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0) {
		ret = -errno;
		j->stats.sync_failures++;
	} else {
		j->stats.dir_syncs++;
	}
	close(dfd);
	return ret;
}

static int journal_new_segment(struct journal *j, uint64_t start)
{
	struct journal_segment *s;
	char path[PATH_MAX];
	int fd;

	journal_seg_path(j, start, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (j->wfd >= 0)
		close(j->wfd);
	j->wfd = fd;
	j->nmem = j->nunsynced = 0;
	j->clean = false;
	if (j->nsegs && j->segs[j->nsegs - 1].start == start)
		return 0;
	if (!(s = realloc(j->segs, (j->nsegs + 1) * sizeof(*s))))
		return -ENOMEM;
	j->segs = s;
	j->segs[j->nsegs++] = (struct journal_segment){ start, start };
	j->dir_dirty = true;
	return 0;
}

int journal_open(const struct journal_opts *opts, struct journal **out)
{
	struct journal *j = calloc(1, sizeof(*j));
	int ret;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->wfd = j->rfd = -1;
	j->last = UINT64_MAX;
	j->opts = *opts;
	if (!j->opts.segment_bytes)
		j->opts.segment_bytes = 4u << 20;
	if (!j->opts.max_bytes)
		j->opts.max_bytes = 256u << 20;
	if (!j->opts.datasync)
		j->opts.datasync = fdatasync;
	if (snprintf(j->dir, sizeof(j->dir), "%s", opts->dir) >= (int)sizeof(j->dir)) {
		ret = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		goto fail;
	}
	ret = journal_read_cursor(j);
	if (ret == -EBADMSG) {
		j->stats.cursor_reset = true;
		j->acked = 0;
	} else if (ret < 0) {
		goto fail;
	}
	if ((ret = journal_load(j)) < 0)
		goto fail;
	ret = journal_new_segment(j, j->nsegs ? j->segs[j->nsegs - 1].start : j->acked);
	if (ret < 0)
		goto fail;
	/* Past the end: the segments it covered are gone, and so is what
	 * they held. A cursor that points at no item (its file damaged)
	 * replays from the oldest segment: replays are idempotent. */
	if (j->acked > journal_end(j))
		j->acked = journal_end(j);
	if (j->stats.cursor_reset || j->acked < j->segs[0].start ||
	    !journal_boundary(j, j->acked)) {
		j->stats.cursor_reset |= j->acked != j->segs[0].start;
		j->acked = j->segs[0].start;
	}
	/* What is on disk now is durable from here on. */
	j->dir_dirty = true;
	if ((ret = journal_sync(j)) < 0)
		goto fail;
	*out = j;
	return 0;
fail:
	journal_close(j);
	return ret;
}

static void journal_read_close(struct journal *j)
{
	if (j->rfd >= 0)
		close(j->rfd);
	j->rfd = -1;
}

/* Segment s open for reading: the one read last stays open, so that a
 * reader going item by item opens each file once. */
static int journal_read_open(struct journal *j, const struct journal_segment *s)
{
	char path[PATH_MAX];
	int fd;

	if (j->rfd >= 0 && j->rstart == s->start)
		return j->rfd;
	journal_read_close(j);
	journal_seg_path(j, s->start, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	j->rfd = fd;
	j->rstart = s->start;
	return fd;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->wfd >= 0)
		(void)journal_flush(j);
	journal_read_close(j);
	if (j->wfd >= 0)
		close(j->wfd);
	free(j->mem);
	free(j->segs);
	free(j);
}

uint64_t journal_end(const struct journal *j)
{
	return j->nsegs ? j->segs[j->nsegs - 1].end : j->acked;
}

uint64_t journal_acked(const struct journal *j)
{
	return j->acked;
}

uint64_t journal_tail(const struct journal *j, size_t n)
{
	return j->segs[j->nsegs > n ? j->nsegs - n : 0].start;
}

uint64_t journal_synced(const struct journal *j)
{
	return j->synced;
}

void journal_get_stats(const struct journal *j, struct journal_stats *out)
{
	*out = j->stats;
}

/* The copy's size kept allocated after a sync, at most, unless the sync
 * made at least 1/JOURNAL_MEM_SHRINK of it durable. */
#define JOURNAL_MEM_CAP_KEEP (4 * JOURNAL_MEM_KEEP)
#define JOURNAL_MEM_SHRINK 8

/* The copy cut down to its last keep bytes. */
static void journal_mem_cut(struct journal *j, size_t keep)
{
	if (j->nmem > keep) {
		memmove(j->mem, j->mem + j->nmem - keep, keep);
		j->nmem = keep;
	}
}

/* Makes the write segment's data durable, writing it again from memory
 * after a failed fdatasync (whose pages the kernel may have dropped). */
static int journal_sync_segment(struct journal *j)
{
	struct journal_segment *last = &j->segs[j->nsegs - 1];
	uint64_t from = last->end - last->start - j->nunsynced;
	size_t keep, was = j->nunsynced;
	ssize_t n;

	if (j->clean)
		return 0;
	if (journal_flush(j) == 0 && j->opts.datasync(j->wfd) == 0)
		goto done;
	j->stats.sync_failures++;
	/* Lost durability: what was appended since the last good sync may
	 * be gone whatever a second fdatasync says. Write it again. */
	if (ftruncate(j->wfd, (off_t)from) < 0)
		return -errno;
	/* None of it is in the file now: a failure below leaves all of it
	 * to be written again (appends go after it). */
	j->nunwritten = j->nunsynced;
	n = pwrite(j->wfd, j->mem + j->nmem - j->nunsynced, j->nunsynced, (off_t)from);
	if (n != (ssize_t)j->nunsynced) {
		int ret = n < 0 ? -errno : -EIO;

		/* The file must still hold every item a reader may ask for. A
		 * cut that fails too is the error to report after a short write. */
		if (ftruncate(j->wfd, (off_t)from) < 0 && ret == -EIO)
			ret = -errno;
		return ret;
	}
	j->nunwritten = 0;
	if (j->opts.datasync(j->wfd) < 0) {
		j->stats.sync_failures++;
		return -errno;
	}
	j->stats.sync_rewrites++;
done:
	j->nunsynced = 0;
	j->nunwritten = 0;
	j->synced = last->end;
	j->clean = true;
	keep = j->opts.read_recent ? JOURNAL_MEM_KEEP : 0;
	/* What this sync made durable stays whole (up to the cap): a reader
	 * that follows what is durable reads it next. */
	if (keep && was > keep)
		keep = was < JOURNAL_MEM_CAP_KEEP ? was : JOURNAL_MEM_CAP_KEEP;
	journal_mem_cut(j, keep);
	/* A copy grown by one large item (a record of 1,000 entries) or by a
	 * burst is not kept for a long life: it goes back at the first sync
	 * of much less. One that a flood fills again between syncs stays (cut
	 * at each sync, it grew again before the next: a realloc and fresh
	 * pages each time), until then or journal_trim. */
	if (j->capmem > JOURNAL_MEM_CAP_KEEP && j->capmem / JOURNAL_MEM_SHRINK > was) {
		size_t cap = keep > JOURNAL_MEM_KEEP ? keep : JOURNAL_MEM_KEEP;
		unsigned char *p = realloc(j->mem, cap);

		if (p) {
			j->mem = p;
			j->capmem = cap;
		}
	}
	return 0;
}

int journal_sync(struct journal *j)
{
	int ret;

	if (j->wfd < 0)
		return -EBADF;
	if ((ret = journal_sync_segment(j)) < 0)
		return ret;
	if (j->dir_dirty) {
		if ((ret = journal_fsync_dir(j)) < 0)
			return ret;
		j->dir_dirty = false;
	}
	return 0;
}

size_t journal_trim(struct journal *j)
{
	size_t was = j->capmem, keep = j->opts.read_recent ? JOURNAL_MEM_KEEP : 0;
	unsigned char *p;

	/* The synced part down to what a sync keeps at least. */
	journal_mem_cut(j, j->nunsynced + keep);
	if (j->capmem == j->nmem)
		return 0;
	if (!j->nmem) {
		free(j->mem);
		j->mem = NULL;
		j->capmem = 0;
		return was;
	}
	if (!(p = realloc(j->mem, j->nmem)))
		return 0;
	j->mem = p;
	j->capmem = j->nmem;
	return was - j->capmem;
}

/* Room for len more bytes at the end of the copy of what was appended
 * and not yet synced (the caller fills it), or NULL. */
static unsigned char *journal_keep(struct journal *j, size_t len)
{
	if (j->nmem + len > j->capmem) {
		size_t cap = (j->nmem + len) * 2;
		unsigned char *p = realloc(j->mem, cap);

		if (!p)
			return NULL;
		j->mem = p;
		j->capmem = cap;
	}
	j->nmem += len;
	j->nunsynced += len;
	return j->mem + j->nmem - len;
}

/* Takes back the last len bytes journal_keep gave. */
static void journal_unkeep(struct journal *j, size_t len)
{
	j->nmem -= len;
	j->nunsynced -= len;
}

/* done, crc: the CRC of data's first done bytes (0, 0: none). */
static int journal_append_in(struct journal *j, const void *data, size_t len, uint64_t *pos,
			     size_t max, size_t done, uint32_t crc)
{
	struct journal_segment *last;
	uint32_t magic = JOURNAL_MAGIC, l = (uint32_t)len;
	unsigned char *buf;
	ssize_t n;
	int ret;

	if (len > JOURNAL_ITEM_MAX)
		return -E2BIG;
	if (done > len)
		return -EINVAL;
	if (journal_end(j) - j->acked + JOURNAL_HDR + len > max) {
		j->stats.rejected_full++;
		return -ENOSPC;
	}
	last = &j->segs[j->nsegs - 1];
	/* A new segment only once the current one is durable: the memory
	 * copy covers one segment. Until it is, the current one grows. */
	if ((last->end - last->start >= j->opts.segment_bytes ||
	     j->nunsynced + JOURNAL_HDR + len > JOURNAL_UNSYNCED_MAX) &&
	    journal_sync_segment(j) == 0 && last->end - last->start >= j->opts.segment_bytes &&
	    (ret = journal_new_segment(j, last->end)) < 0)
		return ret;
	if (j->nunsynced + JOURNAL_HDR + len > JOURNAL_UNSYNCED_MAX)
		return -EIO; /* the disk refuses to sync: nothing more goes in */
	last = &j->segs[j->nsegs - 1];
	crc = (uint32_t)crc32(crc, (const Bytef *)data + done, (uInt)(len - done));
	/* The item is put together in the memory copy and written from it. */
	if (!(buf = journal_keep(j, JOURNAL_HDR + len)))
		return -ENOMEM;
	j->clean = false;
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &l, 4);
	memcpy(buf + 8, &crc, 4);
	memcpy(buf + JOURNAL_HDR, data, len);
	if (j->gather || j->nunwritten) {
		/* After the others not written yet, in one write with them. */
		j->nunwritten += JOURNAL_HDR + len;
		if (!j->gather)
			(void)journal_flush(j); /* else the sync writes it */
		goto appended;
	}
	/* One write: a crash leaves a whole item or a torn tail the next
	 * open cuts, never an item spliced with another. */
	n = write(j->wfd, buf, JOURNAL_HDR + len);
	if (n != (ssize_t)(JOURNAL_HDR + len)) {
		ret = n < 0 ? -errno : -EIO;
		/* Leave no partial item behind for the reader. If even that
		 * fails, the bytes stay (readers skip them as corrupt, the next
		 * open cuts them as a torn tail), their copy stays, and
		 * positions count them. */
		if (n > 0 && ftruncate(j->wfd, (off_t)(last->end - last->start)) < 0) {
			journal_unkeep(j, JOURNAL_HDR + len - (size_t)n);
			last->end += (uint64_t)n;
			j->mem_whole = last->end;
		} else {
			journal_unkeep(j, JOURNAL_HDR + len);
		}
		return ret;
	}
appended:
	if (pos)
		*pos = last->end;
	j->last = last->end;
	last->end += JOURNAL_HDR + len;
	j->stats.appended++;
	j->stats.append_bytes += len;
	return 0;
}

int journal_append(struct journal *j, const void *data, size_t len, uint64_t *pos)
{
	return journal_append_in(j, data, len, pos, j->opts.max_bytes, 0, 0);
}

int journal_append_crc(struct journal *j, const void *data, size_t len, size_t done, uint32_t crc,
		       uint64_t *pos)
{
	return journal_append_in(j, data, len, pos, j->opts.max_bytes, done, crc);
}

int journal_append_reserved(struct journal *j, const void *data, size_t len, uint64_t *pos)
{
	return journal_append_in(j, data, len, pos, j->opts.max_bytes + JOURNAL_RESERVE, 0, 0);
}

int journal_flush(struct journal *j)
{
	ssize_t n;

	if (!j->nunwritten)
		return 0;
	/* O_APPEND: after what is in the file. A write cut short leaves
	 * the rest for the next one. */
	n = write(j->wfd, j->mem + j->nmem - j->nunwritten, j->nunwritten);
	if (n < 0)
		return -errno;
	j->nunwritten -= (size_t)n;
	return j->nunwritten ? -EIO : 0;
}

int journal_gather(struct journal *j, bool on)
{
	j->gather = on;
	return on ? 0 : journal_flush(j);
}

static struct journal_segment *journal_find(struct journal *j, uint64_t pos)
{
	size_t i;

	for (i = 0; i < j->nsegs; i++)
		if (pos >= j->segs[i].start && pos < j->segs[i].end)
			return &j->segs[i];
	return NULL;
}

/* The item at pos in the memory copy: 1 with *data pointing at it there,
 * 0 when it is not there (not in the copy, or not whole in it: read from
 * the file). Its bytes are the ones written, checked when they were
 * appended. */
static int journal_mem_item(const struct journal *j, const struct journal_segment *s, uint64_t pos,
			    const unsigned char **data, size_t *len, uint64_t *next)
{
	const unsigned char *p;
	uint32_t magic, l;
	size_t off, have;

	/* While some of it is not in the file yet (an item may be there in
	 * part), all that is not synced is read from here, whatever
	 * read_recent says. */
	if (!j->mem || s != &j->segs[j->nsegs - 1] || pos < s->end - j->nmem ||
	    pos < j->mem_whole ||
	    (!j->opts.read_recent && (!j->nunwritten || pos < s->end - j->nunsynced)))
		return 0;
	off = (size_t)(pos - (s->end - j->nmem));
	have = j->nmem - off;
	p = j->mem + off;
	if (have < JOURNAL_HDR)
		return 0;
	memcpy(&magic, p, 4);
	memcpy(&l, p + 4, 4);
	if (magic != JOURNAL_MAGIC || l > JOURNAL_ITEM_MAX || l > have - JOURNAL_HDR)
		return 0;
	*data = p + JOURNAL_HDR;
	*len = l;
	*next = pos + JOURNAL_HDR + l;
	return 1;
}

static int journal_read_mem(struct journal *j, const struct journal_segment *s, uint64_t pos,
			    void **data, size_t *len, uint64_t *next)
{
	const unsigned char *p;

	if (!journal_mem_item(j, s, pos, &p, len, next))
		return 0;
	if (!(*data = malloc(*len + 1)))
		return -ENOMEM;
	memcpy(*data, p, *len);
	((char *)*data)[*len] = '\0';
	return 1;
}

int journal_peek(struct journal *j, uint64_t pos, const void **data, size_t *len, uint64_t *next)
{
	const struct journal_segment *s = journal_find(j, pos);
	const unsigned char *p;

	*data = NULL;
	if (!s || !journal_mem_item(j, s, pos, &p, len, next))
		return -ENOENT;
	*data = p;
	return 0;
}

int journal_read(struct journal *j, uint64_t pos, void **data, size_t *len, uint64_t *next)
{
	struct journal_segment *s = journal_find(j, pos);
	uint64_t size;
	long l;
	size_t i;
	int fd, mem;

	*data = NULL;
	if (s && (mem = journal_read_mem(j, s, pos, data, len, next)) != 0)
		return mem < 0 ? mem : 0;
	if (!s) {
		if (pos >= journal_end(j))
			return -ENODATA;
		/* Between segments (one is gone): the next one starts later. */
		for (i = 0; i < j->nsegs && j->segs[i].start <= pos; i++)
			;
		*next = i < j->nsegs ? j->segs[i].start : journal_end(j);
		return -EBADMSG;
	}
	if ((fd = journal_read_open(j, s)) < 0) {
		if (fd != -ENOENT)
			return fd;
		*next = s->end; /* the segment file is gone */
		return -EBADMSG;
	}
	size = s->end - s->start;
	l = journal_item_at(fd, pos - s->start, size, data);
	if (l == -2)
		return -ENOMEM;
	if (l < 0) {
		uint64_t from = pos - s->start + JOURNAL_HDR, to;

		to = journal_resync(fd, pos - s->start + 1, size);
		*next = s->start + to;
		/* What is left of it, for a caller that can still tell whose
		 * it was. */
		if (to > from && to - from <= JOURNAL_ITEM_MAX && (*data = malloc(to - from + 1))) {
			if (pread(fd, *data, to - from, (off_t)from) == (ssize_t)(to - from)) {
				((char *)*data)[to - from] = '\0';
				*len = (size_t)(to - from);
			} else {
				free(*data);
				*data = NULL;
			}
		}
		return -EBADMSG;
	}
	*len = (size_t)l;
	*next = pos + JOURNAL_HDR + (uint64_t)l;
	return 0;
}

int journal_last(struct journal *j, void **data, size_t *len)
{
	uint64_t next;
	int ret;

	if (j->last == UINT64_MAX)
		return -ENOENT;
	ret = journal_read(j, j->last, data, len, &next);
	return ret == -EBADMSG ? -ENODATA : ret;
}

int journal_ack(struct journal *j, uint64_t pos)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[32];
	size_t i, keep = 0;
	int fd, n, ret;

	if (pos <= j->acked)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", j->dir);
	snprintf(path, sizeof(path), "%s/cursor", j->dir);
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", pos);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || fdatasync(fd) < 0) {
		close(fd);
		return -EIO;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	if ((ret = journal_fsync_dir(j)) < 0)
		return ret;
	j->acked = pos;
	/* Whole segments before the cursor are done; the last one stays open. */
	for (i = 0; i + 1 < j->nsegs && j->segs[i + 1].start <= pos; i++) {
		if (j->rfd >= 0 && j->rstart == j->segs[i].start)
			journal_read_close(j);
		journal_seg_path(j, j->segs[i].start, path, sizeof(path));
		if (unlink(path) == 0)
			j->stats.segments_removed++;
	}
	keep = i;
	if (keep) {
		memmove(j->segs, j->segs + keep, (j->nsegs - keep) * sizeof(*j->segs));
		j->nsegs -= keep;
		j->dir_dirty = true;
	}
	return 0;
}
