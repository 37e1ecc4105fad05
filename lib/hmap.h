/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map with chaining; the map owns its keys, not values. */
#ifndef SHELLAUDIT_HMAP_H
#define SHELLAUDIT_HMAP_H

#include <stddef.h>

struct hmap_entry {
	char *key;
	void *value;
	struct hmap_entry *next;
};

struct hmap {
	struct hmap_entry **buckets;
	size_t nbuckets;
	size_t size;
};

void hmap_init(struct hmap *m);
/* Frees keys and entries; values are the caller's (free them first with
 * hmap_foreach if the map owns them by convention). */
void hmap_clear(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; *old (if non-NULL) gets the replaced value or NULL. */
int hmap_put(struct hmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Calls fn for each entry (no insertion or removal meanwhile). */
void hmap_foreach(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
		  void *arg);

#endif
