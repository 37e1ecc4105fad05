// SPDX-License-Identifier: Apache-2.0
/* lib/turnlock: mutual exclusion, and the turn order a plain mutex does
 * not give (a thread that releases and retakes the lock at once goes
 * after the one already waiting). */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "turnlock.h"
#include "unit.h"

struct shared {
	struct turnlock l;
	long counter;
	int order[4];
	int norder;
};

static void *add_many(void *arg)
{
	struct shared *s = arg;
	int i;

	for (i = 0; i < 100000; i++) {
		turnlock_lock(&s->l);
		s->counter++;
		turnlock_unlock(&s->l);
	}
	return NULL;
}

static void test_turnlock_excludes(void)
{
	struct shared s = { .l = TURNLOCK_INIT };
	pthread_t a, b;

	UNIT_CHECK(pthread_create(&a, NULL, add_many, &s) == 0);
	UNIT_CHECK(pthread_create(&b, NULL, add_many, &s) == 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	UNIT_CHECK(s.counter == 200000);
	turnlock_destroy(&s.l);
}

static void *waiter(void *arg)
{
	struct shared *s = arg;

	turnlock_lock(&s->l);
	s->order[s->norder++] = 2;
	turnlock_unlock(&s->l);
	return NULL;
}

/* Whether a ticket beyond the holder's was drawn (under the lock's mutex). */
static bool someone_waits(struct shared *s)
{
	bool w;

	pthread_mutex_lock(&s->l.m);
	w = s->l.next > s->l.serving + 1;
	pthread_mutex_unlock(&s->l.m);
	return w;
}

static void test_turnlock_hands_over_in_order(void)
{
	struct shared s = { .l = TURNLOCK_INIT };
	pthread_t w;
	int round;

	for (round = 0; round < 20; round++) {
		s.norder = 0;
		turnlock_lock(&s.l);
		UNIT_CHECK(pthread_create(&w, NULL, waiter, &s) == 0);
		while (!someone_waits(&s))
			sched_yield();
		/* Released and retaken at once: the waiter had asked first. */
		turnlock_unlock(&s.l);
		turnlock_lock(&s.l);
		s.order[s.norder++] = 1;
		turnlock_unlock(&s.l);
		pthread_join(w, NULL);
		UNIT_CHECK(s.norder == 2 && s.order[0] == 2 && s.order[1] == 1);
	}
	turnlock_destroy(&s.l);
}

static void test_turnlock_callbacks(void)
{
	struct shared s = { .l = TURNLOCK_INIT };
	pthread_t w;

	turnlock_init(&s.l);
	turnlock_lock_cb(&s.l);
	UNIT_CHECK(s.l.serving == 0 && s.l.next == 1);
	turnlock_unlock_cb(&s.l);
	UNIT_CHECK(s.l.serving == 1 && s.l.next == 1);
	/* Free again: another thread takes it without waiting. */
	UNIT_CHECK(pthread_create(&w, NULL, waiter, &s) == 0);
	pthread_join(w, NULL);
	UNIT_CHECK(s.norder == 1);
	turnlock_destroy(&s.l);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_turnlock_excludes),
		UNIT_TEST(test_turnlock_hands_over_in_order),
		UNIT_TEST(test_turnlock_callbacks),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
