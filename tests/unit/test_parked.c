// SPDX-License-Identifier: Apache-2.0
/* parked: refused records kept on disk until they go out; bounded, safe
 * file names only, kept across a reopen, each tried in turn. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	UNIT_CHECK(parked_add(pk, a, 422, "Invalid", "denied \xe2\x80\x94 by policy") == 0);
	UNIT_CHECK(parked_add(pk, b, 403, "Forbidden", "namespace is being terminated") == 0);
	/* Parked again under the same name: one file, now the newest. */
	UNIT_CHECK(parked_add(pk, a, 422, "Invalid", "again") == 0);
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

		UNIT_CHECK(parked_add(pk, r, 422, "Invalid", "x") == -EINVAL);
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

		snprintf(name, sizeof(name), "web-main-%010d", i);
		r = record("shop", name);
		ok += parked_add(pk, r, 413, "RequestEntityTooLarge", "too large") == 0;
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
	UNIT_CHECK(parked_add(pk, r, 422, "Invalid", msg) == 0);
	s = parked_summary(pk, 1);
	m = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "message"));
	/* Whole dashes only: 1 + 3 * 84 bytes, not 255. */
	UNIT_CHECK(m && strlen(m) == 253);
	cJSON_Delete(s);
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
