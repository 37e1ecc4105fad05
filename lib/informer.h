/* SPDX-License-Identifier: Apache-2.0 */
/* Informer: a cache of the objects of one collection kept current by a
 * list-then-watch reflector, with ordered add/update/delete callbacks. */
#ifndef SHELLAUDIT_INFORMER_H
#define SHELLAUDIT_INFORMER_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "kube.h"

struct informer;

struct informer_opts {
	const char *path;	/* collection, may carry labelSelector/fieldSelector */
	long page_size;		/* list page size [500]; a page past the client's
				 * max_body is asked again in smaller pages */
	long watch_timeout_s;	/* server-side watch timeout t [300]: each watch
				 * asks for a random one in [t, 2t), as client-go */
	long resync_ms;		/* on_update(obj, obj) for every object this often; 0: never */
	/* Keeps only what the caller needs (e.g. trims pods): returns a new
	 * object the informer owns. NULL: keep the whole object. Runs on the
	 * reflector thread: it must not touch the caller's state. */
	cJSON *(*transform)(const cJSON *obj);
	/* Secondary index value of an object (e.g. a pod's node), malloc'd,
	 * or NULL for none. Runs on the owner's thread. */
	char *(*index)(const cJSON *obj);
	/* Called from informer_process on the owner's thread, in event order. */
	void (*on_add)(const cJSON *obj, void *arg);
	void (*on_update)(const cJSON *old, const cJSON *obj, void *arg);
	void (*on_delete)(const cJSON *obj, void *arg);
	void *arg;
	/* Events only: nothing is cached (informer_get finds nothing); the
	 * owner keeps what it needs from on_add/on_update/on_delete. A list
	 * calls on_add for every item, and cannot tell what vanished while
	 * the watch was down: the owner must tolerate stale entries. */
	bool no_cache;
};

struct informer_stats {
	long lists;		/* full lists, the first one included */
	long relists;		/* lists forced by 410 Gone / Expired */
	long watch_restarts;	/* watches that ended in an error and resumed */
	long events;		/* watch events delivered */
};

/* Starts the reflector thread. cfg must outlive the informer; copts may be
 * NULL. Caller frees *out with informer_stop(). */
int informer_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		   const struct informer_opts *opts, struct informer **out);
/* Stops the reflector (within about a second) and frees everything. */
void informer_stop(struct informer *inf);
/* Asks the reflector to stop without waiting, so that several informers
 * stop together; informer_stop() then waits and frees. NULL-safe. */
void informer_cancel(struct informer *inf);

/* Readable when events wait for informer_process. */
int informer_fd(const struct informer *inf);
/* Applies waiting events to the cache and runs the callbacks, at most
 * 5000 a call (the fd stays readable while more wait); returns how many it
 * handled. Also runs a due resync. */
int informer_process(struct informer *inf);

/* True once the first full list has been applied. */
bool informer_synced(const struct informer *inf);
const cJSON *informer_get(const struct informer *inf, const char *ns, const char *name);
size_t informer_size(const struct informer *inf);
void informer_foreach(const struct informer *inf, void (*fn)(const cJSON *obj, void *arg),
		      void *arg);
/* Objects whose index value equals value. */
void informer_foreach_index(const struct informer *inf, const char *value,
			    void (*fn)(const cJSON *obj, void *arg), void *arg);
void informer_stats(const struct informer *inf, struct informer_stats *out);

#endif
