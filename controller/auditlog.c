// SPDX-License-Identifier: Apache-2.0
/* Audit events to status.audit (see auditlog.h). */
#include "auditlog.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define AUDITLOG_ANNOTATION_SUFFIX ".shellaudit.io/session-id"
#define AUDITLOG_STR_MAX 1024
#define AUDITLOG_IPS_MAX 16
#define AUDITLOG_GROUPS_MAX 256

static const cJSON *al_get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *al_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(al_get(o, k));
}

/* Adds o[k] to out as a string of at most max bytes, when it is one. */
static void al_copy(cJSON *out, const char *k, const char *v, size_t max)
{
	char buf[AUDITLOG_STR_MAX + 1];
	size_t n;

	if (!v)
		return;
	n = strlen(v);
	if (n > max)
		n = max;
	while (n && n < strlen(v) && ((unsigned char)v[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, v, n);
	buf[n] = '\0';
	cJSON_AddStringToObject(out, k, buf);
}

static void al_strings(cJSON *out, const char *k, const cJSON *arr, int max_items, size_t max)
{
	cJSON *a;
	const cJSON *it;
	int n = 0;

	if (!cJSON_IsArray(arr))
		return;
	a = cJSON_AddArrayToObject(out, k);
	cJSON_ArrayForEach(it, arr) {
		char buf[AUDITLOG_STR_MAX + 1];

		if (!cJSON_IsString(it))
			continue;
		if (n++ == max_items)
			break;
		snprintf(buf, max + 1 < sizeof(buf) ? max + 1 : sizeof(buf), "%s", it->valuestring);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
	}
}

static cJSON *al_user(const cJSON *u)
{
	cJSON *out = cJSON_CreateObject();

	al_copy(out, "username", al_str(u, "username"), AUDITLOG_STR_MAX);
	al_copy(out, "uid", al_str(u, "uid"), AUDITLOG_STR_MAX);
	al_strings(out, "groups", al_get(u, "groups"), AUDITLOG_GROUPS_MAX, AUDITLOG_STR_MAX);
	return out;
}

/* The session ID this event carries, or NULL. */
static const char *al_session(const cJSON *ev)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, al_get(ev, "annotations")) {
		size_t kl = strlen(a->string), sl = strlen(AUDITLOG_ANNOTATION_SUFFIX);
		const char *v = cJSON_GetStringValue(a);

		if (kl > sl && !strcmp(a->string + kl - sl, AUDITLOG_ANNOTATION_SUFFIX) && v &&
		    *v && strlen(v) <= 64 && strspn(v, "0123456789abcdef-") == strlen(v))
			return v;
	}
	return NULL;
}

int auditlog_parse(const char *body, size_t len, auditlog_fn fn, void *arg, char *err,
		   size_t errlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *ev;
	int n = 0;

	if (!doc || !al_str(doc, "kind") || strcmp(al_str(doc, "kind"), "EventList") ||
	    !cJSON_IsArray(al_get(doc, "items"))) {
		snprintf(err, errlen, "not an audit EventList");
		cJSON_Delete(doc);
		return -EINVAL;
	}
	cJSON_ArrayForEach(ev, al_get(doc, "items")) {
		const char *session = al_session(ev), *stage = al_str(ev, "stage");
		const cJSON *code = al_get(al_get(ev, "responseStatus"), "code");
		cJSON *audit;

		/* ResponseStarted: the stream is up (101), or the request
		 * failed (a 4xx follows at once). Later stages say nothing new
		 * of who opened it. */
		if (!session || !stage || strcmp(stage, "ResponseStarted"))
			continue;
		audit = cJSON_CreateObject();
		al_copy(audit, "auditID", al_str(ev, "auditID"), 256);
		al_strings(audit, "sourceIPs", al_get(ev, "sourceIPs"), AUDITLOG_IPS_MAX, 64);
		al_copy(audit, "userAgent", al_str(ev, "userAgent"), AUDITLOG_STR_MAX);
		if (cJSON_IsObject(al_get(ev, "user")))
			cJSON_AddItemToObject(audit, "user", al_user(al_get(ev, "user")));
		if (cJSON_IsObject(al_get(ev, "impersonatedUser")))
			cJSON_AddItemToObject(audit, "impersonatedUser",
					      al_user(al_get(ev, "impersonatedUser")));
		if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
			cJSON_AddNumberToObject(audit, "responseCode", (int)code->valuedouble);
		al_copy(audit, "startedAt", al_str(ev, "stageTimestamp"), 40);
		fn(session, audit, arg);
		n++;
	}
	cJSON_Delete(doc);
	return n;
}
