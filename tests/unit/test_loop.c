// SPDX-License-Identifier: Apache-2.0
/* lib/loop: fd handlers, timers in order and re-armed, a timer that
 * removes itself or another, and the hook before each sleep. */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"
#include "unit.h"

struct seen {
	int fd_calls, a, b, before;
	long order[8];
	int norder;
	long id_b;
	struct loop *l;
};

static void on_fd(int fd, short revents, void *arg)
{
	struct seen *s = arg;
	uint64_t v;

	UNIT_CHECK(revents & POLLIN);
	(void)!read(fd, &v, sizeof(v));
	s->fd_calls++;
}

static long timer_a(void *arg)
{
	struct seen *s = arg;

	s->order[s->norder++ & 7] = 'a';
	return ++s->a < 3 ? 10 : -1;
}

static long timer_b(void *arg)
{
	struct seen *s = arg;

	s->order[s->norder++ & 7] = 'b';
	s->b++;
	return 1000;
}

static long timer_kills_b(void *arg)
{
	struct seen *s = arg;

	loop_timer_del(s->l, s->id_b);
	loop_stop(s->l);
	return -1;
}

static long before(void *arg)
{
	((struct seen *)arg)->before++;
	return -1;
}

static void test_loop_runs_fds_timers_and_the_before_sleep_hook(void)
{
	struct seen s = { 0 };
	struct loop *l;
	uint64_t one = 1;
	int efd = eventfd(0, EFD_NONBLOCK);
	long start;

	UNIT_CHECK(loop_new(&l) == 0);
	s.l = l;
	UNIT_CHECK(loop_fd_add(l, efd, POLLIN, on_fd, &s) == 0);
	loop_before_sleep(l, before, &s);
	UNIT_CHECK(loop_timer_add(l, 20, timer_a, &s) > 0);
	s.id_b = loop_timer_add(l, 5, timer_b, &s);
	(void)!write(efd, &one, sizeof(one));
	/* b (5 ms) before a (20 ms), a three times 10 ms apart. */
	start = clock_now_ms();
	while (s.a < 3 && clock_now_ms() - start < 5000)
		loop_turn(l, 100);
	UNIT_CHECK(s.fd_calls == 1);
	UNIT_CHECK(s.a == 3 && s.b == 1);
	UNIT_CHECK(s.order[0] == 'b' && s.order[1] == 'a');
	UNIT_CHECK(s.before >= 3);
	/* A woken timer runs on the next turn; one timer removes another. */
	loop_timer_wake(l, s.id_b);
	loop_turn(l, 100);
	UNIT_CHECK(s.b == 2);
	loop_timer_add(l, 0, timer_kills_b, &s);
	loop_run(l);
	loop_timer_wake(l, s.id_b);
	loop_turn(l, 10);
	UNIT_CHECK(s.b == 2);
	/* Without fds or timers, a turn sleeps at most its bound. */
	loop_fd_del(l, efd);
	UNIT_CHECK(loop_turn(l, 10) == 0);
	loop_free(l);
	close(efd);
}

struct waits {
	int leave, enter;
	bool in_wait;
	int handled_in_wait; /* a handler that ran between leave and enter */
};

static void wait_leave(void *arg)
{
	struct waits *w = arg;

	w->leave++;
	w->in_wait = true;
}

static void wait_enter(void *arg)
{
	struct waits *w = arg;

	w->enter++;
	w->in_wait = false;
}

static void on_fd_waits(int fd, short revents, void *arg)
{
	struct waits *w = arg;
	uint64_t v;

	(void)revents;
	(void)!read(fd, &v, sizeof(v));
	w->handled_in_wait += w->in_wait;
}

static long before_waits(void *arg)
{
	((struct waits *)arg)->handled_in_wait += ((struct waits *)arg)->in_wait;
	return -1;
}

/* The hooks around the wait run once a turn, around poll(2) only: no
 * handler and no before-sleep hook runs between them. */
static void test_loop_around_wait(void)
{
	struct waits w = { 0 };
	struct loop *l;
	uint64_t one = 1;
	int efd = eventfd(0, EFD_NONBLOCK), i;

	UNIT_CHECK(loop_new(&l) == 0);
	loop_around_wait(l, wait_leave, wait_enter, &w);
	loop_before_sleep(l, before_waits, &w);
	UNIT_CHECK(loop_fd_add(l, efd, POLLIN, on_fd_waits, &w) == 0);
	for (i = 0; i < 3; i++) {
		(void)!write(efd, &one, sizeof(one));
		loop_turn(l, 100);
	}
	UNIT_CHECK(w.leave == 3 && w.enter == 3);
	UNIT_CHECK(!w.in_wait && w.handled_in_wait == 0);
	loop_free(l);
	close(efd);
}

UNIT_MAIN(UNIT_TEST(test_loop_runs_fds_timers_and_the_before_sleep_hook),
	  UNIT_TEST(test_loop_around_wait))
