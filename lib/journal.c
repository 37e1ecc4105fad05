// SPDX-License-Identifier: Apache-2.0
/*
 * Journal layout: <dir>/<start>.seg segment files named by the position of
 * their first byte (16 hex digits), items as
 *   u32 magic | u32 length | u32 crc32 of the payload | payload
 * and <dir>/cursor holding the acknowledged position, replaced by rename.
 * Positions are global byte offsets, so they survive segment removal.
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

#include "log.h"

#define JOURNAL_MAGIC 0x53414a31u /* "SAJ1" */
#define JOURNAL_HDR 12
#define JOURNAL_MAX_SEGMENTS 4096

struct journal_segment {
	uint64_t start, end;	/* [start, end) valid bytes */
};

struct journal {
	char dir[PATH_MAX - 64];
	struct journal_opts opts;
	struct journal_segment *segs;
	size_t nsegs;
	int wfd;		/* the last segment, open for appending */
	uint64_t acked;
	uint64_t last;		/* position of the last item, UINT64_MAX: none */
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

/* Scans a segment's items; returns the length of its valid prefix. */
/* Returns the length of the valid prefix; *last gets the offset of its
 * last item (unchanged when there is none). */
static uint64_t journal_scan(int fd, uint64_t size, uint64_t *last)
{
	unsigned char hdr[JOURNAL_HDR], *buf = NULL;
	uint64_t off = 0;
	uint32_t magic, len, crc;

	while (off + JOURNAL_HDR <= size) {
		if (pread(fd, hdr, JOURNAL_HDR, (off_t)off) != JOURNAL_HDR)
			break;
		memcpy(&magic, hdr, 4);
		memcpy(&len, hdr + 4, 4);
		memcpy(&crc, hdr + 8, 4);
		if (magic != JOURNAL_MAGIC || len > JOURNAL_ITEM_MAX ||
		    off + JOURNAL_HDR + len > size)
			break;
		free(buf);
		if (!(buf = malloc(len ? len : 1)) ||
		    pread(fd, buf, len, (off_t)(off + JOURNAL_HDR)) != (ssize_t)len ||
		    (uint32_t)crc32(0, buf, len) != crc)
			break;
		*last = off;
		off += JOURNAL_HDR + len;
	}
	free(buf);
	return off;
}

static int journal_read_cursor(struct journal *j)
{
	char path[PATH_MAX], buf[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/cursor", j->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	j->acked = strtoull(buf, NULL, 10);
	return 0;
}

static int journal_load(struct journal *j)
{
	DIR *d = opendir(j->dir);
	struct dirent *de;
	char path[PATH_MAX];
	size_t i;
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
	if (ret < 0)
		return ret;
	if (j->nsegs)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), journal_cmp_seg);
	for (i = 0; i < j->nsegs; i++) {
		struct stat st;
		uint64_t valid, last = UINT64_MAX;
		int fd;

		journal_seg_path(j, j->segs[i].start, path, sizeof(path));
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			if (fd >= 0)
				close(fd);
			return ret;
		}
		valid = journal_scan(fd, (uint64_t)st.st_size, &last);
		if (last != UINT64_MAX)
			j->last = j->segs[i].start + last;
		if (valid < (uint64_t)st.st_size) {
			/* A crash mid-append leaves a partial item: cut it, say so. */
			log_with(LOG_WARN, LOG_KV("segment", path),
				 "journal: cutting %" PRIu64 " bytes of torn or corrupt tail",
				 (uint64_t)st.st_size - valid);
			j->stats.torn_bytes += (uint64_t)st.st_size - valid;
			if (ftruncate(fd, (off_t)valid) < 0)
				ret = -errno;
		}
		close(fd);
		if (ret < 0)
			return ret;
		j->segs[i].end = j->segs[i].start + valid;
	}
	return 0;
}

static int journal_new_segment(struct journal *j, uint64_t start)
{
	struct journal_segment *s;
	char path[PATH_MAX];

	if (j->wfd >= 0)
		close(j->wfd);
	journal_seg_path(j, start, path, sizeof(path));
	j->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->wfd < 0)
		return -errno;
	if (j->nsegs && j->segs[j->nsegs - 1].start == start)
		return 0;
	if (!(s = realloc(j->segs, (j->nsegs + 1) * sizeof(*s))))
		return -ENOMEM;
	j->segs = s;
	j->segs[j->nsegs++] = (struct journal_segment){ start, start };
	return 0;
}

int journal_open(const struct journal_opts *opts, struct journal **out)
{
	struct journal *j = calloc(1, sizeof(*j));
	int ret;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	j->wfd = -1;
	j->last = UINT64_MAX;
	j->opts = *opts;
	if (!j->opts.segment_bytes)
		j->opts.segment_bytes = 4u << 20;
	if (!j->opts.max_bytes)
		j->opts.max_bytes = 256u << 20;
	if (snprintf(j->dir, sizeof(j->dir), "%s", opts->dir) >= (int)sizeof(j->dir)) {
		ret = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_with(LOG_ERROR, LOG_KV("dir", j->dir), "journal: cannot create: %s",
			 strerror(errno));
		goto fail;
	}
	if ((ret = journal_read_cursor(j)) < 0 || (ret = journal_load(j)) < 0)
		goto fail;
	ret = journal_new_segment(j, j->nsegs ? j->segs[j->nsegs - 1].start : j->acked);
	if (ret < 0)
		goto fail;
	/* A cursor past the end (segments lost) restarts at the end. */
	if (j->acked > journal_end(j))
		j->acked = journal_end(j);
	if (j->nsegs && j->acked < j->segs[0].start)
		j->acked = j->segs[0].start;
	*out = j;
	return 0;
fail:
	journal_close(j);
	return ret;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->wfd >= 0)
		close(j->wfd);
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

void journal_get_stats(const struct journal *j, struct journal_stats *out)
{
	*out = j->stats;
}

int journal_append(struct journal *j, const void *data, size_t len, uint64_t *pos)
{
	struct journal_segment *last;
	unsigned char hdr[JOURNAL_HDR];
	uint32_t magic = JOURNAL_MAGIC, l = (uint32_t)len, crc;
	ssize_t n;
	int ret;

	if (len > JOURNAL_ITEM_MAX)
		return -E2BIG;
	if (journal_end(j) - j->acked + JOURNAL_HDR + len > j->opts.max_bytes) {
		j->stats.rejected_full++;
		return -ENOSPC;
	}
	last = &j->segs[j->nsegs - 1];
	if (last->end - last->start >= j->opts.segment_bytes &&
	    (ret = journal_new_segment(j, last->end)) < 0)
		return ret;
	last = &j->segs[j->nsegs - 1];
	crc = (uint32_t)crc32(0, data, (uInt)len);
	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &l, 4);
	memcpy(hdr + 8, &crc, 4);
	{
		unsigned char *buf = malloc(JOURNAL_HDR + len);

		if (!buf)
			return -ENOMEM;
		memcpy(buf, hdr, JOURNAL_HDR);
		memcpy(buf + JOURNAL_HDR, data, len);
		/* One write: a crash leaves a whole item or a torn tail the
		 * next open cuts, never an item spliced with another. */
		n = write(j->wfd, buf, JOURNAL_HDR + len);
		free(buf);
	}
	if (n != (ssize_t)(JOURNAL_HDR + len)) {
		ret = n < 0 ? -errno : -EIO;
		/* Leave no partial item behind for the reader. */
		if (ftruncate(j->wfd, (off_t)(last->end - last->start)) < 0)
			log_error("journal: cannot cut a failed append: %s", strerror(errno));
		return ret;
	}
	if (pos)
		*pos = last->end;
	j->last = last->end;
	last->end += JOURNAL_HDR + len;
	j->stats.appended++;
	j->stats.append_bytes += len;
	return 0;
}

int journal_sync(struct journal *j)
{
	return j->wfd >= 0 && fdatasync(j->wfd) < 0 ? -errno : 0;
}

static struct journal_segment *journal_find(struct journal *j, uint64_t pos)
{
	size_t i;

	for (i = 0; i < j->nsegs; i++)
		if (pos >= j->segs[i].start && pos < j->segs[i].end)
			return &j->segs[i];
	return NULL;
}

int journal_read(struct journal *j, uint64_t pos, void **data, size_t *len, uint64_t *next)
{
	struct journal_segment *s = journal_find(j, pos);
	unsigned char hdr[JOURNAL_HDR];
	char path[PATH_MAX];
	uint32_t l;
	void *buf;
	int fd, ret = 0;

	if (!s) {
		/* Past the end of one segment: the next one starts there. */
		return -ENODATA;
	}
	journal_seg_path(j, s->start, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (pread(fd, hdr, JOURNAL_HDR, (off_t)(pos - s->start)) != JOURNAL_HDR) {
		ret = -EIO;
		goto out;
	}
	memcpy(&l, hdr + 4, 4);
	if (l > JOURNAL_ITEM_MAX || pos + JOURNAL_HDR + l > s->end) {
		ret = -EIO;
		goto out;
	}
	if (!(buf = malloc(l + 1))) {
		ret = -ENOMEM;
		goto out;
	}
	if (pread(fd, buf, l, (off_t)(pos - s->start + JOURNAL_HDR)) != (ssize_t)l) {
		free(buf);
		ret = -EIO;
		goto out;
	}
	((char *)buf)[l] = '\0';
	*data = buf;
	*len = l;
	*next = pos + JOURNAL_HDR + l;
out:
	close(fd);
	return ret;
}

int journal_last(struct journal *j, void **data, size_t *len)
{
	uint64_t next;

	if (j->last == UINT64_MAX)
		return -ENOENT;
	return journal_read(j, j->last, data, len, &next);
}

int journal_ack(struct journal *j, uint64_t pos)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[32];
	size_t i, keep = 0;
	int fd, n, dfd;

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
	if ((dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	j->acked = pos;
	/* Whole segments before the cursor are done; the last one stays open. */
	for (i = 0; i + 1 < j->nsegs && j->segs[i + 1].start <= pos; i++) {
		journal_seg_path(j, j->segs[i].start, path, sizeof(path));
		if (unlink(path) == 0)
			j->stats.segments_removed++;
	}
	keep = i;
	if (keep) {
		memmove(j->segs, j->segs + keep, (j->nsegs - keep) * sizeof(*j->segs));
		j->nsegs -= keep;
	}
	return 0;
}
