// SPDX-License-Identifier: Apache-2.0
/*
 * AuditRecord retention. A record expires at its creationTimestamp plus
 * the retention written in it (spec.retention, so it outlives a deleted or
 * changed policy), by the API server's clock.
 *
 * A record is held by the finalizer shellaudit.io/retention, which the
 * admission policy (config/rbac/auditrecord_policy.yaml) lets the
 * controller remove only when the record's deletion was marked at or after
 * that expiry, by the API server's clock (CEL has no other). So the
 * controller judges expiry by that clock too (the Date of its responses):
 * a deletion marked early, by a fast local clock, would hold the record
 * for good. It deletes (marks) an expired record with its uid as a
 * precondition, then removes the finalizer.
 *
 * The controller lists and watches records as metadata only and keeps,
 * per record, when it is due in a min-heap: no JSON, no spec, whatever the
 * records hold. Metadata tells only when a record can expire at the
 * earliest: the annotation shellaudit.io/expires-at the agent writes (its
 * last entry's time plus its retention: the agent cannot know when the
 * API server will create it), or else its creationTimestamp. When that is
 * due, the record is read once (GET) for its exact expiry and its deletion
 * state; a record not yet expired goes back into the heap at its exact
 * expiry, and is deleted then without another read.
 *
 * Every request goes through the writers (writer.c); an entry is in the
 * heap, in flight (one request about it under way), or parked (its
 * deletion was marked before its expiry: it stays for good).
 *
 * The same index counts each record's size against the storage budget
 * (budget.h), from its annotations shellaudit.io/bytes and
 * shellaudit.io/policies, while it is known: O(1) per watch event.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "controller.h"
#include "jsontext.h"
#include "timefmt.h"

#define RECORDS_FINALIZER "shellaudit.io/retention"
#define RECORDS_RETRY_S 60
#define RECORDS_POS_NONE SIZE_MAX
/* Date has whole seconds and API servers of one cluster may differ a little. */
#define RECORDS_MARGIN_S 2
/* The API server's clock is taken from responses at most this old. */
#define RECORDS_CLOCK_MAX_AGE_MS 60000
#define RECORDS_CLOCK_KEY "clock/version"

struct record_entry {
	long long expires;	/* epoch seconds, the API server's clock */
	size_t pos;		/* index in the heap, RECORDS_POS_NONE when not in it */
	bool exact;		/* expires is creationTimestamp + spec.retention */
	bool inflight;		/* a request about it is under way */
	bool parked;		/* marked before its expiry, or no usable retention: kept */
	long long bytes;	/* counted against the budget */
	struct budget_list *list; /* its policies, as counted */
	char uid[40];
	char key[];		/* "ns/name" */
};

struct records {
	struct record_entry **heap;
	size_t n, cap;
	struct hmap byname;	/* "ns/name" -> struct record_entry (owned) */
	struct budget *budget;	/* the caller's, or NULL */
};

int records_new(struct records **out)
{
	struct records *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	hmap_init_free(&r->byname, free);
	*out = r;
	return 0;
}

void records_free(struct records *r)
{
	if (!r)
		return;
	hmap_clear(&r->byname);
	free(r->heap);
	free(r);
}

void records_set_budget(struct records *r, struct budget *b)
{
	r->budget = b;
}

size_t records_count(const struct records *r)
{
	return r->byname.size;
}

static void heap_set(struct records *r, size_t i, struct record_entry *e)
{
	r->heap[i] = e;
	e->pos = i;
}

static void heap_up(struct records *r, size_t i)
{
	struct record_entry *e = r->heap[i];

	while (i > 0 && r->heap[(i - 1) / 2]->expires > e->expires) {
		heap_set(r, i, r->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(r, i, e);
}

static void heap_down(struct records *r, size_t i)
{
	struct record_entry *e = r->heap[i];
	size_t k;

	for (;;) {
		k = 2 * i + 1;
		if (k >= r->n)
			break;
		if (k + 1 < r->n && r->heap[k + 1]->expires < r->heap[k]->expires)
			k++;
		if (r->heap[k]->expires >= e->expires)
			break;
		heap_set(r, i, r->heap[k]);
		i = k;
	}
	heap_set(r, i, e);
}

static int heap_push(struct records *r, struct record_entry *e)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct record_entry **h = realloc(r->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		r->heap = h;
		r->cap = cap;
	}
	heap_set(r, r->n++, e);
	heap_up(r, e->pos);
	return 0;
}

static void heap_remove(struct records *r, struct record_entry *e)
{
	struct record_entry *last;
	size_t i = e->pos;

	if (i == RECORDS_POS_NONE)
		return;
	e->pos = RECORDS_POS_NONE;
	if (i == --r->n)
		return;
	last = r->heap[r->n];
	heap_set(r, i, last);
	heap_up(r, i);
	heap_down(r, last->pos);
}

static const char *records_md_str(const cJSON *md, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, key));
}

/* The earliest a record can expire, from its metadata: the annotation,
 * else its creation (0 when neither can be read: due at once). */
static long long records_hint(const cJSON *md)
{
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(md, "annotations"), CTL_EXPIRES_ANNOTATION));
	const char *created = records_md_str(md, "creationTimestamp");
	struct timespec ts;

	if (at && timefmt_parse(at, &ts) == 0)
		return ts.tv_sec;
	return created && timefmt_parse(created, &ts) == 0 ? ts.tv_sec : 0;
}

/* Counts bytes of e in its namespace (the part of its key before '/')
 * and its policies. */
static void records_budget_count(struct records *r, const struct record_entry *e, long long bytes)
{
	const char *slash = strchr(e->key, '/');
	char ns[256];

	if (!slash || (size_t)(slash - e->key) >= sizeof(ns)) {
		budget_count(r->budget, e->list, NULL, bytes);
		return;
	}
	memcpy(ns, e->key, (size_t)(slash - e->key));
	ns[slash - e->key] = '\0';
	budget_count(r->budget, e->list, ns, bytes);
}

/* Counts e's size from its metadata (after uncounting what it counted). */
static void records_count_bytes(struct records *r, struct record_entry *e, const cJSON *md)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");

	if (!r->budget)
		return;
	records_budget_count(r, e, -e->bytes);
	budget_list_put(r->budget, e->list);
	e->list = budget_list_get(r->budget, records_md_str(ann, CTL_POLICIES_ANNOTATION));
	e->bytes = budget_record_bytes(records_md_str(ann, CTL_BYTES_ANNOTATION));
	records_budget_count(r, e, e->bytes);
}

/* Forgets e, wherever it is. */
static void records_forget(struct records *r, struct record_entry *e)
{
	heap_remove(r, e);
	if (r->budget) {
		records_budget_count(r, e, -e->bytes);
		budget_list_put(r->budget, e->list);
	}
	hmap_remove(&r->byname, e->key);
}

/* e back in the heap at expires (the entry is dropped when the heap cannot
 * grow: a relist brings it back). */
static void records_requeue(struct records *r, struct record_entry *e, long long expires)
{
	e->expires = expires;
	e->inflight = false;
	if (e->pos != RECORDS_POS_NONE) {
		heap_up(r, e->pos);
		heap_down(r, e->pos);
	} else if (heap_push(r, e) < 0) {
		records_forget(r, e);
	}
}

void records_seen(const cJSON *obj, void *arg)
{
	struct records *r = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = records_md_str(md, "namespace"), *name = records_md_str(md, "name");
	const char *uid = records_md_str(md, "uid");
	struct record_entry *e;
	char key[512];
	int n;

	/* A list that starts over (an expired continue token) brings every
	 * record again: seen ones are kept as they are. */
	if (!ns || !name)
		return;
	n = snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return;
	if ((e = hmap_get(&r->byname, key))) {
		/* The same record again (a relist, or its deletion marked):
		 * nothing new in its metadata. */
		if (!uid || !strcmp(uid, e->uid))
			return;
		/* Another record under its name: due from its own metadata. An
		 * entry in flight is requeued by its result (its uid differs). */
		snprintf(e->uid, sizeof(e->uid), "%s", uid);
		e->exact = e->parked = false;
		e->expires = records_hint(md);
		records_count_bytes(r, e, md);
		if (!e->inflight)
			records_requeue(r, e, e->expires);
		return;
	}
	if (!(e = calloc(1, sizeof(*e) + (size_t)n + 1)))
		return;
	memcpy(e->key, key, (size_t)n + 1);
	snprintf(e->uid, sizeof(e->uid), "%s", uid ? uid : "");
	e->expires = records_hint(md);
	e->pos = RECORDS_POS_NONE;
	if (hmap_put(&r->byname, key, e, NULL) < 0) {
		free(e);
		return;
	}
	records_count_bytes(r, e, md);
	if (heap_push(r, e) < 0)
		records_forget(r, e);
}

void records_gone(const cJSON *obj, void *arg)
{
	struct records *r = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = records_md_str(md, "namespace"), *name = records_md_str(md, "name");
	const char *uid = records_md_str(md, "uid");
	struct record_entry *e;
	char key[512];

	if (!ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (!(e = hmap_get(&r->byname, key)) || e->inflight)
		return; /* in flight: its result forgets it */
	if (uid && strcmp(uid, e->uid))
		return; /* an older record of the name */
	records_forget(r, e);
}

/* --- the API server's clock --------------------------------------------------------- */

void retention_clock(struct controller *c, long long date)
{
	if (date <= 0)
		return;
	/* Taken when the answer is read, after it was sent: never ahead of
	 * the server's clock, which is the safe side. */
	c->clock_offset_s = date - (long long)time(NULL);
	c->clock_at_ms = clock_now_ms();
}

/* The API server's clock now, by the offset of the last answer; 0 when
 * that is not recent. */
static long long retention_server_now(const struct controller *c)
{
	if (!c->clock_at_ms || clock_now_ms() - c->clock_at_ms > RECORDS_CLOCK_MAX_AGE_MS)
		return 0;
	return (long long)time(NULL) + c->clock_offset_s;
}

/* --- requests ---------------------------------------------------------------------- */

static void retention_path(const struct record_entry *e, char *path, size_t cap)
{
	const char *slash = strchr(e->key, '/');

	snprintf(path, cap, SHELLAUDIT_GROUP_PATH "/namespaces/%.*s/auditrecords/%s",
		 (int)(slash - e->key), e->key, slash + 1);
}

/* Submits method about e (in flight until its result). */
static int retention_submit(struct controller *c, struct record_entry *e, const char *method,
			    char *body)
{
	struct write_job *j;
	char key[600], path[800];

	snprintf(key, sizeof(key), "record/%s", e->key);
	retention_path(e, path, sizeof(path));
	if (!(j = write_job_new(key, method, path))) {
		free(body);
		return -ENOMEM;
	}
	j->body = body;
	/* The uid precondition spares a newer record of the same name; the
	 * object a DELETE answers says whether the finalizer holds it. */
	if (!strcmp(method, "DELETE")) {
		snprintf(j->uid, sizeof(j->uid), "%s", e->uid);
		j->keep_body = true;
	}
	snprintf(j->hash, sizeof(j->hash), "%s", e->uid);
	heap_remove(c->records, e);
	e->inflight = true;
	controller_submit(c, j);
	return 0;
}

void retention_pass(struct controller *c)
{
	struct records *r = c->records;
	long long guess = (long long)time(NULL) + c->clock_offset_s, now;
	struct write_job *j;
	long n = 0;

	/* By the last known offset first: most passes find nothing and cost
	 * nothing. */
	if (!r->n || r->heap[0]->expires + RECORDS_MARGIN_S > guess)
		return;
	if (!(now = retention_server_now(c))) {
		if (hmap_has(&c->inflight, RECORDS_CLOCK_KEY))
			return;
		if ((j = write_job_new(RECORDS_CLOCK_KEY, "GET", "/version")))
			controller_submit(c, j);
		return;
	}
	while (n < c->cfg.retention_batch && r->n &&
	       r->heap[0]->expires + RECORDS_MARGIN_S <= now) {
		struct record_entry *e = r->heap[0];

		/* Read it for its exact expiry, or delete it once that passed. */
		if (retention_submit(c, e, e->exact ? "DELETE" : "GET", NULL) < 0)
			break;
		n++;
	}
}

/* --- results ----------------------------------------------------------------------- */

/* When rec (a whole record) expires, or -1 when it says nothing valid. */
static long long retention_expiry(const cJSON *rec)
{
	const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "metadata"), "creationTimestamp"));
	const char *ret = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "retention"));
	struct timespec ts;
	long long secs;

	/* A retention the schema should have refused: keep the record. */
	if (!created || !ret || timefmt_parse(created, &ts) < 0 || timefmt_duration(ret, &secs) < 0)
		return -1;
	return ts.tv_sec + secs;
}

static bool retention_held(const cJSON *md)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(md, "finalizers")) {
		if (cJSON_IsString(f) && !strcmp(f->valuestring, RECORDS_FINALIZER))
			return true;
	}
	return false;
}

/* Removes the retention finalizer of rec (marked for deletion after its
 * expiry); the others stay. */
static int retention_release(struct controller *c, struct record_entry *e, const cJSON *md)
{
	cJSON *patch = cJSON_CreateObject(), *fins;
	const cJSON *f;
	char *body;

	if (!patch || !(fins = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "metadata"),
						      "finalizers"))) {
		cJSON_Delete(patch);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(md, "finalizers")) {
		if (cJSON_IsString(f) && strcmp(f->valuestring, RECORDS_FINALIZER))
			cJSON_AddItemToArray(fins, cJSON_CreateString(f->valuestring));
	}
	body = jsontext_print(patch, NULL);
	cJSON_Delete(patch);
	return body ? retention_submit(c, e, "PATCH", body) : -ENOMEM;
}

static void retention_park(struct records *r, struct record_entry *e)
{
	heap_remove(r, e);
	e->inflight = false;
	e->parked = true;
}

/* A record read (GET): its exact expiry and deletion state decide. */
static int retention_read(struct controller *c, struct record_entry *e, struct write_job *j)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(j->got, "metadata");
	const char *uid = records_md_str(md, "uid");
	const char *marked = records_md_str(md, "deletionTimestamp");
	long long expires = retention_expiry(j->got), now = j->date;
	struct timespec ts;

	if (uid)
		snprintf(e->uid, sizeof(e->uid), "%s", uid);
	if (expires < 0) {
		log_with(LOG_WARN, LOG_KV("auditrecord", e->key),
			 "AuditRecord has no usable retention: kept");
		retention_park(c->records, e);
		return 0;
	}
	e->exact = true;
	e->expires = expires;
	if (marked) {
		if (!retention_held(md)) {
			records_forget(c->records, e); /* going already */
			return 0;
		}
		if (timefmt_parse(marked, &ts) < 0 || ts.tv_sec < expires) {
			log_with(LOG_DEBUG, LOG_KV("auditrecord", e->key),
				 "deletion marked before the retention passed: the record stays");
			retention_park(c->records, e);
			return 0;
		}
		return retention_release(c, e, md);
	}
	if (now && expires + RECORDS_MARGIN_S <= now)
		return retention_submit(c, e, "DELETE", NULL);
	log_with(LOG_DEBUG, LOG_KV("auditrecord", e->key),
		 "AuditRecord expires in %lld s (creationTimestamp + spec.retention)",
		 expires - (now ? now : (long long)time(NULL) + c->clock_offset_s));
	records_requeue(c->records, e, expires);
	return 0;
}

/* The record is gone, or going with nothing left to hold it. */
static int retention_released(struct controller *c, struct record_entry *e)
{
	c->m_deleted->value++;
	log_with(LOG_DEBUG, LOG_KV("auditrecord", e->key), "deleted expired AuditRecord");
	records_forget(c->records, e);
	return 0;
}

/* A record's deletion (DELETE) marked it, or deleted it outright. */
static int retention_deleted(struct controller *c, struct record_entry *e, struct write_job *j)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(j->got, "metadata");
	const char *marked = records_md_str(md, "deletionTimestamp");
	struct timespec ts;

	if (md && retention_held(md)) {
		/* Our clock was behind the server's, never ahead: a mark before
		 * the expiry would mean a server clock that went back. */
		if (!marked || timefmt_parse(marked, &ts) < 0 || ts.tv_sec < e->expires) {
			log_with(LOG_WARN, LOG_KV("auditrecord", e->key),
				 "deletion marked at %s, before the retention passed: it stays",
				 marked ? marked : "(none)");
			retention_park(c->records, e);
			return 0;
		}
		return retention_release(c, e, md);
	}
	return retention_released(c, e);
}

int retention_done(struct controller *c, const char *key, struct write_job *j)
{
	struct records *r = c->records;
	const char *rkey = key + strlen("record/");
	struct record_entry *e = hmap_get(&r->byname, rkey);
	long long now = j->date ? j->date : (long long)time(NULL) + c->clock_offset_s;
	bool get = !strcmp(j->method, "GET"), patch = !strcmp(j->method, "PATCH");
	const char *what;
	int ret;

	if (!e)
		return 0;
	if (strcmp(j->hash, e->uid)) {
		/* Another record took the name meanwhile: it is due by its own
		 * metadata. */
		records_requeue(r, e, e->expires);
		return 0;
	}
	e->inflight = false;
	if (j->ret == WRITER_NOT_LEADER) {
		records_requeue(r, e, e->expires);
		return 0;
	}
	if (j->ret == -ENOENT) {
		/* Gone already: not a deletion of ours. */
		records_forget(r, e);
		return 0;
	}
	if (j->ret == -EBUSY && !strcmp(j->method, "DELETE")) {
		/* The uid precondition failed: the record of this name is a
		 * newer one, which the watch brings with its own metadata. */
		records_forget(r, e);
		return 0;
	}
	if (j->ret == 0 && get && !j->got) {
		j->ret = -EPROTO;
		snprintf(j->message, sizeof(j->message), "the answer is not a record");
	}
	if (j->ret == 0) {
		if (get)
			ret = retention_read(c, e, j);
		else if (patch)
			ret = retention_released(c, e);
		else
			ret = retention_deleted(c, e, j);
		if (ret < 0) {
			records_requeue(r, e, now + RECORDS_RETRY_S);
			log_with(LOG_ERROR, LOG_KV("auditrecord", rkey),
				 "cannot go on with an expired AuditRecord: %s", strerror(-ret));
		}
		return ret;
	}
	what = get ? "read" : patch ? "remove the retention finalizer of" : "delete";
	records_requeue(r, e, now + (get ? RECORDS_RETRY_S : c->cfg.retention_period_s));
	log_with(LOG_WARN, LOG_KV("auditrecord", rkey), "cannot %s an expired AuditRecord: %s",
		 what, j->message);
	return j->ret;
}

void retention_clock_done(struct controller *c, struct write_job *j)
{
	(void)c;
	if (j->ret < 0 || !j->date)
		log_with(j->ret == WRITER_NOT_LEADER ? LOG_DEBUG : LOG_WARN,
			 LOG_KV("path", j->path),
			 "cannot read the API server's clock: no AuditRecord deleted this pass%s%s",
			 j->message[0] ? ": " : "", j->message);
}
