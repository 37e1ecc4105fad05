// SPDX-License-Identifier: Apache-2.0
/* escape_terminal: stored text shown as stored (a backslash stays one),
 * while control characters, bidi overrides and invalid UTF-8 that reached a
 * record anyway never reach the terminal raw. Also the character helpers
 * the plugin's JSON and YAML output use. */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "unit.h"

static const char *term(const char *s, size_t n)
{
	static char buf[256];

	escape_terminal(buf, sizeof(buf), s, n);
	return buf;
}

static void test_escape_terminal_keeps_stored_escapes_as_they_are(void)
{
	/* An entry the agent escaped, and a line typed with backslashes. */
	UNIT_CHECK_STR(term("printf \\e[31m", 13), "printf \\e[31m");
	UNIT_CHECK_STR(term("sed 's/\\t/ /g' a.tsv", 20), "sed 's/\\t/ /g' a.tsv");
}

static void test_escape_terminal_never_passes_controls(void)
{
	UNIT_CHECK_STR(term("a\x1b]0;pwned\x07z", 12), "a\\e]0;pwned\\x07z");
	UNIT_CHECK_STR(term("x\r\ny\x7f", 5), "x\\r\\ny\\x7f");
	UNIT_CHECK_STR(term("a\0b", 3), "a\\x00b");
}

static void test_escape_terminal_escapes_bidi_c1_and_invalid_utf8(void)
{
	UNIT_CHECK_STR(term("rm \u202efdp.exe", 13), "rm \\u{202e}fdp.exe");
	UNIT_CHECK_STR(term("\xc2\x9b[2J", 5), "\\u{009b}[2J");
	UNIT_CHECK_STR(term("\xff\xfe", 2), "\\xff\\xfe");
	UNIT_CHECK_STR(term("caf\xc3\xa9", 5), "caf\xc3\xa9");
}

static void test_escape_terminal_result_has_no_unsafe_character(void)
{
	unsigned char in[2048];
	char *out;
	size_t need, i, len;
	uint32_t cp;

	srand(11);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i < 256 ? (int)i : rand());
	need = escape_terminal(NULL, 0, in, sizeof(in));
	out = malloc(need + 1);
	UNIT_CHECK(out != NULL);
	if (!out)
		return;
	UNIT_CHECK(escape_terminal(out, need + 1, in, sizeof(in)) == need);
	for (i = 0; i < need; i += len) {
		len = escape_utf8_decode(out + i, need - i, &cp);
		UNIT_CHECK(len > 0);
		if (!len)
			break;
		UNIT_CHECK(!escape_cp_unsafe(cp));
	}
	free(out);
}

static void test_escape_terminal_truncation_never_splits(void)
{
	char buf[4];

	UNIT_CHECK(escape_terminal(buf, sizeof(buf), "ab\x1b", 3) == 4);
	UNIT_CHECK_STR(buf, "ab");
}

static void test_escape_cp_unsafe_classes(void)
{
	UNIT_CHECK(escape_cp_unsafe(0x1b) && escape_cp_unsafe(0x7f) && escape_cp_unsafe(0x9b));
	UNIT_CHECK(escape_cp_unsafe(0x202e) && escape_cp_unsafe(0x2066));
	UNIT_CHECK(!escape_cp_unsafe('a') && !escape_cp_unsafe(0xe9) && !escape_cp_unsafe(0x1f600));
}

static void test_escape_utf8_decode_rejects_invalid(void)
{
	uint32_t cp;

	UNIT_CHECK(escape_utf8_decode("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20ac);
	UNIT_CHECK(escape_utf8_decode("\xe2\x82", 2, &cp) == 0);
	UNIT_CHECK(escape_utf8_decode("\xc0\xaf", 2, &cp) == 0);
}

UNIT_MAIN(UNIT_TEST(test_escape_terminal_keeps_stored_escapes_as_they_are),
	  UNIT_TEST(test_escape_terminal_never_passes_controls),
	  UNIT_TEST(test_escape_terminal_escapes_bidi_c1_and_invalid_utf8),
	  UNIT_TEST(test_escape_terminal_result_has_no_unsafe_character),
	  UNIT_TEST(test_escape_terminal_truncation_never_splits),
	  UNIT_TEST(test_escape_cp_unsafe_classes),
	  UNIT_TEST(test_escape_utf8_decode_rejects_invalid))
