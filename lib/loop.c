// SPDX-License-Identifier: Apache-2.0
/* The loop: a flat array of fds (a daemon has a handful) and a flat array
 * of timers scanned for the nearest (a handful too), as ae.c keeps its
 * timers in a list. Handlers may add or remove fds and timers. */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

struct loop_fd {
	int fd;
	short events;
	loop_fd_fn fn;
	void *arg;
};

struct loop_timer {
	long id;	/* 0: free slot */
	long when;	/* clock_now_ms() */
	loop_timer_fn fn;
	void *arg;
};

struct loop {
	struct loop_fd *fds;
	size_t nfds, capfds;
	struct pollfd *pfds;
	struct loop_timer *timers;
	size_t ntimers;
	long next_id;
	long (*before_sleep)(void *arg);
	void *before_arg;
	void (*wait_leave)(void *arg), (*wait_enter)(void *arg);
	void *wait_arg;
	bool stop;
	long busiest_ms;
};

int loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free(l->fds);
	free(l->pfds);
	free(l->timers);
	free(l);
}

int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd) {
			l->fds[i] = (struct loop_fd){ fd, events, fn, arg };
			return 0;
		}
	if (l->nfds == l->capfds) {
		size_t cap = l->capfds ? l->capfds * 2 : 8;
		struct loop_fd *f = realloc(l->fds, cap * sizeof(*f));
		struct pollfd *p;

		if (!f)
			return -ENOMEM;
		l->fds = f;
		if (!(p = realloc(l->pfds, cap * sizeof(*p))))
			return -ENOMEM;
		l->pfds = p;
		l->capfds = cap;
	}
	l->fds[l->nfds++] = (struct loop_fd){ fd, events, fn, arg };
	return 0;
}

void loop_fd_del(struct loop *l, int fd)
{
	size_t i;

	for (i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd) {
			l->fds[i] = l->fds[--l->nfds];
			return;
		}
}

long loop_timer_add(struct loop *l, long delay_ms, loop_timer_fn fn, void *arg)
{
	struct loop_timer *t = NULL;
	size_t i;

	for (i = 0; i < l->ntimers && !t; i++)
		if (!l->timers[i].id)
			t = &l->timers[i];
	if (!t) {
		struct loop_timer *n = realloc(l->timers, (l->ntimers + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->timers = n;
		t = &l->timers[l->ntimers++];
	}
	*t = (struct loop_timer){ ++l->next_id, clock_now_ms() + (delay_ms > 0 ? delay_ms : 0), fn,
				  arg };
	return t->id;
}

static struct loop_timer *loop_timer_find(struct loop *l, long id)
{
	size_t i;

	for (i = 0; i < l->ntimers; i++)
		if (l->timers[i].id == id)
			return &l->timers[i];
	return NULL;
}

void loop_timer_wake(struct loop *l, long id)
{
	struct loop_timer *t = loop_timer_find(l, id);

	if (t)
		t->when = 0;
}

void loop_timer_del(struct loop *l, long id)
{
	struct loop_timer *t = loop_timer_find(l, id);

	if (t)
		t->id = 0;
}

void loop_before_sleep(struct loop *l, long (*fn)(void *arg), void *arg)
{
	l->before_sleep = fn;
	l->before_arg = arg;
}

void loop_around_wait(struct loop *l, void (*leave)(void *arg), void (*enter)(void *arg), void *arg)
{
	l->wait_leave = leave;
	l->wait_enter = enter;
	l->wait_arg = arg;
}

/* Runs the due timers once each (a timer re-armed at 0 waits a turn). */
static int loop_timers_run(struct loop *l)
{
	long now = clock_now_ms(), next;
	size_t i, n = l->ntimers;
	int ran = 0;

	for (i = 0; i < n; i++) {
		struct loop_timer *t = &l->timers[i];
		long id = t->id;

		if (!id || t->when > now)
			continue;
		next = t->fn(t->arg);
		ran++;
		/* The handler may have grown the array or deleted this timer. */
		t = &l->timers[i];
		if (t->id != id)
			continue;
		if (next < 0)
			t->id = 0;
		else
			t->when = clock_now_ms() + next;
	}
	return ran;
}

int loop_turn(struct loop *l, long max_wait_ms)
{
	long now, wait = max_wait_ms, start = clock_now_ms();
	size_t i, n;
	int ran, ready;

	if (l->before_sleep) {
		long bound = l->before_sleep(l->before_arg);

		if (bound >= 0 && (wait < 0 || bound < wait))
			wait = bound;
	}
	now = clock_now_ms();
	if (now - start > l->busiest_ms)
		l->busiest_ms = now - start;
	for (i = 0; i < l->ntimers; i++) {
		long d;

		if (!l->timers[i].id)
			continue;
		d = l->timers[i].when - now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	n = l->nfds;
	for (i = 0; i < n; i++)
		l->pfds[i] = (struct pollfd){ l->fds[i].fd, l->fds[i].events, 0 };
	if (l->wait_leave)
		l->wait_leave(l->wait_arg);
	ready = poll(l->pfds, (nfds_t)n, wait > (long)1 << 30 ? 1 << 30 : (int)wait);
	if (l->wait_enter)
		l->wait_enter(l->wait_arg);
	start = clock_now_ms();
	ran = 0;
	for (i = 0; ready > 0 && i < n; i++) {
		size_t j;

		if (!l->pfds[i].revents)
			continue;
		/* Handlers may remove fds: find this one again by number. */
		for (j = 0; j < l->nfds && l->fds[j].fd != l->pfds[i].fd; j++)
			;
		if (j == l->nfds)
			continue;
		l->fds[j].fn(l->fds[j].fd, l->pfds[i].revents, l->fds[j].arg);
		ran++;
	}
	ran += loop_timers_run(l);
	now = clock_now_ms();
	if (now - start > l->busiest_ms)
		l->busiest_ms = now - start;
	return ran;
}

long loop_busiest_ms(const struct loop *l)
{
	return l->busiest_ms;
}

void loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop)
		loop_turn(l, -1);
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
