// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "unit.h"

static void sum(const char *key, void *value, void *arg)
{
	(void)key;
	*(long *)arg += (long)value;
}

static void test_hmap_put_get_replace_del(void)
{
	struct hmap m;
	void *old;

	hmap_init(&m);
	UNIT_CHECK(hmap_get(&m, "a") == NULL);
	UNIT_CHECK(hmap_put(&m, "a", (void *)1, &old) == 0 && old == NULL);
	UNIT_CHECK(hmap_put(&m, "a", (void *)2, &old) == 0 && old == (void *)1);
	UNIT_CHECK(hmap_get(&m, "a") == (void *)2);
	UNIT_CHECK(m.size == 1);
	UNIT_CHECK(hmap_del(&m, "a") == (void *)2);
	UNIT_CHECK(hmap_del(&m, "a") == NULL);
	UNIT_CHECK(m.size == 0);
	hmap_clear(&m);
}

static void test_hmap_grows_and_keeps_everything(void)
{
	struct hmap m;
	char key[32];
	long i, total = 0, ok = 1;

	hmap_init(&m);
	for (i = 1; i <= 10000; i++) {
		snprintf(key, sizeof(key), "ns/pod-%ld", i);
		hmap_put(&m, key, (void *)i, NULL);
	}
	UNIT_CHECK(m.size == 10000);
	for (i = 1; i <= 10000; i++) {
		snprintf(key, sizeof(key), "ns/pod-%ld", i);
		if (hmap_get(&m, key) != (void *)i)
			ok = 0;
	}
	UNIT_CHECK(ok);
	hmap_foreach(&m, sum, &total);
	UNIT_CHECK(total == 10000L * 10001 / 2);
	hmap_clear(&m);
	UNIT_CHECK(m.size == 0 && hmap_get(&m, "ns/pod-1") == NULL);
}

static int freed;

static void count_free(void *value)
{
	freed++;
	free(value);
}

static void test_hmap_owning_map_frees_dropped_and_replaced_values(void)
{
	struct hmap m;
	void *old;

	freed = 0;
	hmap_init_free(&m, count_free);
	UNIT_CHECK(hmap_put(&m, "a", malloc(1), NULL) == 0);
	UNIT_CHECK(hmap_put(&m, "b", malloc(1), NULL) == 0);
	UNIT_CHECK(hmap_put(&m, "c", malloc(1), NULL) == 0);
	UNIT_CHECK(hmap_put(&m, "a", malloc(1), NULL) == 0); /* the first "a" is freed */
	UNIT_CHECK(freed == 1);
	UNIT_CHECK(hmap_put(&m, "b", malloc(1), &old) == 0 && old); /* taken back: not freed */
	UNIT_CHECK(freed == 1);
	free(old);
	UNIT_CHECK(hmap_remove(&m, "c") == 1 && freed == 2);
	UNIT_CHECK(hmap_remove(&m, "c") == 0 && freed == 2);
	free(hmap_del(&m, "b")); /* the caller's now */
	UNIT_CHECK(freed == 2);
	hmap_clear(&m);
	UNIT_CHECK(freed == 3 && m.size == 0);
	/* Still owning after a clear. */
	UNIT_CHECK(hmap_put(&m, "d", malloc(1), NULL) == 0);
	hmap_clear(&m);
	UNIT_CHECK(freed == 4);
}

static void test_hmap_set_mode(void)
{
	struct hmap s;

	hmap_init(&s);
	UNIT_CHECK(!hmap_has(&s, "x"));
	UNIT_CHECK(hmap_add(&s, "x") == 1);
	UNIT_CHECK(hmap_add(&s, "x") == 0);
	UNIT_CHECK(hmap_has(&s, "x") && s.size == 1);
	UNIT_CHECK(hmap_get(&s, "x") == HMAP_PRESENT);
	UNIT_CHECK(hmap_remove(&s, "x") == 1 && !hmap_has(&s, "x"));
	hmap_clear(&s);
}

UNIT_MAIN(UNIT_TEST(test_hmap_put_get_replace_del), UNIT_TEST(test_hmap_grows_and_keeps_everything),
	  UNIT_TEST(test_hmap_owning_map_frees_dropped_and_replaced_values),
	  UNIT_TEST(test_hmap_set_mode))
