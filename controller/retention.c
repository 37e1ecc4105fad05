// SPDX-License-Identifier: Apache-2.0
/* AuditRecord retention. Each record carries the retention in force when
 * it was written (spec.retention), so it outlives a deleted or changed
 * policy; expiry is creationTimestamp + spec.retention. The records come
 * from the informer's cache (metadata and retention only), so a pass lists
 * nothing from the API server.
 *
 * A record is held by the finalizer shellaudit.io/retention, which the
 * admission policy (config/rbac/auditrecord_policy.yaml) lets the
 * controller remove only when the record's deletion was marked at or after
 * its expiry by the API server's clock (CEL has no other). So the
 * controller judges expiry by that clock too (the Date of a response):
 * a deletion marked early, by a fast local clock, would hold the record
 * for good. Then it deletes (marks) and removes the finalizer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "timefmt.h"
#include "util.h"

#define RETENTION_FINALIZER "shellaudit.io/retention"
/* Date has whole seconds and API servers of one cluster may differ a little. */
#define RETENTION_MARGIN_S 2

cJSON *retention_trim(const cJSON *record)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(record, "metadata");
	const cJSON *ret = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(record, "spec"), "retention");
	static const char *const keep[] = { "name",		 "namespace",	      "uid",
					    "resourceVersion",	 "creationTimestamp", "deletionTimestamp",
					    "finalizers" };
	cJSON *t = cJSON_CreateObject(), *tmd, *spec;
	size_t i;

	if (!t)
		return NULL;
	tmd = cJSON_AddObjectToObject(t, "metadata");
	for (i = 0; i < ARRAY_SIZE(keep); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keep[i]);

		if (v)
			cJSON_AddItemToObject(tmd, keep[i], cJSON_Duplicate(v, 1));
	}
	spec = cJSON_AddObjectToObject(t, "spec");
	if (cJSON_IsString(ret))
		cJSON_AddStringToObject(spec, "retention", ret->valuestring);
	return t;
}

/* When the record expires, or -1 when it says nothing valid (kept). */
static time_t retention_expiry(const cJSON *rec)
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
	return ts.tv_sec + (time_t)secs;
}

struct retention_scan {
	time_t now;
	const cJSON **expired;
	long n, max;
};

static void retention_check(const cJSON *rec, void *arg)
{
	struct retention_scan *s = arg;
	time_t expiry = retention_expiry(rec);

	if (s->n < s->max && expiry >= 0 && expiry + RETENTION_MARGIN_S <= s->now)
		s->expired[s->n++] = rec;
}

static const cJSON *retention_md(const cJSON *rec)
{
	return cJSON_GetObjectItemCaseSensitive(rec, "metadata");
}

static bool retention_held(const cJSON *rec)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(retention_md(rec), "finalizers")) {
		if (cJSON_IsString(f) && !strcmp(f->valuestring, RETENTION_FINALIZER))
			return true;
	}
	return false;
}

/* Removes the retention finalizer of the record at path (marked for
 * deletion); the others stay. 0 (the record is gone or going), or <0. */
static int retention_release(struct controller *c, const char *path, const cJSON *rec)
{
	cJSON *patch = cJSON_CreateObject(), *md, *fins;
	struct kube_response resp;
	const cJSON *f;
	int ret;

	if (!patch)
		return -ENOMEM;
	md = cJSON_AddObjectToObject(patch, "metadata");
	fins = cJSON_AddArrayToObject(md, "finalizers");
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(retention_md(rec), "finalizers")) {
		if (cJSON_IsString(f) && strcmp(f->valuestring, RETENTION_FINALIZER))
			cJSON_AddItemToArray(fins, cJSON_CreateString(f->valuestring));
	}
	ret = kube_patch(c->client, path, patch, NULL, &resp);
	cJSON_Delete(patch);
	if (ret < 0 && ret != -ENOENT)
		log_with(LOG_WARN, LOG_KV("auditrecord", path),
			 "cannot remove the retention finalizer of an expired AuditRecord: %s",
			 resp.message);
	return ret == -ENOENT ? 0 : ret;
}

/* One expired record: delete (mark) it, then release it. 1 gone, 0 not
 * (already gone, or held for good), <0 to retry on the next pass. */
static int retention_delete(struct controller *c, const cJSON *rec)
{
	const cJSON *md = retention_md(rec);
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"));
	const char *marked = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(md, "deletionTimestamp"));
	struct kube_response resp;
	struct timespec ts;
	char path[1024];
	int r;

	if (!ns || !name)
		return 0;
	snprintf(path, sizeof(path), SHELLAUDIT_GROUP_PATH "/namespaces/%s/auditrecords/%s", ns,
		 name);
	if (marked) {
		/* Marked before: released only if marked after its expiry. */
		if (!retention_held(rec))
			return 0; /* going already */
		if (timefmt_parse(marked, &ts) < 0 || ts.tv_sec < retention_expiry(rec)) {
			log_with(LOG_DEBUG, LOG_KV("ns", ns, "auditrecord", name),
				 "deletion marked before the retention passed: the record stays");
			return 0;
		}
		r = retention_release(c, path, rec);
		return r < 0 ? r : 1;
	}
	/* The uid precondition spares a newer record of the same name. */
	r = kube_delete(c->client, path, uid, NULL, &resp);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_with(LOG_WARN, LOG_KV("ns", ns, "auditrecord", name),
			 "cannot delete expired AuditRecord: %s", resp.message);
		return r;
	}
	if (!retention_held(rec))
		return 1;
	r = retention_release(c, path, rec);
	return r < 0 ? r : 1;
}

/* The API server's clock, from the Date of a small response; 0 when it
 * cannot be had now. */
static time_t retention_server_now(struct controller *c)
{
	struct kube_response resp;
	time_t t;

	if (kube_request(c->client, "GET", "/version", NULL, NULL, &resp) < 0 || !resp.date) {
		kube_response_clear(&resp);
		return 0;
	}
	t = (time_t)resp.date;
	kube_response_clear(&resp);
	return t;
}

int retention_pass(struct controller *c)
{
	struct retention_scan s = { time(NULL), NULL, 0, c->cfg.retention_batch };
	long i, deleted = 0;
	int ret = 0, r;

	if (!(s.expired = calloc((size_t)s.max, sizeof(*s.expired))))
		return -ENOMEM;
	/* By the local clock first: most passes find nothing and cost nothing. */
	informer_foreach(c->inf[CTL_RECORDS], retention_check, &s);
	if (s.n) {
		s.n = 0;
		s.now = retention_server_now(c);
		if (s.now)
			informer_foreach(c->inf[CTL_RECORDS], retention_check, &s);
		else
			log_warn("cannot read the API server's clock: no AuditRecord deleted this pass");
	}
	for (i = 0; i < s.n; i++) {
		r = retention_delete(c, s.expired[i]);
		if (r > 0) {
			deleted++;
			c->m_deleted->value++;
		} else if (r < 0) {
			ret = r;
		}
	}
	if (deleted)
		log_with(LOG_INFO, NULL, "deleted %ld expired AuditRecords", deleted);
	free(s.expired);
	return ret;
}
