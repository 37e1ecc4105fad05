// SPDX-License-Identifier: Apache-2.0
/* export: entries as JSON lines for a log pipeline; see export.h. */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsontext.h"
#include "timefmt.h"
#include "util.h"

struct export {
	int fd;
	bool owns_fd;
	char *buf; /* lines the output has not taken yet */
	size_t len, cap;
	uint64_t pending_gap; /* lines dropped since the last gap line */
	struct export_stats stats;
};

int export_open_fd(int fd, struct export **out)
{
	struct export *x;
	struct stat st;
	int fl;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	if (!(x = calloc(1, sizeof(*x))))
		return -ENOMEM;
	/* A reader that stalls (a pipe, a socket) must not stall capture. */
	if ((S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && (fl = fcntl(fd, F_GETFL)) >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	x->fd = fd;
	*out = x;
	return 0;
}

int export_open(const char *path, struct export **out)
{
	int fd, ret;

	if (!path || !strcmp(path, "-"))
		return export_open_fd(STDOUT_FILENO, out);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if ((ret = export_open_fd(fd, out)) < 0) {
		close(fd);
		return ret;
	}
	(*out)->owns_fd = true;
	return 0;
}

/* Writes the buffer's head as far as the output takes it now. */
static void export_drain(struct export *x)
{
	size_t done = 0;
	ssize_t n;

	while (done < x->len) {
		n = write(x->fd, x->buf + done, x->len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		/* The output is gone or full (EPIPE, ENOSPC, EIO): what it
		 * held is lost; the lines are counted. */
		for (size_t i = done; i < x->len; i++)
			if (x->buf[i] == '\n')
				x->pending_gap++, x->stats.dropped++;
		done = x->len;
	}
	if (done && done < x->len)
		memmove(x->buf, x->buf + done, x->len - done);
	x->len -= done;
}

/* Appends one line (with its newline) to the buffer; false when it does
 * not fit the bound. */
static bool export_append(struct export *x, const char *line, size_t n)
{
	size_t cap;
	char *b;

	if (x->len + n + 1 > EXPORT_BUFFER_MAX)
		return false;
	if (x->len + n + 1 > x->cap) {
		cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > EXPORT_BUFFER_MAX)
			cap = EXPORT_BUFFER_MAX;
		if (!(b = realloc(x->buf, cap)))
			return false;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, line, n);
	x->buf[x->len + n] = '\n';
	x->len += n + 1;
	return true;
}

/* The gap line for what was dropped, once the reader has caught up with
 * half the buffer (not at the first free byte: one gap per stall). */
static void export_gap(struct export *x)
{
	char line[200], ts[40];
	struct timespec now;
	int n;

	if (!x->pending_gap || x->len > EXPORT_BUFFER_MAX / 2)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, ts, sizeof(ts));
	n = snprintf(line, sizeof(line),
		     "{\"time\":\"%s\",\"kind\":\"gap\",\"count\":%" PRIu64
		     ",\"text\":\"%" PRIu64 " entries lost: the export output did not keep up\"}",
		     ts, x->pending_gap, x->pending_gap);
	if (n > 0 && (size_t)n < sizeof(line) && export_append(x, line, (size_t)n)) {
		x->stats.gaps++;
		x->pending_gap = 0;
	}
}

int export_entry(struct export *x, const cJSON *id, const cJSON *sess, const cJSON *entry)
{
	static const struct {
		const char *from, *to;
	} idkeys[] = {
		{ "node", "node" },	      { "ns", "namespace" },
		{ "pod", "pod" },	      { "podUID", "podUID" },
		{ "container", "container" }, { "containerID", "containerID" },
	};
	cJSON *o, *item;
	char *line;
	size_t i;

	if (!x)
		return 0;
	if (!(o = cJSON_CreateObject()))
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(idkeys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(id, idkeys[i].from);

		if (cJSON_IsString(v))
			cJSON_AddStringToObject(o, idkeys[i].to, v->valuestring);
	}
	if (sess)
		cJSON_AddItemToObject(o, "session", cJSON_Duplicate(sess, 1));
	cJSON_ArrayForEach(item, entry)
	{
		if (item->string && !cJSON_GetObjectItemCaseSensitive(o, item->string))
			cJSON_AddItemToObject(o, item->string, cJSON_Duplicate(item, 1));
	}
	line = jsontext_print(o, NULL);
	cJSON_Delete(o);
	if (!line)
		return -ENOMEM;
	export_drain(x);
	export_gap(x);
	if (!x->pending_gap && export_append(x, line, strlen(line))) {
		x->stats.lines++;
	} else {
		x->pending_gap++;
		x->stats.dropped++;
	}
	free(line);
	export_drain(x);
	return 0;
}

void export_flush(struct export *x)
{
	if (!x)
		return;
	export_drain(x);
	export_gap(x);
	export_drain(x);
}

void export_get_stats(const struct export *x, struct export_stats *out)
{
	if (x)
		*out = x->stats;
	else
		memset(out, 0, sizeof(*out));
}

void export_free(struct export *x)
{
	if (!x)
		return;
	export_flush(x);
	if (x->owns_fd)
		close(x->fd);
	free(x->buf);
	free(x);
}
