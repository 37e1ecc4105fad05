// SPDX-License-Identifier: Apache-2.0
/* parked: refused records kept on disk until they go out; bounded, safe
 * file names only, kept across a reopen, each tried in turn; the API's
 * answer (code, reason, message, details.causes) kept with each, bounded
 * and valid UTF-8 whatever the answer held. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "parked.h"
#include "unit.h"

static char dir[64];

static cJSON *record(const char *ns, const char *name)
{
	cJSON *r = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(r, "metadata");

	if (ns)
		cJSON_AddStringToObject(md, "namespace", ns);
	if (name)
		cJSON_AddStringToObject(md, "name", name);
	cJSON_AddObjectToObject(r, "spec");
	return r;
}

/* A why of code, reason and message, without causes. */
static const struct parked_why *why(long code, const char *reason, const char *message)
{
	static struct parked_why w;

	parked_why_from_status(&w, code, reason, message, NULL, 0);
	return &w;
}

struct tries {
	int calls, ok_from;
	char last[64];
};

/* parked_fn: the first ok_from calls fail, the rest go out. */
static int try_one(cJSON *rec, void *arg)
{
	struct tries *t = arg;

	snprintf(t->last, sizeof(t->last), "%s",
		 cJSON_GetStringValue(
			 cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "metadata"), "name")));
	return t->calls++ < t->ok_from ? -EACCES : 0;
}

static void test_parked_keeps_and_retries(void)
{
	char sub[96];
	struct parked *pk = NULL;
	struct tries t = { 0, 1, "" };
	cJSON *a = record("shop", "web-main-0a1b2c3d4e"),
	      *b = record("shop", "web-main-1f2e3d4c5b");
	cJSON *s;

	snprintf(sub, sizeof(sub), "%s/keep", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_count(pk) == 0);
	UNIT_CHECK(parked_add(pk, a, why(422, "Invalid", "denied \xe2\x80\x94 by policy")) == 0);
	UNIT_CHECK(parked_add(pk, b, why(403, "Forbidden", "namespace is being terminated")) == 0);
	/* Parked again under the same name: one file, now the newest. */
	UNIT_CHECK(parked_add(pk, a, why(422, "Invalid", "again")) == 0);
	UNIT_CHECK(parked_count(pk) == 2);
	s = parked_summary(pk, 10);
	UNIT_CHECK(cJSON_GetArraySize(s) == 2);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "message")),
		"again");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "code")) ==
		   403);
	cJSON_Delete(s);
	parked_free(pk);
	/* On disk: a reopen has both. */
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_count(pk) == 2);
	/* The first try fails (kept), the second goes out (removed). */
	UNIT_CHECK(parked_retry(pk, try_one, &t, 1) == 1);
	UNIT_CHECK(parked_count(pk) == 2);
	UNIT_CHECK(parked_retry(pk, try_one, &t, 1) == 1);
	UNIT_CHECK(parked_count(pk) == 1);
	/* Each gets its turn: the one not tried yet comes next... */
	UNIT_CHECK(parked_retry(pk, try_one, &t, 5) == 1);
	UNIT_CHECK(parked_count(pk) == 0);
	parked_free(pk);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_count(pk) == 0);
	parked_free(pk);
	parked_free(NULL);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* Names that are no DNS name cannot make a path: refused, nothing written. */
static void test_parked_refuses_unsafe_names(void)
{
	static const char *const bad[][2] = {
		{ "shop", "../../etc/x" },
		{ "..", "x" },
		{ "shop", "A" },
		{ "shop", "" },
		{ NULL, "x" },
		{ "shop", NULL },
		{ "sh/op", "x" },
		{ "shop", ".x" },
	};
	char sub[96];
	struct parked *pk = NULL;
	size_t i;

	snprintf(sub, sizeof(sub), "%s/names", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cJSON *r = record(bad[i][0], bad[i][1]);

		UNIT_CHECK(parked_add(pk, r, why(422, "Invalid", "x")) == -EINVAL);
		cJSON_Delete(r);
	}
	UNIT_CHECK(parked_count(pk) == 0);
	parked_free(pk);
}

/* Past PARKED_MAX_FILES parking refuses (the caller keeps the record). */
static void test_parked_is_bounded(void)
{
	char sub[96], name[64];
	struct parked *pk = NULL;
	int i, ok = 0;

	snprintf(sub, sizeof(sub), "%s/bound", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	for (i = 0; i < PARKED_MAX_FILES + 3; i++) {
		cJSON *r;

		char ns[16];

		snprintf(name, sizeof(name), "web-main-%010d", i);
		snprintf(ns, sizeof(ns), "shop-%d", i % (2 * PARKED_NS_SHARE));
		r = record(ns, name);
		ok += parked_add(pk, r, why(413, "RequestEntityTooLarge", "too large")) == 0;
		cJSON_Delete(r);
	}
	UNIT_CHECK(ok == PARKED_MAX_FILES);
	UNIT_CHECK(parked_count(pk) == PARKED_MAX_FILES);
	parked_free(pk);
}

/* A message cut inside a UTF-8 sequence is cut before it. */
static void test_parked_summary_stays_utf8(void)
{
	char sub[96], msg[400];
	struct parked *pk = NULL;
	cJSON *r = record("shop", "web-main-aaaaaaaaaa"), *s;
	const char *m;
	size_t i;

	snprintf(sub, sizeof(sub), "%s/utf8", dir);
	/* "x" and dashes (3 bytes each): the 255-byte cut falls inside one. */
	msg[0] = 'x';
	for (i = 1; i + 3 < sizeof(msg); i += 3)
		memcpy(msg + i, "\xe2\x80\x94", 3);
	msg[i] = '\0';
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_add(pk, r, why(422, "Invalid", msg)) == 0);
	s = parked_summary(pk, 1);
	m = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "message"));
	/* Whole dashes only: 1 + 3 * 84 bytes, not 255. */
	UNIT_CHECK(m && strlen(m) == 253);
	cJSON_Delete(s);
	cJSON_Delete(r);
	parked_free(pk);
}

/* The API's reason and details.causes are kept with the record, on disk
 * (a reopen has them) and in the summary a status shows. */
static void test_parked_keeps_the_api_reason_and_causes(void)
{
	static const char body[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
		"\"message\":\"auditrecords.shellaudit.io \\\"web-main-0a1b2c3d4e\\\" is "
		"forbidden: unable to create new content in namespace ending because it is being "
		"terminated\",\"reason\":\"Forbidden\",\"details\":{\"name\":"
		"\"web-main-0a1b2c3d4e\","
		"\"kind\":\"auditrecords\",\"causes\":[{\"reason\":\"NamespaceTerminating\","
		"\"message\":\"namespace ending is being terminated\",\"field\":"
		"\"metadata.namespace\"}]},\"code\":403}";
	struct parked_why w;
	struct parked *pk = NULL;
	cJSON *r = record("ending", "web-main-0a1b2c3d4e"), *s, *c;
	char sub[96];
	int pass;

	/* kube's reason and message stand in until the body says more. */
	parked_why_from_status(&w, 403, "Forbidden", "from kube", body, strlen(body));
	UNIT_CHECK(w.code == 403);
	UNIT_CHECK_STR(w.reason, "Forbidden");
	UNIT_CHECK(strstr(w.message, "because it is being terminated") != NULL);
	UNIT_CHECK(w.ncauses == 1);
	UNIT_CHECK_STR(w.causes[0].reason, "NamespaceTerminating");
	UNIT_CHECK_STR(w.causes[0].field, "metadata.namespace");
	UNIT_CHECK_STR(w.causes[0].message, "namespace ending is being terminated");

	snprintf(sub, sizeof(sub), "%s/causes", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_add(pk, r, &w) == 0);
	for (pass = 0; pass < 2; pass++) {
		s = parked_summary(pk, 10);
		c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "causes"), 0);
		UNIT_CHECK(cJSON_GetArraySize(s) == 1);
		UNIT_CHECK_STR(cJSON_GetStringValue(
				       cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "reason")),
			       "Forbidden");
		UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "reason")),
			       "NamespaceTerminating");
		UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "field")),
			       "metadata.namespace");
		UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "message")),
			       "namespace ending is being terminated");
		cJSON_Delete(s);
		/* The second pass: from disk. */
		parked_free(pk);
		pk = NULL;
		UNIT_CHECK(parked_open(sub, &pk) == 0);
	}
	/* Without causes, the summary has none (not an empty array). */
	UNIT_CHECK(parked_add(pk, r, why(422, "Invalid", "no causes")) == 0);
	s = parked_summary(pk, 1);
	UNIT_CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "causes") == NULL);
	cJSON_Delete(s);
	parked_free(pk);
	cJSON_Delete(r);
}

/* Whatever answered (an API server, a proxy, a webhook's message), what is
 * kept is bounded: at most PARKED_CAUSES_MAX causes, each string within its
 * field, valid UTF-8 without control characters; what is not a Status, or
 * not JSON, keeps kube's reason and message. */
static void test_parked_bounds_a_hostile_answer(void)
{
	static const char *const not_status[] = {
		"<html>502 Bad Gateway</html>",
		"{\"kind\":\"Pod\",\"reason\":\"x\",\"details\":{\"causes\":[{\"reason\":\"y\"}]}}",
		"[1,2,3]",
		"{\"kind\":\"Status\",\"reason\":7,\"message\":null,\"details\":{\"causes\":"
		"{\"reason\":\"not an array\"}}}",
	};
	struct parked_why w;
	cJSON *st, *causes, *c;
	char big[2000], *body;
	size_t i;
	int k;

	for (i = 0; i < ARRAY_SIZE(not_status); i++) {
		parked_why_from_status(&w, 502, "", "kube's word", not_status[i],
				       strlen(not_status[i]));
		UNIT_CHECK(w.code == 502);
		UNIT_CHECK_STR(w.reason, "");
		UNIT_CHECK_STR(w.message, "kube's word");
		UNIT_CHECK(w.ncauses == 0);
	}
	/* Long strings with a newline, an escape and invalid UTF-8; ten causes,
	 * some not objects or empty. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + 10, "\n\x1b[31m\xff\xfe", 8);
	st = cJSON_CreateObject();
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "reason", big);
	cJSON_AddStringToObject(st, "message", big);
	causes = cJSON_AddArrayToObject(cJSON_AddObjectToObject(st, "details"), "causes");
	cJSON_AddItemToArray(causes, cJSON_CreateString("not an object"));
	cJSON_AddItemToArray(causes, cJSON_CreateObject());
	for (k = 0; k < 10; k++) {
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "field", big);
		cJSON_AddStringToObject(c, "reason", big);
		cJSON_AddNumberToObject(c, "message", 42);
		cJSON_AddItemToArray(causes, c);
	}
	body = cJSON_PrintUnformatted(st);
	parked_why_from_status(&w, 422, NULL, NULL, body, strlen(body));
	UNIT_CHECK(w.ncauses == PARKED_CAUSES_MAX);
	UNIT_CHECK(strlen(w.reason) < sizeof(w.reason) && strlen(w.message) < sizeof(w.message));
	UNIT_CHECK(!escape_needed(w.reason, strlen(w.reason)));
	UNIT_CHECK(!escape_needed(w.message, strlen(w.message)));
	UNIT_CHECK(strstr(w.message, "\\n\\e[31m\\xff\\xfe") != NULL);
	for (k = 0; k < w.ncauses; k++) {
		UNIT_CHECK(strlen(w.causes[k].field) < sizeof(w.causes[k].field));
		UNIT_CHECK(strlen(w.causes[k].reason) < sizeof(w.causes[k].reason));
		UNIT_CHECK(!escape_needed(w.causes[k].field, strlen(w.causes[k].field)));
		UNIT_CHECK_STR(w.causes[k].message, "");
	}
	free(body);
	cJSON_Delete(st);
}

/* parked_fn: counts the tries of each record by name, all refused. */
struct seen {
	char names[8][64];
	int tries[8], n;
};

static int refuse_all(cJSON *rec, void *arg)
{
	struct seen *s = arg;
	const char *name = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "metadata"), "name"));
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			break;
	if (i == s->n && s->n < 8)
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
	if (i < 8)
		s->tries[i]++;
	return -EACCES;
}

/* One call of parked_retry tries each record once at most, whatever its
 * max: a refused record is not sent again and again in one turn (each
 * send a request the API server answers, or not, within its timeout). */
static void test_parked_retry_tries_each_record_once_a_call(void)
{
	char sub[96];
	struct parked *pk = NULL;
	struct seen s = { 0 };
	cJSON *a = record("shop", "web-main-0a1b2c3d4e"),
	      *b = record("shop", "web-main-1f2e3d4c5b");

	snprintf(sub, sizeof(sub), "%s/once", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	UNIT_CHECK(parked_add(pk, a, why(403, "Forbidden", "denied")) == 0);
	UNIT_CHECK(parked_retry(pk, refuse_all, &s, 4) == 1);
	UNIT_CHECK(s.n == 1 && s.tries[0] == 1);
	UNIT_CHECK(parked_add(pk, b, why(403, "Forbidden", "denied")) == 0);
	memset(&s, 0, sizeof(s));
	UNIT_CHECK(parked_retry(pk, refuse_all, &s, 256) == 2);
	UNIT_CHECK(s.n == 2 && s.tries[0] == 1 && s.tries[1] == 1);
	/* Turns go on where they stopped: with max 1, each in turn. */
	memset(&s, 0, sizeof(s));
	UNIT_CHECK(parked_retry(pk, refuse_all, &s, 1) == 1);
	UNIT_CHECK(parked_retry(pk, refuse_all, &s, 1) == 1);
	UNIT_CHECK(s.n == 2 && s.tries[0] == 1 && s.tries[1] == 1);
	UNIT_CHECK(parked_count(pk) == 2);
	parked_free(pk);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* One namespace (a tenant whose namespace is stuck Terminating while its
 * pod floods) cannot take the whole of parked: another namespace's
 * refused record still parks. */
static void test_parked_one_namespace_cannot_fill_it(void)
{
	char sub[96], name[64];
	struct parked *pk = NULL;
	cJSON *r;
	int i, ok = 0;

	snprintf(sub, sizeof(sub), "%s/share", dir);
	UNIT_CHECK(parked_open(sub, &pk) == 0);
	for (i = 0; i < PARKED_MAX_FILES + 3; i++) {
		snprintf(name, sizeof(name), "web-main-%010d", i);
		r = record("flood", name);
		ok += parked_add(pk, r, why(403, "Forbidden", "being terminated")) == 0;
		cJSON_Delete(r);
	}
	UNIT_CHECK(ok > 0 && ok < PARKED_MAX_FILES);
	r = record("shop", "web-main-0a1b2c3d4e");
	UNIT_CHECK(parked_add(pk, r, why(422, "Invalid", "denied")) == 0);
	cJSON_Delete(r);
	parked_free(pk);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_parked_keeps_and_retries),
		UNIT_TEST(test_parked_refuses_unsafe_names),
		UNIT_TEST(test_parked_is_bounded),
		UNIT_TEST(test_parked_summary_stays_utf8),
		UNIT_TEST(test_parked_keeps_the_api_reason_and_causes),
		UNIT_TEST(test_parked_bounds_a_hostile_answer),
		UNIT_TEST(test_parked_retry_tries_each_record_once_a_call),
		UNIT_TEST(test_parked_one_namespace_cannot_fill_it),
	};
	char cmd[128];
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/test_parked.%d", (int)getpid());
	if (mkdir(dir, 0700) < 0)
		return 1;
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ret;
}
