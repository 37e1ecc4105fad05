// SPDX-License-Identifier: Apache-2.0
/* The node's pending sessions (see pending.h). */
#include "pending.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "informer.h"
#include "log.h"
#include "timefmt.h"

#define PENDING_ARGV_MAX 64

struct pending_entry {
	cJSON *obj;
	const char *argv[PENDING_ARGV_MAX];
	bool deleted; /* the API server deleted it (kept until expired) */
};

struct pending_set {
	struct informer *inf;
	struct pending_entry *e; /* parallel to m */
	struct match_pending *m;
	size_t n, cap;
};

static const cJSON *pd_get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *pd_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(pd_get(o, k));
}

static bool pd_kind(const char *s, enum match_kind *out)
{
	static const struct {
		const char *name;
		enum match_kind kind;
	} kinds[] = { { "Exec", MATCH_EXEC },
		      { "Attach", MATCH_ATTACH },
		      { "PortForward", MATCH_PORTFORWARD },
		      { "EphemeralContainer", MATCH_EPHEMERAL },
		      { "DebugPod", MATCH_DEBUGPOD } };
	size_t i;

	for (i = 0; s && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(s, kinds[i].name)) {
			*out = kinds[i].kind;
			return true;
		}
	return false;
}

/* Points m's strings into e->obj (which e owns). */
static bool pd_fill(struct pending_entry *e, struct match_pending *m)
{
	const cJSON *spec = pd_get(e->obj, "spec"), *user = pd_get(spec, "user"), *a;
	enum match_kind kind;
	size_t n = 0;

	if (!pd_str(pd_get(e->obj, "metadata"), "name") || !pd_kind(pd_str(spec, "kind"), &kind) ||
	    !pd_str(spec, "namespace") || !pd_str(spec, "pod"))
		return false;
	memset(m, 0, sizeof(*m));
	m->name = pd_str(pd_get(e->obj, "metadata"), "name");
	m->kind = kind;
	m->ns = pd_str(spec, "namespace");
	m->pod = pd_str(spec, "pod");
	m->pod_uid = pd_str(spec, "podUID");
	m->container = pd_str(spec, "container");
	cJSON_ArrayForEach(a, pd_get(spec, "command")) {
		if (n == PENDING_ARGV_MAX)
			break;
		e->argv[n++] = cJSON_IsString(a) ? a->valuestring : "";
	}
	m->argv = e->argv;
	m->argc = n;
	m->argv_truncated = cJSON_IsTrue(pd_get(spec, "commandTruncated"));
	m->tty = cJSON_IsTrue(pd_get(spec, "tty"));
	m->stdin = cJSON_IsTrue(pd_get(spec, "stdin"));
	m->username = pd_str(user, "username");
	m->uid = pd_str(user, "uid");
	return true;
}

long pending_find(const struct pending_set *ps, const char *name)
{
	size_t i;

	for (i = 0; ps && name && i < ps->n; i++)
		if (!strcmp(ps->m[i].name, name))
			return (long)i;
	return -1;
}

static void pd_remove(struct pending_set *ps, size_t i)
{
	cJSON_Delete(ps->e[i].obj);
	ps->n--;
	if (i != ps->n) {
		ps->e[i] = ps->e[ps->n];
		ps->m[i] = ps->m[ps->n];
		/* The moved entry's argv array moved with it. */
		ps->m[i].argv = ps->e[i].argv;
	}
}

/* A new or changed session: a change (its status.audit written) keeps
 * when it was received and whether a root took it. */
static int pd_put(struct pending_set *ps, const cJSON *obj, uint64_t now)
{
	const char *name = pd_str(pd_get(obj, "metadata"), "name");
	long i = pending_find(ps, name);
	struct pending_entry e = { 0 };
	struct match_pending m;

	if (!name || !(e.obj = cJSON_Duplicate(obj, 1)))
		return -ENOMEM;
	if (!pd_fill(&e, &m)) {
		cJSON_Delete(e.obj);
		return -EINVAL;
	}
	if (i >= 0) {
		m.received_ns = ps->m[i].received_ns;
		m.consumed = ps->m[i].consumed;
		cJSON_Delete(ps->e[i].obj);
		ps->e[i] = e;
		ps->m[i] = m;
		ps->m[i].argv = ps->e[i].argv;
		return 0;
	}
	if (ps->n == PENDING_MAX) {
		size_t oldest = 0, j;

		for (j = 1; j < ps->n; j++)
			if (ps->m[j].received_ns < ps->m[oldest].received_ns)
				oldest = j;
		pd_remove(ps, oldest);
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 32;
		struct pending_entry *ne = realloc(ps->e, cap * sizeof(*ne));
		struct match_pending *nm;

		if (!ne) {
			cJSON_Delete(e.obj);
			return -ENOMEM;
		}
		ps->e = ne;
		if (!(nm = realloc(ps->m, cap * sizeof(*nm)))) {
			cJSON_Delete(e.obj);
			return -ENOMEM;
		}
		ps->m = nm;
		ps->cap = cap;
		/* Every argv pointer follows its entry's new place. */
		for (size_t j = 0; j < ps->n; j++)
			ps->m[j].argv = ps->e[j].argv;
	}
	m.received_ns = now;
	ps->e[ps->n] = e;
	ps->m[ps->n] = m;
	ps->m[ps->n].argv = ps->e[ps->n].argv;
	ps->n++;
	return 0;
}

/* When a session the first list brings was received: it was not, by this
 * agent (it started after); when it was admitted, by the controller's
 * clock, is the best there is (clocks in step within NTP's error). */
static uint64_t pd_listed_at(const cJSON *obj, uint64_t now)
{
	const char *t = pd_str(pd_get(obj, "spec"), "admittedAt");
	struct timespec ts;
	int64_t mono;

	if (!t || timefmt_parse(t, &ts) < 0)
		return now;
	mono = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec - clock_wall_offset_ns();
	return mono > 0 && (uint64_t)mono < now ? (uint64_t)mono : now;
}

static void pd_on_add(const cJSON *obj, void *arg)
{
	struct pending_set *ps = arg;
	uint64_t now = clock_now_ns();
	int ret = pd_put(ps, obj,
			 ps->inf && !informer_synced(ps->inf) ? pd_listed_at(obj, now) : now);

	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("session", pd_str(pd_get(obj, "metadata"), "name")),
			 "pending session not usable: %s", strerror(-ret));
}

static void pd_on_update(const cJSON *old, const cJSON *obj, void *arg)
{
	(void)old;
	pd_on_add(obj, arg);
}

static void pd_on_delete(const cJSON *obj, void *arg)
{
	struct pending_set *ps = arg;
	long i = pending_find(ps, pd_str(pd_get(obj, "metadata"), "name"));

	/* Kept until it is too old to match (pending_expire): an exec's
	 * session may be deleted a moment before its root is decided. */
	if (i >= 0)
		ps->e[i].deleted = true;
}

int pending_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		  const char *node, struct pending_set **out)
{
	struct pending_set *ps = calloc(1, sizeof(*ps));
	struct informer_opts o = { .on_add = pd_on_add,
				   .on_update = pd_on_update,
				   .on_delete = pd_on_delete };
	char path[512];
	int ret;

	*out = NULL;
	if (!ps)
		return -ENOMEM;
	o.arg = ps;
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/shellauditsessions?fieldSelector=spec.node%%3D%s",
		 node);
	o.path = path;
	if ((ret = informer_start(cfg, copts, &o, &ps->inf)) < 0) {
		pending_stop(ps);
		return ret;
	}
	*out = ps;
	return 0;
}

void pending_stop(struct pending_set *ps)
{
	size_t i;

	if (!ps)
		return;
	informer_stop(ps->inf);
	for (i = 0; i < ps->n; i++)
		cJSON_Delete(ps->e[i].obj);
	free(ps->e);
	free(ps->m);
	free(ps);
}

int pending_fd(const struct pending_set *ps)
{
	return informer_fd(ps->inf);
}

int pending_process(struct pending_set *ps)
{
	return informer_process(ps->inf);
}

bool pending_synced(const struct pending_set *ps)
{
	return !ps->inf || informer_synced(ps->inf);
}

struct match_pending *pending_all(struct pending_set *ps, size_t *n)
{
	*n = ps ? ps->n : 0;
	return ps ? ps->m : NULL;
}

const cJSON *pending_object(const struct pending_set *ps, size_t i)
{
	return i < ps->n ? ps->e[i].obj : NULL;
}

void pending_expire(struct pending_set *ps, uint64_t now, uint64_t keep_ns)
{
	size_t i;

	for (i = 0; ps && i < ps->n;) {
		bool debug = ps->m[i].kind == MATCH_EPHEMERAL || ps->m[i].kind == MATCH_DEBUGPOD;
		bool old = now > ps->m[i].received_ns + keep_ns;

		if ((debug && ps->e[i].deleted) || (!debug && old))
			pd_remove(ps, i);
		else
			i++;
	}
}

int pending_add_object(struct pending_set **ps, const cJSON *obj, uint64_t received_ns)
{
	if (!*ps && !(*ps = calloc(1, sizeof(**ps))))
		return -ENOMEM;
	return pd_put(*ps, obj, received_ns);
}
