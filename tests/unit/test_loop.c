// SPDX-License-Identifier: Apache-2.0
/* lib/loop: fd handlers, timers in order and re-armed, a timer that
 * removes itself or another, and the hook before each sleep. */
#include <poll.h>
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

UNIT_MAIN(UNIT_TEST(test_loop_runs_fds_timers_and_the_before_sleep_hook))
