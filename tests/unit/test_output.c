// SPDX-License-Identifier: Apache-2.0
/* kubectl-plugin/output.c: JSON and YAML documents that mean what the
 * record holds (YAML read back with lib/yamljson.c, JSON with cJSON) while
 * no character a terminal acts on is written raw, hostile strings included;
 * terminal-safe text and aligned tables. */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "output.h"
#include "unit.h"
#include "yamljson.h"

/* What f wrote, as a string the caller frees. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
}

static char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

/* True when s holds a character escape_text would escape, or invalid UTF-8. */
static int has_unsafe(const char *s)
{
	size_t n = strlen(s), i = 0, len;
	uint32_t cp, prev = 0;

	while (i < n) {
		if (!(len = escape_utf8_decode(s + i, n - i, &cp)))
			return 1;
		if (escape_cp_unsafe_after(prev, cp) && cp != '\n')
			return 1;
		prev = cp;
		i += len;
	}
	return 0;
}

static const char *const hostile[] = {
	"plain",
	"",
	"true",
	"null",
	"123",
	"-i",
	"a: b",
	"# not a comment",
	"'quoted' \"double\"",
	"back\\slash \\e[31m",
	"tab\tnewline\nend",
	"esc\x1b]0;title\x07 \x1b[2J",
	// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): split escapes, here and below
	"bidi \xe2\x80\xae"
	"gnp.exe and \xe2\x81\xa6isolate",
	"c1 \xc2\x9b"
	"2J del \x7f",
	"caf\xc3\xa9 \xf0\x9f\x98\x80",
	"smuggled h\xf3\xa0\x85\x98i \xe2\x9d\xa4\xef\xb8\x8f\xef\xb8\x8e \xef\xb8\x80",
	"  leading and trailing  ",
	"ends with colon:",
	NULL,
};

static cJSON *hostile_doc(void)
{
	cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "entries");
	int i;

	for (i = 0; hostile[i]; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "text", hostile[i]);
		cJSON_AddItemToObject(e, hostile[i][0] ? hostile[i] : "empty",
				      cJSON_CreateString("k"));
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddItemToObject(doc, "empty list", cJSON_CreateArray());
	cJSON_AddItemToObject(doc, "empty map", cJSON_CreateObject());
	cJSON_AddItemToObject(doc, "nested", cJSON_CreateStringArray(hostile, 3));
	return doc;
}

static void test_out_json_round_trips_hostile_strings_without_raw_controls(void)
{
	cJSON *doc = hostile_doc(), *back;
	struct capture c;
	char *text;
	int compact;

	for (compact = 0; compact < 2; compact++) {
		cap_open(&c);
		out_json(c.f, doc, compact);
		text = cap_close(&c);
		UNIT_CHECK(!has_unsafe(text));
		UNIT_CHECK(!compact || strchr(text, '\n') == text + strlen(text) - 1);
		back = cJSON_Parse(text);
		UNIT_CHECK(back != NULL);
		UNIT_CHECK(cJSON_Compare(doc, back, 1));
		cJSON_Delete(back);
		free(text);
	}
	cJSON_Delete(doc);
}

static void test_out_json_invalid_utf8_becomes_replacement_character(void)
{
	cJSON *s = cJSON_CreateString("a\xff"
				      "b\xc0\xaf");
	struct capture c;
	char *text;

	cap_open(&c);
	out_json(c.f, s, true);
	text = cap_close(&c);
	UNIT_CHECK_STR(text, "\"a\\ufffdb\\ufffd\\ufffd\"\n");
	free(text);
	cJSON_Delete(s);
}

static void test_out_yaml_round_trips_through_a_yaml_parser(void)
{
	cJSON *doc = hostile_doc(), *back = NULL;
	struct capture c;
	char *text, err[256];

	cap_open(&c);
	out_yaml(c.f, doc, true);
	text = cap_close(&c);
	UNIT_CHECK(!has_unsafe(text));
	UNIT_CHECK(strncmp(text, "---\n", 4) == 0);
	UNIT_CHECK(yamljson_parse(text, strlen(text), &back, err, sizeof(err)) == 0);
	UNIT_CHECK(cJSON_Compare(doc, back, 1));
	if (!cJSON_Compare(doc, back, 1))
		fprintf(stderr, "%s\n", text);
	cJSON_Delete(back);
	cJSON_Delete(doc);
	free(text);
}

static void test_out_yaml_plain_only_when_unambiguous(void)
{
	cJSON *doc = cJSON_CreateObject();
	struct capture c;
	char *text;

	cJSON_AddStringToObject(doc, "kind", "Transcript");
	cJSON_AddStringToObject(doc, "flag", "true");
	cJSON_AddStringToObject(doc, "num", "42");
	cJSON_AddNumberToObject(doc, "count", 42);
	cJSON_AddBoolToObject(doc, "b", 1);
	cJSON_AddNullToObject(doc, "u");
	cap_open(&c);
	out_yaml(c.f, doc, false);
	text = cap_close(&c);
	UNIT_CHECK_STR(
		text,
		"kind: Transcript\nflag: \"true\"\nnum: \"42\"\ncount: 42\nb: true\nu: null\n");
	free(text);
	cJSON_Delete(doc);
}

static void test_out_text_shows_stored_text_never_raw_controls(void)
{
	struct capture c;
	char *text;

	cap_open(&c);
	out_text(c.f, "ls \\e[1m \x1b[2J \xe2\x80\xae");
	text = cap_close(&c);
	UNIT_CHECK_STR(text, "ls \\e[1m \\e[2J \\u{202e}");
	free(text);
}

static void test_out_text_lines_keeps_newlines_escapes_the_rest(void)
{
	struct capture c;
	char *text;

	cap_open(&c);
	out_text_lines(c.f, "containerd://x\x1b[2J:\nmissing: 1..1\r\nlast");
	text = cap_close(&c);
	UNIT_CHECK_STR(text, "containerd://x\\e[2J:\nmissing: 1..1\\r\nlast\n");
	free(text);
}

static void test_out_table_aligns_columns_and_escapes_cells(void)
{
	static const char *const head[] = { "A", "BB", "C" };
	static const char *const row1[] = { "long-cell", "x", "y" };
	static const char *const row2[] = { "\x1b[31m", "caf\xc3\xa9", "" };
	struct out_table *t;
	struct capture c;
	char *text;

	UNIT_CHECK(out_table_new(3, head, &t) == 0);
	UNIT_CHECK(out_table_row(t, row1) == 0);
	UNIT_CHECK(out_table_row(t, row2) == 0);
	cap_open(&c);
	out_table_print(c.f, t);
	text = cap_close(&c);
	UNIT_CHECK_STR(text, "A           BB     C\n"
			     "long-cell   x      y\n"
			     "\\e[31m      caf\xc3\xa9   \n");
	free(text);
	out_table_free(t);
	out_table_free(NULL);
}

static void test_out_parse_format(void)
{
	enum out_format f;

	UNIT_CHECK(out_parse_format("json", &f) == 0 && f == OUT_JSON);
	UNIT_CHECK(out_parse_format("yaml", &f) == 0 && f == OUT_YAML);
	UNIT_CHECK(out_parse_format("wide", &f) < 0);
}

UNIT_MAIN(UNIT_TEST(test_out_json_round_trips_hostile_strings_without_raw_controls),
	  UNIT_TEST(test_out_json_invalid_utf8_becomes_replacement_character),
	  UNIT_TEST(test_out_yaml_round_trips_through_a_yaml_parser),
	  UNIT_TEST(test_out_yaml_plain_only_when_unambiguous),
	  UNIT_TEST(test_out_text_shows_stored_text_never_raw_controls),
	  UNIT_TEST(test_out_text_lines_keeps_newlines_escapes_the_rest),
	  UNIT_TEST(test_out_table_aligns_columns_and_escapes_cells),
	  UNIT_TEST(test_out_parse_format))
