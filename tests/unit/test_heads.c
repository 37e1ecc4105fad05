// SPDX-License-Identifier: Apache-2.0
/* heads: the chain heads the agent publishes. A head moves forward with
 * each record accepted, never back (a replay of an older record); a
 * previous agent's heads are taken over, malformed ones skipped; heads of
 * containers no longer audited go once their records have all expired,
 * those of audited ones stay; at most HEADS_MAX are published, those past
 * it going from the namespace holding the most, the first to expire first,
 * and counted; the list is sorted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "heads.h"
#include "unit.h"

static cJSON *record_in(const char *ns, const char *cid, long seq, const char *retention)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"r\",\"namespace\":\"%s\"},\"spec\":{\"pod\":{\"name\":"
		 "\"web\",\"uid\":\"u\"},\"container\":\"main\",\"containerID\":\"%s\","
		 "\"sequence\":%ld,\"retention\":\"%s\",\"digest\":\"sha256:%064ld\"}}",
		 ns, cid, seq, retention, seq);
	return cJSON_Parse(buf);
}

static cJSON *record(const char *cid, long seq, const char *retention)
{
	return record_in("ns", cid, seq, retention);
}

static long seq_of(const cJSON *heads, const char *cid)
{
	const cJSON *h;

	cJSON_ArrayForEach(h, heads)
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(h, "containerID")), cid))
			return (long)cJSON_GetNumberValue(cJSON_GetObjectItem(h, "sequence"));
	return -1;
}

static bool live_none(const char *cid, void *arg)
{
	(void)cid;
	(void)arg;
	return false;
}

static bool live_b(const char *cid, void *arg)
{
	(void)arg;
	return !strcmp(cid, "b");
}

static void test_heads_move_forward_only(void)
{
	struct heads *h = NULL;
	cJSON *r, *j;

	heads_new(&h);
	r = record("a", 3, "1h");
	UNIT_CHECK(heads_record(h, r, 1000) == 1);
	cJSON_Delete(r);
	r = record("a", 2, "1h");
	UNIT_CHECK(heads_record(h, r, 1000) == 0);
	cJSON_Delete(r);
	r = record("a", 4, "1h");
	UNIT_CHECK(heads_record(h, r, 1000) == 1);
	cJSON_Delete(r);
	UNIT_CHECK(heads_record(h, NULL, 1000) == -EINVAL);
	j = heads_json(h, live_none, NULL, 1000);
	UNIT_CHECK(cJSON_GetArraySize(j) == 1 && seq_of(j, "a") == 4);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "expires")),
		"1970-01-01T01:16:40Z");
	cJSON_Delete(j);
	heads_free(h);
}

static void test_heads_merge_previous_agent(void)
{
	struct heads *h = NULL, *h2 = NULL;
	cJSON *r, *j, *published;

	heads_new(&h);
	r = record("a", 5, "1h");
	heads_record(h, r, 1000);
	cJSON_Delete(r);
	r = record("b", 1, "1h");
	heads_record(h, r, 1000);
	cJSON_Delete(r);
	published = heads_json(h, live_none, NULL, 1000);
	/* hostile items beside them */
	cJSON_AddItemToArray(published, cJSON_Parse("{\"containerID\":\"c\",\"sequence\":\"1\"}"));
	cJSON_AddItemToArray(published, cJSON_Parse("{\"containerID\":\"d\",\"sequence\":1e300,"
						    "\"digest\":\"x\"}"));
	cJSON_AddItemToArray(published, cJSON_CreateString("junk"));
	heads_new(&h2);
	r = record("a", 7, "1h");
	heads_record(h2, r, 1000);
	cJSON_Delete(r);
	heads_merge(h2, published);
	heads_merge(h2, NULL);
	j = heads_json(h2, live_none, NULL, 1000);
	UNIT_CHECK(cJSON_GetArraySize(j) == 2 && seq_of(j, "a") == 7 && seq_of(j, "b") == 1);
	/* the same set prints the same JSON, whatever the order it came in */
	cJSON_Delete(published);
	published = heads_json(h2, live_none, NULL, 1000);
	UNIT_CHECK(cJSON_Compare(j, published, 1));
	cJSON_Delete(published);
	cJSON_Delete(j);
	heads_free(h);
	heads_free(h2);
}

static void test_heads_pruned_after_expiry_unless_audited(void)
{
	struct heads *h = NULL;
	cJSON *r, *j;

	heads_new(&h);
	r = record("a", 1, "1h");
	heads_record(h, r, 1000);
	cJSON_Delete(r);
	r = record("b", 1, "1h");
	heads_record(h, r, 1000);
	cJSON_Delete(r);
	r = record("c", 1, "10h");
	heads_record(h, r, 1000);
	cJSON_Delete(r);
	/* a's chain had a longer retention before: kept until its longest */
	r = record("a", 0, "100h");
	heads_record(h, r, 900);
	cJSON_Delete(r);
	j = heads_json(h, live_b, NULL, 1000 + 3600 + 1);
	UNIT_CHECK(cJSON_GetArraySize(j) == 3);
	cJSON_Delete(j);
	j = heads_json(h, live_b, NULL, 1000 + 36000 + 1);
	UNIT_CHECK(cJSON_GetArraySize(j) == 2 && seq_of(j, "a") == 1 && seq_of(j, "b") == 1);
	cJSON_Delete(j);
	j = heads_json(h, live_b, NULL, 1000 + 360000 + 1);
	UNIT_CHECK(cJSON_GetArraySize(j) == 1 && seq_of(j, "b") == 1);
	UNIT_CHECK(heads_capped(h) == 0 && heads_count(h) == 1);
	cJSON_Delete(j);
	heads_free(h);
}

static void test_heads_capped(void)
{
	struct heads *h = NULL;
	char cid[32];
	cJSON *r, *j;
	int i;

	heads_new(&h);
	for (i = 0; i < HEADS_MAX + 10; i++) {
		snprintf(cid, sizeof(cid), "c%05d", i);
		r = record(cid, 1, "1h");
		heads_record(h, r, 1000 + i); /* the first expire first */
		cJSON_Delete(r);
	}
	j = heads_json(h, live_none, NULL, 1000);
	UNIT_CHECK(cJSON_GetArraySize(j) == HEADS_MAX && heads_capped(h) == 10);
	UNIT_CHECK(seq_of(j, "c00009") == -1 && seq_of(j, "c00010") == 1);
	UNIT_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0),
								     "containerID")),
			   "c00010"));
	cJSON_Delete(j);
	heads_free(h);
}

/* A tenant (namespace) with many short containers fills the list: the
 * heads that go are its own, even those expiring after another tenant's,
 * until it holds no more than the others. */
static void test_heads_capped_from_the_namespace_holding_the_most(void)
{
	struct heads *h = NULL;
	char cid[32];
	cJSON *r, *j;
	int i, quiet = 0, flood = 0, other = 0;
	const cJSON *it;

	heads_new(&h);
	/* The quiet tenant's five heads expire first. */
	for (i = 0; i < 5; i++) {
		snprintf(cid, sizeof(cid), "q%d", i);
		r = record_in("quiet", cid, 1, "1h");
		heads_record(h, r, 1000 + i);
		cJSON_Delete(r);
	}
	for (i = 0; i < 3; i++) {
		snprintf(cid, sizeof(cid), "o%d", i);
		r = record_in("other", cid, 1, "1h");
		heads_record(h, r, 1500 + i);
		cJSON_Delete(r);
	}
	for (i = 0; i < HEADS_MAX; i++) {
		snprintf(cid, sizeof(cid), "f%05d", i);
		r = record_in("flood", cid, 1, "1h");
		heads_record(h, r, 2000 + i);
		cJSON_Delete(r);
	}
	j = heads_json(h, live_none, NULL, 2000);
	UNIT_CHECK(cJSON_GetArraySize(j) == HEADS_MAX && heads_capped(h) == 8);
	cJSON_ArrayForEach(it, j) {
		const char *ns = cJSON_GetStringValue(cJSON_GetObjectItem(it, "namespace"));

		quiet += ns && !strcmp(ns, "quiet");
		other += ns && !strcmp(ns, "other");
		flood += ns && !strcmp(ns, "flood");
	}
	UNIT_CHECK(quiet == 5 && other == 3 && flood == HEADS_MAX - 8);
	/* Of the flood's, the first to expire went. */
	UNIT_CHECK(seq_of(j, "f00007") == -1 && seq_of(j, "f00008") == 1);
	cJSON_Delete(j);
	heads_free(h);
}

UNIT_MAIN(UNIT_TEST(test_heads_move_forward_only), UNIT_TEST(test_heads_merge_previous_agent),
	  UNIT_TEST(test_heads_pruned_after_expiry_unless_audited), UNIT_TEST(test_heads_capped),
	  UNIT_TEST(test_heads_capped_from_the_namespace_holding_the_most))
