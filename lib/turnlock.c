// SPDX-License-Identifier: Apache-2.0
/* A lock handed over in the order it was asked for (see turnlock.h). The
 * mutex is held only to draw or advance a ticket, never while the caller
 * holds the turnlock. */
#include "turnlock.h"

void turnlock_init(struct turnlock *l)
{
	*l = (struct turnlock)TURNLOCK_INIT;
}

void turnlock_destroy(struct turnlock *l)
{
	pthread_cond_destroy(&l->c);
	pthread_mutex_destroy(&l->m);
}

void turnlock_lock(struct turnlock *l)
{
	unsigned long mine;

	pthread_mutex_lock(&l->m);
	mine = l->next++;
	while (mine != l->serving)
		pthread_cond_wait(&l->c, &l->m);
	pthread_mutex_unlock(&l->m);
}

void turnlock_unlock(struct turnlock *l)
{
	pthread_mutex_lock(&l->m);
	l->serving++;
	/* Every waiter wakes and the one whose ticket is served goes on: few
	 * threads wait here (the agent has two). */
	pthread_cond_broadcast(&l->c);
	pthread_mutex_unlock(&l->m);
}

void turnlock_unlock_cb(void *arg)
{
	turnlock_unlock(arg);
}

void turnlock_lock_cb(void *arg)
{
	turnlock_lock(arg);
}
