// SPDX-License-Identifier: Apache-2.0
/* Chained hash map, FNV-1a, doubling at load factor 1. */
#include "hmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hmap_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

const char hmap_present;

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hmap_init_free(struct hmap *m, void (*free_value)(void *value))
{
	hmap_init(m);
	m->free_value = free_value;
}

void hmap_clear(struct hmap *m)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		struct hmap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (m->free_value)
				m->free_value(e->value);
			free(e->key);
			free(e);
		}
	}
	free(m->buckets);
	hmap_init_free(m, m->free_value);
}

static struct hmap_entry **hmap_slot(const struct hmap *m, const char *key)
{
	struct hmap_entry **e;

	if (!m->nbuckets)
		return NULL;
	for (e = &m->buckets[hmap_hash(key) & (m->nbuckets - 1)]; *e; e = &(*e)->next)
		if (!strcmp((*e)->key, key))
			return e;
	return e;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_entry **e = hmap_slot(m, key);

	return e && *e ? (*e)->value : NULL;
}

static int hmap_grow(struct hmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 64, i;
	struct hmap_entry **b = calloc(n, sizeof(*b)), *e, *next;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e; e = next) {
			size_t slot = hmap_hash(e->key) & (n - 1);

			next = e->next;
			e->next = b[slot];
			b[slot] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

int hmap_put(struct hmap *m, const char *key, void *value, void **old)
{
	struct hmap_entry **slot, *e;

	if (old)
		*old = NULL;
	if (m->size >= m->nbuckets && hmap_grow(m) < 0)
		return -ENOMEM;
	slot = hmap_slot(m, key);
	if (*slot) {
		if (old)
			*old = (*slot)->value;
		else if (m->free_value && (*slot)->value != value)
			m->free_value((*slot)->value);
		(*slot)->value = value;
		return 0;
	}
	if (!(e = calloc(1, sizeof(*e))) || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	e->value = value;
	*slot = e;
	m->size++;
	return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
	struct hmap_entry **slot = hmap_slot(m, key), *e;
	void *v;

	if (!slot || !*slot)
		return NULL;
	e = *slot;
	*slot = e->next;
	v = e->value;
	free(e->key);
	free(e);
	m->size--;
	return v;
}

int hmap_remove(struct hmap *m, const char *key)
{
	struct hmap_entry **slot = hmap_slot(m, key);
	void *v;

	if (!slot || !*slot)
		return 0;
	v = hmap_del(m, key);
	if (m->free_value)
		m->free_value(v);
	return 1;
}

int hmap_add(struct hmap *m, const char *key)
{
	int ret;

	if (hmap_has(m, key))
		return 0;
	ret = hmap_put(m, key, HMAP_PRESENT, NULL);
	return ret < 0 ? ret : 1;
}

int hmap_has(const struct hmap *m, const char *key)
{
	struct hmap_entry **e = hmap_slot(m, key);

	return e && *e;
}

void hmap_foreach(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
		  void *arg)
{
	size_t i;
	struct hmap_entry *e;

	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}
