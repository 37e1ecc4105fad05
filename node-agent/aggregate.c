// SPDX-License-Identifier: Apache-2.0
/* Exec aggregation (see aggregate.h), for the spool's batcher. */
#include "aggregate.h"

#include <string.h>
#include <time.h>

#include "jsontext.h"
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

/* How many execs e stands for: its count when folded already (before the
 * spool journaled it, spool_fold.c), else one. */
static double aggregate_count(const cJSON *e)
{
	const cJSON *c = aggregate_field(e, "count");

	return cJSON_IsNumber(c) && c->valuedouble >= 1 ? c->valuedouble : 1;
}

/* Member k of a folded entry: aggregate_fold adds "count", "first" and
 * "last" at its end, where they are looked for first (a fold grows at each
 * exec of a loop: its dozen members are not walked each time). */
static cJSON *aggregate_fold_field(const cJSON *e, const char *k)
{
	const cJSON *c = e->child ? e->child->prev : NULL;
	int i;

	for (i = 0; c && i < 3; i++, c = c == e->child ? NULL : c->prev)
		if (c->string && !strcmp(c->string, k))
			return (cJSON *)c;
	return cJSON_GetObjectItemCaseSensitive(e, k);
}

/* Folds n execs, the last at `last` (ms `at`), into prev, found the
 * same, whose first came at ms `from`, when within the window: true; false
 * when they are an entry of their own. */
static bool aggregate_fold_at(cJSON *prev, long long from, const char *last, long long at, double n,
			      long window_ms)
{
	const char *first;
	cJSON *count, *was;

	if (from < 0 || at < from || at - from > window_ms)
		return false;
	count = aggregate_fold_field(prev, "count");
	if (count) {
		cJSON_SetNumberValue(count, count->valuedouble + n);
		/* In place: a time is as long as the one before it. */
		was = aggregate_fold_field(prev, "last");
		if (!cJSON_IsString(was) || !cJSON_SetValuestring(was, last))
			cJSON_ReplaceItemInObjectCaseSensitive(prev, "last",
							       cJSON_CreateString(last));
	} else {
		first = cJSON_GetStringValue(aggregate_field(prev, "time"));
		cJSON_AddNumberToObject(prev, "count", 1 + n);
		cJSON_AddStringToObject(prev, "first", first);
		cJSON_AddStringToObject(prev, "last", last);
	}
	return true;
}

static bool aggregate_fold(cJSON *prev, const char *last, long long at, double n, long window_ms)
{
	long long from = aggregate_ms(cJSON_GetStringValue(aggregate_field(prev, "time")));

	return aggregate_fold_at(prev, from, last, at, n, window_ms);
}

/* aggregate_exec_like for n execs alike `like`, the last at `last`. */
static bool aggregate_exec_n(cJSON *entries, const cJSON *like, const char *last, double n,
			     long window_ms)
{
	long long at = aggregate_ms(last);
	const cJSON *ef[AGG_KEYS], *pf[AGG_KEYS];
	cJSON *prev;
	int looked = 0;

	if (!like || !aggregate_is_exec(like) || at < 0 || window_ms <= 0 || !entries ||
	    !entries->child)
		return false;
	aggregate_fields(like, ef);
	/* From the last (cJSON keeps it as the first's prev) backwards. */
	for (prev = entries->child->prev; prev && looked < AGGREGATE_LOOKBACK;
	     prev = prev == entries->child ? NULL : prev->prev, looked++) {
		if (!aggregate_is_exec(prev))
			continue;
		aggregate_fields(prev, pf);
		if (aggregate_same(pf, ef))
			return aggregate_fold(prev, last, at, n, window_ms);
	}
	return false;
}

bool aggregate_exec_like(cJSON *entries, const cJSON *like, const char *etime, long window_ms)
{
	return aggregate_exec_n(entries, like, etime, 1, window_ms);
}

/* The last time of e: "last" when folded already, else its time. */
static const char *aggregate_last(const cJSON *e)
{
	const char *last = cJSON_GetStringValue(aggregate_field(e, "last"));

	return last ? last : cJSON_GetStringValue(aggregate_field(e, "time"));
}

bool aggregate_exec_into(cJSON *prev, const cJSON *e, long window_ms)
{
	const cJSON *ef[AGG_KEYS], *pf[AGG_KEYS];
	const char *last = aggregate_last(e);
	long long at = aggregate_ms(last);

	if (!prev || !e || !aggregate_is_exec(prev) || !aggregate_is_exec(e) || at < 0 ||
	    window_ms <= 0)
		return false;
	aggregate_fields(prev, pf);
	aggregate_fields(e, ef);
	return aggregate_same(pf, ef) &&
	       aggregate_fold(prev, last, at, aggregate_count(e), window_ms);
}

bool aggregate_exec_again(cJSON *prev, const char *last, long window_ms, long long *first_ms)
{
	long long at = aggregate_ms(last);

	if (!prev || !aggregate_is_exec(prev) || at < 0 || window_ms <= 0)
		return false;
	if (*first_ms < 0)
		*first_ms = aggregate_ms(cJSON_GetStringValue(aggregate_field(prev, "time")));
	return aggregate_fold_at(prev, *first_ms, last, at, 1, window_ms);
}

bool aggregate_exec(cJSON *entries, const cJSON *e, long window_ms)
{
	return aggregate_exec_n(entries, e, aggregate_last(e), aggregate_count(e), window_ms);
}

/* Whether member m is one that tells two executions of the same exec apart. */
static bool aggregate_varies(const struct jsontext_member *m)
{
	static const char *const names[] = { "time", "pid", "ppid" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m->keylen == strlen(names[i]) && !memcmp(m->key, names[i], m->keylen))
			return true;
	return false;
}

/* The next member of it that does not vary between executions: 1, 0 at
 * the end, -1 when the text cannot be read so. */
static int aggregate_next_kept(struct jsontext_iter *it, struct jsontext_member *m)
{
	int r;

	while ((r = jsontext_iter_next(it, m)) == 1 && aggregate_varies(m))
		;
	return r;
}

bool aggregate_text_same(const char *a, size_t alen, const char *b, size_t blen)
{
	struct jsontext_iter ia, ib;
	struct jsontext_member ma, mb;
	int ra, rb;

	if (!a || !b)
		return false;
	jsontext_iter_init(&ia, a, alen);
	jsontext_iter_init(&ib, b, blen);
	for (;;) {
		ra = aggregate_next_kept(&ia, &ma);
		rb = aggregate_next_kept(&ib, &mb);
		if (ra != 1 || rb != 1)
			return ra == 0 && rb == 0;
		/* Folded already (spool_fold.c): it counts for more than one. */
		if (ma.keylen == 5 && !memcmp(ma.key, "count", 5))
			return false;
		if (ma.keylen != mb.keylen || ma.vlen != mb.vlen ||
		    memcmp(ma.key, mb.key, ma.keylen) || memcmp(ma.v, mb.v, ma.vlen))
			return false;
	}
}
