// SPDX-License-Identifier: Apache-2.0
/* Event recorder. Owned by one thread (the daemon's main loop). */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "digest.h"
#include "escape.h"
#include "hmap.h"
#include "jsontext.h"
#include "ratelimit.h"
#include "timefmt.h"

#define EVENTS_NOTE_MAX 1024
#define EVENTS_SERIES_MAX 4096

struct events_series {
	char name[256];
	char ns[256];
	long count;		/* occurrences, the first one included */
	long written;		/* count the API server has */
	struct timespec first, last;
};

struct events {
	struct kube_client *c;
	struct events_opts opts;
	char controller[128], instance[EVENTS_INSTANCE_MAX + 1]; /* opts' strings, owned */
	struct tokens tokens;	/* qps, burst */
	struct hmap series;	/* key -> struct events_series */
	struct events_stats stats;
	unsigned long seq;
	char last_error[512];	/* the API server's word on the last failure */
	long last_code;		/* its HTTP status, 0: no answer */
	int last_retry_after;	/* its Retry-After in seconds, 0: none */
	char last_reason[64];	/* its metav1.Status reason */
	enum events_failure last_failure;
	/* events_batch_add's Events, oldest (head) first: a ring of slots.
	 * The first nstarted are requests, running or answered; the others
	 * wait for one of the client's KUBE_MANY_MAX requests (they are
	 * started in order, and taken in order from the head). */
	struct kube_call batch[EVENTS_BATCH_MAX];
	char *batch_path[EVENTS_BATCH_MAX], *batch_body[EVENTS_BATCH_MAX];
	size_t head, nbatch, nstarted;
};

/* reportingInstance: the API takes 128 characters at most. A longer one
 * (a node name of up to 253) keeps its start and gets a digest of the
 * whole, so that two long names stay two instances. */
static void events_instance(const char *in, char out[EVENTS_INSTANCE_MAX + 1])
{
	char d[DIGEST_STR_LEN];

	if (strlen(in) <= EVENTS_INSTANCE_MAX) {
		snprintf(out, EVENTS_INSTANCE_MAX + 1, "%s", in);
		return;
	}
	digest_bytes(in, strlen(in), d);
	snprintf(out, EVENTS_INSTANCE_MAX + 1, "%.*s-%.16s", EVENTS_INSTANCE_MAX - 17, in, d + 7);
}

int events_new(struct kube_client *c, const struct events_opts *opts, struct events **out)
{
	struct events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->c = c;
	e->opts = *opts;
	snprintf(e->controller, sizeof(e->controller), "%s",
		 opts->controller ? opts->controller : "");
	events_instance(opts->instance ? opts->instance : "", e->instance);
	e->opts.controller = e->controller;
	e->opts.instance = e->instance;
	if (e->opts.qps <= 0)
		e->opts.qps = 5;
	if (e->opts.burst <= 0)
		e->opts.burst = 25;
	if (e->opts.series_window_s == 0)
		e->opts.series_window_s = 360;
	tokens_init(&e->tokens, e->opts.qps, e->opts.burst, clock_now_ms());
	hmap_init_free(&e->series, free);
	*out = e;
	return 0;
}

void events_free(struct events *e)
{
	if (!e)
		return;
	hmap_clear(&e->series);
	events_batch_clear(e);
	free(e);
}

void events_get_stats(const struct events *e, struct events_stats *out)
{
	*out = e->stats;
}

const char *events_last_error(const struct events *e)
{
	return e->last_error;
}

enum events_failure events_last_failure(const struct events *e)
{
	return e->last_failure;
}

long events_last_code(const struct events *e)
{
	return e->last_code;
}

int events_last_retry_after(const struct events *e)
{
	return e->last_retry_after;
}

const char *events_last_reason(const struct events *e)
{
	return e->last_reason;
}

/* A failed call: counted, and what it asks of the caller kept (resp: the
 * answer, or NULL when none was sent). */
static void events_failed(struct events *e, const struct kube_response *resp)
{
	e->stats.failed++;
	e->last_code = resp ? resp->code : 0;
	e->last_retry_after = resp ? resp->retry_after : 0;
	snprintf(e->last_reason, sizeof(e->last_reason), "%s", resp ? resp->reason : "");
	/* client-go's recordEvent: a StatusError is not retried, a transport
	 * error is. Its REST client has retried first what asks for it (429,
	 * or a 5xx with Retry-After: checkWait), which never reaches the
	 * recorder as a refusal: here such an answer is worth a retry too
	 * (the API server's priority and fairness, a burst past its
	 * max-requests-inflight). */
	e->last_failure = e->last_code == 0 || e->last_code == 429 ||
					  (e->last_code >= 500 && e->last_retry_after > 0) ?
				  EVENTS_RETRY :
				  EVENTS_REFUSED;
}

static bool events_take_token(struct events *e)
{
	return tokens_take(&e->tokens, clock_now_ms());
}

static int events_patch_series(struct events *e, struct events_series *s)
{
	char path[768], ts[40];
	struct kube_response resp = { 0 };
	cJSON *patch = cJSON_CreateObject(), *series;
	int ret;

	if (!patch)
		return -ENOMEM;
	timefmt_micro(&s->last, ts, sizeof(ts));
	series = cJSON_AddObjectToObject(patch, "series");
	cJSON_AddNumberToObject(series, "count", (double)s->count);
	cJSON_AddStringToObject(series, "lastObservedTime", ts);
	snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/%s/events/%s", s->ns,
		 s->name);
	ret = kube_patch(e->c, path, patch, NULL, &resp);
	cJSON_Delete(patch);
	if (ret < 0) {
		events_failed(e, &resp);
		snprintf(e->last_error, sizeof(e->last_error),
			 "cannot update event series %.63s/%.100s: %.300s", s->ns, s->name,
			 resp.message);
		return ret;
	}
	e->stats.series_updates++;
	s->written = s->count;
	return 0;
}

struct events_sweep {
	struct events *e;
	struct timespec now;
	char **old;
	size_t n, cap;
	int ret;
};

static void events_flush_one(const char *key, void *value, void *arg)
{
	struct events_sweep *w = arg;
	struct events_series *s = value;
	char **o;
	int ret;

	if (s->written != s->count && (ret = events_patch_series(w->e, s)) < 0 && !w->ret)
		w->ret = ret;
	if (w->now.tv_sec - s->last.tv_sec > w->e->opts.series_window_s && s->written == s->count) {
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 16;
			if (!(o = realloc(w->old, w->cap * sizeof(*o))))
				return;
			w->old = o;
		}
		w->old[w->n++] = strdup(key);
	}
}

int events_flush(struct events *e)
{
	struct events_sweep w = { .e = e };
	size_t i;

	clock_gettime(CLOCK_REALTIME, &w.now);
	hmap_foreach(&e->series, events_flush_one, &w);
	for (i = 0; i < w.n; i++) {
		if (w.old[i])
			free(hmap_del(&e->series, w.old[i]));
		free(w.old[i]);
	}
	free(w.old);
	return w.ret;
}

/* The Event object; note is already made safe and bounded. */
static cJSON *events_object(struct events *e, const struct event_regarding *reg, const char *name,
			    const char *type, const char *reason, const char *action,
			    const char *note, const cJSON *annotations, const struct timespec *now)
{
	cJSON *o = cJSON_CreateObject(), *md, *r;
	char ts[40];

	timefmt_micro(now, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "apiVersion", "events.k8s.io/v1");
	cJSON_AddStringToObject(o, "kind", "Event");
	md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", reg->ns);
	if (annotations)
		cJSON_AddItemToObject(md, "annotations", cJSON_Duplicate(annotations, 1));
	cJSON_AddStringToObject(o, "eventTime", ts);
	cJSON_AddStringToObject(o, "reportingController", e->opts.controller);
	cJSON_AddStringToObject(o, "reportingInstance", e->opts.instance);
	cJSON_AddStringToObject(o, "action", action);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "note", note);
	r = cJSON_AddObjectToObject(o, "regarding");
	cJSON_AddStringToObject(r, "apiVersion", reg->api_version ? reg->api_version : "v1");
	cJSON_AddStringToObject(r, "kind", reg->kind);
	cJSON_AddStringToObject(r, "namespace", reg->ns);
	cJSON_AddStringToObject(r, "name", reg->name);
	if (reg->uid)
		cJSON_AddStringToObject(r, "uid", reg->uid);
	return o;
}

/* note into esc (EVENTS_NOTE_MAX): as it is when it can be shown as it
 * is, else escaped; a cut is marked. Text the agent already escaped passes
 * as it is: it is never escaped twice. */
static void events_note(char *esc, const char *note)
{
	static const char suffix[] = " [truncated]";
	size_t cap = EVENTS_NOTE_MAX - sizeof(suffix), n = strlen(note), need, k;

	if (escape_needed(note, n)) {
		need = escape_text(esc, cap, note, n);
	} else {
		/* Maybe escaped text already: never cut inside an escape. */
		need = n;
		k = escape_text_prefix(note, n, cap - 1);
		memcpy(esc, note, k);
		esc[k] = '\0';
	}
	if (need >= cap) {
		size_t len = strlen(esc);

		snprintf(esc + len, EVENTS_NOTE_MAX - len, "%s", suffix);
	}
}

int events_emit_named(struct events *e, const char *name, const struct event_regarding *reg,
		      const char *type, const char *reason, const char *action, const char *note,
		      const cJSON *annotations)
{
	char esc[EVENTS_NOTE_MAX], path[512];
	struct kube_response resp = { 0 };
	struct timespec now;
	cJSON *obj;
	int ret;

	events_note(esc, note);
	clock_gettime(CLOCK_REALTIME, &now);
	if (!(obj = events_object(e, reg, name, type, reason, action, esc, annotations, &now))) {
		events_failed(e, NULL);
		snprintf(e->last_error, sizeof(e->last_error), "out of memory");
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/%s/events", reg->ns);
	ret = kube_create(e->c, path, obj, NULL, &resp);
	cJSON_Delete(obj);
	if (ret == -EEXIST)
		return 1;
	if (ret < 0) {
		events_failed(e, &resp);
		snprintf(e->last_error, sizeof(e->last_error), "%s", resp.message);
		return ret;
	}
	e->stats.created++;
	return 0;
}

/* Starts the window's waiting Events, in order, while the client takes
 * more requests (kube_call_start: -EBUSY when KUBE_MANY_MAX run). */
static void events_batch_start(struct events *e)
{
	while (e->nstarted < e->nbatch &&
	       kube_call_start(e->c, &e->batch[(e->head + e->nstarted) % EVENTS_BATCH_MAX]) == 0)
		e->nstarted++;
}

int events_batch_add(struct events *e, const char *name, const struct event_regarding *reg,
		     const char *type, const char *reason, const char *action, const char *note,
		     const cJSON *annotations)
{
	char esc[EVENTS_NOTE_MAX], path[512];
	size_t i = (e->head + e->nbatch) % EVENTS_BATCH_MAX;
	struct timespec now;
	cJSON *obj;

	if (e->nbatch >= EVENTS_BATCH_MAX)
		return -ENOSPC;
	events_note(esc, note);
	clock_gettime(CLOCK_REALTIME, &now);
	if (!(obj = events_object(e, reg, name, type, reason, action, esc, annotations, &now)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/%s/events", reg->ns);
	e->batch_body[i] = jsontext_print(obj, NULL);
	cJSON_Delete(obj);
	e->batch_path[i] = strdup(path);
	if (!e->batch_body[i] || !e->batch_path[i]) {
		free(e->batch_body[i]);
		free(e->batch_path[i]);
		e->batch_body[i] = e->batch_path[i] = NULL;
		return -ENOMEM;
	}
	e->batch[i] = (struct kube_call){ .method = "POST",
					  .path = e->batch_path[i],
					  .content_type = "application/json",
					  .body = e->batch_body[i] };
	e->nbatch++;
	events_batch_start(e);
	return (int)i;
}

size_t events_batch_size(const struct events *e)
{
	return e->nbatch;
}

int events_batch_head(const struct events *e)
{
	return e->nbatch ? (int)e->head : -ENOENT;
}

int events_batch_wait(struct events *e, int timeout_ms)
{
	int ret;

	events_batch_start(e);
	if (!e->nbatch || (e->nstarted && e->batch[e->head].done))
		return 0;
	/* A head not started yet waits for a request of the client: then
	 * KUBE_MANY_MAX run, and this waits for one of them to end. */
	ret = kube_calls_run(e->c, timeout_ms);
	events_batch_start(e);
	return ret;
}

int events_batch_result(struct events *e, size_t i)
{
	size_t from_head = (i + EVENTS_BATCH_MAX - e->head) % EVENTS_BATCH_MAX;
	struct kube_call *k;
	int ret;

	if (i >= EVENTS_BATCH_MAX || from_head >= e->nbatch)
		return -EINVAL;
	k = &e->batch[i];
	if (from_head >= e->nstarted || !k->done)
		return -EINPROGRESS;
	ret = k->ret == 0 ? kube_response_errno(&k->resp) : k->ret;
	if (ret == -EEXIST)
		return 1;
	if (ret < 0) {
		events_failed(e, k->ret == 0 ? &k->resp : NULL);
		snprintf(e->last_error, sizeof(e->last_error), "%s", k->resp.message);
		return ret;
	}
	e->stats.created++;
	return 0;
}

void events_batch_pop(struct events *e)
{
	size_t i = e->head;

	if (!e->nbatch)
		return;
	if (e->nstarted) {
		if (!e->batch[i].done)
			kube_call_cancel(e->c, &e->batch[i]);
		e->nstarted--;
	}
	kube_response_clear(&e->batch[i].resp);
	free(e->batch_path[i]);
	free(e->batch_body[i]);
	e->batch_path[i] = e->batch_body[i] = NULL;
	e->head = (e->head + 1) % EVENTS_BATCH_MAX;
	e->nbatch--;
}

void events_batch_clear(struct events *e)
{
	while (e->nbatch)
		events_batch_pop(e);
	e->head = 0;
	e->nstarted = 0;
}

int events_emit(struct events *e, const struct event_regarding *reg, const char *type,
		const char *reason, const char *action, const char *note)
{
	char esc[EVENTS_NOTE_MAX], key[2048], name[256];
	struct events_series *s;
	struct kube_response resp = { 0 };
	struct timespec now;
	cJSON *obj;
	int ret;

	events_note(esc, note);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(key, sizeof(key), "%s/%s/%s|%s|%s|%.1024s", reg->ns, reg->name,
		 reg->uid ? reg->uid : "", reason, type, esc);
	s = hmap_get(&e->series, key);
	if (s && e->opts.series_window_s > 0 &&
	    now.tv_sec - s->last.tv_sec <= e->opts.series_window_s) {
		s->count++;
		s->last = now;
		e->stats.aggregated++;
		return 1;
	}
	if (!events_take_token(e)) {
		e->stats.rate_limited++;
		e->last_failure = EVENTS_LIMITED;
		e->last_code = 0;
		e->last_retry_after = 0;
		e->last_reason[0] = '\0';
		snprintf(e->last_error, sizeof(e->last_error), "over the client-side rate limit");
		return -EAGAIN;
	}
	/* Unique and deterministic enough: the object's name and a nanosecond
	 * stamp with a sequence number, like client-go's "%v.%x". */
	snprintf(name, sizeof(name), "%.200s.%llx%04lx", reg->name,
		 (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec,
		 e->seq++ & 0xffff);
	obj = events_object(e, reg, name, type, reason, action, esc, NULL, &now);
	if (!obj) {
		events_failed(e, NULL);
		snprintf(e->last_error, sizeof(e->last_error), "out of memory");
		return -ENOMEM;
	}
	{
		char path[512];

		snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/%s/events",
			 reg->ns);
		ret = kube_create(e->c, path, obj, NULL, &resp);
	}
	cJSON_Delete(obj);
	if (ret < 0) {
		events_failed(e, &resp);
		snprintf(e->last_error, sizeof(e->last_error), "%s", resp.message);
		return ret;
	}
	e->stats.created++;
	if (e->opts.series_window_s < 0)
		return 0;
	if (!s) {
		if (e->series.size >= EVENTS_SERIES_MAX)
			events_flush(e);
		if (e->series.size >= EVENTS_SERIES_MAX || !(s = calloc(1, sizeof(*s))))
			return 0; /* aggregation is an optimisation: skip it when full */
		if (hmap_put(&e->series, key, s, NULL) < 0) {
			free(s);
			return 0;
		}
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->ns, sizeof(s->ns), "%s", reg->ns);
	s->count = s->written = 1;
	s->first = s->last = now;
	return 0;
}
