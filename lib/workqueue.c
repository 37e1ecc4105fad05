// SPDX-License-Identifier: Apache-2.0
/* Work queue over a hash map: small enough that scanning for the earliest
 * ready key is cheaper than keeping a heap consistent with re-adds. */
#include "workqueue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ratelimit.h"

struct workqueue_item {
	long ready_at;		/* monotonic ms */
	int failures;
	bool queued;
};

void workqueue_init(struct workqueue *q, long base_ms, long max_ms)
{
	hmap_init_free(&q->items, free);
	q->base_ms = base_ms > 0 ? base_ms : 100;
	q->max_ms = max_ms > 0 ? max_ms : 60000;
	q->queued = 0;
}

void workqueue_clear(struct workqueue *q)
{
	hmap_clear(&q->items);
	q->queued = 0;
}

static struct workqueue_item *workqueue_item(struct workqueue *q, const char *key)
{
	struct workqueue_item *it = hmap_get(&q->items, key);

	if (it)
		return it;
	if (!(it = calloc(1, sizeof(*it))))
		return NULL;
	if (hmap_put(&q->items, key, it, NULL) < 0) {
		free(it);
		return NULL;
	}
	return it;
}

int workqueue_add(struct workqueue *q, const char *key, long delay_ms)
{
	struct workqueue_item *it = workqueue_item(q, key);
	long at = clock_now_ms() + (delay_ms > 0 ? delay_ms : 0);

	if (!it)
		return -ENOMEM;
	if (!it->queued) {
		it->queued = true;
		it->ready_at = at;
		q->queued++;
	} else if (at < it->ready_at) {
		it->ready_at = at;
	}
	return 0;
}

struct workqueue_scan {
	const char *key;
	long at;
};

static void workqueue_earliest(const char *key, void *value, void *arg)
{
	struct workqueue_item *it = value;
	struct workqueue_scan *s = arg;

	if (it->queued && (!s->key || it->ready_at < s->at)) {
		s->key = key;
		s->at = it->ready_at;
	}
}

int workqueue_pop(struct workqueue *q, char *buf, size_t cap)
{
	struct workqueue_scan s = { NULL, 0 };
	struct workqueue_item *it;

	hmap_foreach(&q->items, workqueue_earliest, &s);
	if (!s.key || s.at > clock_now_ms())
		return 0;
	snprintf(buf, cap, "%s", s.key);
	it = hmap_get(&q->items, s.key);
	it->queued = false;
	q->queued--;
	return 1;
}

long workqueue_fail(struct workqueue *q, const char *key)
{
	struct workqueue_item *it = workqueue_item(q, key);
	long delay;

	if (!it)
		return -ENOMEM;
	/* Jittered, so that keys failing together do not retry in step. */
	delay = jitter_ms(backoff_delay_ms(q->base_ms, q->max_ms, (unsigned)it->failures), 0.2);
	it->failures++;
	workqueue_add(q, key, delay);
	return delay;
}

void workqueue_forget(struct workqueue *q, const char *key)
{
	struct workqueue_item *it = hmap_get(&q->items, key);

	if (it && !it->queued)
		hmap_remove(&q->items, key);
	else if (it)
		it->failures = 0;
}

long workqueue_next_ms(const struct workqueue *q)
{
	struct workqueue_scan s = { NULL, 0 };
	long now;

	hmap_foreach(&q->items, workqueue_earliest, &s);
	if (!s.key)
		return -1;
	now = clock_now_ms();
	return s.at <= now ? 0 : s.at - now;
}

size_t workqueue_len(const struct workqueue *q)
{
	return q->queued;
}
