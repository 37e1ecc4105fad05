// SPDX-License-Identifier: Apache-2.0
/* Compact JSON text of a cJSON tree, and objects read lazily (jsontext.h). */
#include "jsontext.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jsontext_buf {
	char *p;
	size_t len, cap;
	bool failed;
	bool nomem; /* failed for want of memory (else: an invalid item) */
	bool count; /* only len: what the text's length would be */
};

/* Room for n more bytes and a NUL. */
static bool jsontext_room(struct jsontext_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	for (cap = b->cap ? b->cap : 256; cap < b->len + n + 1; cap *= 2)
		;
	if (!(p = realloc(b->p, cap))) {
		b->failed = b->nomem = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void jsontext_put(struct jsontext_buf *b, const char *s, size_t n)
{
	if (b->count) {
		b->len += n;
		return;
	}
	if (!jsontext_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* As cJSON's print_string_ptr: quote, backslash and bytes below 0x20 are
 * escaped (\b \f \n \r \t, else \u00xx); NULL is "". */
static void jsontext_string(struct jsontext_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *run;

	jsontext_put(b, "\"", 1);
	while (*p) {
		char esc[6] = { '\\', 'u', '0', '0' };
		size_t n = 2;

		for (run = p; *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			;
		jsontext_put(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		}
		jsontext_put(b, esc, n);
		p++;
	}
	jsontext_put(b, "\"", 1);
}

/* As cJSON's print_number: "%1.15g", or "%1.17g" when that does not give
 * the same double back; NaN and infinities are null. An integer below
 * 1e15 prints the same with "%1.15g" (at most 15 digits, no exponent):
 * its digits directly. */
static void jsontext_number(struct jsontext_buf *b, double d)
{
	char num[32];
	int n;

	if (isnan(d) || isinf(d)) {
		jsontext_put(b, "null", 4);
		return;
	}
	if (fabs(d) < 1e15 && d == trunc(d) && !(d == 0 && signbit(d))) {
		int64_t v = (int64_t)d;
		uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
		char *q = num + sizeof(num);

		do {
			*--q = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0)
			*--q = '-';
		jsontext_put(b, q, (size_t)(num + sizeof(num) - q));
		return;
	}
	n = snprintf(num, sizeof(num), "%1.15g", d);
	{
		double test = strtod(num, NULL);
		double max = fabs(test) > fabs(d) ? fabs(test) : fabs(d);

		/* cJSON's compare_double. */
		if (!(fabs(test - d) <= max * DBL_EPSILON))
			n = snprintf(num, sizeof(num), "%1.17g", d);
	}
	/* cJSON puts '.' where the locale's decimal point is: "C" here. */
	jsontext_put(b, num, n > 0 ? (size_t)n : 0);
}

static void jsontext_value(struct jsontext_buf *b, const cJSON *j)
{
	const cJSON *c;

	switch (j->type & 0xFF) {
	case cJSON_NULL: jsontext_put(b, "null", 4); break;
	case cJSON_False: jsontext_put(b, "false", 5); break;
	case cJSON_True: jsontext_put(b, "true", 4); break;
	case cJSON_Number: jsontext_number(b, j->valuedouble); break;
	case cJSON_String: jsontext_string(b, j->valuestring); break;
	case cJSON_Raw:
		if (!j->valuestring)
			b->failed = true;
		else
			jsontext_put(b, j->valuestring, strlen(j->valuestring));
		break;
	case cJSON_Array:
		jsontext_put(b, "[", 1);
		for (c = j->child; c && !b->failed; c = c->next) {
			jsontext_value(b, c);
			if (c->next)
				jsontext_put(b, ",", 1);
		}
		jsontext_put(b, "]", 1);
		break;
	case cJSON_Object:
		jsontext_put(b, "{", 1);
		for (c = j->child; c && !b->failed; c = c->next) {
			jsontext_string(b, c->string);
			jsontext_put(b, ":", 1);
			jsontext_value(b, c);
			if (c->next)
				jsontext_put(b, ",", 1);
		}
		jsontext_put(b, "}", 1);
		break;
	default: b->failed = true;
	}
}

int jsontext_append(struct jsontext_out *o, const cJSON *j)
{
	struct jsontext_buf b = { .p = o->p, .len = o->len, .cap = o->cap };

	if (!j)
		return -EINVAL;
	jsontext_value(&b, j);
	if (b.failed || !jsontext_room(&b, 0)) {
		/* Grown or not, the buffer stays the caller's, as it was. */
		o->p = b.p;
		o->cap = b.cap;
		if (o->p)
			o->p[o->len] = '\0';
		return b.nomem ? -ENOMEM : -EINVAL;
	}
	b.p[b.len] = '\0';
	o->p = b.p;
	o->len = b.len;
	o->cap = b.cap;
	return 0;
}

int jsontext_append_bytes(struct jsontext_out *o, const char *s, size_t n)
{
	struct jsontext_buf b = { .p = o->p, .len = o->len, .cap = o->cap };

	if (!jsontext_room(&b, n))
		return -ENOMEM;
	memcpy(b.p + b.len, s, n);
	b.p[b.len + n] = '\0';
	o->p = b.p;
	o->len = b.len + n;
	o->cap = b.cap;
	return 0;
}

void jsontext_out_free(struct jsontext_out *o)
{
	free(o->p);
	*o = (struct jsontext_out){ 0 };
}

char *jsontext_print(const cJSON *j, size_t *len)
{
	struct jsontext_out o = { 0 };

	if (jsontext_append(&o, j) < 0) {
		jsontext_out_free(&o);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.p;
}

int jsontext_length(const cJSON *j, size_t *len)
{
	struct jsontext_buf b = { .count = true };

	if (!j)
		return -EINVAL;
	jsontext_value(&b, j);
	if (b.failed)
		return -EINVAL;
	*len = b.len;
	return 0;
}

static bool jsontext_str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool jsontext_same(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;
	int type;

	if (!a || !b)
		return a == b;
	type = a->type & 0xff;
	if (type != (b->type & 0xff))
		return false;
	switch (type) {
	case cJSON_Number:
		return a->valuedouble == b->valuedouble &&
		       !signbit(a->valuedouble) == !signbit(b->valuedouble);
	case cJSON_String:
	case cJSON_Raw: return jsontext_str_same(a->valuestring, b->valuestring);
	case cJSON_Array:
	case cJSON_Object:
		for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
			if ((type == cJSON_Object && !jsontext_str_same(x->string, y->string)) ||
			    !jsontext_same(x, y))
				return false;
		return !x && !y;
	default: /* false, true, null */ return true;
	}
}

static const char *jsontext_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* One past the end of the JSON value at p, following only strings and
 * brackets (a value kept raw is checked when it is parsed); NULL when it
 * does not end before end. */
static const char *jsontext_skip(const char *p, const char *end)
{
	int depth = 0;

	if (p < end && *p != '"' && *p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
		       *p != '\n' && *p != '\r')
			p++;
		return p;
	}
	while (p < end) {
		char c = *p++;

		if (c == '"') {
			/* To the first quote after an even run of backslashes. */
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p)), *bs;

				if (!q)
					return NULL;
				for (bs = q; bs > p && bs[-1] == '\\'; bs--)
					;
				p = q + 1;
				if ((q - bs) % 2 == 0)
					break;
			}
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		}
		if (depth == 0)
			return p;
	}
	return NULL;
}

static bool jsontext_named(const char *key, size_t n, const char *const *names)
{
	for (; names && *names; names++)
		if (strlen(*names) == n && !memcmp(*names, key, n))
			return true;
	return false;
}

/* The member of key [key, key + n) and value [v, vend), raw or parsed, or
 * NULL when it cannot be read so. */
static cJSON *jsontext_member(const char *key, size_t n, const char *v, const char *vend, bool raw)
{
	const char *parsed = NULL;
	cJSON *m;
	char *text;

	if (raw) {
		if (!(m = cJSON_CreateRaw("")))
			return NULL;
		if (!(text = malloc((size_t)(vend - v) + 1))) {
			cJSON_Delete(m);
			return NULL;
		}
		memcpy(text, v, (size_t)(vend - v));
		text[vend - v] = '\0';
		cJSON_free(m->valuestring);
		m->valuestring = text;
	} else if (!(m = cJSON_ParseWithLengthOpts(v, (size_t)(vend - v), &parsed, false)) ||
		   parsed != vend) {
		cJSON_Delete(m);
		return NULL;
	}
	if (!(m->string = malloc(n + 1))) {
		cJSON_Delete(m);
		return NULL;
	}
	memcpy(m->string, key, n);
	m->string[n] = '\0';
	return m;
}

void jsontext_iter_init(struct jsontext_iter *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text ? text + len : NULL;
	it->started = false;
}

int jsontext_iter_next(struct jsontext_iter *it, struct jsontext_member *m)
{
	const char *p = it->p, *end = it->end, *key, *vend;

	if (!p)
		return -1;
	p = jsontext_space(p, end);
	if (!it->started) {
		if (p >= end || *p++ != '{')
			return -1;
		it->started = true;
		if ((p = jsontext_space(p, end)) < end && *p == '}') {
			it->p = NULL; /* after the end, -1 */
			return 0;
		}
	} else {
		if (p >= end)
			return -1;
		if (*p == '}') {
			it->p = NULL;
			return 0;
		}
		if (*p++ != ',')
			return -1;
		p = jsontext_space(p, end);
	}
	if (p >= end || *p++ != '"')
		return -1;
	for (key = p; p < end && *p != '"'; p++)
		if (*p == '\\' || (unsigned char)*p < 0x20)
			return -1; /* escaped names: left to cJSON */
	if (p >= end)
		return -1;
	m->key = key;
	m->keylen = (size_t)(p++ - key);
	if ((p = jsontext_space(p, end)) >= end || *p++ != ':')
		return -1;
	m->v = jsontext_space(p, end);
	if (!(vend = jsontext_skip(m->v, end)) || vend == m->v)
		return -1;
	m->vlen = (size_t)(vend - m->v);
	it->p = vend;
	return 1;
}

/* The object of text, its members named in raw kept raw; NULL when the text
 * is not laid out as this reads it (jsontext_parse_lazy then parses it all). */
static cJSON *jsontext_lazy(const char *text, size_t len, const char *const *raw)
{
	cJSON *obj = cJSON_CreateObject(), *m;
	struct jsontext_iter it;
	struct jsontext_member mb;
	int r;

	jsontext_iter_init(&it, text, len);
	while (obj && (r = jsontext_iter_next(&it, &mb)) == 1) {
		if (!(m = jsontext_member(mb.key, mb.keylen, mb.v, mb.v + mb.vlen,
					  jsontext_named(mb.key, mb.keylen, raw))))
			break;
		cJSON_AddItemToArray(obj, m);
	}
	if (obj && r == 0)
		return obj;
	cJSON_Delete(obj);
	return NULL;
}

cJSON *jsontext_parse_lazy(const char *text, size_t len, const char *const *raw)
{
	cJSON *obj;

	if (!text)
		return NULL;
	if ((obj = jsontext_lazy(text, len, raw)))
		return obj;
	return cJSON_ParseWithLength(text, len);
}

cJSON *jsontext_expand_member(cJSON *obj, cJSON *m, char **text)
{
	cJSON *v;

	if (text)
		*text = NULL;
	if (!cJSON_IsRaw(m) || !m->valuestring ||
	    !(v = cJSON_ParseWithOpts(m->valuestring, NULL, true)))
		return NULL;
	/* Its name moves over (ReplaceItemViaPointer keeps none), a constant
	 * one as such (jsontext_add_*). */
	v->string = m->string;
	v->type |= m->type & cJSON_StringIsConst;
	m->string = NULL;
	if (text) {
		*text = m->valuestring;
		m->valuestring = NULL;
	}
	cJSON_ReplaceItemViaPointer(obj, m, v);
	return v;
}

int jsontext_expand(cJSON *obj, const char *name)
{
	cJSON *m, *next;

	for (m = obj ? obj->child : NULL; m; m = next) {
		next = m->next;
		if (!cJSON_IsRaw(m) || !m->string || strcmp(m->string, name))
			continue;
		if (!jsontext_expand_member(obj, m, NULL))
			return -EINVAL;
	}
	return 0;
}

cJSON *jsontext_add_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item)
		return NULL;
	if (!obj || !cJSON_AddItemToObjectCS(obj, key, item)) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

cJSON *jsontext_add_str(cJSON *obj, const char *key, const char *value)
{
	return obj ? jsontext_add_item(obj, key, cJSON_CreateString(value)) : NULL;
}

cJSON *jsontext_add_ref(cJSON *obj, const char *key, const char *value)
{
	return obj && value ? jsontext_add_item(obj, key, cJSON_CreateStringReference(value)) :
			      NULL;
}

cJSON *jsontext_add_num(cJSON *obj, const char *key, double n)
{
	return obj ? jsontext_add_item(obj, key, cJSON_CreateNumber(n)) : NULL;
}

cJSON *jsontext_add_true(cJSON *obj, const char *key)
{
	return obj ? jsontext_add_item(obj, key, cJSON_CreateTrue()) : NULL;
}

cJSON *jsontext_add_raw_ref(cJSON *obj, const char *key, const char *value)
{
	cJSON *r;

	if (!obj || !value || !(r = cJSON_CreateNull()))
		return NULL;
	/* As cJSON_CreateRaw, its text borrowed: cJSON_Delete frees no
	 * reference's value, cJSON_Duplicate copies it. */
	r->type = cJSON_Raw | cJSON_IsReference;
	r->valuestring = (char *)value;
	return jsontext_add_item(obj, key, r);
}

cJSON *jsontext_add_tree_ref(cJSON *obj, const char *key, const cJSON *v)
{
	cJSON *r;

	if (!obj || !v || !(r = cJSON_CreateNull()))
		return NULL;
	/* What cJSON's own references are: a copy of the item, unnamed,
	 * unlinked, flagged. */
	*r = *v;
	r->string = NULL;
	r->type |= cJSON_IsReference;
	r->type &= ~cJSON_StringIsConst;
	r->next = r->prev = NULL;
	return jsontext_add_item(obj, key, r);
}
