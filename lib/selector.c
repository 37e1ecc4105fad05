// SPDX-License-Identifier: Apache-2.0
/* Label selectors, with the semantics of k8s.io/apimachinery/pkg/labels. */
#include "selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SELECTOR_MAX_REQS 256
#define SELECTOR_MAX_VALUES 256

static void selector_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void selector_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool selector_name_part(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool selector_dns_subdomain(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

bool selector_valid_key(const char *key)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return selector_name_part(key, strlen(key), 63);
	return selector_dns_subdomain(key, (size_t)(slash - key)) &&
	       selector_name_part(slash + 1, strlen(slash + 1), 63);
}

bool selector_valid_value(const char *value)
{
	return value[0] == '\0' || selector_name_part(value, strlen(value), 63);
}

static void selector_req_clear(struct selector_req *r)
{
	size_t i;

	free(r->key);
	for (i = 0; i < r->nvalues; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

void selector_free(struct selector *sel)
{
	size_t i;

	if (!sel)
		return;
	for (i = 0; i < sel->nreqs; i++)
		selector_req_clear(&sel->reqs[i]);
	free(sel->reqs);
	free(sel);
}

/* Appends a requirement, taking ownership of key and values in every case. */
static int selector_add(struct selector *sel, char *key, enum selector_op op, char **values,
			size_t nvalues)
{
	struct selector_req *reqs;

	if (sel->nreqs >= SELECTOR_MAX_REQS)
		goto fail;
	reqs = realloc(sel->reqs, (sel->nreqs + 1) * sizeof(*reqs));
	if (!reqs)
		goto fail;
	sel->reqs = reqs;
	reqs[sel->nreqs++] = (struct selector_req){ key, op, values, nvalues };
	return 0;
fail: {
	struct selector_req tmp = { key, op, values, nvalues };

	selector_req_clear(&tmp);
	return sel->nreqs >= SELECTOR_MAX_REQS ? -E2BIG : -ENOMEM;
}
}

static int selector_parse_op(const char *s, enum selector_op *op)
{
	if (!strcmp(s, "In"))
		*op = SELECTOR_IN;
	else if (!strcmp(s, "NotIn"))
		*op = SELECTOR_NOT_IN;
	else if (!strcmp(s, "Exists"))
		*op = SELECTOR_EXISTS;
	else if (!strcmp(s, "DoesNotExist"))
		*op = SELECTOR_DOES_NOT_EXIST;
	else
		return -EINVAL;
	return 0;
}

static int selector_add_expr(struct selector *sel, const cJSON *e, size_t idx, char *err,
			     size_t errlen)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "operator");
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(e, "values");
	const cJSON *v;
	enum selector_op o;
	char **values = NULL, *k;
	size_t n = 0, i;
	int nv;

	if (!cJSON_IsString(key) || !selector_valid_key(key->valuestring)) {
		selector_err(err, errlen, "matchExpressions[%zu].key: not a valid label key", idx);
		return -EINVAL;
	}
	if (!cJSON_IsString(op) || selector_parse_op(op->valuestring, &o) < 0) {
		selector_err(
			err, errlen,
			"matchExpressions[%zu].operator: want In, NotIn, Exists or DoesNotExist",
			idx);
		return -EINVAL;
	}
	nv = vals && !cJSON_IsNull(vals) ? cJSON_GetArraySize(vals) : 0;
	if (vals && !cJSON_IsNull(vals) && !cJSON_IsArray(vals)) {
		selector_err(err, errlen, "matchExpressions[%zu].values: not a list", idx);
		return -EINVAL;
	}
	if ((o == SELECTOR_IN || o == SELECTOR_NOT_IN) && nv == 0) {
		selector_err(err, errlen, "matchExpressions[%zu].values: %s needs values", idx,
			     op->valuestring);
		return -EINVAL;
	}
	if ((o == SELECTOR_EXISTS || o == SELECTOR_DOES_NOT_EXIST) && nv > 0) {
		selector_err(err, errlen, "matchExpressions[%zu].values: %s takes no values", idx,
			     op->valuestring);
		return -EINVAL;
	}
	if (nv > SELECTOR_MAX_VALUES) {
		selector_err(err, errlen, "matchExpressions[%zu].values: more than %d", idx,
			     SELECTOR_MAX_VALUES);
		return -EINVAL;
	}
	/* Never NULL, even for no values: the loop below needs no case. */
	if (!(values = calloc(nv > 0 ? (size_t)nv : 1, sizeof(*values))))
		return -ENOMEM;
	cJSON_ArrayForEach(v, vals) {
		if (!cJSON_IsString(v) || !selector_valid_value(v->valuestring)) {
			selector_err(err, errlen,
				     "matchExpressions[%zu].values[%zu]: not a valid label value",
				     idx, n);
			goto fail;
		}
		if (!(values[n++] = strdup(v->valuestring)))
			goto fail;
	}
	if (!(k = strdup(key->valuestring)))
		goto fail;
	return selector_add(sel, k, o, values, n);
fail:
	for (i = 0; i < n; i++)
		free(values[i]);
	free(values);
	return err && err[0] ? -EINVAL : -ENOMEM;
}

int selector_from_json(const cJSON *json, struct selector **out, char *err, size_t errlen)
{
	struct selector *sel;
	const cJSON *ml, *me, *it;
	size_t idx = 0;
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!(sel = calloc(1, sizeof(*sel))))
		return -ENOMEM;
	if (!json || cJSON_IsNull(json)) {
		sel->nothing = true;
		goto out;
	}
	if (!cJSON_IsObject(json)) {
		selector_err(err, errlen, "not an object");
		ret = -EINVAL;
		goto out;
	}
	ml = cJSON_GetObjectItemCaseSensitive(json, "matchLabels");
	if (ml && !cJSON_IsNull(ml) && !cJSON_IsObject(ml)) {
		selector_err(err, errlen, "matchLabels: not a map");
		ret = -EINVAL;
		goto out;
	}
	cJSON_ArrayForEach(it, ml) {
		char **values;

		if (!selector_valid_key(it->string) || !cJSON_IsString(it) ||
		    !selector_valid_value(it->valuestring)) {
			selector_err(err, errlen, "matchLabels: %.100s: not a valid label",
				     it->string);
			ret = -EINVAL;
			goto out;
		}
		if (!(values = calloc(1, sizeof(*values))) ||
		    !(values[0] = strdup(it->valuestring))) {
			free(values);
			ret = -ENOMEM;
			goto out;
		}
		char *k = strdup(it->string);
		if (!k) {
			free(values[0]);
			free(values);
			ret = -ENOMEM;
			goto out;
		}
		if ((ret = selector_add(sel, k, SELECTOR_IN, values, 1)) < 0)
			goto out;
	}
	me = cJSON_GetObjectItemCaseSensitive(json, "matchExpressions");
	if (me && !cJSON_IsNull(me) && !cJSON_IsArray(me)) {
		selector_err(err, errlen, "matchExpressions: not a list");
		ret = -EINVAL;
		goto out;
	}
	cJSON_ArrayForEach(it, me) {
		if ((ret = selector_add_expr(sel, it, idx++, err, errlen)) < 0)
			goto out;
	}
out:
	if (ret < 0) {
		selector_free(sel);
		sel = NULL;
	}
	*out = sel;
	return ret;
}

static bool selector_req_matches(const struct selector_req *r, const cJSON *labels)
{
	const cJSON *l = labels ? cJSON_GetObjectItemCaseSensitive(labels, r->key) : NULL;
	const char *value = cJSON_GetStringValue(l); /* NULL unless a string */
	bool has = value != NULL, in = false;
	size_t i;

	for (i = 0; has && i < r->nvalues; i++)
		if (!strcmp(r->values[i], value))
			in = true;
	switch (r->op) {
	case SELECTOR_IN: return in;
	case SELECTOR_NOT_IN: return !in;
	case SELECTOR_EXISTS: return has;
	case SELECTOR_DOES_NOT_EXIST: return !has;
	}
	return false;
}

bool selector_matches(const struct selector *sel, const cJSON *labels)
{
	size_t i;

	if (!sel || sel->nothing)
		return false;
	for (i = 0; i < sel->nreqs; i++)
		if (!selector_req_matches(&sel->reqs[i], labels))
			return false;
	return true;
}

/* The string-form lexer: identifiers are runs of label characters. */
static size_t selector_ident(const char *s)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || (s[n] && strchr("-_./", s[n])))
		n++;
	return n;
}

static const char *selector_skip(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static char *selector_strndup_checked(const char *s, size_t n, bool key)
{
	char *r = strndup(s, n);

	if (r && !(key ? selector_valid_key(r) : selector_valid_value(r))) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	return r;
}

/* Parses "(a,b,c)" at *p into a value list. */
static int selector_parse_set(const char **p, char ***values, size_t *n, char *err, size_t errlen)
{
	const char *s = selector_skip(*p);
	char **vals = NULL, **tmp, *v;
	size_t cnt = 0, len, i;

	if (*s != '(') {
		selector_err(err, errlen, "expected '(' at \"%.40s\"", s);
		return -EINVAL;
	}
	s++;
	for (;;) {
		s = selector_skip(s);
		len = selector_ident(s);
		if (cnt >= SELECTOR_MAX_VALUES || !(v = selector_strndup_checked(s, len, false)))
			goto bad;
		if (!(tmp = realloc(vals, (cnt + 1) * sizeof(*vals)))) {
			free(v);
			goto bad;
		}
		vals = tmp;
		vals[cnt++] = v;
		s = selector_skip(s + len);
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == ')')
			break;
		goto bad;
	}
	if (cnt == 1 && vals[0][0] == '\0')
		goto bad;
	*p = s + 1;
	*values = vals;
	*n = cnt;
	return 0;
bad:
	selector_err(err, errlen, "invalid value list at \"%.40s\"", s);
	for (i = 0; i < cnt; i++)
		free(vals[i]);
	free(vals);
	return -EINVAL;
}

int selector_parse(const char *str, struct selector **out, char *err, size_t errlen)
{
	struct selector *sel = calloc(1, sizeof(*sel));
	const char *s = str;
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!sel)
		return -ENOMEM;
	s = selector_skip(s);
	while (*s) {
		bool negate = false;
		char *key, **values = NULL;
		size_t klen, n = 0;
		enum selector_op op;

		if (*s == '!') {
			negate = true;
			s = selector_skip(s + 1);
		}
		klen = selector_ident(s);
		if (!(key = selector_strndup_checked(s, klen, true))) {
			selector_err(err, errlen, "invalid label key at \"%.40s\"", s);
			ret = -EINVAL;
			goto out;
		}
		s = selector_skip(s + klen);
		if (negate) {
			op = SELECTOR_DOES_NOT_EXIST;
		} else if (*s == ',' || *s == '\0') {
			op = SELECTOR_EXISTS;
		} else if (s[0] == '=' || (s[0] == '!' && s[1] == '=')) {
			op = s[0] == '!' ? SELECTOR_NOT_IN : SELECTOR_IN;
			s += s[0] == '!' ? 2 : (s[1] == '=' ? 2 : 1);
			s = selector_skip(s);
			klen = selector_ident(s);
			values = calloc(1, sizeof(*values));
			if (!values || !(values[0] = selector_strndup_checked(s, klen, false))) {
				free(values);
				free(key);
				selector_err(err, errlen, "invalid label value at \"%.40s\"", s);
				ret = -EINVAL;
				goto out;
			}
			n = 1;
			s = selector_skip(s + klen);
		} else if (!strncmp(s, "in", 2) || !strncmp(s, "notin", 5)) {
			op = s[0] == 'i' ? SELECTOR_IN : SELECTOR_NOT_IN;
			s += op == SELECTOR_IN ? 2 : 5;
			if ((ret = selector_parse_set(&s, &values, &n, err, errlen)) < 0) {
				free(key);
				goto out;
			}
			s = selector_skip(s);
		} else {
			free(key);
			selector_err(err, errlen, "unexpected \"%.40s\"", s);
			ret = -EINVAL;
			goto out;
		}
		if ((ret = selector_add(sel, key, op, values, n)) < 0)
			goto out;
		if (*s == ',') {
			s = selector_skip(s + 1);
			if (!*s) {
				selector_err(err, errlen, "trailing ','");
				ret = -EINVAL;
				goto out;
			}
		} else if (*s) {
			selector_err(err, errlen, "expected ',' at \"%.40s\"", s);
			ret = -EINVAL;
			goto out;
		}
	}
out:
	if (ret < 0) {
		selector_free(sel);
		sel = NULL;
	}
	*out = sel;
	return ret;
}

int selector_format(const struct selector *sel, char *buf, size_t cap)
{
	size_t len = 0, i, j;
	int n;

	if (sel->nothing)
		return -EINVAL;
#define SELECTOR_PUT(...)                                                    \
	do {                                                                 \
		n = snprintf(buf + len, cap > len ? cap - len : 0, __VA_ARGS__); \
		len += (size_t)n;                                            \
	} while (0)
	if (cap)
		buf[0] = '\0';
	for (i = 0; i < sel->nreqs; i++) {
		const struct selector_req *r = &sel->reqs[i];

		if (i)
			SELECTOR_PUT(",");
		switch (r->op) {
		case SELECTOR_EXISTS: SELECTOR_PUT("%s", r->key); break;
		case SELECTOR_DOES_NOT_EXIST: SELECTOR_PUT("!%s", r->key); break;
		case SELECTOR_IN:
		case SELECTOR_NOT_IN:
			SELECTOR_PUT("%s %s (", r->key, r->op == SELECTOR_IN ? "in" : "notin");
			for (j = 0; j < r->nvalues; j++)
				SELECTOR_PUT("%s%s", j ? "," : "", r->values[j]);
			SELECTOR_PUT(")");
			break;
		}
	}
#undef SELECTOR_PUT
	return len < cap ? 0 : -ENOSPC;
}
