// SPDX-License-Identifier: Apache-2.0
/* spool_use: each container's bytes in the spool, given back as the
 * acknowledged position passes whole ranges, never under what it holds. */
#include <errno.h>

#include "spool_use.h"
#include "unit.h"

static void test_spool_use_counts_per_container(void)
{
	struct spool_use *u = NULL;

	UNIT_CHECK(spool_use_new(0, &u) == -EINVAL);
	UNIT_CHECK(spool_use_new(100, &u) == 0);
	UNIT_CHECK(spool_use_of(u, "a") == 0 && spool_use_of(NULL, "a") == 0);
	UNIT_CHECK(spool_use_add(u, "a", 0, 40) == 0);
	UNIT_CHECK(spool_use_add(u, "b", 40, 30) == 0);
	UNIT_CHECK(spool_use_add(u, "a", 70, 50) == 0);
	UNIT_CHECK(spool_use_of(u, "a") == 90 && spool_use_of(u, "b") == 30);
	spool_use_free(u);
	spool_use_free(NULL);
}

/* An acknowledgement inside a range gives nothing back yet (the figure may
 * be over, by a range at most, never under); past the range it gives back
 * what that range held. */
static void test_spool_use_ack_gives_back_whole_ranges(void)
{
	struct spool_use *u = NULL;
	uint64_t pos = 0;
	int i;

	UNIT_CHECK(spool_use_new(100, &u) == 0);
	/* a: 10 items of 30 bytes (0..300), then b: 4 of 50 (300..500). */
	for (i = 0; i < 10; i++, pos += 30)
		UNIT_CHECK(spool_use_add(u, "a", pos, 30) == 0);
	for (i = 0; i < 4; i++, pos += 50)
		UNIT_CHECK(spool_use_add(u, "b", pos, 50) == 0);
	spool_use_ack(u, 90);
	UNIT_CHECK(spool_use_of(u, "a") == 300);
	/* [0, 100) passed: the 3 items that ended there (at 30, 60, 90); the
	 * one from 90 to 120 still counts. */
	spool_use_ack(u, 120);
	UNIT_CHECK(spool_use_of(u, "a") == 210);
	spool_use_ack(u, 300);
	UNIT_CHECK(spool_use_of(u, "a") == 0 && spool_use_of(u, "b") == 200);
	spool_use_ack(u, 500);
	UNIT_CHECK(spool_use_of(u, "b") == 0);
	/* Counting goes on after everything was given back. */
	UNIT_CHECK(spool_use_add(u, "b", 500, 10) == 0);
	UNIT_CHECK(spool_use_of(u, "b") == 10);
	spool_use_free(u);
}

/* A long run of appends and acknowledgements: the figure stays within a
 * range of the truth, and the ranges kept stay few. */
static void test_spool_use_stays_within_one_range(void)
{
	struct spool_use *u = NULL;
	uint64_t pos = 0, acked = 0, held = 0, len;
	int i;

	UNIT_CHECK(spool_use_new(64, &u) == 0);
	for (i = 0; i < 20000; i++) {
		len = 10 + (uint64_t)(i % 37);
		UNIT_CHECK(spool_use_add(u, "a", pos, len) == 0);
		pos += len;
		held += len;
		if (i % 5 == 4) {
			/* Acknowledge all but the last item and a few bytes of
			 * the one before. */
			held = len + 3;
			acked = pos - held;
			spool_use_ack(u, acked);
			UNIT_CHECK(spool_use_of(u, "a") >= held);
			UNIT_CHECK(spool_use_of(u, "a") <= held + 64 + 46);
		}
	}
	spool_use_free(u);
}

UNIT_MAIN(UNIT_TEST(test_spool_use_counts_per_container),
	  UNIT_TEST(test_spool_use_ack_gives_back_whole_ranges),
	  UNIT_TEST(test_spool_use_stays_within_one_range))
