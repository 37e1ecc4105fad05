/* SPDX-License-Identifier: Apache-2.0 */
/* A work queue of string keys for level-triggered reconcilers: a key is
 * queued at most once, failures are retried with exponential backoff, and
 * the loop asks how long it may sleep. Owned by one thread. */
#ifndef SHELLAUDIT_WORKQUEUE_H
#define SHELLAUDIT_WORKQUEUE_H

#include <stddef.h>

#include "hmap.h"

struct workqueue {
	struct hmap items;	/* key -> struct workqueue_item */
	long base_ms, max_ms;	/* retry backoff [100 ms .. 60 s] */
	size_t queued;
};

void workqueue_init(struct workqueue *q, long base_ms, long max_ms);
void workqueue_clear(struct workqueue *q);
/* Queues key to be ready after delay_ms (0: now); an earlier time wins. */
int workqueue_add(struct workqueue *q, const char *key, long delay_ms);
/* Takes the ready key due first into buf; 0 when none is ready. */
int workqueue_pop(struct workqueue *q, char *buf, size_t cap);
/* The key failed: queue it again after its backoff (doubling from base_ms
 * to max_ms, jittered by +-20%); returns that delay. */
long workqueue_fail(struct workqueue *q, const char *key);
/* The key succeeded: its backoff starts over. */
void workqueue_forget(struct workqueue *q, const char *key);
/* Milliseconds until the next key is ready: 0 now, -1 when empty. */
long workqueue_next_ms(const struct workqueue *q);
size_t workqueue_len(const struct workqueue *q);

#endif
