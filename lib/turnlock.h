/* SPDX-License-Identifier: Apache-2.0 */
/* A lock handed over in the order it was asked for (a ticket lock over a
 * mutex and a condition variable). A plain mutex lets the thread that just
 * released it take it again at once: a thread that releases and retakes
 * it in a tight loop (the agent's capture thread under a flood) would keep
 * the others waiting for as long as the loop runs. Here each waiter gets
 * its turn after at most one holding of every thread ahead of it. Not
 * recursive; unlock only what this thread holds. */
#ifndef SHELLAUDIT_TURNLOCK_H
#define SHELLAUDIT_TURNLOCK_H

#include <pthread.h>

struct turnlock {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned long next;    /* the ticket the next caller draws */
	unsigned long serving; /* the ticket that holds the lock */
};

#define TURNLOCK_INIT                                                                              \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0                          \
	}

void turnlock_init(struct turnlock *l);
void turnlock_destroy(struct turnlock *l);
void turnlock_lock(struct turnlock *l);
void turnlock_unlock(struct turnlock *l);

/* For the hooks of a library that waits on the caller's behalf (kube.h's
 * io hooks): arg is the struct turnlock. */
void turnlock_unlock_cb(void *arg);
void turnlock_lock_cb(void *arg);

#endif
