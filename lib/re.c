// SPDX-License-Identifier: Apache-2.0
/* RE2-syntax regular expressions: a parser to a tree, a compiler to a
 * program of Thompson's construction, and a Pike VM. See re.h. */
#include "re.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "util.h"

#define RE_RUNE_MAX 0x10ffffu
#define RE_MAX_PATTERN 4096	/* bytes: recursion depth follows the pattern's length */
#define RE_MAX_COMPILE_STEPS 1000000

/* --- the tree ------------------------------------------------------------------- */

enum re_op { RE_EMPTY, RE_CLASS, RE_ASSERT, RE_CAT, RE_ALT, RE_REPEAT };
enum re_assert { RE_A_BOT, RE_A_EOT, RE_A_BOL, RE_A_EOL, RE_A_WORD, RE_A_NOTWORD };

#define RE_FOLD 1u	/* (?i) */
#define RE_MULTI 2u	/* (?m) */
#define RE_DOTNL 4u	/* (?s) */
#define RE_UNGREEDY 8u	/* (?U) */

/* A parse function's answer that is no node: a flag group such as (?i). */
#define RE_NONE (-2)

struct re_range {
	uint32_t lo, hi;
};

struct re_node {
	uint8_t op, kind;
	bool greedy;
	int a, b;		/* RE_CAT, RE_ALT: children; RE_REPEAT: a */
	int min, max;		/* RE_REPEAT; max -1: no bound */
	uint32_t cls, ncls;	/* RE_CLASS: ranges[cls, cls + ncls) */
};

/* A class being built. */
struct re_cls {
	struct re_range *r;
	size_t n, cap;
};

struct re_parser {
	const char *start, *p, *end;
	unsigned flags;
	struct re_node *nodes;
	size_t nnodes, capnodes;
	struct re_range *ranges;
	size_t nranges, capranges;
	char *err;
	size_t errlen;
	bool failed;
	/* The last \Q...\E: a repeat after it repeats its last character. */
	int q_cat, q_prefix, q_last;
};

/* --- the program ----------------------------------------------------------------- */

enum re_iop { RE_I_CLASS, RE_I_SPLIT, RE_I_JMP, RE_I_ASSERT, RE_I_MATCH };

struct re_inst {
	uint8_t op, kind;
	uint32_t x, y;	/* SPLIT: x preferred, then y; JMP: x; CLASS: ranges[x, x + y) */
};

struct re {
	struct re_inst *prog;
	size_t n, cap;
	struct re_range *ranges;
	size_t nranges;
	size_t steps;	/* compile work, bounded */
	bool too_big;
};

static int re_fail(struct re_parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int re_fail(struct re_parser *ps, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->failed)
		return -1;
	ps->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->errlen)
		snprintf(ps->err, ps->errlen, "%s at offset %zu", msg, (size_t)(ps->p - ps->start));
	return -1;
}

static int re_node_new(struct re_parser *ps, uint8_t op)
{
	struct re_node *n;

	if (ps->nnodes == ps->capnodes) {
		size_t cap = ps->capnodes ? ps->capnodes * 2 : 64;

		if (!(n = realloc(ps->nodes, cap * sizeof(*n))))
			return re_fail(ps, "out of memory");
		ps->nodes = n;
		ps->capnodes = cap;
	}
	n = &ps->nodes[ps->nnodes];
	memset(n, 0, sizeof(*n));
	n->op = op;
	return (int)ps->nnodes++;
}

static int re_pair(struct re_parser *ps, uint8_t op, int a, int b)
{
	int n = re_node_new(ps, op);

	if (n < 0)
		return -1;
	ps->nodes[n].a = a;
	ps->nodes[n].b = b;
	return n;
}

/* --- classes --------------------------------------------------------------------- */

static int re_cls_add(struct re_cls *c, uint32_t lo, uint32_t hi)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct re_range *r = realloc(c->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		c->r = r;
		c->cap = cap;
	}
	c->r[c->n++] = (struct re_range){ lo, hi };
	return 0;
}

static int re_range_cmp(const void *a, const void *b)
{
	const struct re_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, and overlapping or adjacent ranges merged. */
static void re_cls_norm(struct re_cls *c)
{
	size_t i, o = 0;

	if (!c->n)
		return;
	qsort(c->r, c->n, sizeof(*c->r), re_range_cmp);
	for (i = 1; i < c->n; i++) {
		if (c->r[i].lo <= c->r[o].hi + 1) {
			if (c->r[i].hi > c->r[o].hi)
				c->r[o].hi = c->r[i].hi;
		} else {
			c->r[++o] = c->r[i];
		}
	}
	c->n = o + 1;
}

/* The complement over every code point; c must be normalised. */
static int re_cls_negate(struct re_cls *c)
{
	struct re_cls out = { 0 };
	uint32_t next = 0;
	size_t i;
	int ret = 0;

	for (i = 0; i < c->n && !ret; i++) {
		if (c->r[i].lo > next)
			ret = re_cls_add(&out, next, c->r[i].lo - 1);
		next = c->r[i].hi + 1;
	}
	if (!ret && next <= RE_RUNE_MAX)
		ret = re_cls_add(&out, next, RE_RUNE_MAX);
	if (ret) {
		free(out.r);
		return ret;
	}
	free(c->r);
	*c = out;
	return 0;
}

/* Case folding: blocks that map one to one by an offset, and the small
 * orbits of characters that fold to an ASCII or Latin-1 letter. */
static const struct {
	uint32_t lo, hi, delta;
} re_fold_blocks[] = {
	{ 0x41, 0x5a, 32 },   { 0xc0, 0xd6, 32 },   { 0xd8, 0xde, 32 },   { 0x391, 0x3a1, 32 },
	{ 0x3a3, 0x3a9, 32 }, { 0x410, 0x42f, 32 }, { 0x400, 0x40f, 80 },
};
static const uint32_t re_fold_orbits[][3] = {
	{ 0x4b, 0x6b, 0x212a },	 { 0x53, 0x73, 0x17f },	 { 0xc5, 0xe5, 0x212b },
	{ 0xb5, 0x39c, 0x3bc },	 { 0xff, 0x178, 0x178 }, { 0xdf, 0x1e9e, 0x1e9e },
	{ 0x3a3, 0x3c2, 0x3c3 },
};

static int re_cls_fold(struct re_cls *c)
{
	size_t i, k, j, n = c->n;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		uint32_t lo = c->r[i].lo, hi = c->r[i].hi;

		for (k = 0; k < ARRAY_SIZE(re_fold_blocks) && !ret; k++) {
			uint32_t a = re_fold_blocks[k].lo, b = re_fold_blocks[k].hi;
			uint32_t d = re_fold_blocks[k].delta, x, y;

			/* upper case in [lo, hi]: add their lower case, and back */
			x = lo > a ? lo : a;
			y = hi < b ? hi : b;
			if (x <= y)
				ret = re_cls_add(c, x + d, y + d);
			x = lo > a + d ? lo : a + d;
			y = hi < b + d ? hi : b + d;
			if (!ret && x <= y)
				ret = re_cls_add(c, x - d, y - d);
		}
		for (k = 0; k < ARRAY_SIZE(re_fold_orbits) && !ret; k++) {
			for (j = 0; j < 3; j++)
				if (re_fold_orbits[k][j] >= lo && re_fold_orbits[k][j] <= hi)
					break;
			for (; j < 3 && !ret; j = 3) {
				ret = re_cls_add(c, re_fold_orbits[k][0], re_fold_orbits[k][0]);
				if (!ret)
					ret = re_cls_add(c, re_fold_orbits[k][1],
							 re_fold_orbits[k][1]);
				if (!ret)
					ret = re_cls_add(c, re_fold_orbits[k][2],
							 re_fold_orbits[k][2]);
			}
		}
	}
	return ret;
}

/* Normalises c (folding it under (?i), negating it when asked) and makes
 * it a class node; frees c's ranges. */
static int re_cls_node(struct re_parser *ps, struct re_cls *c, bool negate)
{
	int ret = 0, n;

	if (ps->flags & RE_FOLD)
		ret = re_cls_fold(c);
	re_cls_norm(c);
	if (!ret && negate)
		ret = re_cls_negate(c);
	if (!ret && ps->nranges + c->n > ps->capranges) {
		size_t cap = (ps->nranges + c->n) * 2;
		struct re_range *r = realloc(ps->ranges, cap * sizeof(*r));

		if (!r)
			ret = -ENOMEM;
		else {
			ps->ranges = r;
			ps->capranges = cap;
		}
	}
	if (ret) {
		free(c->r);
		return re_fail(ps, "out of memory");
	}
	if ((n = re_node_new(ps, RE_CLASS)) >= 0) {
		if (c->n)
			memcpy(ps->ranges + ps->nranges, c->r, c->n * sizeof(*c->r));
		ps->nodes[n].cls = (uint32_t)ps->nranges;
		ps->nodes[n].ncls = (uint32_t)c->n;
		ps->nranges += c->n;
	}
	free(c->r);
	c->r = NULL;
	return n;
}

static int re_literal(struct re_parser *ps, uint32_t r)
{
	struct re_cls c = { 0 };

	if (re_cls_add(&c, r, r) < 0)
		return re_fail(ps, "out of memory");
	return re_cls_node(ps, &c, false);
}

/* \d \s \w (and negated: upper case) into c; 0, or -EINVAL for another letter. */
static int re_perl_class(char k, struct re_cls *c, bool *negated)
{
	static const char *const digit = "09", *const space = "\t\n\f\f\r\r  ", *const word =
		"09AZ__az";
	const char *set;
	size_t i;
	int ret = 0;

	switch (k | 0x20) {
	case 'd': set = digit; break;
	case 's': set = space; break;
	case 'w': set = word; break;
	default: return -EINVAL;
	}
	*negated = k >= 'A' && k <= 'Z';
	for (i = 0; set[i] && !ret; i += 2)
		ret = re_cls_add(c, (unsigned char)set[i], (unsigned char)set[i + 1]);
	return ret;
}

/* [:name:] or [:^name:] into c (pairs of bounds, as re_perl_class). */
static int re_ascii_class(const char *name, size_t len, struct re_cls *c)
{
	static const struct {
		const char *name, *set;
	} classes[] = {
		{ "alnum", "09AZaz" },
		{ "alpha", "AZaz" },
		{ "ascii", "\x01\x7f" },
		{ "blank", "\t\t  " },
		{ "cntrl", "\x01\x1f\x7f\x7f" },
		{ "digit", "09" },
		{ "graph", "!~" },
		{ "lower", "az" },
		{ "print", " ~" },
		{ "punct", "!/:@[`{~" },
		{ "space", "\t\r  " },
		{ "upper", "AZ" },
		{ "word", "09AZ__az" },
		{ "xdigit", "09AFaf" },
	};
	size_t i, j;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(classes); i++) {
		if (strlen(classes[i].name) != len || memcmp(classes[i].name, name, len))
			continue;
		/* NUL cannot sit in a C string: ascii and cntrl start at 0. */
		if (!strcmp(classes[i].name, "ascii") || !strcmp(classes[i].name, "cntrl"))
			ret = re_cls_add(c, 0, 0);
		for (j = 0; classes[i].set[j] && !ret; j += 2)
			ret = re_cls_add(c, (unsigned char)classes[i].set[j],
					 (unsigned char)classes[i].set[j + 1]);
		return ret;
	}
	return -EINVAL;
}

/* --- parsing --------------------------------------------------------------------- */

static int re_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The next character of the pattern as a code point (patterns are UTF-8). */
static int re_next_rune(struct re_parser *ps, uint32_t *r)
{
	size_t len = escape_utf8_decode(ps->p, (size_t)(ps->end - ps->p), r);

	if (!len)
		return re_fail(ps, "invalid UTF-8 in the pattern");
	ps->p += len;
	return 0;
}

/* An escape that stands for one character; ps->p is past the backslash. */
static int re_escape_rune(struct re_parser *ps, uint32_t *r)
{
	unsigned char c;
	int h, i;

	if (ps->p >= ps->end)
		return re_fail(ps, "trailing backslash");
	c = (unsigned char)*ps->p++;
	switch (c) {
	case 'a': *r = 7; return 0;
	case 'f': *r = 12; return 0;
	case 't': *r = 9; return 0;
	case 'n': *r = 10; return 0;
	case 'r': *r = 13; return 0;
	case 'v': *r = 11; return 0;
	case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '7')
			return re_fail(ps, "backreferences (\\%c) are not RE2", c);
		/* fallthrough */
	case '0':
		*r = c - '0';
		for (i = 1; i < 3 && ps->p < ps->end && *ps->p >= '0' && *ps->p <= '7'; i++)
			*r = *r * 8 + (uint32_t)(*ps->p++ - '0');
		return 0;
	case 'x':
		*r = 0;
		if (ps->p < ps->end && *ps->p == '{') {
			ps->p++;
			for (i = 0; ps->p < ps->end && (h = re_hex(*ps->p)) >= 0; i++, ps->p++) {
				*r = *r * 16 + (uint32_t)h;
				if (*r > RE_RUNE_MAX)
					return re_fail(ps, "\\x{...} beyond U+10FFFF");
			}
			if (!i || ps->p >= ps->end || *ps->p != '}')
				return re_fail(ps, "malformed \\x{...}");
			ps->p++;
			return 0;
		}
		for (i = 0; i < 2; i++, ps->p++) {
			if (ps->p >= ps->end || (h = re_hex(*ps->p)) < 0)
				return re_fail(ps, "\\x needs two hex digits");
			*r = *r * 16 + (uint32_t)h;
		}
		return 0;
	default:
		if (c < 0x80 && !(c >= '0' && c <= '9') &&
		    !((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
			*r = c;
			return 0;
		}
		if (c == 'p' || c == 'P')
			return re_fail(ps, "Unicode classes (\\%c) are not supported by the agent",
				       c);
		return re_fail(ps, "invalid escape sequence \\%c", c >= 0x20 && c < 0x7f ? c : '?');
	}
}

/* One end of a range in a class. */
static int re_class_char(struct re_parser *ps, uint32_t *r)
{
	if (ps->p < ps->end && *ps->p == '\\') {
		ps->p++;
		return re_escape_rune(ps, r);
	}
	return re_next_rune(ps, r);
}

static int re_parse_class(struct re_parser *ps)
{
	struct re_cls c = { 0 };
	bool negate = false, first = true, neg;
	uint32_t lo, hi;
	int ret = 0;

	ps->p++; /* [ */
	if (ps->p < ps->end && *ps->p == '^') {
		negate = true;
		ps->p++;
	}
	while (ps->p < ps->end && (*ps->p != ']' || first) && !ret) {
		first = false;
		if (ps->end - ps->p > 2 && ps->p[0] == '[' && ps->p[1] == ':') {
			const char *name = ps->p + 2;
			const char *close = memmem(name, (size_t)(ps->end - name), ":]", 2);

			if (close) {
				close++; /* the ']' */
				struct re_cls named = { 0 };
				bool negated = *name == '^';
				size_t i;

				name += negated;
				if ((ret = re_ascii_class(name, (size_t)(close - 1 - name),
							  &named)) < 0) {
					free(named.r);
					if (ret == -EINVAL)
						ret = re_fail(ps, "unknown class [:%.*s:]",
							      (int)(close - 1 - name), name);
					break;
				}
				re_cls_norm(&named);
				if (negated && (ret = re_cls_negate(&named)) < 0) {
					free(named.r);
					break;
				}
				for (i = 0; i < named.n && !ret; i++)
					ret = re_cls_add(&c, named.r[i].lo, named.r[i].hi);
				free(named.r);
				ps->p = close + 1;
				continue;
			}
		}
		if (ps->end - ps->p >= 2 && ps->p[0] == '\\' && strchr("dDsSwW", ps->p[1])) {
			struct re_cls perl = { 0 };
			size_t i;

			ret = re_perl_class(ps->p[1], &perl, &neg);
			re_cls_norm(&perl);
			if (!ret && neg)
				ret = re_cls_negate(&perl);
			for (i = 0; i < perl.n && !ret; i++)
				ret = re_cls_add(&c, perl.r[i].lo, perl.r[i].hi);
			free(perl.r);
			ps->p += 2;
			continue;
		}
		if ((ret = re_class_char(ps, &lo)) < 0)
			break;
		hi = lo;
		if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] != ']') {
			ps->p++;
			if ((ret = re_class_char(ps, &hi)) < 0)
				break;
			if (hi < lo) {
				ret = re_fail(ps, "invalid class range");
				break;
			}
		}
		ret = re_cls_add(&c, lo, hi);
	}
	if (!ret && ps->p >= ps->end)
		ret = re_fail(ps, "missing closing ]");
	if (ret) {
		free(c.r);
		return re_fail(ps, "out of memory");
	}
	ps->p++; /* ] */
	return re_cls_node(ps, &c, negate);
}

/* A repeat operator at ps->p: 1 with its bounds (ps->p moved past it), 0
 * when there is none (a '{' that is not one is a literal), -1 on error. */
static int re_quantifier(struct re_parser *ps, int *min, int *max)
{
	const char *q = ps->p;
	long a = 0, b;
	int digits = 0;

	if (q >= ps->end)
		return 0;
	switch (*q) {
	case '*': *min = 0; *max = -1; ps->p++; return 1;
	case '+': *min = 1; *max = -1; ps->p++; return 1;
	case '?': *min = 0; *max = 1; ps->p++; return 1;
	case '{': break;
	default: return 0;
	}
	for (q++; q < ps->end && *q >= '0' && *q <= '9'; q++, digits++)
		if ((a = a * 10 + (*q - '0')) > 100000)
			a = 100000;
	if (!digits || q >= ps->end)
		return 0;
	b = a;
	if (*q == ',') {
		b = -1;
		digits = 0;
		for (q++; q < ps->end && *q >= '0' && *q <= '9'; q++, digits++) {
			if (b < 0)
				b = 0;
			if ((b = b * 10 + (*q - '0')) > 100000)
				b = 100000;
		}
	}
	if (q >= ps->end || *q != '}')
		return 0;
	if (a > RE_MAX_REPEAT || b > RE_MAX_REPEAT || (b >= 0 && b < a))
		return re_fail(ps, "invalid repeat count");
	*min = (int)a;
	*max = (int)b;
	ps->p = q + 1;
	return 1;
}

static int re_parse_alt(struct re_parser *ps, int depth);

/* (...) in its forms; RE_NONE for a flag group like (?i). */
static int re_parse_group(struct re_parser *ps, int depth)
{
	unsigned saved = ps->flags, flags = ps->flags;
	int node;

	ps->p++; /* ( */
	if (depth > 1000)
		return re_fail(ps, "groups nested too deep");
	if (ps->p < ps->end && *ps->p == '?') {
		const char *q = ps->p + 1;

		if (q < ps->end && (*q == '<' || (*q == 'P' && q + 1 < ps->end && q[1] == '<'))) {
			const char *name = q + (*q == 'P' ? 2 : 1), *e = name;

			while (e < ps->end && (*e == '_' || (*e >= '0' && *e <= '9') ||
					       ((*e | 0x20) >= 'a' && (*e | 0x20) <= 'z')))
				e++;
			if (e == name || e >= ps->end || *e != '>')
				return re_fail(ps, "invalid named capture");
			ps->p = e + 1;
		} else {
			bool minus = false, after_minus = false;

			for (;; q++) {
				unsigned f = 0;

				if (q >= ps->end)
					return re_fail(ps, "missing closing )");
				switch (*q) {
				case 'i': f = RE_FOLD; break;
				case 'm': f = RE_MULTI; break;
				case 's': f = RE_DOTNL; break;
				case 'U': f = RE_UNGREEDY; break;
				case '-':
					if (minus)
						return re_fail(ps, "invalid group flags");
					minus = true;
					continue;
				case ':':
				case ')':
					/* (?) and (?:) are groups without flags; a '-'
					 * needs one after it. */
					if (minus && !after_minus)
						return re_fail(ps, "invalid group flags");
					goto flags_done;
				default:
					return re_fail(ps, "invalid or unsupported group (?%c", *q);
				}
				after_minus |= minus;
				flags = minus ? flags & ~f : flags | f;
			}
flags_done:
			ps->p = q + 1;
			if (*q == ')') {
				ps->flags = flags; /* until the end of the enclosing group */
				return RE_NONE;
			}
			ps->flags = flags;
		}
	}
	node = re_parse_alt(ps, depth + 1);
	if (node < 0)
		return -1;
	if (ps->p >= ps->end || *ps->p != ')')
		return re_fail(ps, "missing closing )");
	ps->p++;
	ps->flags = saved;
	ps->q_cat = -1; /* a repeat after the group repeats the group */
	return node;
}

static int re_parse_escape(struct re_parser *ps)
{
	struct re_cls c = { 0 };
	bool neg;
	uint32_t r = 0;
	int n, node = RE_NONE;

	ps->p++; /* \ */
	if (ps->p >= ps->end)
		return re_fail(ps, "trailing backslash");
	switch (*ps->p) {
	case 'A':
	case 'z':
	case 'b':
	case 'B':
		if ((n = re_node_new(ps, RE_ASSERT)) < 0)
			return -1;
		ps->nodes[n].kind = *ps->p == 'A' ? RE_A_BOT : *ps->p == 'z' ? RE_A_EOT :
				    *ps->p == 'b' ? RE_A_WORD : RE_A_NOTWORD;
		ps->p++;
		return n;
	case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
		if (re_perl_class(*ps->p, &c, &neg) < 0) {
			free(c.r);
			return re_fail(ps, "out of memory");
		}
		ps->p++;
		return re_cls_node(ps, &c, neg);
	case 'Q': {
		int prefix = RE_NONE;

		/* Literal text up to \E or the end: its characters are atoms
		 * of their own, as in Go (a repeat after \E takes the last). */
		ps->p++;
		while (ps->p < ps->end &&
		       !(ps->p[0] == '\\' && ps->p + 1 < ps->end && ps->p[1] == 'E')) {
			if (re_next_rune(ps, &r) < 0 || (n = re_literal(ps, r)) < 0)
				return -1;
			prefix = node;
			node = node == RE_NONE ? n : re_pair(ps, RE_CAT, node, n);
			if (node < 0)
				return -1;
			ps->q_last = n;
		}
		if (ps->p < ps->end)
			ps->p += 2;
		if (node == RE_NONE)
			return re_node_new(ps, RE_EMPTY);
		ps->q_cat = node;
		ps->q_prefix = prefix;
		return node;
	}
	default:
		if (re_escape_rune(ps, &r) < 0)
			return -1;
		return re_literal(ps, r);
	}
}

static int re_parse_atom(struct re_parser *ps, int depth)
{
	struct re_cls c = { 0 };
	int n, min, max;
	uint32_t r;

	switch (*ps->p) {
	case '(':
		return re_parse_group(ps, depth);
	case '[':
		return re_parse_class(ps);
	case '.':
		ps->p++;
		/* Without (?s), every character but a newline. */
		if (re_cls_add(&c, 10, 10) < 0) {
			free(c.r);
			return re_fail(ps, "out of memory");
		}
		if (ps->flags & RE_DOTNL)
			c.r[0] = (struct re_range){ 0, RE_RUNE_MAX };
		return re_cls_node(ps, &c, !(ps->flags & RE_DOTNL));
	case '^':
	case '$':
		if ((n = re_node_new(ps, RE_ASSERT)) < 0)
			return -1;
		ps->nodes[n].kind = *ps->p == '^' ? (ps->flags & RE_MULTI ? RE_A_BOL : RE_A_BOT) :
						    (ps->flags & RE_MULTI ? RE_A_EOL : RE_A_EOT);
		ps->p++;
		return n;
	case '\\':
		return re_parse_escape(ps);
	case '*':
	case '+':
	case '?':
		return re_fail(ps, "missing argument to repetition operator %c", *ps->p);
	case '{':
		if (re_quantifier(ps, &min, &max))
			return re_fail(ps, "missing argument to repetition operator");
		ps->p++;
		return re_literal(ps, '{');
	default:
		if (re_next_rune(ps, &r) < 0)
			return -1;
		return re_literal(ps, r);
	}
}

static int re_parse_repeat(struct re_parser *ps, int depth)
{
	int atom = re_parse_atom(ps, depth), min, max, q, n, repeated = 0;

	if (atom == -1)
		return -1;
	while ((q = re_quantifier(ps, &min, &max)) != 0) {
		if (q < 0)
			return -1;
		if (atom == RE_NONE)
			return re_fail(ps, "missing argument to repetition operator");
		if (repeated)
			return re_fail(ps, "invalid nested repetition operator");
		if ((n = re_node_new(ps, RE_REPEAT)) < 0)
			return -1;
		if (atom == ps->q_cat && ps->q_prefix != RE_NONE) {
			/* \Q...\E then a repeat: of its last character only */
			ps->nodes[n].a = ps->q_last;
			ps->q_cat = -1;
			if ((atom = re_pair(ps, RE_CAT, ps->q_prefix, n)) < 0)
				return -1;
			ps->nodes[n].min = min;
			ps->nodes[n].max = max;
			ps->nodes[n].greedy = !(ps->p < ps->end && *ps->p == '?');
			if (!ps->nodes[n].greedy)
				ps->p++;
			if (ps->flags & RE_UNGREEDY)
				ps->nodes[n].greedy = !ps->nodes[n].greedy;
			repeated = 1;
			continue;
		}
		ps->nodes[n].a = atom;
		ps->nodes[n].min = min;
		ps->nodes[n].max = max;
		ps->nodes[n].greedy = true;
		if (ps->p < ps->end && *ps->p == '?') {
			ps->nodes[n].greedy = false;
			ps->p++;
		}
		if (ps->flags & RE_UNGREEDY)
			ps->nodes[n].greedy = !ps->nodes[n].greedy;
		atom = n;
		repeated = 1;
	}
	return atom;
}

static int re_parse_concat(struct re_parser *ps, int depth)
{
	int node = RE_NONE, atom;

	while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
		if ((atom = re_parse_repeat(ps, depth)) == -1)
			return -1;
		if (atom == RE_NONE)
			continue;
		node = node == RE_NONE ? atom : re_pair(ps, RE_CAT, node, atom);
		if (node < 0)
			return -1;
	}
	return node == RE_NONE ? re_node_new(ps, RE_EMPTY) : node;
}

static int re_parse_alt(struct re_parser *ps, int depth)
{
	int left = re_parse_concat(ps, depth), right;

	while (left >= 0 && ps->p < ps->end && *ps->p == '|') {
		ps->p++;
		if ((right = re_parse_concat(ps, depth)) < 0)
			return -1;
		left = re_pair(ps, RE_ALT, left, right);
	}
	return left;
}

/* --- compiling ------------------------------------------------------------------- */

static int re_emit(struct re *re, uint8_t op, uint8_t kind, uint32_t x, uint32_t y)
{
	if (re->n >= RE_MAX_PROGRAM) {
		re->too_big = true;
		return -E2BIG;
	}
	if (re->n == re->cap) {
		size_t cap = re->cap ? re->cap * 2 : 64;
		struct re_inst *p = realloc(re->prog, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		re->prog = p;
		re->cap = cap;
	}
	re->prog[re->n] = (struct re_inst){ op, kind, x, y };
	return (int)re->n++;
}

/* Whether each node can match the empty text; children come before their
 * parents in the node array. */
static bool *re_nullable(const struct re_node *nodes, size_t n)
{
	bool *z = calloc(n ? n : 1, sizeof(*z));
	size_t i;

	for (i = 0; z && i < n; i++) {
		const struct re_node *nd = &nodes[i];

		switch (nd->op) {
		case RE_EMPTY:
		case RE_ASSERT: z[i] = true; break;
		case RE_CLASS: z[i] = false; break;
		case RE_CAT: z[i] = z[nd->a] && z[nd->b]; break;
		case RE_ALT: z[i] = z[nd->a] || z[nd->b]; break;
		case RE_REPEAT: z[i] = nd->min == 0 || z[nd->a]; break;
		}
	}
	return z;
}

struct re_gen {
	struct re *re;
	const struct re_node *nodes;
	const bool *nullable;
};

static int re_gen(struct re_gen *g, int i);

/* The split at `at` goes to its body (at + 1) or past what follows it. */
static void re_patch_split(struct re *re, int at, bool greedy)
{
	re->prog[at].x = greedy ? (uint32_t)at + 1 : (uint32_t)re->n;
	re->prog[at].y = greedy ? (uint32_t)re->n : (uint32_t)at + 1;
}

/* x+: x, then back to x or on. */
static int re_gen_plus(struct re_gen *g, int child, bool greedy)
{
	uint32_t start = (uint32_t)g->re->n;
	int ret, at;

	if ((ret = re_gen(g, child)) < 0 || (at = re_emit(g->re, RE_I_SPLIT, 0, 0, 0)) < 0)
		return ret < 0 ? ret : -E2BIG;
	g->re->prog[at].x = greedy ? start : (uint32_t)at + 1;
	g->re->prog[at].y = greedy ? (uint32_t)at + 1 : start;
	return 0;
}

/* x{n,m} as Go's regexp/syntax simplifies and compiles it, so that the
 * preferred match is Go's: x{n,} is n - 1 copies and x+, x{n,m} n copies
 * and nested (x(x)?)?, and x* of an x that can match empty is (x+)?
 * (golang.org/issue/46123). */
static int re_gen_repeat(struct re_gen *g, const struct re_node *nd)
{
	struct re *re = g->re;
	int ret = 0, at, k, depth, *splits;

	if (nd->max < 0 && nd->min == 0) {
		if ((at = re_emit(re, RE_I_SPLIT, 0, 0, 0)) < 0)
			return at;
		if (g->nullable[nd->a]) {
			if ((ret = re_gen_plus(g, nd->a, nd->greedy)) < 0)
				return ret;
		} else {
			/* L: split body, out; body; jmp L */
			if ((ret = re_gen(g, nd->a)) < 0 ||
			    (ret = re_emit(re, RE_I_JMP, 0, (uint32_t)at, 0)) < 0)
				return ret;
		}
		re_patch_split(re, at, nd->greedy);
		return 0;
	}
	if (nd->max < 0) {
		for (k = 0; k < nd->min - 1; k++)
			if ((ret = re_gen(g, nd->a)) < 0)
				return ret;
		return re_gen_plus(g, nd->a, nd->greedy);
	}
	for (k = 0; k < nd->min; k++)
		if ((ret = re_gen(g, nd->a)) < 0)
			return ret;
	depth = nd->max - nd->min;
	if (depth <= 0)
		return 0;
	if (!(splits = malloc((size_t)depth * sizeof(*splits))))
		return -ENOMEM;
	for (k = 0; k < depth && !ret; k++) {
		if ((splits[k] = re_emit(re, RE_I_SPLIT, 0, 0, 0)) < 0)
			ret = splits[k];
		else
			ret = re_gen(g, nd->a);
	}
	/* Nested: each optional copy ends where all of them end. */
	while (!ret && k-- > 0)
		re_patch_split(re, splits[k], nd->greedy);
	free(splits);
	return ret;
}

static int re_gen(struct re_gen *g, int i)
{
	const struct re_node *nd = &g->nodes[i];
	struct re *re = g->re;
	int ret, split, jmp = 0;

	if (++re->steps > RE_MAX_COMPILE_STEPS) {
		re->too_big = true;
		return -E2BIG;
	}
	switch (nd->op) {
	case RE_EMPTY:
		return 0;
	case RE_CLASS:
		return re_emit(re, RE_I_CLASS, 0, nd->cls, nd->ncls) < 0 ? -E2BIG : 0;
	case RE_ASSERT:
		return re_emit(re, RE_I_ASSERT, nd->kind, 0, 0) < 0 ? -E2BIG : 0;
	case RE_CAT:
		if ((ret = re_gen(g, nd->a)) < 0)
			return ret;
		return re_gen(g, nd->b);
	case RE_ALT:
		if ((split = re_emit(re, RE_I_SPLIT, 0, 0, 0)) < 0)
			return split;
		re->prog[split].x = (uint32_t)re->n;
		if ((ret = re_gen(g, nd->a)) < 0 || (jmp = re_emit(re, RE_I_JMP, 0, 0, 0)) < 0)
			return ret < 0 ? ret : -E2BIG;
		re->prog[split].y = (uint32_t)re->n;
		if ((ret = re_gen(g, nd->b)) < 0)
			return ret;
		re->prog[jmp].x = (uint32_t)re->n;
		return 0;
	case RE_REPEAT:
		return re_gen_repeat(g, nd);
	}
	return -EINVAL;
}

void re_free(struct re *re)
{
	if (!re)
		return;
	free(re->prog);
	free(re->ranges);
	free(re);
}

size_t re_program_size(const struct re *re)
{
	return re->n;
}

int re_compile(const char *pattern, struct re **out, char *err, size_t errlen)
{
	struct re_parser ps = { .start = pattern, .p = pattern, .err = err, .errlen = errlen,
				.q_cat = -1, .q_prefix = RE_NONE, .q_last = -1 };
	struct re *re;
	int root, ret;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	ps.end = pattern + strlen(pattern);
	if (ps.end - pattern > RE_MAX_PATTERN) {
		snprintf(err, errlen, "pattern longer than %d bytes", RE_MAX_PATTERN);
		return -EINVAL;
	}
	root = re_parse_alt(&ps, 0);
	if (root >= 0 && ps.p < ps.end)
		root = re_fail(&ps, "unexpected )");
	if (root < 0) {
		free(ps.nodes);
		free(ps.ranges);
		return -EINVAL;
	}
	if (!(re = calloc(1, sizeof(*re)))) {
		free(ps.nodes);
		free(ps.ranges);
		return -ENOMEM;
	}
	re->ranges = ps.ranges;
	re->nranges = ps.nranges;
	{
		bool *nullable = re_nullable(ps.nodes, ps.nnodes);
		struct re_gen g = { re, ps.nodes, nullable };

		ret = nullable ? re_gen(&g, root) : -ENOMEM;
		free(nullable);
	}
	if (!ret && re_emit(re, RE_I_MATCH, 0, 0, 0) < 0)
		ret = -E2BIG;
	free(ps.nodes);
	if (ret < 0) {
		if (re->too_big)
			snprintf(err, errlen,
				 "pattern too large: more than %d instructions once its "
				 "repeats are expanded",
				 RE_MAX_PROGRAM);
		else
			snprintf(err, errlen, "out of memory");
		ret = re->too_big ? -EINVAL : -ENOMEM;
		re_free(re);
		return ret;
	}
	*out = re;
	return 0;
}

/* --- matching -------------------------------------------------------------------- */

struct re_thread {
	uint32_t pc;
	size_t start;
};

/* A list of threads in priority order, with a sparse set of their pcs. */
struct re_list {
	struct re_thread *t;
	uint32_t *sparse, *dense;
	size_t n, nset;
};

static bool re_word(const unsigned char *s, size_t n, size_t i)
{
	unsigned char c;

	if (i >= n)
		return false;
	c = s[i];
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '_';
}

static bool re_assert_at(uint8_t kind, const unsigned char *s, size_t n, size_t pos)
{
	switch (kind) {
	case RE_A_BOT: return pos == 0;
	case RE_A_EOT: return pos == n;
	case RE_A_BOL: return pos == 0 || s[pos - 1] == '\n';
	case RE_A_EOL: return pos == n || s[pos] == '\n';
	case RE_A_WORD: return (pos > 0 && re_word(s, n, pos - 1)) != re_word(s, n, pos);
	case RE_A_NOTWORD: return (pos > 0 && re_word(s, n, pos - 1)) == re_word(s, n, pos);
	}
	return false;
}

static bool re_in_set(const struct re_list *l, uint32_t pc)
{
	uint32_t i = l->sparse[pc];

	return i < l->nset && l->dense[i] == pc;
}

static bool re_class_has(const struct re *re, const struct re_inst *in, uint32_t r)
{
	const struct re_range *rg = re->ranges + in->x;
	size_t lo = 0, hi = in->y;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r < rg[mid].lo)
			hi = mid;
		else if (r > rg[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Adds the thread at pc (and what its empty transitions reach, in
 * priority order) to l, as seen at text position pos. */
static int re_add(const struct re *re, struct re_list *l, uint32_t *stack, uint32_t pc,
		  size_t start, const unsigned char *s, size_t n, size_t pos, uint64_t *budget)
{
	size_t sp = 0;
	uint8_t op = re->prog[pc].op;

	/* Most additions are one character or match instruction: no stack. */
	if (op == RE_I_CLASS || op == RE_I_MATCH) {
		if (re_in_set(l, pc))
			return 0;
		if (!*budget)
			return -E2BIG;
		(*budget)--;
		l->sparse[pc] = (uint32_t)l->nset;
		l->dense[l->nset++] = pc;
		l->t[l->n++] = (struct re_thread){ pc, start };
		return 0;
	}
	stack[sp++] = pc;
	while (sp) {
		const struct re_inst *in;

		pc = stack[--sp];
		if (re_in_set(l, pc))
			continue;
		if (!*budget)
			return -E2BIG;
		(*budget)--;
		l->sparse[pc] = (uint32_t)l->nset;
		l->dense[l->nset++] = pc;
		in = &re->prog[pc];
		switch (in->op) {
		case RE_I_JMP:
			stack[sp++] = in->x;
			break;
		case RE_I_SPLIT:
			stack[sp++] = in->y;
			stack[sp++] = in->x;
			break;
		case RE_I_ASSERT:
			if (re_assert_at(in->kind, s, n, pos))
				stack[sp++] = pc + 1;
			break;
		default:
			l->t[l->n++] = (struct re_thread){ pc, start };
		}
	}
	return 0;
}

struct re_scratch {
	const struct re *re;
	struct re_thread *t[2];
	uint32_t *mem;
};

void re_scratch_free(struct re_scratch *sc)
{
	if (!sc)
		return;
	free(sc->t[0]);
	free(sc->t[1]);
	free(sc->mem);
	free(sc);
}

int re_scratch_new(const struct re *re, struct re_scratch **out)
{
	struct re_scratch *sc = calloc(1, sizeof(*sc));
	size_t m = re->n;

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	sc->re = re;
	/* per list: sparse and dense sets of m; one stack of 2m + 2. The
	 * sets need no clearing between searches: a pc is in one only when
	 * its dense slot below nset names it back. */
	sc->mem = calloc(6 * m + 2, sizeof(*sc->mem));
	sc->t[0] = calloc(m, sizeof(*sc->t[0]));
	sc->t[1] = calloc(m, sizeof(*sc->t[1]));
	if (!sc->mem || !sc->t[0] || !sc->t[1]) {
		re_scratch_free(sc);
		return -ENOMEM;
	}
	*out = sc;
	return 0;
}

int re_search(const struct re *re, const void *text, size_t n, size_t from, size_t *ms,
	      size_t *me, uint64_t *budget)
{
	struct re_scratch *sc;
	int ret;

	if (from > n)
		return 0;
	if ((ret = re_scratch_new(re, &sc)) < 0)
		return ret;
	ret = re_search_in(re, sc, text, n, from, ms, me, budget);
	re_scratch_free(sc);
	return ret;
}

int re_search_in(const struct re *re, struct re_scratch *sc, const void *text, size_t n,
		 size_t from, size_t *ms, size_t *me, uint64_t *budget)
{
	const unsigned char *s = text;
	struct re_list lists[2], *cl = &lists[0], *nl = &lists[1], *tmp;
	size_t m = re->n, pos, i, w;
	uint32_t *stack, r;
	bool matched = false;
	int ret = 0;

	if (from > n)
		return 0;
	if (sc->re != re)
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		lists[i].t = sc->t[i];
		lists[i].sparse = sc->mem + i * 2 * m;
		lists[i].dense = sc->mem + i * 2 * m + m;
		lists[i].n = lists[i].nset = 0;
	}
	stack = sc->mem + 4 * m;
	for (pos = from;; pos += w) {
		if (!matched && (ret = re_add(re, cl, stack, 0, pos, s, n, pos, budget)) < 0)
			goto out;
		if (!cl->n && matched)
			break;
		r = 0;
		w = 0;
		if (pos < n) {
			w = escape_utf8_decode(s + pos, n - pos, &r);
			if (!w) {
				r = 0xfffd;
				w = 1;
			}
		}
		nl->n = nl->nset = 0;
		for (i = 0; i < cl->n; i++) {
			const struct re_thread *t = &cl->t[i];
			const struct re_inst *in = &re->prog[t->pc];

			if (in->op == RE_I_MATCH) {
				/* Lower-priority threads lose to this match. */
				matched = true;
				*ms = t->start;
				*me = pos;
				break;
			}
			if (w && re_class_has(re, in, r) &&
			    (ret = re_add(re, nl, stack, t->pc + 1, t->start, s, n, pos + w,
					  budget)) < 0)
				goto out;
		}
		/* cl keeps its set: the next start thread joins it at the
		 * same position and must not repeat a pc it holds. */
		tmp = cl;
		cl = nl;
		nl = tmp;
		if (pos >= n)
			break;
	}
	ret = matched;
out:
	return ret;
}
