// SPDX-License-Identifier: Apache-2.0
/* sa-lines: prints one field of the entries of shellaudit-agent's JSON-lines
 * output, decoded back to the original bytes, one entry per line. For the
 * BPF tests, which compare what was typed with what was captured.
 *
 *   sa-lines [--kind KIND] [--container NAME] [--source SRC] [--field KEYS]
 *            [--eof] FILE
 *
 * KEY defaults to "line". Strings of an entry marked "escaped":true are
 * unescaped (escape_unescape), other entries' are printed as they are (the
 * agent escapes only what cannot be shown as typed); the names the agent was
 * given (container, reason) are always escaped; comm is when the entry says
 * "comm_escaped":true. Numbers and booleans are printed as JSON has them,
 * arrays of strings joined by single spaces.
 * Entries without the field are skipped, and so are end-of-input line
 * entries ("eof":true) unless --eof is given. --source keeps the line
 * entries of that source (readline or terminal). KEYS may be several,
 * comma-separated: their values are printed tab-separated, a missing one
 * empty, and an entry is skipped only when it has none of them. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static void put_string(const char *s, int escaped)
{
	size_t cap = strlen(s) + 1;
	char *raw = malloc(cap);
	long n;

	if (!raw)
		exit(2);
	if (!escaped) {
		fputs(s, stdout);
		free(raw);
		return;
	}
	n = escape_unescape(raw, cap, s);
	if (n < 0) {
		fprintf(stderr, "sa-lines: malformed escape in \"%s\"\n", s);
		exit(2);
	}
	fwrite(raw, 1, (size_t)n, stdout);
	free(raw);
}

static void put_value(const cJSON *v, int escaped)
{
	const cJSON *e;
	int first = 1;

	if (cJSON_IsString(v)) {
		put_string(v->valuestring, escaped);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
	} else if (cJSON_IsNumber(v)) {
		printf("%.0f", v->valuedouble);
	} else if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(e, v) {
			if (!first)
				putchar(' ');
			first = 0;
			if (cJSON_IsString(e))
				put_string(e->valuestring, escaped);
		}
	}
}

/* Prints the comma-separated fields of o, tab-separated; false when o has
 * none of them. */
static int put_fields(const cJSON *o, const char *fields)
{
	char buf[256], *save = NULL, *key;
	int any = 0, first = 1;

	snprintf(buf, sizeof(buf), "%s", fields);
	for (key = strtok_r(buf, ",", &save); key; key = strtok_r(NULL, ",", &save))
		any |= cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
	if (!any)
		return 0;
	snprintf(buf, sizeof(buf), "%s", fields);
	for (key = strtok_r(buf, ",", &save); key; key = strtok_r(NULL, ",", &save)) {
		if (!first)
			putchar('\t');
		first = 0;
		put_value(cJSON_GetObjectItemCaseSensitive(o, key),
			  !strcmp(key, "container") || !strcmp(key, "reason") ||
				  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
					  o, strcmp(key, "comm") ? "escaped" : "comm_escaped")));
	}
	putchar('\n');
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "container", required_argument, NULL, 'c' },
		{ "field", required_argument, NULL, 'f' },
		{ "eof", no_argument, NULL, 'e' },
		{ "source", required_argument, NULL, 's' },
		{ 0 },
	};
	const char *kind = NULL, *container = NULL, *field = "line", *source = NULL;
	size_t cap = 1 << 20, len;
	int eof = 0, c, lineno = 0;
	char *buf;
	FILE *f;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kind = optarg; break;
		case 'c': container = optarg; break;
		case 'f': field = optarg; break;
		case 'e': eof = 1; break;
		case 's': source = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr,
			"usage: sa-lines [--kind K] [--container C] [--source S] [--field F] "
			"[--eof] FILE\n");
		return 2;
	}
	f = fopen(argv[optind], "r");
	buf = malloc(cap);
	if (!f || !buf) {
		perror("sa-lines");
		if (f)
			fclose(f);
		free(buf);
		return 2;
	}
	for (;;) {
		cJSON *o, *v;
		int ch;

		len = 0;
		while ((ch = getc(f)) != EOF && ch != '\n') {
			if (len + 1 == cap) {
				char *bigger = realloc(buf, cap * 2);

				if (!bigger) {
					fclose(f);
					free(buf);
					return 2;
				}
				buf = bigger;
				cap *= 2;
			}
			buf[len++] = (char)ch;
		}
		if (ch == EOF && len == 0)
			break;
		buf[len] = '\0';
		lineno++;
		o = cJSON_Parse(buf);
		if (!o) {
			fprintf(stderr, "sa-lines: line %d is not JSON\n", lineno);
			fclose(f);
			free(buf);
			return 1;
		}
		v = cJSON_GetObjectItemCaseSensitive(o, "kind");
		if (kind && (!cJSON_IsString(v) || strcmp(v->valuestring, kind) != 0))
			goto next;
		v = cJSON_GetObjectItemCaseSensitive(o, "container");
		if (container && (!cJSON_IsString(v) || strcmp(v->valuestring, container) != 0))
			goto next;
		if (!eof && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "eof")))
			goto next;
		v = cJSON_GetObjectItemCaseSensitive(o, "source");
		if (source && (!cJSON_IsString(v) || strcmp(v->valuestring, source) != 0))
			goto next;
		put_fields(o, field);
next:
		cJSON_Delete(o);
	}
	fclose(f);
	free(buf);
	return 0;
}
