// SPDX-License-Identifier: Apache-2.0
/* aggregate: identical execs within the window fold into one entry with
 * count, first and last; a different argv, file, user or session root, an
 * exec past the window, a typed line (never aggregated, even repeated) and
 * an entry without a usable time each stay entries of their own; a record
 * holding aggregated entries keeps a digest that a copy recomputes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "digest.h"
#include "record.h"
#include "unit.h"

static cJSON *exec_at(const char *time, const char *arg, int uid)
{
	cJSON *e = cJSON_CreateObject(), *argv = cJSON_CreateArray();

	cJSON_AddStringToObject(e, "time", time);
	cJSON_AddStringToObject(e, "kind", "exec");
	cJSON_AddStringToObject(e, "filename", "/bin/true");
	cJSON_AddItemToArray(argv, cJSON_CreateString("true"));
	if (arg)
		cJSON_AddItemToArray(argv, cJSON_CreateString(arg));
	cJSON_AddItemToObject(e, "argv", argv);
	cJSON_AddStringToObject(e, "text", arg ? arg : "true");
	cJSON_AddNumberToObject(e, "pid", 100);
	cJSON_AddNumberToObject(e, "uid", uid);
	return e;
}

/* Adds e to entries unless it folds; frees e. */
static bool add(cJSON *entries, cJSON *e, long window)
{
	bool folded = aggregate_exec(entries, e, window);

	if (folded)
		cJSON_Delete(e);
	else
		cJSON_AddItemToArray(entries, e);
	return folded;
}

static void test_aggregate_folds_identical_execs_within_the_window(void)
{
	cJSON *entries = cJSON_CreateArray(), *first;

	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:00.000001Z", NULL, 0), 10000));
	UNIT_CHECK(add(entries, exec_at("2026-11-25T00:00:01.5Z", NULL, 0), 10000));
	UNIT_CHECK(add(entries, exec_at("2026-11-25T00:00:09.9Z", NULL, 0), 10000));
	UNIT_CHECK(cJSON_GetArraySize(entries) == 1);
	first = cJSON_GetArrayItem(entries, 0);
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "count")) == 3);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "first")),
		       "2026-11-25T00:00:00.000001Z");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "last")),
		       "2026-11-25T00:00:09.9Z");
	/* Past the window from the first: an entry of its own, which the
	 * next repeats fold into. */
	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:10.1Z", NULL, 0), 10000));
	UNIT_CHECK(add(entries, exec_at("2026-11-25T00:00:10.2Z", NULL, 0), 10000));
	UNIT_CHECK(cJSON_GetArraySize(entries) == 2);
	UNIT_CHECK(cJSON_GetNumberValue(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 1), "count")) == 2);
	/* A window of 0 or less: never. */
	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:10.3Z", NULL, 0), 0));
	cJSON_Delete(entries);
}

static void test_aggregate_keeps_what_differs(void)
{
	cJSON *entries = cJSON_CreateArray(), *line, *line2;

	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:00Z", "a", 0), 10000));
	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:00.1Z", "b", 0), 10000));
	UNIT_CHECK(!add(entries, exec_at("2026-11-25T00:00:00.2Z", "a", 1000), 10000));
	UNIT_CHECK(add(entries, exec_at("2026-11-25T00:00:00.3Z", "a", 0), 10000));
	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "time", "2026-11-25T00:00:00.4Z");
	cJSON_AddStringToObject(line, "kind", "line");
	cJSON_AddStringToObject(line, "text", "true");
	line2 = cJSON_Duplicate(line, 1);
	UNIT_CHECK(!add(entries, line, 10000));
	UNIT_CHECK(!add(entries, line2, 10000)); /* typed lines: never */
	UNIT_CHECK(!add(entries, exec_at("not a time", "a", 0), 10000));
	UNIT_CHECK(cJSON_GetArraySize(entries) == 6);
	cJSON_Delete(entries);
}

/* Each of the ten members that make two execs the same keeps an exec
 * apart when it differs, or is there in one only; a member repeated in
 * an entry counts by its first (as cJSON finds it). */
static void test_aggregate_each_member_keeps_an_exec_apart(void)
{
	static const char *const keys[] = { "filename", "unlinked",    "argv",	  "text",
					    "uid",	"sessionRoot", "escaped", "truncated",
					    "redacted", "withheld" };
	size_t i;
	int wrong = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		cJSON *entries = cJSON_CreateArray(), *a = exec_at("2026-11-25T00:00:00Z", "x", 0);
		cJSON *b = cJSON_Duplicate(a, 1), *c, *d;

		/* in a only */
		if (!cJSON_GetObjectItem(a, keys[i]))
			cJSON_AddStringToObject(a, keys[i], "v");
		else
			cJSON_DeleteItemFromObjectCaseSensitive(b, keys[i]);
		c = cJSON_Duplicate(a, 1);
		d = cJSON_Duplicate(a, 1);
		cJSON_ReplaceItemInObjectCaseSensitive(c, keys[i], cJSON_CreateString("w"));
		/* d: the same first member, another after it */
		cJSON_AddStringToObject(d, keys[i], "other");
		wrong += add(entries, a, 10000);
		wrong += add(entries, b, 10000);
		wrong += add(entries, c, 10000); /* differs from a */
		cJSON_DeleteItemFromArray(entries, 2);
		cJSON_DeleteItemFromArray(entries, 1);
		wrong += !add(entries, d, 10000);
		if (wrong)
			fprintf(stderr, "    wrong at %s\n", keys[i]);
		cJSON_Delete(entries);
	}
	UNIT_CHECK(wrong == 0);
}

static void test_aggregate_record_digest_is_recomputed_from_a_copy(void)
{
	static const struct record_identity id = { "ns",   "pod", "uid", "main", "containerd://ab",
						   "node", NULL,  "720h" };
	cJSON *entries = cJSON_CreateArray(), *rec, *copy;
	char d[DIGEST_STR_LEN], again[DIGEST_STR_LEN], *text;

	add(entries, exec_at("2026-11-25T00:00:00Z", NULL, 0), 10000);
	add(entries, exec_at("2026-11-25T00:00:01Z", NULL, 0), 10000);
	rec = record_build(&id, NULL, entries, 0, NULL, NULL, NULL, d);
	UNIT_CHECK(rec != NULL);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(rec, "spec"));
	copy = cJSON_Parse(text);
	free(text);
	UNIT_CHECK(record_digest(copy, again) == 0);
	UNIT_CHECK_STR(again, d);
	cJSON_Delete(copy);
	cJSON_Delete(rec);
}

/* Whether b folds into [a] (a copy of each; a is the batch's only entry). */
static bool folds_into(const cJSON *a, const cJSON *b)
{
	cJSON *entries = cJSON_CreateArray();
	bool folded;

	cJSON_AddItemToArray(entries, cJSON_Duplicate(a, 1));
	folded = aggregate_exec(entries, b, 10000);
	cJSON_Delete(entries);
	return folded;
}

static bool text_same(const cJSON *a, const cJSON *b)
{
	char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
	bool same = aggregate_text_same(ta, strlen(ta), tb, strlen(tb));

	free(ta);
	free(tb);
	return same;
}

/* The batcher folds an exec unparsed when its text is the last one's but
 * for time and process: never where aggregate_exec would not. Each
 * aggregated member, a member added or moved, and strings that hold what
 * looks like a "pid" member keep texts apart; time, pid and ppid do not. */
static void test_aggregate_text_same_only_where_aggregate_exec_folds(void)
{
	static const char *const keys[] = { "filename", "unlinked",    "argv",	  "text",
					    "uid",	"sessionRoot", "escaped", "truncated",
					    "redacted", "withheld",    "kind",	  "count" };
	cJSON *a = exec_at("2026-11-25T00:00:00Z", "x", 0), *b, *c;
	size_t i;
	int wrong = 0;

	cJSON_AddNumberToObject(a, "ppid", 1);
	b = cJSON_Duplicate(a, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(b, "time",
					       cJSON_CreateString("2026-11-25T00:00:01Z"));
	cJSON_ReplaceItemInObjectCaseSensitive(b, "pid", cJSON_CreateNumber(4242));
	cJSON_ReplaceItemInObjectCaseSensitive(b, "ppid", cJSON_CreateNumber(7));
	UNIT_CHECK(text_same(a, b) && folds_into(a, b));
	cJSON_Delete(b);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		b = cJSON_Duplicate(a, 1);
		if (cJSON_GetObjectItem(b, keys[i]))
			cJSON_ReplaceItemInObjectCaseSensitive(b, keys[i], cJSON_CreateString("w"));
		else
			cJSON_AddStringToObject(b, keys[i], "v");
		if (text_same(a, b)) {
			fprintf(stderr, "    same despite %s\n", keys[i]);
			wrong++;
		}
		cJSON_Delete(b);
	}
	/* The same members in another order: parsed, where they fold. */
	b = cJSON_Duplicate(a, 1);
	c = cJSON_DetachItemFromObjectCaseSensitive(b, "filename");
	cJSON_AddItemToObject(b, "filename", c);
	wrong += text_same(a, b);
	UNIT_CHECK(folds_into(a, b));
	cJSON_Delete(b);
	/* An argument that reads like the members skipped. */
	b = exec_at("2026-11-25T00:00:00Z", "x\",\"pid\":1,\"y\":\"", 0);
	c = exec_at("2026-11-25T00:00:00Z", "x\",\"pid\":2,\"y\":\"", 0);
	wrong += text_same(b, c);
	cJSON_Delete(c);
	c = exec_at("2026-11-25T00:00:00Z", "x", 0);
	wrong += text_same(b, c);
	cJSON_Delete(b);
	cJSON_Delete(c);
	/* Texts it cannot read so are not the same. */
	UNIT_CHECK(!aggregate_text_same("{\"a\":1}", 7, "{\"a\":1", 6));
	UNIT_CHECK(!aggregate_text_same(NULL, 0, "{}", 2));
	UNIT_CHECK(aggregate_text_same("{}", 2, "{\"pid\":3}", 9));
	UNIT_CHECK(wrong == 0);
	cJSON_Delete(a);
}

/* aggregate_exec_like, an entry standing for the exec: folds where
 * aggregate_exec folds the exec itself, into the newest alike entry
 * within the window, not into the one that stood for it. */
static void test_aggregate_exec_like_folds_where_aggregate_exec_does(void)
{
	cJSON *entries = cJSON_CreateArray(), *like = exec_at("2026-11-25T00:00:00Z", NULL, 0);
	cJSON *line = cJSON_CreateObject(), *newer;

	cJSON_AddStringToObject(line, "time", "2026-11-25T00:00:00Z");
	cJSON_AddStringToObject(line, "kind", "line");
	UNIT_CHECK(!aggregate_exec_like(entries, like, "2026-11-25T00:00:01Z", 10000));
	cJSON_AddItemToArray(entries, like);
	cJSON_AddItemToArray(entries, exec_at("2026-11-25T00:00:01Z", "other", 0));
	newer = exec_at("2026-11-25T00:00:02Z", NULL, 0);
	cJSON_AddItemToArray(entries, newer);
	cJSON_AddItemToArray(entries, line);
	UNIT_CHECK(aggregate_exec_like(entries, like, "2026-11-25T00:00:05Z", 10000));
	UNIT_CHECK(!cJSON_GetObjectItem(like, "count"));
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(newer, "count")) == 2);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(newer, "last")),
		       "2026-11-25T00:00:05Z");
	/* Past the newest one's window: an entry of its own. */
	UNIT_CHECK(!aggregate_exec_like(entries, like, "2026-11-25T00:00:13Z", 10000));
	UNIT_CHECK(!aggregate_exec_like(entries, like, "not a time", 10000));
	UNIT_CHECK(!aggregate_exec_like(entries, like, "2026-11-25T00:00:03Z", 0));
	UNIT_CHECK(!aggregate_exec_like(entries, line, "2026-11-25T00:00:03Z", 10000));
	UNIT_CHECK(!aggregate_exec_like(entries, NULL, "2026-11-25T00:00:03Z", 10000));
	cJSON_Delete(entries);
}

/* An exec folded already (the spool folds the execs of one gather before
 * journaling them) counts for its count in the batcher's fold, its last
 * time is the one the window holds and the entry keeps; folding execs two
 * by two with aggregate_exec_into and those folds into a batch gives the
 * counts folding them one by one gives. Its text is never "the same" as
 * another's: it stands for more than one exec. */
static void test_aggregate_folded_execs_count_for_their_count(void)
{
	cJSON *one = cJSON_CreateArray(), *two = cJSON_CreateArray(), *pair = NULL, *e;
	char t[40], *a, *b;
	int i;

	for (i = 0; i < 40; i++) {
		/* 0.3 s apart: the 10 s window ends folds. */
		snprintf(t, sizeof(t), "2026-11-25T00:%02d:%02d.%dZ", i * 3 / 600, i * 3 / 10 % 60,
			 i * 3 % 10);
		add(one, exec_at(t, i % 4 == 3 ? "other" : NULL, 0), 10000);
		e = exec_at(t, i % 4 == 3 ? "other" : NULL, 0);
		if (pair && aggregate_exec_into(pair, e, 10000)) {
			cJSON_Delete(e);
			UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(pair, "count")) == 2);
			UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(pair, "last")), t);
			add(two, pair, 10000);
			pair = NULL;
			continue;
		}
		if (pair)
			add(two, pair, 10000);
		pair = e;
	}
	if (pair)
		add(two, pair, 10000);
	UNIT_CHECK(cJSON_GetArraySize(one) < 10);
	UNIT_CHECK(cJSON_Compare(one, two, true));
	/* Not a line, nor another user's exec, nor one past the window. */
	e = exec_at("2026-11-25T00:00:00Z", NULL, 0);
	pair = cJSON_CreateObject();
	cJSON_AddStringToObject(pair, "time", "2026-11-25T00:00:01Z");
	cJSON_AddStringToObject(pair, "kind", "line");
	UNIT_CHECK(!aggregate_exec_into(e, pair, 10000));
	cJSON_Delete(pair);
	pair = exec_at("2026-11-25T00:00:11Z", NULL, 0);
	UNIT_CHECK(!aggregate_exec_into(e, pair, 10000));
	cJSON_Delete(pair);
	pair = exec_at("2026-11-25T00:00:01Z", NULL, 1);
	UNIT_CHECK(!aggregate_exec_into(e, pair, 10000));
	cJSON_Delete(pair);
	UNIT_CHECK(!cJSON_GetObjectItem(e, "count"));
	pair = exec_at("2026-11-25T00:00:02Z", NULL, 0);
	UNIT_CHECK(aggregate_exec_into(e, pair, 10000));
	cJSON_Delete(pair);
	/* Two texts of one fold: alike, but each stands for two execs. */
	a = cJSON_PrintUnformatted(e);
	b = cJSON_PrintUnformatted(e);
	UNIT_CHECK(!aggregate_text_same(a, strlen(a), b, strlen(b)));
	free(a);
	free(b);
	cJSON_Delete(e);
	cJSON_Delete(one);
	cJSON_Delete(two);
}

UNIT_MAIN(UNIT_TEST(test_aggregate_folds_identical_execs_within_the_window),
	  UNIT_TEST(test_aggregate_folded_execs_count_for_their_count),
	  UNIT_TEST(test_aggregate_keeps_what_differs),
	  UNIT_TEST(test_aggregate_each_member_keeps_an_exec_apart),
	  UNIT_TEST(test_aggregate_record_digest_is_recomputed_from_a_copy),
	  UNIT_TEST(test_aggregate_text_same_only_where_aggregate_exec_folds),
	  UNIT_TEST(test_aggregate_exec_like_folds_where_aggregate_exec_does))
