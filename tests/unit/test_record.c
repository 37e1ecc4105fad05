// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "timefmt.h"
#include "unit.h"
#include "verify.h"

static const struct record_identity id = { "team-a", "web-1", "uid-1", "main",
					   "containerd://abc123", "node-1", NULL, "720h" };

static cJSON *entries(const char *text)
{
	cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	cJSON_AddNumberToObject(e, "pid", 42);
	cJSON_AddItemToArray(arr, e);
	return arr;
}

/* A chain of n records. */
static void chain(cJSON **recs, int n)
{
	struct record_session s = { "42", 42, "2026-11-25T00:00:00Z" };
	char prev[DIGEST_STR_LEN] = "", d[DIGEST_STR_LEN], text[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "cmd %d", i);
		recs[i] = record_build(&id, &s, entries(text), (uint64_t)i, prev, d);
		memcpy(prev, d, sizeof(d));
	}
}

static void free_chain(cJSON **recs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
}

static void test_record_name_is_deterministic(void)
{
	char a[320], b[320];
	struct record_identity other = id;

	UNIT_CHECK(record_name(&id, 7, a, sizeof(a)) == 0);
	UNIT_CHECK(record_name(&id, 7, b, sizeof(b)) == 0);
	UNIT_CHECK_STR(a, b);
	UNIT_CHECK(!strncmp(a, "web-1-main-", 11) && strstr(a, "-0000000007"));
	other.container_id = "containerd://def456";
	record_name(&other, 7, b, sizeof(b));
	UNIT_CHECK(strcmp(a, b) != 0);
}

static void test_record_build_fields_and_digest(void)
{
	char d[DIGEST_STR_LEN], again[DIGEST_STR_LEN];
	cJSON *r = record_build(&id, NULL, entries("ls"), 0, NULL, d), *spec;

	UNIT_CHECK(r != NULL);
	spec = cJSON_GetObjectItem(r, "spec");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "entryCount")) == 1);
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "previousDigest"));
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "session"));
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "digest")), d);
	UNIT_CHECK(record_digest(spec, again) == 0);
	UNIT_CHECK_STR(again, d);
	cJSON_Delete(r);
	UNIT_CHECK(record_build(&id, NULL, cJSON_CreateArray(), 0, NULL, d) == NULL);
}

/* The controller reads records as metadata only: their expiry is there. */
static void test_record_build_puts_the_expiry_in_an_annotation(void)
{
	char d[DIGEST_STR_LEN];
	time_t before = time(NULL);
	cJSON *r = record_build(&id, NULL, entries("ls"), 0, NULL, d);
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metadata"), "annotations"),
		"shellaudit.io/expires-at"));
	long long retention;
	struct timespec ts;

	UNIT_CHECK(at != NULL);
	UNIT_CHECK(timefmt_duration(id.retention, &retention) == 0);
	UNIT_CHECK(at && timefmt_parse(at, &ts) == 0 && ts.tv_sec >= before + retention - 1 &&
		   ts.tv_sec <= time(NULL) + retention + 1);
	cJSON_Delete(r);
}

static void test_verify_intact_chain(void)
{
	cJSON *recs[5], *shuffled[5];
	struct verify_result res;

	chain(recs, 5);
	shuffled[0] = recs[3];
	shuffled[1] = recs[0];
	shuffled[2] = recs[4];
	shuffled[3] = recs[1];
	shuffled[4] = recs[2];
	UNIT_CHECK(verify_chain(shuffled, 5, NULL, &res) == 0);
	UNIT_CHECK(res.records == 5 && res.first_sequence == 0 && res.last_sequence == 4);
	/* expired head: still intact */
	UNIT_CHECK(verify_chain(recs + 2, 3, NULL, &res) == 0 && res.first_sequence == 2);
	free_chain(recs, 5);
}

static void test_verify_detects_missing(void)
{
	cJSON *recs[5], *some[4];
	struct verify_result res;

	chain(recs, 5);
	some[0] = recs[0];
	some[1] = recs[1];
	some[2] = recs[3];
	some[3] = recs[4];
	UNIT_CHECK(verify_chain(some, 4, NULL, &res) == -EBADMSG && res.missing == 1);
	free_chain(recs, 5);
}

static void test_verify_detects_altered(void)
{
	cJSON *recs[3], *e;
	struct verify_result res;

	chain(recs, 3);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(recs[1], "spec"), "entries"), 0);
	cJSON_ReplaceItemInObject(e, "text", cJSON_CreateString("innocent"));
	UNIT_CHECK(verify_chain(recs, 3, NULL, &res) == -EBADMSG && res.altered == 1);
	free_chain(recs, 3);
}

static void test_verify_detects_rewritten_digest(void)
{
	cJSON *recs[3], *spec, *e;
	char d[DIGEST_STR_LEN];
	struct verify_result res;

	chain(recs, 3);
	/* an attacker edits a record and recomputes its digest: the next link breaks */
	spec = cJSON_GetObjectItem(recs[1], "spec");
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "entries"), 0);
	cJSON_ReplaceItemInObject(e, "text", cJSON_CreateString("innocent"));
	record_digest(spec, d);
	cJSON_ReplaceItemInObject(spec, "digest", cJSON_CreateString(d));
	UNIT_CHECK(verify_chain(recs, 3, NULL, &res) == -EBADMSG && res.altered == 0 &&
		   res.broken_links == 1);
	free_chain(recs, 3);
}

static void test_verify_detects_reordered(void)
{
	cJSON *recs[3], *s1, *s2;
	struct verify_result res;

	chain(recs, 3);
	s1 = cJSON_GetObjectItem(recs[1], "spec");
	s2 = cJSON_GetObjectItem(recs[2], "spec");
	cJSON_ReplaceItemInObject(s1, "sequence", cJSON_CreateNumber(2));
	cJSON_ReplaceItemInObject(s2, "sequence", cJSON_CreateNumber(1));
	UNIT_CHECK(verify_chain(recs, 3, NULL, &res) == -EBADMSG && res.altered == 2);
	free_chain(recs, 3);
}

UNIT_MAIN(UNIT_TEST(test_record_name_is_deterministic), UNIT_TEST(test_record_build_fields_and_digest),
	  UNIT_TEST(test_record_build_puts_the_expiry_in_an_annotation),
	  UNIT_TEST(test_verify_intact_chain), UNIT_TEST(test_verify_detects_missing),
	  UNIT_TEST(test_verify_detects_altered), UNIT_TEST(test_verify_detects_rewritten_digest),
	  UNIT_TEST(test_verify_detects_reordered))
