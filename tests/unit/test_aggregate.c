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

UNIT_MAIN(UNIT_TEST(test_aggregate_folds_identical_execs_within_the_window),
	  UNIT_TEST(test_aggregate_keeps_what_differs),
	  UNIT_TEST(test_aggregate_each_member_keeps_an_exec_apart),
	  UNIT_TEST(test_aggregate_record_digest_is_recomputed_from_a_copy))
