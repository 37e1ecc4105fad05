// SPDX-License-Identifier: Apache-2.0
/* Exec aggregation (see aggregate.h), for the spool's batcher. */
#include "aggregate.h"

#include <string.h>
#include <time.h>

#include "timefmt.h"

static const cJSON *aggregate_field(const cJSON *e, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(e, k);
}

/* What makes two execs the same: file (and its own name when it had no
 * link), argv, user and session root, as stored (as typed, or escaped: the
 * same bytes stored alike), and the same marks (escaped, truncated,
 * redacted and its rules, withheld), so the entry says of each what it
 * said of one. */
static const char *const aggregate_keys[] = { "filename", "unlinked",	 "argv",    "text",
					      "uid",	  "sessionRoot", "escaped", "truncated",
					      "redacted", "withheld" };
#define AGG_KEYS (sizeof(aggregate_keys) / sizeof(aggregate_keys[0]))

/* e's members named in aggregate_keys, each the first of its name (as
 * cJSON_GetObjectItemCaseSensitive finds it), in one walk of e: a batch
 * compares each exec with up to AGGREGATE_LOOKBACK others. */
static void aggregate_fields(const cJSON *e, const cJSON *out[AGG_KEYS])
{
	const cJSON *c;
	size_t i;

	memset(out, 0, AGG_KEYS * sizeof(*out));
	for (c = e->child; c; c = c->next) {
		if (!c->string)
			continue;
		for (i = 0; i < AGG_KEYS; i++)
			if (c->string[0] == aggregate_keys[i][0] &&
			    !strcmp(c->string, aggregate_keys[i]))
				break;
		if (i < AGG_KEYS && !out[i])
			out[i] = c;
	}
}

static bool aggregate_same(const cJSON *const a[AGG_KEYS], const cJSON *const b[AGG_KEYS])
{
	size_t i;

	for (i = 0; i < AGG_KEYS; i++)
		if (!a[i] != !b[i] || (a[i] && !cJSON_Compare(a[i], b[i], true)))
			return false;
	return true;
}

static long long aggregate_ms(const char *t)
{
	struct timespec ts;

	if (!t || timefmt_parse(t, &ts) < 0)
		return -1;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool aggregate_is_exec(const cJSON *e)
{
	const char *k = cJSON_GetStringValue(aggregate_field(e, "kind"));

	return k && !strcmp(k, "exec");
}

bool aggregate_exec(cJSON *entries, const cJSON *e, long window_ms)
{
	const char *etime = cJSON_GetStringValue(aggregate_field(e, "time"));
	long long at = aggregate_ms(etime);
	const cJSON *ef[AGG_KEYS], *pf[AGG_KEYS];
	cJSON *prev, *count;
	int looked = 0;

	if (!aggregate_is_exec(e) || at < 0 || window_ms <= 0 || !entries || !entries->child)
		return false;
	aggregate_fields(e, ef);
	/* From the last (cJSON keeps it as the first's prev) backwards. */
	for (prev = entries->child->prev; prev && looked < AGGREGATE_LOOKBACK;
	     prev = prev == entries->child ? NULL : prev->prev, looked++) {
		const char *first;
		long long from;

		if (!aggregate_is_exec(prev))
			continue;
		aggregate_fields(prev, pf);
		if (!aggregate_same(pf, ef))
			continue;
		first = cJSON_GetStringValue(aggregate_field(prev, "time"));
		from = aggregate_ms(first);
		if (from < 0 || at < from || at - from > window_ms)
			return false;
		count = cJSON_GetObjectItemCaseSensitive(prev, "count");
		if (count) {
			cJSON_SetNumberValue(count, count->valuedouble + 1);
			cJSON_ReplaceItemInObjectCaseSensitive(prev, "last",
							       cJSON_CreateString(etime));
		} else {
			cJSON_AddNumberToObject(prev, "count", 2);
			cJSON_AddStringToObject(prev, "first", first);
			cJSON_AddStringToObject(prev, "last", etime);
		}
		return true;
	}
	return false;
}
