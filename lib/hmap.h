/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map with chaining. The map owns its keys; it owns its
 * values too when it was given a destructor (hmap_init_free), as redis's
 * dictType frees them. A set is a map whose values are all HMAP_PRESENT. */
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
	void (*free_value)(void *value);	/* NULL: values are the caller's */
};

/* The value of every key of a set. */
#define HMAP_PRESENT ((void *)&hmap_present)
extern const char hmap_present;

/* A map whose values are the caller's. */
void hmap_init(struct hmap *m);
/* A map that owns its values: free_value (free(3), say) is called on each
 * value that hmap_clear drops and on each value hmap_put replaces when the
 * caller does not take it back through `old`. */
void hmap_init_free(struct hmap *m, void (*free_value)(void *value));
/* Frees keys, entries and owned values; the map stays usable (empty), with
 * its destructor. */
void hmap_clear(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces; *old (if non-NULL) gets the replaced value or NULL,
 * and the caller then owns it. On failure the map did not take `value`. */
int hmap_put(struct hmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value (the caller now owns it) or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Removes key and frees its value if the map owns values; 1 removed, 0 absent. */
int hmap_remove(struct hmap *m, const char *key);

/* Set mode: adds key (1 added, 0 already there, -ENOMEM); whether it is there. */
int hmap_add(struct hmap *m, const char *key);
int hmap_has(const struct hmap *m, const char *key);
/* Calls fn for each entry (no insertion or removal meanwhile). */
void hmap_foreach(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
		  void *arg);

#endif
