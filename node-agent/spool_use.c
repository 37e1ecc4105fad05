// SPDX-License-Identifier: Apache-2.0
/* spool_use: what each container holds of the spool; see spool_use.h. */
#include "spool_use.h"

#include <errno.h>
#include <stdlib.h>

#include "hmap.h"

/* The bytes of the items that end at positions [idx * bucket_bytes,
 * (idx + 1) * bucket_bytes). */
struct spool_use_bucket {
	uint64_t idx;
	struct hmap by_cid; /* cid -> uint64_t bytes, owned */
};

struct spool_use {
	uint64_t bucket_bytes;
	struct spool_use_bucket *b; /* oldest first */
	size_t n, cap;
	struct hmap total; /* cid -> uint64_t bytes, owned */
};

int spool_use_new(uint64_t bucket_bytes, struct spool_use **out)
{
	struct spool_use *u;

	if (!bucket_bytes)
		return -EINVAL;
	if (!(u = calloc(1, sizeof(*u))))
		return -ENOMEM;
	u->bucket_bytes = bucket_bytes;
	hmap_init_free(&u->total, free);
	*out = u;
	return 0;
}

void spool_use_free(struct spool_use *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->n; i++)
		hmap_clear(&u->b[i].by_cid);
	free(u->b);
	hmap_clear(&u->total);
	free(u);
}

/* Adds len to m's counter for cid, made if new. */
static int spool_use_count(struct hmap *m, const char *cid, uint64_t len)
{
	uint64_t *v = hmap_get(m, cid);

	if (v) {
		*v += len;
		return 0;
	}
	if (!(v = malloc(sizeof(*v))))
		return -ENOMEM;
	*v = len;
	if (hmap_put(m, cid, v, NULL) < 0) {
		free(v);
		return -ENOMEM;
	}
	return 0;
}

int spool_use_add(struct spool_use *u, const char *cid, uint64_t pos, uint64_t len)
{
	/* In the range of its last byte: given back only once it is all
	 * acknowledged. */
	uint64_t idx = (pos + (len ? len - 1 : 0)) / u->bucket_bytes;
	struct spool_use_bucket *last = u->n ? &u->b[u->n - 1] : NULL;
	uint64_t *v;
	int ret;

	if (!last || last->idx < idx) {
		if (u->n == u->cap || !u->b) {
			size_t cap = u->cap ? 2 * u->cap : 16;
			struct spool_use_bucket *b = realloc(u->b, cap * sizeof(*b));

			if (!b)
				return -ENOMEM;
			u->b = b;
			u->cap = cap;
		}
		last = &u->b[u->n++];
		last->idx = idx;
		hmap_init_free(&last->by_cid, free);
	}
	if ((ret = spool_use_count(&last->by_cid, cid, len)) < 0)
		return ret;
	if ((ret = spool_use_count(&u->total, cid, len)) < 0) {
		v = hmap_get(&last->by_cid, cid);
		*v -= len; /* uncounted in both */
		return ret;
	}
	return 0;
}

static void spool_use_give_back(const char *cid, void *value, void *arg)
{
	struct spool_use *u = arg;
	uint64_t *t = hmap_get(&u->total, cid), len = *(uint64_t *)value;

	if (!t)
		return;
	if (*t > len)
		*t -= len;
	else
		hmap_remove(&u->total, cid);
}

void spool_use_ack(struct spool_use *u, uint64_t acked)
{
	size_t done = 0, i;

	while (done < u->n && (u->b[done].idx + 1) * u->bucket_bytes <= acked) {
		hmap_foreach(&u->b[done].by_cid, spool_use_give_back, u);
		hmap_clear(&u->b[done].by_cid);
		done++;
	}
	if (!done)
		return;
	for (i = done; i < u->n; i++)
		u->b[i - done] = u->b[i];
	u->n -= done;
}

uint64_t spool_use_of(const struct spool_use *u, const char *cid)
{
	const uint64_t *v = u && cid ? hmap_get(&u->total, cid) : NULL;

	return v ? *v : 0;
}
