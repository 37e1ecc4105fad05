// SPDX-License-Identifier: Apache-2.0
/* workqueue: keys queued once, popped in the order they are due, retried with backoff. */
#include <string.h>
#include <time.h>

#include "unit.h"
#include "workqueue.h"

static void test_workqueue_dedupes_and_pops_in_order(void)
{
	struct timespec gap = { 0, 5 * 1000000L };
	struct workqueue q;
	char key[32];

	workqueue_init(&q, 100, 1000);
	workqueue_add(&q, "later", 60000);
	workqueue_add(&q, "b", 0);
	/* The clock moves on between the adds: "b" is due before "a". */
	nanosleep(&gap, NULL);
	workqueue_add(&q, "a", 0);
	workqueue_add(&q, "b", 0);
	UNIT_CHECK(workqueue_len(&q) == 3);
	key[0] = '\0';
	UNIT_CHECK(workqueue_pop(&q, key, sizeof(key)) == 1);
	UNIT_CHECK_STR(key, "b");
	key[0] = '\0';
	UNIT_CHECK(workqueue_pop(&q, key, sizeof(key)) == 1);
	UNIT_CHECK_STR(key, "a");
	/* "later" is not due: nothing more now. */
	UNIT_CHECK(workqueue_pop(&q, key, sizeof(key)) == 0);
	UNIT_CHECK(workqueue_len(&q) == 1 && workqueue_next_ms(&q) > 50000);
	workqueue_clear(&q);
}

static void test_workqueue_delayed_not_ready(void)
{
	struct workqueue q;
	char key[32];
	long next;

	workqueue_init(&q, 100, 1000);
	workqueue_add(&q, "later", 60000);
	UNIT_CHECK(workqueue_pop(&q, key, sizeof(key)) == 0);
	next = workqueue_next_ms(&q);
	UNIT_CHECK(next > 50000 && next <= 60000);
	/* an earlier add wins */
	workqueue_add(&q, "later", 0);
	UNIT_CHECK(workqueue_pop(&q, key, sizeof(key)) == 1 && !strcmp(key, "later"));
	workqueue_clear(&q);
}

/* Within the +-20% jitter of want. */
static int about(long got, long want)
{
	return got >= want * 8 / 10 && got <= want * 12 / 10;
}

static void test_workqueue_backoff_doubles_and_caps(void)
{
	struct workqueue q;
	char key[32];

	workqueue_init(&q, 100, 1000);
	workqueue_add(&q, "k", 0);
	workqueue_pop(&q, key, sizeof(key));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 100));
	workqueue_pop(&q, key, sizeof(key));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 200));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 400));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 800));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 1000));
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 1000));
	workqueue_forget(&q, "k");
	UNIT_CHECK(about(workqueue_fail(&q, "k"), 100));
	workqueue_clear(&q);
}

UNIT_MAIN(UNIT_TEST(test_workqueue_dedupes_and_pops_in_order),
	  UNIT_TEST(test_workqueue_delayed_not_ready),
	  UNIT_TEST(test_workqueue_backoff_doubles_and_caps))
