// SPDX-License-Identifier: Apache-2.0
/* AuditRecord retention. Each record carries the retention in force when
 * it was written (spec.retention), so it outlives a deleted or changed
 * policy; expiry is creationTimestamp + spec.retention. The records come
 * from the informer's cache (metadata and retention only), so a pass lists
 * nothing from the API server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "timefmt.h"
#include "util.h"

cJSON *retention_trim(const cJSON *record)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(record, "metadata");
	const cJSON *ret = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(record, "spec"), "retention");
	static const char *const keep[] = { "name", "namespace", "uid", "resourceVersion",
					    "creationTimestamp" };
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

struct retention_scan {
	time_t now;
	const cJSON **expired;
	long n, max;
};

static void retention_check(const cJSON *rec, void *arg)
{
	struct retention_scan *s = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "creationTimestamp"));
	const char *ret = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "retention"));
	struct timespec ts;
	long long secs;

	if (s->n >= s->max || !created || !ret)
		return;
	/* A retention the schema should have refused: keep the record. */
	if (timefmt_parse(created, &ts) < 0 || timefmt_duration(ret, &secs) < 0)
		return;
	if (ts.tv_sec + secs < s->now)
		s->expired[s->n++] = rec;
}

int retention_pass(struct controller *c)
{
	struct retention_scan s = { time(NULL), NULL, 0, c->cfg.retention_batch };
	struct kube_response resp;
	char path[1024];
	long i, deleted = 0;
	int ret = 0, r;

	if (!(s.expired = calloc((size_t)s.max, sizeof(*s.expired))))
		return -ENOMEM;
	informer_foreach(c->inf[CTL_RECORDS], retention_check, &s);
	for (i = 0; i < s.n; i++) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(s.expired[i], "metadata");
		const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
		const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"));

		if (!ns || !name)
			continue;
		snprintf(path, sizeof(path), SHELLAUDIT_GROUP_PATH "/namespaces/%s/auditrecords/%s", ns,
			 name);
		/* The uid precondition spares a newer record of the same name. */
		r = kube_delete(c->client, path, uid, NULL, &resp);
		if (r == 0 || r == -ENOENT) {
			deleted++;
			c->m_deleted->value++;
		} else {
			log_with(LOG_WARN, LOG_KV("ns", ns, "auditrecord", name),
				 "cannot delete expired AuditRecord: %s", resp.message);
			ret = r;
		}
	}
	if (deleted)
		log_with(LOG_INFO, NULL, "deleted %ld expired AuditRecords", deleted);
	free(s.expired);
	return ret;
}
