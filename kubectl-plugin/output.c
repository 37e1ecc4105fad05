// SPDX-License-Identifier: Apache-2.0
/* Terminal-safe text, tables and JSON/YAML documents; see output.h. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"

int out_parse_format(const char *s, enum out_format *out)
{
	if (!strcmp(s, "json"))
		*out = OUT_JSON;
	else if (!strcmp(s, "yaml"))
		*out = OUT_YAML;
	else
		return -EINVAL;
	return 0;
}

char *out_text_dup(const char *s)
{
	size_t n = strlen(s), need = escape_terminal(NULL, 0, s, n);
	char *buf = malloc(need + 1);

	if (buf)
		escape_terminal(buf, need + 1, s, n);
	return buf;
}

void out_text(FILE *f, const char *s)
{
	char *t = out_text_dup(s);

	fputs(t ? t : "?", f);
	free(t);
}

void out_text_lines(FILE *f, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "\n");
		char *line = strndup(s, n);

		out_text(f, line ? line : "?");
		free(line);
		fputc('\n', f);
		s += n + (s[n] == '\n');
	}
}

void out_color(FILE *f, bool on, const char *sgr)
{
	if (on)
		fputs(sgr, f);
}

/* A string's characters in JSON's (and YAML's double-quoted) escapes. */
static void out_quoted(FILE *f, const char *s, bool yaml)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, len;
	uint32_t cp, prev = 0;
	bool unsafe;

	fputc('"', f);
	while (i < n) {
		len = escape_utf8_decode(p + i, n - i, &cp);
		if (len == 0) {
			fputs("\\ufffd", f);
			i++;
			prev = 0;
			continue;
		}
		unsafe = escape_cp_unsafe_after(prev, cp);
		prev = cp;
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (unsafe && cp > 0xffff && yaml)
			fprintf(f, "\\U%08x", (unsigned)cp);
		else if (unsafe && cp > 0xffff)
			fprintf(f, "\\u%04x\\u%04x", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
				(unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
		else if (unsafe)
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p + i, 1, len, f);
		i += len;
	}
	fputc('"', f);
}

static void out_number(FILE *f, double d)
{
	if (!isfinite(d))
		fputs("null", f);
	else if (d == floor(d) && fabs(d) < 9007199254740992.0)
		fprintf(f, "%lld", (long long)d);
	else
		fprintf(f, "%.17g", d);
}

static void out_indent(FILE *f, int n)
{
	while (n-- > 0)
		fputc(' ', f);
}

static void out_json_value(FILE *f, const cJSON *v, bool compact, int depth)
{
	const cJSON *c;
	bool obj = cJSON_IsObject(v), first = true;

	if (cJSON_IsString(v)) {
		out_quoted(f, v->valuestring ? v->valuestring : "", false);
	} else if (cJSON_IsNumber(v)) {
		out_number(f, v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	} else if (obj || cJSON_IsArray(v)) {
		fputc(obj ? '{' : '[', f);
		for (c = v->child; c; c = c->next) {
			fputs(first ? "" : ",", f);
			first = false;
			if (!compact) {
				fputc('\n', f);
				out_indent(f, 2 * (depth + 1));
			}
			if (obj) {
				out_quoted(f, c->string ? c->string : "", false);
				fputs(compact ? ":" : ": ", f);
			}
			out_json_value(f, c, compact, depth + 1);
		}
		if (!compact && !first) {
			fputc('\n', f);
			out_indent(f, 2 * depth);
		}
		fputc(obj ? '}' : ']', f);
	} else {
		fputs("null", f);
	}
}

void out_json(FILE *f, const cJSON *v, bool compact)
{
	out_json_value(f, v, compact, 0);
	fputc('\n', f);
}

/* Plain YAML scalars only for strings no parser reads as another type or
 * as YAML syntax: letters, digits and a few punctuation marks, starting
 * with a letter, '_' or '/', and no boolean or null word. */
static bool out_yaml_plain(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no",   "on",
					     "off",  "y",     "n",   "null", NULL };
	size_t i, n = strlen(s);

	if (n == 0 || n > 256 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_' ||
	      s[0] == '/'))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_./-+@", c)))
			return false;
	}
	for (i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return false;
	return true;
}

static void out_yaml_scalar(FILE *f, const cJSON *v)
{
	if (cJSON_IsString(v) && v->valuestring && out_yaml_plain(v->valuestring))
		fputs(v->valuestring, f);
	else if (cJSON_IsString(v))
		out_quoted(f, v->valuestring ? v->valuestring : "", true);
	else if (cJSON_IsNumber(v))
		out_number(f, v->valuedouble);
	else if (cJSON_IsBool(v))
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	else if (cJSON_IsObject(v))
		fputs("{}", f);
	else if (cJSON_IsArray(v))
		fputs("[]", f);
	else
		fputs("null", f);
}

static bool out_yaml_nested(const cJSON *v)
{
	return (cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child;
}

/* Writes the members of an object or the items of an array at indent;
 * the first line's indent is already written when inline_first is set
 * (after "- "). */
static void out_yaml_block(FILE *f, const cJSON *v, int indent, bool inline_first)
{
	const cJSON *c;
	bool first = true;

	for (c = v->child; c; c = c->next) {
		if (!(first && inline_first))
			out_indent(f, indent);
		first = false;
		if (cJSON_IsObject(v)) {
			cJSON key = { .type = cJSON_String,
				      .valuestring = c->string ? c->string : "" };

			out_yaml_scalar(f, &key);
			fputc(':', f);
			if (!out_yaml_nested(c)) {
				fputc(' ', f);
				out_yaml_scalar(f, c);
				fputc('\n', f);
			} else {
				fputc('\n', f);
				/* kubectl's style: a list under a key is not indented. */
				out_yaml_block(f, c, cJSON_IsArray(c) ? indent : indent + 2, false);
			}
		} else {
			fputs("- ", f);
			if (out_yaml_nested(c) && cJSON_IsObject(c)) {
				out_yaml_block(f, c, indent + 2, true);
			} else if (out_yaml_nested(c)) {
				fputc('\n', f);
				out_yaml_block(f, c, indent + 2, false);
			} else {
				out_yaml_scalar(f, c);
				fputc('\n', f);
			}
		}
	}
}

void out_yaml(FILE *f, const cJSON *v, bool start)
{
	if (start)
		fputs("---\n", f);
	if (out_yaml_nested(v)) {
		out_yaml_block(f, v, 0, false);
	} else {
		out_yaml_scalar(f, v);
		fputc('\n', f);
	}
}

struct out_table {
	int ncols;
	size_t nrows, cap;
	char **cells; /* nrows * ncols, row 0 the headers */
};

int out_table_new(int ncols, const char *const *headers, struct out_table **out)
{
	struct out_table *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->ncols = ncols;
	if (out_table_row(t, headers) < 0) {
		out_table_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

int out_table_row(struct out_table *t, const char *const *cells)
{
	size_t base = t->nrows * (size_t)t->ncols;
	int i;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		if (!(t->cells[base + (size_t)i] = out_text_dup(cells[i] ? cells[i] : ""))) {
			while (i-- > 0)
				free(t->cells[base + (size_t)i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Columns on a terminal: UTF-8 continuation bytes take none. */
static size_t out_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void out_table_print(FILE *f, const struct out_table *t)
{
	size_t *w = calloc((size_t)t->ncols, sizeof(*w)), r;
	int c;

	if (!w)
		return;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t cw = out_width(t->cells[r * (size_t)t->ncols + (size_t)c]);

			w[c] = cw > w[c] ? cw : w[c];
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * (size_t)t->ncols + (size_t)c];

			fputs(cell, f);
			if (c + 1 < t->ncols)
				out_indent(f, (int)(w[c] - out_width(cell) + 3));
		}
		fputc('\n', f);
	}
	free(w);
}

void out_table_free(struct out_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
