// SPDX-License-Identifier: Apache-2.0
/* Redaction with lib/re (RE2 syntax, linear time). Each rule's matches are
 * found as Go's Regexp.ReplaceAll finds them (an empty match right after a
 * match does not count), on the text as it came; the spans of all rules
 * are merged and replaced in one pass. Texts are bytes: lib/re reads
 * invalid UTF-8 as U+FFFD, so it never makes a match fail. */
#include "redact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "re.h"

/* Spans kept per text at most; a rule matching (emptily) at more places
 * than that cuts the text there. */
#define REDACT_MAX_SPANS (1u << 16)

struct redact_rule {
	char *name;
	struct re *re;
	char *replacement;
	size_t replen;
};

struct redact_set {
	struct redact_rule rules[REDACT_MAX_RULES];
	size_t n;
};

struct redact_span {
	size_t s, e, rule;
};

struct redact_spans {
	struct redact_span *v;
	size_t n, cap;
	size_t cut_at;	/* text past this is dropped (SIZE_MAX: none) */
};

void redact_free(struct redact_set *rs)
{
	size_t i;

	if (!rs)
		return;
	for (i = 0; i < rs->n; i++) {
		free(rs->rules[i].name);
		re_free(rs->rules[i].re);
		free(rs->rules[i].replacement);
	}
	free(rs);
}

const char *redact_rule_name(const struct redact_set *rs, size_t i)
{
	return rs && i < rs->n ? rs->rules[i].name : "";
}

int redact_compile(const cJSON *rules, struct redact_set **out, char *err, size_t errlen)
{
	struct redact_set *rs = calloc(1, sizeof(*rs));
	const cJSON *r;
	int ret = 0;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	cJSON_ArrayForEach(r, rules) {
		const char *name =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
		const char *pat =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "pattern"));
		const char *rep =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "replacement"));
		struct redact_rule *rule;
		char why[256];

		if (rs->n == REDACT_MAX_RULES) {
			snprintf(err, errlen, "more than %d redact rules", REDACT_MAX_RULES);
			ret = -EINVAL;
			goto out;
		}
		if (!pat || !*pat) {
			snprintf(err, errlen, "redact rule %s has no pattern", name ? name : "?");
			ret = -EINVAL;
			goto out;
		}
		rule = &rs->rules[rs->n];
		if ((ret = re_compile(pat, &rule->re, why, sizeof(why))) < 0) {
			if (ret == -EINVAL)
				snprintf(err, errlen,
					 "redact rule %s: pattern does not compile: %s",
					 name ? name : "?", why);
			goto out;
		}
		rs->n++;
		rule->name = strdup(name ? name : "redact");
		rule->replacement = strdup(rep ? rep : "[REDACTED]");
		if (!rule->name || !rule->replacement) {
			ret = -ENOMEM;
			goto out;
		}
		rule->replen = strlen(rule->replacement);
	}
	*out = rs;
	rs = NULL;
out:
	redact_free(rs);
	return ret;
}

static int redact_push(struct redact_spans *sp, size_t s, size_t e, size_t rule)
{
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 16;
		struct redact_span *v = realloc(sp->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sp->v = v;
		sp->cap = cap;
	}
	sp->v[sp->n++] = (struct redact_span){ s, e, rule };
	return 0;
}

/* One rule over text (n bytes, at offset base of the text the spans are
 * for): the spans Go's ReplaceAll would replace. */
static int redact_rule_spans(const struct redact_set *rs, size_t idx, const char *text, size_t n,
			     size_t base, struct redact_spans *sp, struct redact_result *res)
{
	const struct redact_rule *rule = &rs->rules[idx];
	uint64_t budget = REDACT_BUDGET;
	size_t last_end = 0, search = 0, ms, me, w;
	struct re_scratch *sc;
	uint32_t cp;
	int rc;

	/* One scratch for all the searches: one each would cost the rule's
	 * size per match, outside the budget. */
	if ((rc = re_scratch_new(rule->re, &sc)) < 0)
		return rc;
	while (search <= n) {
		rc = re_search_in(rule->re, sc, text, n, search, &ms, &me, &budget);
		if (rc == -E2BIG && res->unfinished < 0)
			res->unfinished = (int)idx;
		if (rc <= 0)
			break;
		/* Not for an empty match right after another match. */
		if (me > last_end || ms == 0) {
			if (sp->n >= REDACT_MAX_SPANS) {
				if (base + ms < sp->cut_at)
					sp->cut_at = base + ms;
				rc = 0;
				break;
			}
			if ((rc = redact_push(sp, base + ms, base + me, idx)) < 0)
				break;
			res->matched |= 1ull << idx;
		}
		last_end = me;
		/* Go on after the match, and always by one character at least. */
		w = search < n ? escape_utf8_decode(text + search, n - search, &cp) : 0;
		if (search < n && !w)
			w = 1;
		if (search + w > me)
			search += w;
		else if (search + 1 > me)
			search++;
		else
			search = me;
	}
	re_scratch_free(sc);
	return rc < 0 ? rc : 0;
}

static int redact_span_cmp(const void *a, const void *b)
{
	const struct redact_span *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Sorts the spans and merges the ones that overlap: their union is
 * replaced once, as the first one's. */
static void redact_merge(struct redact_spans *sp)
{
	size_t i, o = 0;

	if (!sp->n)
		return;
	qsort(sp->v, sp->n, sizeof(*sp->v), redact_span_cmp);
	for (i = 1; i < sp->n; i++) {
		if (sp->v[i].s < sp->v[o].e) {
			if (sp->v[i].e > sp->v[o].e)
				sp->v[o].e = sp->v[i].e;
		} else {
			sp->v[++o] = sp->v[i];
		}
	}
	sp->n = o + 1;
}

/* Every rule over text into sp. */
static int redact_find(const struct redact_set *rs, const char *text, size_t n, size_t base,
		       struct redact_spans *sp, struct redact_result *res)
{
	size_t i;
	int ret;

	for (i = 0; rs && i < rs->n; i++)
		if ((ret = redact_rule_spans(rs, i, text, n, base, sp, res)) < 0)
			return ret;
	return 0;
}

struct redact_buf {
	char *p;
	size_t len, cap;
	bool cut;
};

/* Room for n more bytes and a NUL in b, in one allocation where the text
 * about to be put is known (a render is mostly its source, unchanged). */
static int redact_reserve(struct redact_buf *b, size_t n)
{
	char *p;

	if (n > REDACT_MAX_OUT - b->len)
		n = REDACT_MAX_OUT - b->len;
	if (b->len + n + 1 <= b->cap)
		return 0;
	if (!(p = realloc(b->p, b->len + n + 1)))
		return -ENOMEM;
	b->p = p;
	b->cap = b->len + n + 1;
	return 0;
}

static int redact_put(struct redact_buf *b, const char *s, size_t n)
{
	if (b->len + n > REDACT_MAX_OUT) {
		n = REDACT_MAX_OUT - b->len;
		b->cut = true;
	}
	/* Room for twice what it then holds (redact_reserve bounds it). */
	if (b->len + n + 1 > b->cap && redact_reserve(b, b->len + 2 * n + 1) < 0)
		return -ENOMEM;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* text[b, e) (offsets in the text the spans are for) with the spans'
 * replacements where they cover it, into buf. */
static int redact_render(const struct redact_set *rs, const struct redact_spans *sp,
			 const char *text, size_t b, size_t e, struct redact_buf *buf)
{
	size_t pos = b, i;
	int ret = 0;

	if (e > sp->cut_at)
		e = sp->cut_at < b ? b : sp->cut_at;
	if ((ret = redact_reserve(buf, e - b)) < 0 || (ret = redact_put(buf, "", 0)) < 0)
		return ret;
	for (i = 0; i < sp->n && !ret; i++) {
		const struct redact_span *m = &sp->v[i];
		const struct redact_rule *r = &rs->rules[m->rule];
		size_t x = m->s > b ? m->s : b, y = m->e < e ? m->e : e;

		if (m->s == m->e ? m->s < b || m->s > e : x >= y)
			continue;
		if (!(ret = redact_put(buf, text + pos, x - pos)))
			ret = redact_put(buf, r->replacement, r->replen);
		pos = m->s == m->e ? x : y;
	}
	if (!ret)
		ret = redact_put(buf, text + pos, e - pos);
	return ret;
}

int redact_apply(const struct redact_set *rs, const char *in, size_t n, char **out,
		 size_t *outlen, struct redact_result *res)
{
	struct redact_spans sp = { .cut_at = SIZE_MAX };
	struct redact_buf buf = { 0 };
	int ret;

	*out = NULL;
	*outlen = 0;
	*res = (struct redact_result){ .unfinished = -1 };
	if ((ret = redact_find(rs, in, n, 0, &sp, res)) == 0) {
		redact_merge(&sp);
		ret = redact_render(rs, &sp, in, 0, n, &buf);
	}
	free(sp.v);
	if (ret < 0) {
		free(buf.p);
		return ret;
	}
	res->cut = buf.cut || sp.cut_at != SIZE_MAX;
	*out = buf.p;
	*outlen = buf.len;
	return 0;
}

int redact_apply_after(const struct redact_set *rs, const char *before, size_t blen, const char *in,
		       size_t n, char **out, size_t *outlen, struct redact_result *res)
{
	struct redact_spans sp = { .cut_at = SIZE_MAX };
	struct redact_buf joined = { 0 }, buf = { 0 };
	size_t i;
	int ret;

	*out = NULL;
	*outlen = 0;
	*res = (struct redact_result){ .unfinished = -1 };
	if (!(ret = redact_reserve(&joined, blen + n)) &&
	    !(ret = redact_put(&joined, before, blen)))
		ret = redact_put(&joined, in, n);
	if (!ret && joined.cut)
		sp.cut_at = joined.len;
	if (!ret && (ret = redact_find(rs, joined.p, joined.len, 0, &sp, res)) == 0) {
		/* Only the rules that reach into in redacted it. */
		res->matched = 0;
		for (i = 0; i < sp.n; i++)
			if (sp.v[i].e > blen || (sp.v[i].s == sp.v[i].e && sp.v[i].s >= blen))
				res->matched |= 1ull << sp.v[i].rule;
		redact_merge(&sp);
		ret = redact_render(rs, &sp, joined.p, blen < joined.len ? blen : joined.len,
				    joined.len, &buf);
	}
	free(sp.v);
	free(joined.p);
	if (ret < 0) {
		free(buf.p);
		return ret;
	}
	res->cut = buf.cut || sp.cut_at != SIZE_MAX;
	*out = buf.p;
	*outlen = buf.len;
	return 0;
}

int redact_argv(const struct redact_set *rs, const char *const *argv, const size_t *len,
		size_t argc, char ***out_argv, size_t **out_len, char **line, size_t *linelen,
		struct redact_result *res)
{
	struct redact_spans sp = { .cut_at = SIZE_MAX };
	struct redact_buf joined = { 0 }, buf = { 0 };
	size_t *start = calloc(argc ? argc : 1, sizeof(*start)), i;
	char **av = calloc(argc ? argc : 1, sizeof(*av));
	size_t *avlen = calloc(argc ? argc : 1, sizeof(*avlen)), room = 0;
	int ret = 0;

	*out_argv = NULL;
	*out_len = NULL;
	*line = NULL;
	*linelen = 0;
	*res = (struct redact_result){ .unfinished = -1 };
	if (!start || !av || !avlen) {
		ret = -ENOMEM;
		goto out;
	}
	/* The command line as typed (as far as argv can tell), its room
	 * taken at once. */
	for (i = 0; i < argc && room < REDACT_MAX_OUT; i++)
		room += len[i] < REDACT_MAX_OUT ? len[i] + 1 : REDACT_MAX_OUT;
	ret = redact_reserve(&joined, room);
	for (i = 0; i < argc && !ret; i++) {
		if (i)
			ret = redact_put(&joined, " ", 1);
		start[i] = joined.len;
		if (!ret)
			ret = redact_put(&joined, argv[i], len[i]);
	}
	if (!ret)
		ret = redact_put(&joined, "", 0);
	if (joined.cut)
		sp.cut_at = joined.len; /* what did not fit is not shown */
	for (i = 0; i < argc && !ret; i++)
		if (start[i] + len[i] <= joined.len)
			ret = redact_find(rs, argv[i], len[i], start[i], &sp, res);
	if (!ret)
		ret = redact_find(rs, joined.p, joined.len, 0, &sp, res);
	if (ret)
		goto out;
	redact_merge(&sp);
	if ((ret = redact_render(rs, &sp, joined.p, 0, joined.len, &buf)) < 0)
		goto out;
	for (i = 0; i < argc; i++) {
		struct redact_buf a = { 0 };

		size_t b = start[i] < joined.len ? start[i] : joined.len;
		size_t e = b + len[i] < joined.len ? b + len[i] : joined.len;

		if ((ret = redact_render(rs, &sp, joined.p, b, e, &a)) < 0)
			goto out;
		av[i] = a.p;
		avlen[i] = a.len;
		buf.cut |= a.cut;
	}
	res->cut = buf.cut || sp.cut_at != SIZE_MAX;
	*out_argv = av;
	*out_len = avlen;
	*line = buf.p;
	*linelen = buf.len;
	av = NULL;
	avlen = NULL;
	buf.p = NULL;
out:
	for (i = 0; av && i < argc; i++)
		free(av[i]);
	free(av);
	free(avlen);
	free(buf.p);
	free(joined.p);
	free(start);
	free(sp.v);
	return ret;
}
