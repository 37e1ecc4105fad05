// SPDX-License-Identifier: Apache-2.0
/* Exercises lib/kube and lib/watch (bookmarks included) against a real kube-apiserver (the
 * KUBECONFIG of a cluster started by test_kube_client.sh). Prints one line
 * per check and "N passed, N failed" last. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube.h"
#include "kubeconfig.h"
#include "../arg.h"
#include "check.h"
#include "log.h"
#include "watch.h"

#define NS "kube-client-test"
#define CM "/api/v1/namespaces/" NS "/configmaps"

static cJSON *configmap(const char *name, const char *key, const char *value)
{
	cJSON *o = cJSON_CreateObject(), *md, *data;

	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "ConfigMap");
	md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	data = cJSON_AddObjectToObject(o, "data");
	cJSON_AddStringToObject(data, key, value);
	return o;
}

static const char *meta(const cJSON *obj, const char *field)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), field));
}

static void test_requests(struct kube_client *c)
{
	struct kube_response resp;
	cJSON *obj = configmap("a", "k", "v1"), *got = NULL, *patch;
	char *uid = NULL, *rv = NULL;
	int r;

	r = kube_create(c, CM, obj, &got, &resp);
	CHECK("create returns the object", r == 0 && meta(got, "uid"));
	if (got) {
		uid = strdup(meta(got, "uid"));
		rv = strdup(meta(got, "resourceVersion"));
	}
	cJSON_Delete(got);
	r = kube_create(c, CM, obj, NULL, &resp);
	CHECK("create twice is AlreadyExists",
	      r == -EEXIST && !strcmp(resp.reason, "AlreadyExists"));
	r = kube_get(c, CM "/missing", NULL, &resp);
	CHECK("get missing is NotFound", r == -ENOENT && !strcmp(resp.reason, "NotFound"));

	/* An update carrying a stale resourceVersion conflicts. */
	patch = cJSON_CreateObject();
	cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "data"), "k", "v2");
	r = kube_patch(c, CM "/a", patch, &got, &resp);
	CHECK("merge patch applies",
	      r == 0 && got &&
		      !strcmp(cJSON_GetStringValue(
				      cJSON_GetObjectItem(cJSON_GetObjectItem(got, "data"), "k")),
			      "v2"));
	cJSON_Delete(got);
	cJSON_Delete(patch);
	cJSON_AddItemToObject(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion",
			      cJSON_CreateString(rv ? rv : "1"));
	r = kube_update(c, CM "/a", obj, NULL, &resp);
	CHECK("update with a stale resourceVersion is Conflict",
	      r == -EBUSY && !strcmp(resp.reason, "Conflict"));
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion");

	r = kube_apply(c, CM "/a", "kube-client-test", true, obj, &got, &resp);
	CHECK("server-side apply", r == 0 && got);
	cJSON_Delete(got);

	r = kube_delete(c, CM "/a", "00000000-0000-0000-0000-000000000000", NULL, &resp);
	CHECK("delete with a wrong uid precondition is Conflict", r == -EBUSY);
	r = kube_delete(c, CM "/a", uid, NULL, &resp);
	CHECK("delete with the right uid", r == 0);
	r = kube_get(c, CM "/a", NULL, &resp);
	CHECK("deleted object is gone", r == -ENOENT);

	cJSON_Delete(obj);
	obj = configmap("Not_A_Valid_Name", "k", "v");
	r = kube_create(c, CM, obj, NULL, &resp);
	CHECK("invalid name is Invalid", r == -EINVAL && !strcmp(resp.reason, "Invalid") &&
	      strstr(resp.message, "Not_A_Valid_Name"));
	cJSON_Delete(obj);
	free(uid);
	free(rv);
}

/* kube_request_many: each request gets its own answer, whatever order
 * the answers come in, over the API server's HTTP/2. */
static void test_many(struct kube_client *c)
{
	struct kube_call calls[KUBE_MANY_MAX];
	char *bodies[KUBE_MANY_MAX] = { NULL }, name[32];
	size_t i, n = KUBE_MANY_MAX, right = 0;
	cJSON *obj;

	memset(calls, 0, sizeof(calls));
	for (i = 0; i < n - 2; i++) {
		snprintf(name, sizeof(name), "many-%zu", i);
		obj = configmap(name, "k", name);
		bodies[i] = cJSON_PrintUnformatted(obj);
		cJSON_Delete(obj);
		calls[i] = (struct kube_call){ .method = "POST",
					       .path = CM,
					       .content_type = "application/json",
					       .body = bodies[i] };
	}
	calls[n - 2] = (struct kube_call){ .method = "GET", .path = CM "/missing" };
	obj = configmap("Many_Invalid", "k", "v");
	bodies[n - 1] = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	calls[n - 1] = (struct kube_call){ .method = "POST",
					   .path = CM,
					   .content_type = "application/json",
					   .body = bodies[n - 1] };
	CHECK("many requests at once: the call succeeds", kube_request_many(c, calls, n) == 0);
	for (i = 0; i < n - 2; i++) {
		cJSON *got = calls[i].resp.body ? cJSON_Parse(calls[i].resp.body) : NULL;
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(got, "data"), "k"));

		snprintf(name, sizeof(name), "many-%zu", i);
		right += calls[i].ret == 0 && calls[i].resp.code == 201 && meta(got, "name") &&
			 !strcmp(meta(got, "name"), name) && v && !strcmp(v, name);
		cJSON_Delete(got);
	}
	CHECK("  each create gets its own object back", right == n - 2);
	CHECK("  a missing object is NotFound, that request's alone",
	      calls[n - 2].ret == 0 && kube_response_errno(&calls[n - 2].resp) == -ENOENT &&
		      !strcmp(calls[n - 2].resp.reason, "NotFound"));
	CHECK("  an invalid object is Invalid, that request's alone",
	      calls[n - 1].ret == 0 && kube_response_errno(&calls[n - 1].resp) == -EINVAL &&
		      strstr(calls[n - 1].resp.message, "Many_Invalid"));
	for (i = 0; i < n; i++) {
		kube_response_clear(&calls[i].resp);
		free(bodies[i]);
	}
	for (i = 0, right = 0; i < n - 2; i++) {
		char path[128];

		snprintf(path, sizeof(path), CM "/many-%zu", i);
		right += kube_get(c, path, NULL, NULL) == 0;
		kube_delete(c, path, NULL, NULL, NULL);
	}
	CHECK("  every object was created", right == n - 2);
	CHECK("  more than KUBE_MANY_MAX at once is refused",
	      kube_request_many(c, calls, KUBE_MANY_MAX + 1) == -E2BIG);
}

/* kube_request_many against a peer that answers only once it holds 4
 * requests (fakeapi.py together): they are sent at once, not in turn. */
static void test_many_together(struct kubeconfig *cfg, const char *url)
{
	struct kube_client_opts o = { .timeout_ms = 30000 };
	struct kube_call calls[4];
	struct kube_client *c = NULL;
	char *real = cfg->server, server[256], paths[4][32], want[sizeof(paths) + 16];
	size_t i, right = 0;

	snprintf(server, sizeof(server), "%s", url);
	cfg->server = server;
	kube_client_new(cfg, &o, &c);
	cfg->server = real;
	memset(calls, 0, sizeof(calls));
	for (i = 0; i < 4; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/together/%zu", i);
		calls[i] = (struct kube_call){ .method = "GET", .path = paths[i] };
	}
	kube_request_many(c, calls, 4);
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "\"path\": \"%s\"", paths[i]);
		right += calls[i].ret == 0 && calls[i].resp.code == 200 && calls[i].resp.body &&
			 strstr(calls[i].resp.body, want);
		kube_response_clear(&calls[i].resp);
	}
	CHECK("requests at once are in flight together (a peer that answers only 4 at a "
	      "time answers each its own)",
	      right == 4);
	kube_client_free(c);
}

/* Starts a GET of path on c. */
static int start_get(struct kube_client *c, struct kube_call *k, const char *path)
{
	*k = (struct kube_call){ .method = "GET", .path = path };
	return kube_call_start(c, k);
}

/* Runs c's calls until want is done (at most about 60 s). */
static void run_until(struct kube_client *c, const struct kube_call *want)
{
	for (int i = 0; i < 60 && !want->done; i++)
		kube_calls_run(c, 1000);
}

/* kube_call_start's window against fakeapi.py together: a call answered
 * late (/held, until a /release comes) holds up none started after it;
 * a full window refuses one more; a cancelled call ends at once and frees
 * its slot. */
static void test_window(struct kubeconfig *cfg, const char *url)
{
	struct kube_client_opts o = { .timeout_ms = 30000 };
	struct kube_call held, quick[2], release, extra, all[KUBE_MANY_MAX];
	struct kube_client *c = NULL;
	char *real = cfg->server, server[256], release_all[32];
	size_t i, right = 0;

	snprintf(server, sizeof(server), "%s", url);
	cfg->server = server;
	kube_client_new(cfg, &o, &c);
	cfg->server = real;
	start_get(c, &held, "/held");
	start_get(c, &quick[0], "/quick/0");
	start_get(c, &quick[1], "/quick/1");
	run_until(c, &quick[0]);
	run_until(c, &quick[1]);
	CHECK("window: calls started after a slow one are answered while it runs",
	      !held.done && quick[0].done && quick[0].ret == 0 && quick[0].resp.code == 200 &&
		      quick[1].done && quick[1].ret == 0 && quick[1].resp.code == 200);
	/* A trim frees the two idle handles; the slow call runs on, and
	 * the next call makes its handle again. */
	CHECK("window: a trim frees the idle handles, not a running one",
	      kube_client_trim(c) == 2 && !held.done && kube_client_trim(c) == 0);
	start_get(c, &release, "/release");
	run_until(c, &held);
	run_until(c, &release);
	CHECK("window: the slow one gets its own answer once it comes",
	      held.done && held.ret == 0 && held.resp.code == 200 && held.resp.body &&
		      strstr(held.resp.body, "\"/held\""));
	kube_response_clear(&held.resp);
	kube_response_clear(&release.resp);
	for (i = 0; i < 2; i++)
		kube_response_clear(&quick[i].resp);
	for (i = 0; i < KUBE_MANY_MAX; i++)
		right += start_get(c, &all[i], "/held") == 0 && !all[i].done;
	CHECK("window: KUBE_MANY_MAX calls run at once", right == KUBE_MANY_MAX);
	CHECK("window: one more is refused with -EBUSY, untouched",
	      start_get(c, &extra, "/quick/x") == -EBUSY && !extra.done);
	kube_call_cancel(c, &all[0]);
	CHECK("window: a cancelled call ends at once with -ECANCELED",
	      all[0].done && all[0].ret == -ECANCELED);
	start_get(c, &extra, "/quick/x");
	run_until(c, &extra);
	CHECK("window: its slot takes the next call",
	      extra.done && extra.ret == 0 && extra.resp.code == 200);
	kube_response_clear(&extra.resp);
	kube_response_clear(&all[0].resp);
	/* What still runs ends with the client (ASan: nothing leaks): the
	 * release waits until every /held sent is at the server (all[0] was
	 * cancelled before it was sent). */
	snprintf(release_all, sizeof(release_all), "/release?held=%d", KUBE_MANY_MAX - 1);
	start_get(c, &release, release_all);
	run_until(c, &release);
	kube_response_clear(&release.resp);
	for (i = 1; i < KUBE_MANY_MAX; i++) {
		run_until(c, &all[i]);
		kube_response_clear(&all[i].resp);
	}
	/* A request of the client's own while calls run goes beside them:
	 * they go on meanwhile (here the one that answers it). */
	{
		struct kube_response resp = { 0 };

		start_get(c, &release, "/release-later");
		CHECK("window: a request made while calls run lets them go on",
		      kube_request(c, "GET", "/held", NULL, NULL, &resp) == 0 && resp.code == 200);
		kube_response_clear(&resp);
		run_until(c, &release);
		kube_response_clear(&release.resp);
	}
	CHECK("window: after the calls, a trim frees every handle they used",
	      kube_client_trim(c) == KUBE_MANY_MAX);
	start_get(c, &held, "/held");
	kube_client_free(c);
	CHECK("window: the client's end cancels what still runs",
	      held.done && held.ret == -ECANCELED);
	kube_response_clear(&held.resp);
}

struct counter {
	long items;
	long bytes_max;
	long want;
};

static int count_item(const cJSON *item, void *arg)
{
	struct counter *n = arg;
	const char *v =
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(item, "data"), "k"));

	if (!item) { /* the list starts over */
		n->items = 0;
		return 0;
	}
	n->items++;
	if (v && (long)strlen(v) > n->bytes_max)
		n->bytes_max = (long)strlen(v);
	return 0;
}

/* Counts events; stops the watch once `want` (in the counter) arrived, so
 * the test does not wait for the server-side timeout. */
static int watch_count(const char *type, const cJSON *obj, void *arg)
{
	struct counter *n = arg;

	if (strcmp(type, "BOOKMARK"))
		count_item(obj, arg);
	return n->items >= n->want ? -ECANCELED : 0;
}

static void test_large_and_many(struct kube_client *c, const struct kubeconfig *cfg, long many)
{
	struct kube_client_opts small = { .max_body = 256 << 10 };
	struct kube_client *sc = NULL;
	struct kube_response resp;
	struct counter n = { 0, 0, 0 };
	char *big = malloc(1000001), name[32], *rv = NULL;
	cJSON *obj;
	long i, created = 0;
	int r;

	char *before = NULL;

	kube_list(c, CM "?fieldSelector=metadata.name%3Dnone", 10, count_item, &n, &before, &resp);
	memset(big, 'x', 1000000);
	big[1000000] = '\0';
	obj = configmap("big", "k", big);
	r = kube_create(c, CM, obj, NULL, &resp);
	CHECK("create a 1 MB object", r == 0);
	cJSON_Delete(obj);

	for (i = 0; i < many; i++) {
		snprintf(name, sizeof(name), "many-%05ld", i);
		obj = configmap(name, "k", name);
		if (kube_create(c, CM, obj, NULL, &resp) == 0)
			created++;
		cJSON_Delete(obj);
	}
	CHECK("create the many objects", created == many);
	for (i = 0; i < 2; i++) {
		struct kube_client_opts wo = { .websocket = i == 1 };
		struct kube_client *wc = NULL;
		struct counter wn = { 0, 0, many + 1 };
		char *wrv = before ? strdup(before) : NULL;

		kube_client_new(cfg, &wo, &wc);
		r = watch_stream(wc, CM, &wrv, 300, watch_count, &wn, NULL);
		CHECK(i ? "websocket: watch delivers the 1 MB object whole and all the many" :
			  "chunked: watch delivers the 1 MB object whole and all the many",
		      r == -ECANCELED && wn.bytes_max == 1000000 && wn.items == many + 1);
		kube_client_free(wc);
		free(wrv);
	}
	free(before);
	r = kube_list(c, CM, 500, count_item, &n, &rv, &resp);
	CHECK("paged list sees all of them and the big one", r == 0 && n.items == many + 1 &&
	      n.bytes_max == 1000000);
	CHECK("list gives a resourceVersion", rv && *rv);
	free(rv);
	rv = NULL;

	kube_client_new(cfg, &small, &sc);
	r = kube_get(sc, CM "/big", NULL, &resp);
	CHECK("a body past max_body is a clear -EFBIG",
	      r == -EFBIG && strstr(resp.message, "larger than"));
	kube_client_free(sc);
	free(big);
}

struct recorder {
	char log[64][80];
	int n;
};

static int record(const char *type, const cJSON *obj, void *arg)
{
	struct recorder *rec = arg;
	const char *name = meta(obj, "name");
	const char *v =
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "data"), "k"));

	if (!strcmp(type, "BOOKMARK") || !name || strncmp(name, "w-", 2))
		return 0;
	if (rec->n < 64)
		snprintf(rec->log[rec->n++], 80, "%s %s %s", type, name, v ? v : "-");
	return 0;
}

static void test_watch_order(struct kube_client *c, const char *transport)
{
	char label[160];
	static const char *want[] = { "ADDED w-1 a",   "ADDED w-2 a",	 "MODIFIED w-1 b",
				      "DELETED w-2 a", "MODIFIED w-1 c", "DELETED w-1 c" };
	struct kube_response resp;
	struct recorder rec = { .n = 0 };
	char *rv = NULL, *start;
	cJSON *obj, *patch;
	int r, i, same = 1;

	kube_list(c, CM "?fieldSelector=metadata.name%3Dnone", 10, count_item,
		  &(struct counter){ 0, 0, 0 }, &rv, &resp);
	start = rv ? strdup(rv) : NULL;
	obj = configmap("w-1", "k", "a");
	kube_create(c, CM, obj, NULL, &resp);
	cJSON_Delete(obj);
	obj = configmap("w-2", "k", "a");
	kube_create(c, CM, obj, NULL, &resp);
	cJSON_Delete(obj);
	patch = cJSON_Parse("{\"data\":{\"k\":\"b\"}}");
	kube_patch(c, CM "/w-1", patch, NULL, &resp);
	cJSON_Delete(patch);
	kube_delete(c, CM "/w-2", NULL, NULL, &resp);
	patch = cJSON_Parse("{\"data\":{\"k\":\"c\"}}");
	kube_patch(c, CM "/w-1", patch, NULL, &resp);
	cJSON_Delete(patch);
	kube_delete(c, CM "/w-1", NULL, NULL, &resp);

	/* Replays history from the start version, then ends at the timeout. */
	r = watch_stream(c, CM, &rv, 3, record, &rec, NULL);
	snprintf(label, sizeof(label), "%s: watch ends normally at timeoutSeconds", transport);
	CHECK(label, r == 0);
	for (i = 0; i < 6; i++)
		if (i >= rec.n || strcmp(rec.log[i], want[i]))
			same = 0;
	snprintf(label, sizeof(label), "%s: watch delivers create/update/delete in order",
		 transport);
	CHECK(label, same && rec.n == 6);
	if (!same || rec.n != 6)
		for (i = 0; i < rec.n; i++)
			printf("       got: %s\n", rec.log[i]);
	snprintf(label, sizeof(label), "%s: watch advances the resourceVersion", transport);
	CHECK(label, rv && start && strcmp(rv, start) != 0);

	/* Resuming from the last version repeats nothing. */
	rec.n = 0;
	r = watch_stream(c, CM, &rv, 2, record, &rec, NULL);
	snprintf(label, sizeof(label), "%s: resume from the last resourceVersion repeats nothing",
		 transport);
	CHECK(label, r == 0 && rec.n == 0);
	free(rv);
	free(start);
}

struct bookmarks {
	long bookmarks, others;
};

static int count_bookmark(const char *type, const cJSON *obj, void *arg)
{
	struct bookmarks *b = arg;

	(void)obj;
	if (!strcmp(type, "BOOKMARK"))
		b->bookmarks++;
	else
		b->others++;
	return 0;
}

struct later_create {
	const struct kubeconfig *cfg;
	char name[64];
};

/* Creates a configmap 2 s from now, with a client of its own. */
static void *create_later(void *arg)
{
	struct later_create *l = arg;
	struct kube_client *c = NULL;
	struct timespec two = { 2, 0 };
	cJSON *obj = configmap(l->name, "k", "v");

	nanosleep(&two, NULL);
	if (kube_client_new(l->cfg, NULL, &c) == 0)
		kube_create(c, CM, obj, NULL, NULL);
	kube_client_free(c);
	cJSON_Delete(obj);
	return NULL;
}

/* Whether resourceVersion a is past b: both the decimal numbers this API
 * server gives (etcd's revisions), a the larger; false for anything else. */
static bool rv_after(const char *a, const char *b)
{
	char *end_a, *end_b;
	long long va, vb;

	errno = 0;
	va = strtoll(a, &end_a, 10);
	vb = strtoll(b, &end_b, 10);
	return !errno && end_a != a && !*end_a && end_b != b && !*end_b && va > vb;
}

/* A watch that no change matches still moves on: the API server's
 * bookmarks (asked for with allowWatchBookmarks, sent before the watch's
 * timeout) carry the latest resourceVersion, and the watch takes it. */
static void test_watch_bookmarks(struct kube_client *c, const struct kubeconfig *cfg,
				 const char *transport)
{
	struct kube_response resp;
	struct bookmarks b = { 0, 0 };
	struct later_create later = { .cfg = cfg };
	char *rv = NULL, *start, label[160];
	pthread_t t;
	int r, started;

	kube_list(c, CM "?labelSelector=shellaudit-test%3Dnothing", 10, count_item,
		  &(struct counter){ 0, 0, 0 }, &rv, &resp);
	start = rv ? strdup(rv) : NULL;
	/* A change the watch does not select, made while it runs: there is a
	 * newer version to bookmark. */
	snprintf(later.name, sizeof(later.name), "bm-%s", transport);
	started = pthread_create(&t, NULL, create_later, &later) == 0;
	/* A bookmark comes 2 s before the watch's timeout at the latest. */
	r = watch_stream(c, CM "?labelSelector=shellaudit-test%3Dnothing", &rv, 10, count_bookmark,
			 &b, NULL);
	if (started)
		pthread_join(t, NULL);
	snprintf(label, sizeof(label), "%s: a watch nothing matches gets bookmarks, and only them",
		 transport);
	CHECK(label, r == 0 && b.bookmarks >= 1 && b.others == 0);
	if (r != 0 || b.bookmarks < 1 || b.others)
		printf("       watch returned %d with %ld bookmarks and %ld other events\n", r,
		       b.bookmarks, b.others);
	snprintf(label, sizeof(label), "%s: a bookmark moves the watch's resourceVersion on",
		 transport);
	CHECK(label, rv && start && strcmp(rv, start) != 0 && rv_after(rv, start));
	snprintf(label, sizeof(label), CM "/bm-%s", transport);
	kube_delete(c, label, NULL, NULL, &resp);
	free(rv);
	free(start);
}

static void test_watch_bad_version(struct kube_client *c, const char *transport)
{
	char *rv = strdup("not-a-version"), label[160];
	int r = watch_stream(c, CM, &rv, 2, record, &(struct recorder){.n = 0}, NULL);

	snprintf(label, sizeof(label), "%s: watch from a malformed version fails cleanly",
		 transport);
	CHECK(label, r < 0 && r != -ESTALE);
	free(rv);
}

struct kinds {
	int n, partial;
};

static int count_kind(const char *type, const cJSON *obj, void *arg)
{
	struct kinds *k = arg;
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "kind"));

	if (strcmp(type, "BOOKMARK")) {
		k->n++;
		if (kind && !strcmp(kind, "PartialObjectMetadata") &&
		    !cJSON_GetObjectItem(obj, "data"))
			k->partial++;
	}
	return 0;
}

static int count_list_kind(const cJSON *item, void *arg)
{
	return item ? count_kind("ADDED", item, arg) : 0;
}

/* The Accept options: metadata-only lists and watches, on both transports
 * (what the controller asks of AuditRecords). */
static void test_metadata_only(const struct kubeconfig *cfg)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct kube_client_opts o = {
		    .websocket = i == 1,
		    .accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
		    .watch_accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
		};
		struct kube_client *c = NULL;
		struct kinds l = {0, 0}, w = {0, 0};
		char *rv = NULL, label[160];
		int r;

		kube_client_new(cfg, &o, &c);
		r = kube_list(c, CM "?labelSelector=meta%3Dyes", 10, count_list_kind, &l, NULL,
			      NULL);
		if (i == 0) {
			snprintf(label, sizeof(label),
				 "a list with the metadata-only Accept gets metadata only");
			CHECK(label, r == 0 && l.n == 3 && l.partial == 3);
		}
		r = watch_stream(c, CM "?labelSelector=meta%3Dyes", &rv, 2, count_kind, &w, NULL);
		snprintf(label, sizeof(label),
			 "%s: a watch with the metadata-only Accept gets metadata only",
			 i ? "websocket" : "chunked");
		CHECK(label, r == 0 && w.n == 3 && w.partial == 3);
		kube_client_free(c);
		free(rv);
	}
}

#define WS_THREADS 6
#define WS_WATCHES 8

struct ws_worker {
	const struct kubeconfig *cfg;
	int ok, failed;
	char why[512];
};

/* Short websocket watches, one after the other: each makes its own lws
 * context and handshake. */
static void *ws_worker_run(void *arg)
{
	struct ws_worker *wk = arg;
	struct kube_client_opts o = {.websocket = true};
	struct kube_client *c = NULL;
	struct kube_response resp;
	int i, r;

	if (kube_client_new(wk->cfg, &o, &c) < 0)
		return NULL;
	for (i = 0; i < WS_WATCHES; i++) {
		char *rv = NULL;

		r = watch_stream(c, CM, &rv, 1, record, &(struct recorder){.n = 0}, &resp);
		if (r == 0) {
			wk->ok++;
		} else {
			wk->failed++;
			snprintf(wk->why, sizeof(wk->why), "%s", resp.message);
		}
		free(rv);
	}
	kube_client_free(c);
	return NULL;
}

/* Issue 16: lws 4.1 takes a new process-wide SSL index with every context,
 * which failed the handshakes of other threads under way ("connect SSL err
 * 1"): the controller's informers watch from five threads. */
static void test_websocket_watches_from_many_threads(const struct kubeconfig *cfg)
{
	struct ws_worker wk[WS_THREADS];
	pthread_t t[WS_THREADS];
	int i, ok = 0, failed = 0;
	char label[160];

	memset(wk, 0, sizeof(wk));
	for (i = 0; i < WS_THREADS; i++) {
		wk[i].cfg = cfg;
		pthread_create(&t[i], NULL, ws_worker_run, &wk[i]);
	}
	for (i = 0; i < WS_THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += wk[i].ok;
		failed += wk[i].failed;
		if (wk[i].failed)
			printf("       thread %d: %s\n", i, wk[i].why);
	}
	snprintf(label, sizeof(label),
		 "websocket: %d watches from %d threads at once all connect and end normally",
		 WS_THREADS * WS_WATCHES, WS_THREADS);
	CHECK(label, ok == WS_THREADS * WS_WATCHES && failed == 0);
}

struct beside_state {
	struct kube_client *c;
	struct kube_call release;
	int runs, started, nested;
};

/* kube_set_beside's function of test_beside: starts the call that
 * releases the request waiting, once; a request of its own is refused. */
static void beside_release(void *arg)
{
	struct beside_state *b = arg;

	b->runs++;
	if (b->started)
		return;
	b->nested = kube_request(b->c, "GET", "/quick/nested", NULL, NULL, NULL);
	b->started = start_get(b->c, &b->release, "/release") == 0;
}

/* A request that waits for its answer does not hold up the calls that
 * would follow (kube_set_beside): against fakeapi.py together, a GET
 * /held is answered only once a /release comes, which the function beside
 * it starts while it waits; no call ran when the request began. */
static void test_beside(struct kubeconfig *cfg, const char *url)
{
	struct kube_client_opts o = { .timeout_ms = 30000 };
	struct beside_state b = { 0 };
	struct kube_response resp = { 0 };
	struct kube_call quick;
	char *real = cfg->server, server[256];
	int ret;

	snprintf(server, sizeof(server), "%s", url);
	cfg->server = server;
	kube_client_new(cfg, &o, &b.c);
	cfg->server = real;
	start_get(b.c, &quick, "/quick/first"); /* the client's calls begin */
	run_until(b.c, &quick);
	kube_response_clear(&quick.resp);
	kube_set_beside(b.c, beside_release, &b);
	ret = kube_request(b.c, "GET", "/held", NULL, NULL, &resp);
	CHECK("beside: a request waiting alone runs the function beside it",
	      b.runs > 0 && b.started);
	CHECK("beside: the call it started while the request waited released it",
	      ret == 0 && resp.code == 200 && resp.body &&
		      strstr(resp.body, "\"released\": true") != NULL);
	CHECK("beside: a request from the function beside one is refused", b.nested == -EDEADLK);
	run_until(b.c, &b.release);
	CHECK("beside: the call it started gets its answer",
	      b.release.done && b.release.ret == 0 && b.release.resp.code == 200);
	kube_response_clear(&b.release.resp);
	kube_response_clear(&resp);
	kube_set_beside(b.c, NULL, NULL);
	kube_client_free(b.c);
}

int main(int argc, char **argv)
{
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_response resp;
	char err[512];
	cJSON *ns;
	long many = argc > 1 ? arg_long(argv[1], "the number of objects") : 5000;

	log_set_level(LOG_ERROR);
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL kubeconfig: %s\n0 passed, 1 failed\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	ns = cJSON_Parse(
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS
		"\"}}");
	CHECK("create namespace over TLS with a client certificate",
	      kube_create(c, "/api/v1/namespaces", ns, NULL, &resp) == 0);
	cJSON_Delete(ns);
	test_requests(c);
	test_many(c);
	if (getenv("TOGETHER_URL")) {
		test_many_together(cfg, getenv("TOGETHER_URL"));
		test_window(cfg, getenv("TOGETHER_URL"));
		test_beside(cfg, getenv("TOGETHER_URL"));
	}
	test_watch_order(c, "chunked");
	test_watch_bookmarks(c, cfg, "chunked");
	test_watch_bad_version(c, "chunked");
	{
		struct kube_client_opts wso = { .websocket = true };
		struct kube_client *ws = NULL;

		kube_client_new(cfg, &wso, &ws);
		test_watch_order(ws, "websocket");
		test_watch_bookmarks(ws, cfg, "websocket");
		test_watch_bad_version(ws, "websocket");
		kube_client_free(ws);
	}
	for (int i = 0; i < 3; i++) {
		char name[16];
		cJSON *obj, *labels;

		snprintf(name, sizeof(name), "meta-%d", i);
		obj = configmap(name, "k", "a value the metadata-only forms leave out");
		labels = cJSON_AddObjectToObject(cJSON_GetObjectItem(obj, "metadata"), "labels");
		cJSON_AddStringToObject(labels, "meta", "yes");
		kube_create(c, CM, obj, NULL, &resp);
		cJSON_Delete(obj);
	}
	test_metadata_only(cfg);
	kube_delete(c, CM "/meta-0", NULL, NULL, NULL);
	kube_delete(c, CM "/meta-1", NULL, NULL, NULL);
	kube_delete(c, CM "/meta-2", NULL, NULL, NULL);
	test_websocket_watches_from_many_threads(cfg);
	test_large_and_many(c, cfg, many);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}
