// SPDX-License-Identifier: Apache-2.0
/* ratelimit: the token bucket, the exponential backoff and the jitter that
 * every retry in both daemons uses; clock: the one monotonic clock. */
#include <pthread.h>
#include <stdint.h>

#include "clock.h"
#include "ratelimit.h"
#include "unit.h"

static void test_tokens_burst_then_rate(void)
{
	struct tokens t;
	int i, took = 0;

	tokens_init(&t, 2.0, 5.0, 1000);
	for (i = 0; i < 10; i++)
		took += tokens_take(&t, 1000);
	UNIT_CHECK(took == 5);
	UNIT_CHECK(tokens_wait_ms(&t, 1000) > 0 && tokens_wait_ms(&t, 1000) <= 501);
	UNIT_CHECK(!tokens_take(&t, 1400));
	UNIT_CHECK(tokens_take(&t, 1500)); /* 2/s: one more after 500 ms */
	UNIT_CHECK(!tokens_take(&t, 1500));
	/* Never more than the burst, however long it waited. */
	took = 0;
	for (i = 0; i < 10; i++)
		took += tokens_take(&t, 100000);
	UNIT_CHECK(took == 5);
}

static void test_tokens_new_rate_keeps_at_most_the_new_burst(void)
{
	struct tokens t;

	tokens_init(&t, 1.0, 10.0, 0);
	tokens_set_rate(&t, 1.0, 2.0);
	UNIT_CHECK(tokens_take(&t, 0) && tokens_take(&t, 0) && !tokens_take(&t, 0));
	UNIT_CHECK(tokens_available(&t, 1000) >= 0.99 && tokens_available(&t, 1000) <= 1.01);
}

static void test_backoff_doubles_to_its_cap_and_resets(void)
{
	struct backoff b;
	long d;
	int i, ok = 1;

	UNIT_CHECK(backoff_delay_ms(100, 1000, 0) == 100);
	UNIT_CHECK(backoff_delay_ms(100, 1000, 3) == 800);
	UNIT_CHECK(backoff_delay_ms(100, 1000, 4) == 1000);
	UNIT_CHECK(backoff_delay_ms(100, 1000, 4000000) == 1000);
	backoff_init(&b, 100, 1000);
	for (i = 0; i < 8; i++) {
		long base = backoff_delay_ms(100, 1000, (unsigned)i);

		d = backoff_next_ms(&b);
		if (d < base / 2 || d > base + base / 2)
			ok = 0;
	}
	UNIT_CHECK(ok);
	backoff_reset(&b);
	d = backoff_next_ms(&b);
	UNIT_CHECK(d >= 50 && d <= 150);
}

static void test_jitter_stays_in_range_and_varies(void)
{
	long lo = 1000000, hi = 0, v;
	int i;

	for (i = 0; i < 2000; i++) {
		v = jitter_ms(1000, 0.2);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	UNIT_CHECK(lo >= 800 && hi <= 1200);
	UNIT_CHECK(hi - lo > 200); /* it does spread */
	UNIT_CHECK(jitter_ms(0, 0.5) == 0 && jitter_ms(-5, 0.5) == -5);
	UNIT_CHECK(jitter_ms(1000, 0) == 1000);
}

static void *first_draw(void *arg)
{
	*(uint64_t *)arg = jitter_u64();
	return NULL;
}

static void test_jitter_differs_between_threads(void)
{
	uint64_t a = 0, b = 0;
	pthread_t t1, t2;

	pthread_create(&t1, NULL, first_draw, &a);
	pthread_create(&t2, NULL, first_draw, &b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	/* Unseeded random() gave every process and thread the same sequence. */
	UNIT_CHECK(a != b);
}

static void test_clock_is_monotonic_and_consistent(void)
{
	uint64_t a = clock_now_ns(), b = clock_now_ns();
	long ms = clock_now_ms();

	UNIT_CHECK(b >= a);
	UNIT_CHECK(ms >= (long)(a / 1000000) && ms <= (long)(clock_now_ns() / 1000000));
	/* The wall clock is long past 2020 once the offset is added. */
	UNIT_CHECK((int64_t)clock_now_ns() + clock_wall_offset_ns() > 1577836800LL * 1000000000LL);
}

UNIT_MAIN(UNIT_TEST(test_tokens_burst_then_rate),
	  UNIT_TEST(test_tokens_new_rate_keeps_at_most_the_new_burst),
	  UNIT_TEST(test_backoff_doubles_to_its_cap_and_resets),
	  UNIT_TEST(test_jitter_stays_in_range_and_varies),
	  UNIT_TEST(test_jitter_differs_between_threads),
	  UNIT_TEST(test_clock_is_monotonic_and_consistent))
