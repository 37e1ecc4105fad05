/* SPDX-License-Identifier: Apache-2.0 */
/* A small event loop, as redis's ae.c: file descriptors and timers, one
 * poll(2) whose timeout is the nearest timer, a hook before each sleep.
 * It holds no daemon state; handlers must not block (slow work belongs on
 * a thread that signals an fd). Owned by one thread. */
#ifndef SHELLAUDIT_LOOP_H
#define SHELLAUDIT_LOOP_H

#include <stdbool.h>

struct loop;

/* revents as poll(2) reports them. */
typedef void (*loop_fd_fn)(int fd, short revents, void *arg);
/* Returns the delay in ms until the timer runs again, or -1 to drop it. */
typedef long (*loop_timer_fn)(void *arg);

/* Caller frees *out with loop_free(). */
int loop_new(struct loop **out);
void loop_free(struct loop *l);

/* Watches fd for events (POLLIN, POLLOUT); one handler per fd. */
int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg);
void loop_fd_del(struct loop *l, int fd);

/* Runs fn after delay_ms; returns the timer's id (> 0) or -ENOMEM. */
long loop_timer_add(struct loop *l, long delay_ms, loop_timer_fn fn, void *arg);
/* Runs the timer at once on the next turn (e.g. work was queued). */
void loop_timer_wake(struct loop *l, long id);
void loop_timer_del(struct loop *l, long id);

/* Called before every sleep (redis's beforeSleep); returns the longest the
 * loop may then sleep in ms (-1: no bound of its own). */
void loop_before_sleep(struct loop *l, long (*fn)(void *arg), void *arg);

/* Called around each poll(2) wait, on the loop's thread: e.g. to give up
 * a lock that other threads take while this one sleeps (turnlock.h). Both
 * set or neither. */
void loop_around_wait(struct loop *l, void (*leave)(void *arg), void (*enter)(void *arg),
		      void *arg);

/* One turn: sleeps until an fd is ready or a timer is due (at most
 * max_wait_ms; -1: no bound), then runs the handlers. Returns how many ran. */
int loop_turn(struct loop *l, long max_wait_ms);
/* The longest time one turn spent outside poll(2) (its handlers and the
 * before-sleep hook), in ms: how long the loop was deaf at worst. */
long loop_busiest_ms(const struct loop *l);
/* Turns until loop_stop(). */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
