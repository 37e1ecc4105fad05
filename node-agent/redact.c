// SPDX-License-Identifier: Apache-2.0
/* Redaction with PCRE2, which accepts the RE2 syntax the CRD validates
 * (Perl classes, (?i) flags, non-greedy repeats). Lines are bytes, not
 * necessarily UTF-8: patterns match them as bytes unless they ask for
 * UTF with (*UTF), and invalid UTF-8 never makes a match fail. */
#include "redact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define REDACT_MAX_RULES 64
#define REDACT_MATCH_LIMIT 100000
#define REDACT_DEPTH_LIMIT 10000
#define REDACT_MAX_OUT (1u << 22)

struct redact_rule {
	pcre2_code *re;
	char *replacement;
	size_t replen;
};

struct redact_set {
	struct redact_rule rules[REDACT_MAX_RULES];
	size_t n;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
};

void redact_free(struct redact_set *rs)
{
	size_t i;

	if (!rs)
		return;
	for (i = 0; i < rs->n; i++) {
		pcre2_code_free(rs->rules[i].re);
		free(rs->rules[i].replacement);
	}
	pcre2_match_data_free(rs->md);
	pcre2_match_context_free(rs->mctx);
	free(rs);
}

int redact_compile(const cJSON *rules, struct redact_set **out, char *err, size_t errlen)
{
	struct redact_set *rs = calloc(1, sizeof(*rs));
	const cJSON *r;
	int ret = 0;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	rs->mctx = pcre2_match_context_create(NULL);
	rs->md = pcre2_match_data_create(16, NULL);
	if (!rs->mctx || !rs->md) {
		ret = -ENOMEM;
		goto out;
	}
	pcre2_set_match_limit(rs->mctx, REDACT_MATCH_LIMIT);
	pcre2_set_depth_limit(rs->mctx, REDACT_DEPTH_LIMIT);
	cJSON_ArrayForEach(r, rules) {
		const char *name =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
		const char *pat =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "pattern"));
		const char *rep =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "replacement"));
		struct redact_rule *rule;
		PCRE2_SIZE off;
		int code;

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
		rule->re =
			pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
		if (!rule->re) {
			PCRE2_UCHAR msg[160];

			pcre2_get_error_message(code, msg, sizeof(msg));
			snprintf(err, errlen,
				 "redact rule %s: pattern does not compile at offset %zu: %s",
				 name ? name : "?", (size_t)off, (char *)msg);
			ret = -EINVAL;
			goto out;
		}
		rs->n++;
		rule->replacement = strdup(rep ? rep : "[REDACTED]");
		if (!rule->replacement) {
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

/* One rule over in, appending to a new buffer. */
static int redact_rule_apply(const struct redact_set *rs, const struct redact_rule *rule,
			     const char *in, size_t n, char **out, size_t *outlen, unsigned *hits)
{
	size_t start = 0, len = 0, cap = n + 64;
	char *buf = malloc(cap);
	PCRE2_SIZE *ov;
	int rc;

	if (!buf)
		return -ENOMEM;
	while (start <= n) {
		size_t ms, me, need;

		rc = pcre2_match(rule->re, (PCRE2_SPTR)in, n, start, 0, rs->md, rs->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			free(buf);
			return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ?
				       -E2BIG :
				       -EINVAL;
		}
		ov = pcre2_get_ovector_pointer(rs->md);
		ms = ov[0];
		me = ov[1];
		need = len + (ms - start) + rule->replen + 1;
		if (need > REDACT_MAX_OUT) {
			free(buf);
			return -E2BIG;
		}
		if (need > cap) {
			char *p;

			cap = need * 2;
			if (!(p = realloc(buf, cap))) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		memcpy(buf + len, in + start, ms - start);
		len += ms - start;
		memcpy(buf + len, rule->replacement, rule->replen);
		len += rule->replen;
		(*hits)++;
		/* An empty match must still move on, keeping the byte it stood on. */
		if (me == ms) {
			if (ms < n)
				buf[len++] = in[ms];
			start = ms + 1;
		} else {
			start = me;
		}
	}
	if (start < n) {
		if (len + (n - start) + 1 > cap) {
			char *p = realloc(buf, len + (n - start) + 1);

			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		memcpy(buf + len, in + start, n - start);
		len += n - start;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int redact_apply(const struct redact_set *rs, const char *in, size_t n, char **out,
		 size_t *outlen, unsigned *hits)
{
	char *cur, *next;
	size_t curlen = n, nextlen, i;
	int ret;

	*hits = 0;
	if (!(cur = malloc(n + 1)))
		return -ENOMEM;
	memcpy(cur, in, n);
	cur[n] = '\0';
	for (i = 0; rs && i < rs->n; i++) {
		ret = redact_rule_apply(rs, &rs->rules[i], cur, curlen, &next, &nextlen, hits);
		free(cur);
		if (ret < 0)
			return ret;
		cur = next;
		curlen = nextlen;
	}
	*out = cur;
	*outlen = curlen;
	return 0;
}
