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

UNIT_MAIN(UNIT_TEST(test_hmap_put_get_replace_del), UNIT_TEST(test_hmap_grows_and_keeps_everything))
