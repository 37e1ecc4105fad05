// SPDX-License-Identifier: Apache-2.0
/* lib/informer against a real kube-apiserver: ordered callbacks, resume
 * after the API server is killed and restarted, relist after etcd
 * compaction ending equal to a fresh LIST. The shell wrapper provides the
 * commands that kill and restart the API server and tamper with etcd. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmap.h"
#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "check.h"
#include "log.h"

#define NS "informer-test"
#define CM "/api/v1/namespaces/" NS "/configmaps"

struct seen {
	struct hmap adds, updates, deletes; /* name -> count */
	char order[4096];
};

static void bump(struct hmap *m, const cJSON *obj)
{
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
	long n = (long)hmap_get(m, name);

	hmap_put(m, name, (void *)(n + 1), NULL);
}

static void note(struct seen *s, const char *what, const cJSON *obj)
{
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));
	size_t len = strlen(s->order);

	if (!strncmp(name, "o-", 2))
		snprintf(s->order + len, sizeof(s->order) - len, "%s%s:%s", len ? " " : "", what,
			 name);
}

static void on_add(const cJSON *obj, void *arg)
{
	bump(&((struct seen *)arg)->adds, obj);
	note(arg, "add", obj);
}

static void on_update(const cJSON *old, const cJSON *obj, void *arg)
{
	(void)old;
	bump(&((struct seen *)arg)->updates, obj);
	note(arg, "update", obj);
}

static void on_delete(const cJSON *obj, void *arg)
{
	bump(&((struct seen *)arg)->deletes, obj);
	note(arg, "delete", obj);
}

/* Keeps name, namespace, resourceVersion and data: what the test needs. */
static cJSON *trim(const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItem(obj, "metadata");
	cJSON *t = cJSON_CreateObject(), *tmd = cJSON_AddObjectToObject(t, "metadata");
	static const char *keep[] = { "name", "namespace", "resourceVersion" };
	size_t i;

	for (i = 0; i < 3; i++)
		if (cJSON_GetObjectItem(md, keep[i]))
			cJSON_AddItemToObject(tmd, keep[i],
					      cJSON_Duplicate(cJSON_GetObjectItem(md, keep[i]), 1));
	if (cJSON_GetObjectItem(obj, "data"))
		cJSON_AddItemToObject(t, "data",
				      cJSON_Duplicate(cJSON_GetObjectItem(obj, "data"), 1));
	return t;
}

static char *index_of(const cJSON *obj)
{
	const char *g = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "data"), "group"));

	return g ? strdup(g) : NULL;
}

static struct informer *inf;

/* Processes informer events until cond holds or timeout_s passes. */
static int pump_until(int (*cond)(void *), void *arg, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;

	while (time(NULL) < end) {
		struct pollfd p = { informer_fd(inf), POLLIN, 0 };

		poll(&p, 1, 200);
		informer_process(inf);
		if (cond(arg))
			return 1;
	}
	return 0;
}

static long count(struct hmap *m, const char *name)
{
	return (long)hmap_get(m, name);
}

static int is_synced(void *arg)
{
	(void)arg;
	return informer_synced(inf);
}

static int has_adds(void *arg)
{
	struct seen *s = ((void **)arg)[0];
	const char *prefix = ((void **)arg)[1];
	long want = (long)((void **)arg)[2], n = 0;
	size_t i;
	struct hmap_entry *e;

	for (i = 0; i < s->adds.nbuckets; i++)
		for (e = s->adds.buckets[i]; e; e = e->next)
			if (!strncmp(e->key, prefix, strlen(prefix)))
				n++;
	return n >= want;
}

static void make_cm(struct kube_client *c, const char *name, const char *group)
{
	char body[512];
	cJSON *o;

	snprintf(body, sizeof(body),
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"},"
		 "\"data\":{\"group\":\"%s\"}}", name, group);
	o = cJSON_Parse(body);
	if (kube_create(c, CM, o, NULL, NULL) < 0)
		fprintf(stderr, "create %s failed\n", name);
	cJSON_Delete(o);
}

static int ordered_done(void *arg)
{
	return strstr(((struct seen *)arg)->order, "delete:o-2") != NULL;
}

struct cmp {
	long missing, extra;
	struct hmap names;
};

static int list_name(const cJSON *item, void *arg)
{
	struct cmp *c = arg;
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(item, "metadata"), "name"));

	if (!item) { /* the list starts over */
		hmap_clear(&c->names);
		c->missing = 0;
		return 0;
	}
	hmap_put(&c->names, name, (void *)1, NULL);
	if (!informer_get(inf, NS, name))
		c->missing++;
	return 0;
}

static void cache_name(const cJSON *obj, void *arg)
{
	struct cmp *c = arg;
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "name"));

	if (!hmap_get(&c->names, name))
		c->extra++;
}

static void count_obj(const cJSON *obj, void *arg)
{
	(void)obj;
	(*(long *)arg)++;
}

/* Processes informer events for timeout_s seconds, whatever comes. */
static void pump_for(int timeout_s)
{
	time_t end = time(NULL) + timeout_s;

	while (time(NULL) < end) {
		struct pollfd p = { informer_fd(inf), POLLIN, 0 };

		poll(&p, 1, 200);
		informer_process(inf);
	}
}

/* A step of the test's set-up (the shell wrapper's commands that kill and
 * restart the API server, or change etcd behind its back): not a check of
 * the informer. When it fails nothing after it means anything: the
 * program stops there, failed. */
static void setup_step(const char *what, const char *env)
{
	const char *cmd = getenv(env);

	if (cmd && system(cmd) == 0)
		return;
	printf("  FAIL set-up: %s (%s)\n", what, cmd ? cmd : "no command given");
	check_failed++;
	exit(check_summary());
}

static int cache_has_new(void *arg)
{
	(void)arg;
	return informer_get(inf, NS, "etcd-direct") != NULL &&
	       informer_get(inf, NS, "a-3") == NULL;
}

int main(int argc, char **argv)
{
	struct kube_client_opts copts = { .websocket = argc > 1 && !strcmp(argv[1], "websocket") };
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	struct informer_opts o = { .path = CM,
				   .page_size = 7,
				   .watch_timeout_s = 20,
				   .transform = trim,
				   .index = index_of,
				   .on_add = on_add,
				   .on_update = on_update,
				   .on_delete = on_delete };
	struct informer_stats st;
	struct seen s;
	struct cmp cmp = { 0, 0, { 0 } };
	char err[512], name[32];
	cJSON *ns, *patch;
	long i, n, in_group = 0, all_once = 1;
	int ok;

	log_set_level(LOG_WARN);
	memset(&s, 0, sizeof(s));
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL kubeconfig: %s\n0 passed, 1 failed\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	ns = cJSON_Parse(
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS
		"\"}}");
	kube_create(c, "/api/v1/namespaces", ns, NULL, NULL);
	cJSON_Delete(ns);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "a-%ld", i);
		make_cm(c, name, i % 2 ? "odd" : "even");
	}
	o.arg = &s;
	CHECK("informer starts", informer_start(cfg, &copts, &o, &inf) == 0);
	CHECK("informer syncs from a paged list", pump_until(is_synced, NULL, 60) &&
	      informer_size(inf) == 20 && count(&s.adds, "a-19") == 1);
	informer_foreach_index(inf, "odd", count_obj, &in_group);
	CHECK("index finds the objects of one value", in_group == 10);

	/* Ordered callbacks for a create/update/delete sequence. */
	make_cm(c, "o-1", "x");
	make_cm(c, "o-2", "x");
	patch = cJSON_Parse("{\"data\":{\"group\":\"y\"}}");
	kube_patch(c, CM "/o-1", patch, NULL, NULL);
	cJSON_Delete(patch);
	kube_delete(c, CM "/o-2", NULL, NULL, NULL);
	ok = pump_until(ordered_done, &s, 60);
	CHECK("callbacks come in event order",
	      ok && !strcmp(s.order, "add:o-1 add:o-2 update:o-1 delete:o-2"));
	if (strcmp(s.order, "add:o-1 add:o-2 update:o-1 delete:o-2"))
		printf("       got: %s\n", s.order);
	in_group = 0;
	informer_foreach_index(inf, "y", count_obj, &in_group);
	CHECK("index follows updates", in_group == 1);

	/* Kill the API server mid-watch, bring it back, keep writing. */
	setup_step("kill the API server", "APISERVER_KILL");
	/* The informer meets the outage: its watch breaks, its retries fail. */
	pump_for(3);
	setup_step("restart the API server", "APISERVER_START");
	kube_client_free(c);
	kube_client_new(cfg, NULL, &c);
	for (i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "b-%ld", i);
		make_cm(c, name, "b");
	}
	ok = pump_until(has_adds, (void *[]){ &s, "b-", (void *)15L }, 120);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "a-%ld", i);
		if (count(&s.adds, name) != 1 || count(&s.updates, name) || count(&s.deletes, name))
			all_once = 0;
	}
	for (i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "b-%ld", i);
		if (count(&s.adds, name) != 1 || count(&s.updates, name))
			all_once = 0;
	}
	CHECK("watch resumes after the restart: every event once, none repeated", ok && all_once &&
	      count(&s.updates, "o-1") == 1 && count(&s.adds, "o-1") == 1);
	informer_stats(inf, &st);
	CHECK("the resume was a watch restart, not a relist",
	      st.watch_restarts >= 1 && st.lists == 1 && st.relists == 0);

	/* Behind the API server's back: one object appears, one vanishes,
	 * and etcd compacts past the informer's version. */
	setup_step("kill the API server again", "APISERVER_KILL");
	setup_step("change and compact etcd behind it", "ETCD_TAMPER");
	setup_step("restart the API server again", "APISERVER_START");
	ok = pump_until(cache_has_new, NULL, 120);
	informer_stats(inf, &st);
	CHECK("a too-old resourceVersion leads to a relist", ok && st.relists >= 1);
	CHECK("relist reports the vanished object deleted", count(&s.deletes, "a-3") == 1);
	CHECK("relist does not re-announce unchanged objects", count(&s.adds, "a-4") == 1 &&
	      count(&s.updates, "a-4") == 0);
	kube_client_free(c);
	kube_client_new(cfg, NULL, &c);
	hmap_init(&cmp.names);
	n = kube_list(c, CM, 500, list_name, &cmp, NULL, NULL);
	informer_foreach(inf, cache_name, &cmp);
	CHECK("cache equals a fresh LIST", n == 0 && cmp.missing == 0 && cmp.extra == 0 &&
	      cmp.names.size == informer_size(inf));
	hmap_clear(&cmp.names);

	informer_stop(inf);
	hmap_clear(&s.adds);
	hmap_clear(&s.updates);
	hmap_clear(&s.deletes);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}
