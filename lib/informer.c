// SPDX-License-Identifier: Apache-2.0
/*
 * Informer. Two threads:
 *  - the reflector thread owns its kube_client and the resourceVersion; it
 *    lists, watches, resumes, relists on 410 and backs off on errors, and
 *    hands each object over (transformed, owned by the message) through a
 *    mutex-protected queue, signalling an eventfd;
 *  - the owner's thread (the daemon's main loop) owns the cache and the
 *    indexes, drains the queue in informer_process and runs the callbacks.
 * A full list is delivered as REPLACE_BEGIN, items, REPLACE_END, so that
 * objects that vanished while the watch was down are deleted on the owner's
 * side and the cache ends equal to the list.
 */
#include "informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "ratelimit.h"
#include "watch.h"

#define INFORMER_BACKOFF_MIN_MS 200
#define INFORMER_BACKOFF_MAX_MS 30000
/* client-go's reflector: a watch that lasted less than this and delivered
 * nothing ended "at once", and is retried with backoff, not at once. */
#define INFORMER_SHORT_WATCH_MS 1000
/* A failure this long after the previous one starts the backoff anew
 * (client-go's backoff manager resets after 2 minutes). */
#define INFORMER_BACKOFF_RESET_MS 120000
#define INFORMER_PROCESS_MAX 5000	/* messages per informer_process call */

enum informer_msg_type {
	INFORMER_ADDED,
	INFORMER_MODIFIED,
	INFORMER_DELETED,
	INFORMER_REPLACE_BEGIN,
	INFORMER_REPLACE_ITEM,
	INFORMER_REPLACE_END,
};

struct informer_msg {
	enum informer_msg_type type;
	cJSON *obj;
	struct informer_msg *next;
};

struct informer_item {
	cJSON *obj;
	char *index;
};

struct informer {
	struct informer_opts opts;
	char *path;
	const struct kubeconfig *cfg;
	struct kube_client_opts copts;
	atomic_int stop;
	pthread_t thread;
	bool thread_started;
	int efd;
	long page_size;		/* reflector thread: shrinks on -EFBIG */

	pthread_mutex_t lock; /* guards the queue and stats */
	struct informer_msg *head, *tail;
	struct informer_stats stats;

	/* reflector thread only */
	long watch_events;    /* delivered by the current watch, bookmarks included */
	long last_failure_ms; /* clock_now_ms() of the last backoff */

	/* owner's thread only */
	struct hmap items;	/* "ns/name" -> struct informer_item */
	struct hmap index;	/* index value -> struct hmap set of keys */
	struct hmap *replace_seen;
	bool synced;
	long last_resync_ms;	/* clock_now_ms() */
};

/* The cache key of an object: "ns/name", or "name" when cluster-scoped. */
static int informer_key(const cJSON *obj, char *buf, size_t cap)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	int n;

	if (!name)
		return -EINVAL;
	n = ns && *ns ? snprintf(buf, cap, "%s/%s", ns, name) : snprintf(buf, cap, "%s", name);
	return n < (int)cap ? 0 : -ENAMETOOLONG;
}

/* --- reflector thread ------------------------------------------------------ */

/* Queues a message; takes ownership of obj. */
static int informer_push(struct informer *inf, enum informer_msg_type type, cJSON *obj)
{
	struct informer_msg *m = calloc(1, sizeof(*m));
	uint64_t one = 1;

	if (!m) {
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	m->type = type;
	m->obj = obj;
	pthread_mutex_lock(&inf->lock);
	if (inf->tail)
		inf->tail->next = m;
	else
		inf->head = m;
	inf->tail = m;
	if (type == INFORMER_ADDED || type == INFORMER_MODIFIED || type == INFORMER_DELETED)
		inf->stats.events++;
	pthread_mutex_unlock(&inf->lock);
	if (write(inf->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static cJSON *informer_copy(const struct informer *inf, const cJSON *obj)
{
	return inf->opts.transform ? inf->opts.transform(obj) : cJSON_Duplicate(obj, 1);
}

static int informer_list_item(const cJSON *item, void *arg)
{
	struct informer *inf = arg;
	cJSON *copy;

	/* The list starts over (an expired continue token): so does the replace. */
	if (!item)
		return informer_push(inf, INFORMER_REPLACE_BEGIN, NULL);
	copy = informer_copy(inf, item);
	return copy ? informer_push(inf, INFORMER_REPLACE_ITEM, copy) : -ENOMEM;
}

static int informer_watch_event(const char *type, const cJSON *obj, void *arg)
{
	struct informer *inf = arg;
	enum informer_msg_type t;
	cJSON *copy;

	if (atomic_load(&inf->stop))
		return -ECANCELED;
	inf->watch_events++;
	if (!strcmp(type, "ADDED"))
		t = INFORMER_ADDED;
	else if (!strcmp(type, "MODIFIED"))
		t = INFORMER_MODIFIED;
	else if (!strcmp(type, "DELETED"))
		t = INFORMER_DELETED;
	else
		return 0; /* BOOKMARK: the watch already took its resourceVersion */
	if (!(copy = informer_copy(inf, obj)))
		return -ENOMEM;
	return informer_push(inf, t, copy);
}

/* Sleeps the backoff's next (jittered) delay, or the Retry-After of the
 * failed request when that is longer, waking early when stopped. */
static void informer_backoff(struct informer *inf, struct backoff *b,
			     const struct kube_response *resp)
{
	long now = clock_now_ms(), ms, slept = 0;
	struct timespec step = { 0, 100 * 1000000L };

	if (now - inf->last_failure_ms >= INFORMER_BACKOFF_RESET_MS)
		backoff_reset(b);
	inf->last_failure_ms = now;
	ms = backoff_next_ms(b);
	if (resp && resp->retry_after * 1000L > ms)
		ms = resp->retry_after * 1000L;
	while (slept < ms && !atomic_load(&inf->stop)) {
		nanosleep(&step, NULL);
		slept += 100;
	}
}

/* How loud a failed list or watch is: a 429 is the server's flow control
 * (API Priority and Fairness sheds load so), not a failure: the informer
 * waits as long as it is told and goes on, as client-go's reflector does
 * (which logs it at verbosity 2). */
static enum log_level informer_failure_level(const struct kube_response *resp)
{
	return resp && resp->code == 429 ? LOG_INFO : LOG_WARN;
}

/* Lists the whole collection; on success *rv gets its resourceVersion,
 * on failure resp says why. */
static int informer_list(struct informer *inf, struct kube_client *c, char **rv,
			 struct kube_response *resp)
{
	int ret;

	memset(resp, 0, sizeof(*resp));
	if ((ret = informer_push(inf, INFORMER_REPLACE_BEGIN, NULL)) < 0)
		return ret;
	ret = kube_list(c, inf->path, inf->page_size, informer_list_item, inf, rv, resp);
	if (ret == -EFBIG && inf->page_size > 1) {
		/* One page was larger than the client takes (large objects in
		 * key order): smaller pages from now on, and at once. */
		inf->page_size = inf->page_size / 10 > 1 ? inf->page_size / 10 : 1;
		log_with(LOG_WARN, LOG_KV("path", inf->path),
			 "informer: list page too large (%s); pages of %ld from now on",
			 resp->message, inf->page_size);
		return informer_list(inf, c, rv, resp);
	}
	if (ret < 0) {
		/* The owner drops a replace that has no end. */
		if (ret != -ECANCELED)
			log_with(informer_failure_level(resp), LOG_KV("path", inf->path),
				 "informer: list failed: %s",
				 resp->message[0] ? resp->message : strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&inf->lock);
	inf->stats.lists++;
	pthread_mutex_unlock(&inf->lock);
	return informer_push(inf, INFORMER_REPLACE_END, NULL);
}

/* A jittered server-side watch timeout in [t, 2t), as client-go's
 * reflector: the watches of a fleet do not end in step. */
static long informer_watch_timeout(const struct informer *inf)
{
	long t = inf->opts.watch_timeout_s;

	return t + (long)(jitter_u64() % (uint64_t)t);
}

static void *informer_thread(void *arg)
{
	struct informer *inf = arg;
	struct kube_client *c = NULL;
	struct kube_response resp;
	char *rv = NULL;
	struct backoff backoff;
	long started;
	int ret;

	pthread_setname_np(pthread_self(), "sa-informer");

	backoff_init(&backoff, INFORMER_BACKOFF_MIN_MS, INFORMER_BACKOFF_MAX_MS);
	if ((ret = kube_client_new(inf->cfg, &inf->copts, &c)) < 0) {
		log_with(LOG_ERROR, LOG_KV("path", inf->path), "informer: no client: %s",
			 strerror(-ret));
		return NULL;
	}
	while (!atomic_load(&inf->stop)) {
		if (!rv) {
			ret = informer_list(inf, c, &rv, &resp);
			if (ret < 0) {
				free(rv);
				rv = NULL;
				informer_backoff(inf, &backoff, &resp);
				continue;
			}
		}
		started = clock_now_ms();
		inf->watch_events = 0;
		ret = watch_stream(c, inf->path, &rv, informer_watch_timeout(inf),
				   informer_watch_event, inf, &resp);
		if (atomic_load(&inf->stop))
			break;
		if (ret == 0 &&
		    (inf->watch_events || clock_now_ms() - started >= INFORMER_SHORT_WATCH_MS))
			continue; /* the server ended it at timeoutSeconds: watch on */
		pthread_mutex_lock(&inf->lock);
		inf->stats.watch_restarts++;
		pthread_mutex_unlock(&inf->lock);
		if (ret == 0)
			snprintf(resp.message, sizeof(resp.message),
				 "watch %.200s: ended at once without an event", inf->path);
		if (ret == -ESTALE || ret == -EPROTO) {
			/* 410: the version is gone. Another ERROR event, or what
			 * is no event: the version may never come back (an etcd
			 * restored to an older revision), so list again rather
			 * than watch it again, as client-go does. */
			log_with(ret == -ESTALE ? LOG_INFO : LOG_WARN, LOG_KV("path", inf->path),
				 "informer: %s; listing again", resp.message);
			free(rv);
			rv = NULL;
			pthread_mutex_lock(&inf->lock);
			inf->stats.relists++;
			pthread_mutex_unlock(&inf->lock);
		} else {
			/* Resume from the last version seen once the server is back. */
			log_with(informer_failure_level(&resp), LOG_KV("path", inf->path),
				 "informer: %s",
				 resp.message[0] ? resp.message : strerror(ret ? -ret : EPROTO));
		}
		informer_backoff(inf, &backoff, &resp);
	}
	free(rv);
	kube_client_free(c);
	return NULL;
}

/* --- owner's thread -------------------------------------------------------- */

static void informer_index_add(struct informer *inf, const char *value, const char *key)
{
	struct hmap *set = hmap_get(&inf->index, value);

	if (!set) {
		if (!(set = calloc(1, sizeof(*set))))
			return;
		hmap_init(set);
		if (hmap_put(&inf->index, value, set, NULL) < 0) {
			free(set);
			return;
		}
	}
	hmap_add(set, key);
}

static void informer_index_del(struct informer *inf, const char *value, const char *key)
{
	struct hmap *set = hmap_get(&inf->index, value);

	if (!set)
		return;
	hmap_del(set, key);
	if (set->size == 0)
		hmap_remove(&inf->index, value);
}

static void informer_item_free(struct informer_item *it)
{
	if (!it)
		return;
	cJSON_Delete(it->obj);
	free(it->index);
	free(it);
}

static void informer_item_free_value(void *it)
{
	informer_item_free(it);
}

static void informer_set_free(void *set)
{
	hmap_clear(set);
	free(set);
}

/* Stores obj (taking it) under key and runs on_add or on_update. */
static void informer_upsert(struct informer *inf, const char *key, cJSON *obj, bool replace)
{
	struct informer_item *old = hmap_get(&inf->items, key), *it;
	const char *orv, *nrv;

	if (inf->opts.no_cache) {
		if (inf->opts.on_add)
			inf->opts.on_add(obj, inf->opts.arg);
		cJSON_Delete(obj);
		return;
	}
	if (old && replace) {
		/* A relist re-delivers unchanged objects: no spurious update. */
		orv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(old->obj, "metadata"), "resourceVersion"));
		nrv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
		if (orv && nrv && !strcmp(orv, nrv)) {
			cJSON_Delete(obj);
			return;
		}
	}
	if (!(it = calloc(1, sizeof(*it)))) {
		cJSON_Delete(obj);
		return;
	}
	it->obj = obj;
	it->index = inf->opts.index ? inf->opts.index(obj) : NULL;
	/* `old` is taken back: the callbacks below still read it. */
	if (hmap_put(&inf->items, key, it, (void **)&old) < 0) {
		informer_item_free(it);
		return;
	}
	if (old && old->index)
		informer_index_del(inf, old->index, key);
	if (it->index)
		informer_index_add(inf, it->index, key);
	if (old) {
		if (inf->opts.on_update)
			inf->opts.on_update(old->obj, obj, inf->opts.arg);
	} else if (inf->opts.on_add) {
		inf->opts.on_add(obj, inf->opts.arg);
	}
	informer_item_free(old);
}

static void informer_remove(struct informer *inf, const char *key, const cJSON *last)
{
	struct informer_item *old = hmap_del(&inf->items, key);

	if (inf->opts.no_cache && last && inf->opts.on_delete)
		inf->opts.on_delete(last, inf->opts.arg);
	if (!old)
		return;
	if (old->index)
		informer_index_del(inf, old->index, key);
	if (inf->opts.on_delete)
		inf->opts.on_delete(last ? last : old->obj, inf->opts.arg);
	informer_item_free(old);
}

struct informer_sweep {
	struct informer *inf;
	char **gone;
	size_t n, cap;
};

static void informer_collect_gone(const char *key, void *value, void *arg)
{
	struct informer_sweep *s = arg;
	char **g;

	(void)value;
	if (hmap_has(s->inf->replace_seen, key))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		/* cap grows only with the array: after a failed realloc the
		 * next key must find it full again, not write past it. */
		if (!(g = realloc(s->gone, cap * sizeof(*g))))
			return;
		s->gone = g;
		s->cap = cap;
	}
	s->gone[s->n++] = strdup(key);
}

static void informer_replace_end(struct informer *inf)
{
	struct informer_sweep s = { inf, NULL, 0, 0 };
	size_t i;

	hmap_foreach(&inf->items, informer_collect_gone, &s);
	for (i = 0; i < s.n; i++) {
		if (s.gone[i])
			informer_remove(inf, s.gone[i], NULL);
		free(s.gone[i]);
	}
	free(s.gone);
	hmap_clear(inf->replace_seen);
	free(inf->replace_seen);
	inf->replace_seen = NULL;
	inf->synced = true;
}

static void informer_apply(struct informer *inf, struct informer_msg *m)
{
	char key[512];

	switch (m->type) {
	case INFORMER_REPLACE_BEGIN:
		/* A replace cut short by an error is dropped by starting anew. */
		if (inf->replace_seen)
			hmap_clear(inf->replace_seen);
		else if ((inf->replace_seen = calloc(1, sizeof(*inf->replace_seen))))
			hmap_init(inf->replace_seen);
		return;
	case INFORMER_REPLACE_END:
		if (inf->replace_seen)
			informer_replace_end(inf);
		return;
	default:
		break;
	}
	if (informer_key(m->obj, key, sizeof(key)) < 0) {
		log_with(LOG_WARN, LOG_KV("path", inf->path), "informer: object without a name");
		return;
	}
	switch (m->type) {
	case INFORMER_REPLACE_ITEM:
		if (inf->replace_seen && !inf->opts.no_cache)
			hmap_add(inf->replace_seen, key);
		informer_upsert(inf, key, m->obj, true);
		m->obj = NULL;
		break;
	case INFORMER_ADDED:
	case INFORMER_MODIFIED:
		informer_upsert(inf, key, m->obj, false);
		m->obj = NULL;
		break;
	case INFORMER_DELETED:
		informer_remove(inf, key, m->obj);
		break;
	default:
		break;
	}
}

static void informer_resync_one(const char *key, void *value, void *arg)
{
	struct informer *inf = arg;
	struct informer_item *it = value;

	(void)key;
	inf->opts.on_update(it->obj, it->obj, inf->opts.arg);
}

int informer_process(struct informer *inf)
{
	struct informer_msg *m, *next;
	uint64_t cnt;
	int n = 0;

	if (read(inf->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&inf->lock);
	m = inf->head;
	inf->head = inf->tail = NULL;
	pthread_mutex_unlock(&inf->lock);
	for (; m && n < INFORMER_PROCESS_MAX; m = next) {
		next = m->next;
		informer_apply(inf, m);
		cJSON_Delete(m->obj);
		free(m);
		n++;
	}
	if (m) {
		/* The rest next turn (the fd stays readable), so that a list of
		 * 100,000 objects does not hold the owner's loop in one call. */
		struct informer_msg *last = m;
		uint64_t one = 1;

		while (last->next)
			last = last->next;
		pthread_mutex_lock(&inf->lock);
		last->next = inf->head;
		if (!inf->head)
			inf->tail = last;
		inf->head = m;
		pthread_mutex_unlock(&inf->lock);
		(void)!write(inf->efd, &one, sizeof(one));
	}
	if (inf->opts.resync_ms > 0 && inf->opts.on_update && inf->synced) {
		long now = clock_now_ms();
		long last = inf->last_resync_ms;

		if (now - last >= inf->opts.resync_ms) {
			hmap_foreach(&inf->items, informer_resync_one, inf);
			inf->last_resync_ms = now;
		}
	}
	return n;
}

int informer_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		   const struct informer_opts *opts, struct informer **out)
{
	struct informer *inf = calloc(1, sizeof(*inf));
	int ret;

	*out = NULL;
	if (!inf)
		return -ENOMEM;
	inf->opts = *opts;
	if (!inf->opts.page_size)
		inf->opts.page_size = 500;
	inf->page_size = inf->opts.page_size;
	if (!inf->opts.watch_timeout_s)
		inf->opts.watch_timeout_s = 300;
	inf->cfg = cfg;
	if (copts)
		inf->copts = *copts;
	inf->copts.stop = &inf->stop;
	atomic_init(&inf->stop, 0);
	pthread_mutex_init(&inf->lock, NULL);
	hmap_init_free(&inf->items, informer_item_free_value);
	hmap_init_free(&inf->index, informer_set_free);
	inf->last_resync_ms = clock_now_ms();
	inf->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (inf->efd < 0 || !(inf->path = strdup(opts->path))) {
		ret = inf->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	if ((ret = -pthread_create(&inf->thread, NULL, informer_thread, inf)) < 0)
		goto fail;
	inf->thread_started = true;
	*out = inf;
	return 0;
fail:
	informer_stop(inf);
	return ret;
}

void informer_cancel(struct informer *inf)
{
	if (inf)
		atomic_store(&inf->stop, 1);
}

void informer_stop(struct informer *inf)
{
	struct informer_msg *m, *next;

	if (!inf)
		return;
	atomic_store(&inf->stop, 1);
	if (inf->thread_started)
		pthread_join(inf->thread, NULL);
	for (m = inf->head; m; m = next) {
		next = m->next;
		cJSON_Delete(m->obj);
		free(m);
	}
	hmap_clear(&inf->items);
	hmap_clear(&inf->index);
	if (inf->replace_seen) {
		hmap_clear(inf->replace_seen);
		free(inf->replace_seen);
	}
	if (inf->efd >= 0)
		close(inf->efd);
	pthread_mutex_destroy(&inf->lock);
	free(inf->path);
	free(inf);
}

int informer_fd(const struct informer *inf)
{
	return inf->efd;
}

bool informer_synced(const struct informer *inf)
{
	return inf->synced;
}

const cJSON *informer_get(const struct informer *inf, const char *ns, const char *name)
{
	char key[512];
	struct informer_item *it;

	if (ns && *ns)
		snprintf(key, sizeof(key), "%s/%s", ns, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	it = hmap_get(&inf->items, key);
	return it ? it->obj : NULL;
}

size_t informer_size(const struct informer *inf)
{
	return inf->items.size;
}

struct informer_visit {
	const struct informer *inf;
	void (*fn)(const cJSON *obj, void *arg);
	void *arg;
};

static void informer_visit_item(const char *key, void *value, void *arg)
{
	struct informer_visit *v = arg;
	struct informer_item *it = value;

	(void)key;
	v->fn(it->obj, v->arg);
}

static void informer_visit_key(const char *key, void *value, void *arg)
{
	struct informer_visit *v = arg;
	struct informer_item *it = hmap_get(&v->inf->items, key);

	(void)value;
	if (it)
		v->fn(it->obj, v->arg);
}

void informer_foreach(const struct informer *inf, void (*fn)(const cJSON *obj, void *arg),
		      void *arg)
{
	struct informer_visit v = { inf, fn, arg };

	hmap_foreach(&inf->items, informer_visit_item, &v);
}

void informer_foreach_index(const struct informer *inf, const char *value,
			    void (*fn)(const cJSON *obj, void *arg), void *arg)
{
	struct informer_visit v = { inf, fn, arg };
	struct hmap *set = hmap_get(&inf->index, value);

	if (set)
		hmap_foreach(set, informer_visit_key, &v);
}

void informer_stats(const struct informer *inf, struct informer_stats *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&inf->lock);
	*out = inf->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&inf->lock);
}
