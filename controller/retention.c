// SPDX-License-Identifier: Apache-2.0
/* AuditRecord retention. The agent writes each record's expiry into its
 * metadata (the annotation shellaudit.io/expires-at: creation time plus
 * the retention in force then, so it outlives a deleted or changed
 * policy). The controller lists and watches records as metadata only and
 * keeps, per record, its expiry in a min-heap: no JSON, no spec, whatever
 * the records hold. A record without the annotation (written by an older
 * agent, or by hand) is read once when first due, to learn its expiry from
 * creationTimestamp + spec.retention. Deletions carry the record's uid. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "timefmt.h"

#define RECORDS_UNKNOWN_RETRY_S 60
#define RECORDS_POS_NONE SIZE_MAX

struct record_entry {
	long long expires;	/* epoch seconds */
	size_t pos;		/* index in the heap, RECORDS_POS_NONE while in flight */
	bool known;		/* expires comes from the annotation or the spec */
	char uid[40];
	char key[];		/* "ns/name" */
};

struct records {
	struct record_entry **heap;
	size_t n, cap;
	struct hmap byname;	/* "ns/name" -> struct record_entry (owned) */
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

/* When obj expires: from the annotation, else unknown (read it when its
 * creation is past, the earliest it can be due). */
static bool records_expiry(const cJSON *md, long long *out)
{
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(md, "annotations"), CTL_EXPIRES_ANNOTATION));
	const char *created = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(md, "creationTimestamp"));
	struct timespec ts;

	if (at && timefmt_parse(at, &ts) == 0) {
		*out = ts.tv_sec;
		return true;
	}
	*out = created && timefmt_parse(created, &ts) == 0 ? ts.tv_sec : 0;
	return false;
}

void records_seen(const cJSON *obj, void *arg)
{
	struct records *r = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"));
	struct record_entry *e;
	char key[512];
	long long expires;
	bool known;
	int n;

	if (!ns || !name)
		return;
	n = snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return;
	known = records_expiry(md, &expires);
	if ((e = hmap_get(&r->byname, key))) {
		/* The same record listed again, or one recreated under its name. */
		if (uid && strcmp(uid, e->uid) != 0)
			snprintf(e->uid, sizeof(e->uid), "%s", uid);
		else if (e->known)
			return;
		e->expires = expires;
		e->known = known;
		if (e->pos != RECORDS_POS_NONE) {
			heap_up(r, e->pos);
			heap_down(r, e->pos);
		}
		return;
	}
	if (!(e = calloc(1, sizeof(*e) + (size_t)n + 1)))
		return;
	memcpy(e->key, key, (size_t)n + 1);
	snprintf(e->uid, sizeof(e->uid), "%s", uid ? uid : "");
	e->expires = expires;
	e->known = known;
	if (hmap_put(&r->byname, key, e, NULL) < 0) {
		free(e);
		return;
	}
	if (heap_push(r, e) < 0)
		e->pos = RECORDS_POS_NONE;
}

void records_gone(const cJSON *obj, void *arg)
{
	struct records *r = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	struct record_entry *e;
	char key[512];

	if (!ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (!(e = hmap_get(&r->byname, key)) || e->pos == RECORDS_POS_NONE)
		return; /* in flight: its job's result removes it */
	heap_remove(r, e);
	hmap_remove(&r->byname, key);
}

void retention_pass(struct controller *c)
{
	struct records *r = c->records;
	long long now = (long long)time(NULL);
	struct write_job *j;
	char key[600], path[800];
	long n = 0;

	while (r->n && r->heap[0]->expires <= now && n < c->cfg.retention_batch) {
		struct record_entry *e = r->heap[0];
		const char *slash = strchr(e->key, '/');

		heap_remove(r, e);
		if (!slash)
			continue;
		snprintf(key, sizeof(key), "record/%s", e->key);
		snprintf(path, sizeof(path), SHELLAUDIT_GROUP_PATH "/namespaces/%.*s/auditrecords/%s",
			 (int)(slash - e->key), e->key, slash + 1);
		if (!(j = write_job_new(key, e->known ? "DELETE" : "GET", path)))
			break;
		/* The uid precondition spares a newer record of the same name. */
		snprintf(j->uid, sizeof(j->uid), "%s", e->uid);
		controller_submit(c, j);
		n++;
	}
}

/* Back in the heap at `expires`, or gone. */
static void records_requeue(struct records *r, struct record_entry *e, long long expires)
{
	e->expires = expires;
	if (heap_push(r, e) < 0) {
		hmap_remove(&r->byname, e->key);
		return;
	}
}

/* A record read because its metadata had no expiry: its spec says. */
static long long records_expiry_from_spec(const cJSON *rec)
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

int retention_done(struct controller *c, const char *key, struct write_job *j)
{
	struct records *r = c->records;
	const char *rkey = key + strlen("record/");
	struct record_entry *e = hmap_get(&r->byname, rkey);
	long long now = (long long)time(NULL), expires;

	if (!e)
		return 0;
	if (!strcmp(j->method, "GET")) {
		if (j->ret == -ENOENT) {
			hmap_remove(&r->byname, rkey);
			return 0;
		}
		if (j->ret < 0) {
			records_requeue(r, e, now + RECORDS_UNKNOWN_RETRY_S);
			return j->ret == WRITER_NOT_LEADER ? 0 : j->ret;
		}
		expires = records_expiry_from_spec(j->got);
		if (expires < 0) {
			log_with(LOG_WARN, LOG_KV("auditrecord", rkey),
				 "AuditRecord has no usable retention: kept");
			hmap_remove(&r->byname, rkey);
			return 0;
		}
		e->known = true;
		records_requeue(r, e, expires);
		return 0;
	}
	if (j->ret == 0 || j->ret == -ENOENT) {
		if (j->ret == 0) {
			c->m_deleted->value++;
			log_with(LOG_DEBUG, LOG_KV("auditrecord", rkey), "deleted expired AuditRecord");
		}
		hmap_remove(&r->byname, rkey);
		return 0;
	}
	if (j->ret == -EBUSY) {
		/* The uid changed: a newer record of the same name, which the
		 * watch brings with its own expiry. */
		hmap_remove(&r->byname, rkey);
		return 0;
	}
	records_requeue(r, e, now + c->cfg.retention_period_s);
	if (j->ret == WRITER_NOT_LEADER)
		return 0;
	log_with(LOG_WARN, LOG_KV("auditrecord", rkey), "cannot delete expired AuditRecord: %s",
		 j->message);
	return j->ret;
}
