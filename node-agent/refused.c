// SPDX-License-Identifier: Apache-2.0
/* The table of refused ELF files (see refused.h). One line per file:
 *
 *   v1 <id> <errno> <retry_at> <backoff_s> <seen> <why...>
 *
 * ids are "<size>-<64 hex>", numbers decimal, why printable ASCII. */
#include "refused.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct refused {
	char path[PATH_MAX];
	struct refused_entry e[REFUSED_MAX];
	size_t n;
	bool dirty;
	int64_t saved; /* unix seconds of the last write */
};

static bool refused_id_ok(const char *id)
{
	size_t i, n = strlen(id);
	const char *dash = strchr(id, '-');

	if (n == 0 || n >= ELFSYM_ID_LEN || !dash || dash == id || strlen(dash + 1) != 64)
		return false;
	for (i = 0; i < n; i++)
		if (!(id[i] >= '0' && id[i] <= '9') && !(id[i] >= 'a' && id[i] <= 'f') &&
		    id + i != dash)
			return false;
	return true;
}

/* Copies why (up to a newline), printable ASCII only, bounded. */
static void refused_set_why(char dst[REFUSED_WHY_MAX], const char *why)
{
	size_t i;

	for (i = 0; why && why[i] && why[i] != '\n' && i < REFUSED_WHY_MAX - 1; i++)
		dst[i] = why[i] >= 0x20 && why[i] < 0x7f ? why[i] : '?';
	dst[i] = '\0';
}

/* The next number of a line at *p, in [min, max], ending at a space or the
 * end; *p moves past it. (sscanf's %d cannot say a number overflowed.) */
static int refused_next_num(const char **p, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(*p, &end, 10);
	if (end == *p || errno || *out < min || *out > max || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	*p = end;
	return 0;
}

int refused_parse_line(const char *line, struct refused_entry *e)
{
	char id[ELFSYM_ID_LEN];
	long long err, retry, backoff, seen;
	const char *p;
	int used = 0;

	memset(e, 0, sizeof(*e));
	if (strlen(line) > 512)
		return -EINVAL;
	if (sscanf(line, "v1 %95s%n", id, &used) != 1 || used == 0 || !refused_id_ok(id))
		return -EINVAL;
	p = line + used;
	if (refused_next_num(&p, -4095, -1, &err) || refused_next_num(&p, 0, LLONG_MAX, &retry) ||
	    refused_next_num(&p, 0, REFUSED_RETRY_MAX_S, &backoff) ||
	    refused_next_num(&p, 0, LLONG_MAX, &seen))
		return -EINVAL;
	while (*p == ' ')
		p++;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->err = (int)err;
	e->retry_at = retry;
	e->backoff_s = (unsigned int)backoff;
	e->seen = seen;
	refused_set_why(e->why, p);
	return 0;
}

static struct refused_entry *refused_lookup(struct refused *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->e[i].id, id))
			return &r->e[i];
	return NULL;
}

/* A slot for a new entry: a free one, else the least recently seen. */
static struct refused_entry *refused_slot(struct refused *r)
{
	size_t i, old = 0;

	if (r->n < REFUSED_MAX) {
		memset(&r->e[r->n], 0, sizeof(r->e[r->n]));
		return &r->e[r->n++];
	}
	for (i = 1; i < r->n; i++)
		if (r->e[i].seen < r->e[old].seen)
			old = i;
	return &r->e[old];
}

static int refused_load(struct refused *r)
{
	char line[600];
	struct refused_entry e, *s;
	struct stat st;
	FILE *f;
	int ch;

	f = fopen(r->path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > REFUSED_FILE_MAX) {
		fclose(f);
		return -EFBIG;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n') && !feof(f)) {
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		if (refused_parse_line(line, &e) || refused_lookup(r, e.id))
			continue;
		s = refused_slot(r);
		if (s->seen <= e.seen)
			*s = e;
	}
	fclose(f);
	return 0;
}

int refused_open(const char *dir, struct refused **out)
{
	struct refused *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	*out = r;
	if (!dir || !*dir)
		return 0;
	if (snprintf(r->path, sizeof(r->path), "%s/%s", dir, REFUSED_FILE) >=
	    (int)sizeof(r->path)) {
		r->path[0] = '\0';
		return -ENAMETOOLONG;
	}
	return refused_load(r);
}

int refused_close(struct refused *r)
{
	int err;

	if (!r)
		return 0;
	err = refused_flush(r, r->saved, true);
	free(r);
	return err < 0 ? err : 0;
}

const struct refused_entry *refused_find(struct refused *r, const char *id, int64_t now)
{
	struct refused_entry *e = id && *id ? refused_lookup(r, id) : NULL;

	if (!e || (e->retry_at && now >= e->retry_at))
		return NULL;
	/* Kept fresh in memory only: a write per sighting would be a write
	 * per exec of a refused program. */
	e->seen = now;
	return e;
}

int refused_add(struct refused *r, const char *id, int err, const char *why, bool retry,
		int64_t now)
{
	struct refused_entry *e;
	uint32_t backoff;

	if (!id || !refused_id_ok(id))
		return -EINVAL;
	e = refused_lookup(r, id);
	backoff = e && e->backoff_s ? e->backoff_s * 2 : REFUSED_RETRY_MIN_S;
	if (backoff > REFUSED_RETRY_MAX_S)
		backoff = REFUSED_RETRY_MAX_S;
	if (!e) {
		e = refused_slot(r);
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	e->err = err < 0 ? err : -EINVAL;
	refused_set_why(e->why, why);
	e->retry_at = retry ? now + backoff : 0;
	e->backoff_s = retry ? backoff : 0;
	e->seen = now;
	r->dirty = true;
	return 0;
}

void refused_forget(struct refused *r, const char *id)
{
	struct refused_entry *e = refused_lookup(r, id);

	if (!e)
		return;
	*e = r->e[--r->n];
	r->dirty = true;
}

static int refused_write(struct refused *r)
{
	char tmp[PATH_MAX + 8];
	size_t i;
	FILE *f;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	for (i = 0; i < r->n; i++) {
		const struct refused_entry *e = &r->e[i];

		fprintf(f, "v1 %s %d %" PRId64 " %u %" PRId64 " %s\n", e->id, e->err, e->retry_at,
			e->backoff_s, e->seen, e->why);
	}
	/* No fsync: a table lost to a power cut costs one more look at the
	 * files, while a sync per refusal would cost the loop far more. */
	if (fflush(f) || ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && rename(tmp, r->path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int refused_flush(struct refused *r, int64_t now, bool force)
{
	int err;

	if (!r->dirty || !r->path[0])
		return 0;
	if (!force && now - r->saved < REFUSED_SAVE_S)
		return 0;
	err = refused_write(r);
	r->saved = now;
	if (err)
		return err;
	r->dirty = false;
	return 1;
}

size_t refused_count(const struct refused *r)
{
	return r->n;
}

const char *refused_path(const struct refused *r)
{
	return r->path;
}
