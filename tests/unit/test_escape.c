// SPDX-License-Identifier: Apache-2.0
/* escape: what must be escaped (control characters, invalid UTF-8, code
 * points that hide or break text) and what is shown as typed; the escape
 * itself, reversible; cuts that never split a character or an escape. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "unit.h"

static const char *esc(const char *s, size_t n)
{
	static char buf[256];

	escape_text(buf, sizeof(buf), s, n);
	return buf;
}

static void test_escape_plain_ascii_unchanged(void)
{
	UNIT_CHECK_STR(esc("ls -la /etc", 11), "ls -la /etc");
}

static void test_escape_backslash_doubled(void)
{
	UNIT_CHECK_STR(esc("a\\x41", 5), "a\\\\x41");
}

static void test_escape_controls(void)
{
	UNIT_CHECK_STR(esc("a\nb\tc\rd\x1b[31m\x01\x7f", 14), "a\\nb\\tc\\rd\\e[31m\\x01\\x7f");
}

static void test_escape_nul_byte(void)
{
	UNIT_CHECK_STR(esc("a\0b", 3), "a\\x00b");
}

static void test_escape_valid_utf8_kept(void)
{
	UNIT_CHECK_STR(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
		       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_escape_invalid_utf8_bytes(void)
{
	/* lone continuation, truncated sequence, overlong '/', surrogate */
	UNIT_CHECK_STR(esc("\x80", 1), "\\x80");
	UNIT_CHECK_STR(esc("\xe2\x82", 2), "\\xe2\\x82");
	UNIT_CHECK_STR(esc("\xc0\xaf", 2), "\\xc0\\xaf");
	UNIT_CHECK_STR(esc("\xed\xa0\x80", 3), "\\xed\\xa0\\x80");
	UNIT_CHECK_STR(esc("\xff", 1), "\\xff");
}

static void test_escape_bidi_override(void)
{
	UNIT_CHECK_STR(esc("a\xe2\x80\xae" "b", 5), "a\\u{202e}b");
	UNIT_CHECK_STR(esc("\xc2\x9b", 2), "\\u{009b}");
}

static void test_escape_truncation_never_splits(void)
{
	char buf[6];
	size_t need;

	need = escape_text(buf, sizeof(buf), "abcd\n", 5);
	UNIT_CHECK(need == 6);
	UNIT_CHECK_STR(buf, "abcd");
	need = escape_text(buf, sizeof(buf), "ab\xf0\x9f\x98\x80", 6);
	UNIT_CHECK(need == 6);
	UNIT_CHECK_STR(buf, "ab");
	need = escape_text(buf, 1, "abc", 3);
	UNIT_CHECK(need == 3);
	UNIT_CHECK_STR(buf, "");
}

static void test_escape_zero_capacity_counts(void)
{
	UNIT_CHECK(escape_text(NULL, 0, "\x01\x02", 2) == 8);
}

static void test_escape_roundtrip_all_bytes(void)
{
	unsigned char in[4096], back[4096];
	char *out;
	size_t need, i;
	long n;

	srand(7);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i < 256 ? (int)i : rand());
	need = escape_text(NULL, 0, in, sizeof(in));
	out = malloc(need + 1);
	UNIT_CHECK(out != NULL);
	if (!out)
		return;
	UNIT_CHECK(escape_text(out, need + 1, in, sizeof(in)) == need);
	UNIT_CHECK(strlen(out) == need);
	for (i = 0; i < need; i++)
		UNIT_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
	n = escape_unescape(back, sizeof(back), out);
	UNIT_CHECK(n == (long)sizeof(in));
	UNIT_CHECK(memcmp(in, back, sizeof(in)) == 0);
	free(out);
}

static void test_unescape_rejects_malformed(void)
{
	char buf[16];

	UNIT_CHECK(escape_unescape(buf, sizeof(buf), "a\\") == -EINVAL);
	UNIT_CHECK(escape_unescape(buf, sizeof(buf), "\\x4") == -EINVAL);
	UNIT_CHECK(escape_unescape(buf, sizeof(buf), "\\q") == -EINVAL);
	UNIT_CHECK(escape_unescape(buf, sizeof(buf), "\\u{110000}") == -EINVAL);
	UNIT_CHECK(escape_unescape(buf, 2, "abc") == -ENOSPC);
}

static void test_escape_json_quotes_and_controls(void)
{
	char buf[64];

	UNIT_CHECK(escape_json(buf, sizeof(buf), "plain é") == strlen("plain é"));
	UNIT_CHECK_STR(buf, "plain é");
	escape_json(buf, sizeof(buf), "a\"b\\c\nd\x01\x7f");
	UNIT_CHECK_STR(buf, "a\\\"b\\\\c\\nd\\u0001\\u007f");
	/* Cut before an escape, never inside it; the full length is returned. */
	UNIT_CHECK(escape_json(buf, 3, "a\"") == 3);
	UNIT_CHECK_STR(buf, "a");
}

/* The review's L1: invisible and line-breaking code points went through. */
static void test_escape_invisible_and_line_breaking_code_points(void)
{
	static const char *const hidden[] = {
		"\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d",
		"\xe2\x81\xa0", "\xe2\x81\xa4", "\xef\xbb\xbf", "\xc2\xad", "\xe1\xa0\x8e",
		"\xf3\xa0\x80\x81", "\xf3\xa0\x81\xbf", "\xe3\x85\xa4", "\xe1\x85\x9f",
		"\xef\xbe\xa0", "\xe2\x80\xae", "\xd8\x9c", "\xe2\x81\xa6",
	};
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(hidden); i++) {
		UNIT_CHECK(escape_needed(hidden[i], strlen(hidden[i])));
		escape_text(buf, sizeof(buf), hidden[i], strlen(hidden[i]));
		UNIT_CHECK(!strncmp(buf, "\\u{", 3));
	}
	UNIT_CHECK_STR(esc("r\xe2\x80\x8bm -rf /", 11), "r\\u{200b}m -rf /");
	UNIT_CHECK_STR(esc("t\xf3\xa0\x81\x81", 5), "t\\u{e0041}");
}

/* Default ignorable code points show as nothing; variation selectors can
 * spell a hidden byte each after one visible character ("smuggling"). One
 * presentation selector after a character (an emoji) is kept. */
static void test_escape_variation_selectors_and_other_ignorables(void)
{
	static const char *const hidden[] = {
		"\xcd\x8f",	    /* U+034F combining grapheme joiner */
		"\xe1\x9e\xb4",	    /* U+17B4 Khmer vowel inherent */
		"\xe1\xa0\x8b",	    /* U+180B Mongolian free variation selector */
		"\xef\xb8\x80",	    /* U+FE00 variation selector 1 */
		"\xef\xb8\x8d",	    /* U+FE0D */
		"\xef\xbf\xb0",	    /* U+FFF0 reserved default ignorable */
		"\xf3\xa0\x84\x80", /* U+E0100 variation selector 17 */
		"\xf3\xa0\x87\xaf", /* U+E01EF variation selector 256 */
		"\xf3\xa0\xbf\xbf", /* U+E0FFF */
	};
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(hidden); i++) {
		snprintf(buf, sizeof(buf), "a%s", hidden[i]);
		UNIT_CHECK(escape_needed(buf, strlen(buf)));
	}
	/* "echo hi" with a byte after each letter, as a reader sees it */
	UNIT_CHECK_STR(esc("echo h\xf3\xa0\x85\x98i\xf3\xa0\x85\x99", 15),
		       "echo h\\u{e0158}i\\u{e0159}");
	/* a heart with emoji presentation: as typed; a second selector, one
	 * at the start, after an escaped character or after invalid UTF-8:
	 * escaped */
	UNIT_CHECK(!escape_needed("\xe2\x9d\xa4\xef\xb8\x8f ok", 9));
	UNIT_CHECK(!escape_needed("1\xef\xb8\x8f\xe2\x83\xa3", 7)); /* keycap 1 */
	UNIT_CHECK(!escape_needed("\xe2\x9d\xa4\xef\xb8\x8e", 6));
	UNIT_CHECK(escape_needed("\xe2\x9d\xa4\xef\xb8\x8f\xef\xb8\x8f", 9));
	UNIT_CHECK(escape_needed("\xef\xb8\x8f", 3));
	UNIT_CHECK(escape_needed("\xff\xef\xb8\x8f", 4));
	UNIT_CHECK(escape_needed("\xe2\x80\x8b\xef\xb8\x8f", 6));
	UNIT_CHECK_STR(esc("\xe2\x9d\xa4\xef\xb8\x8f\xef\xb8\x8e\xef\xb8\x8f", 12),
		       "\xe2\x9d\xa4\xef\xb8\x8f\\u{fe0e}\\u{fe0f}");
	UNIT_CHECK_STR(esc("\xef\xb8\x8f!", 4), "\\u{fe0f}!");
	/* shown stored text: a selector after a backslash is the backslash's */
	escape_terminal(buf, sizeof(buf), "\\\xef\xb8\x8f", 4);
	UNIT_CHECK_STR(buf, "\\\xef\xb8\x8f");
	escape_terminal(buf, sizeof(buf), "\xef\xb8\x8f\xef\xb8\x8f", 6);
	UNIT_CHECK_STR(buf, "\\u{fe0f}\\u{fe0f}");
	/* what escape_text makes never needs escaping again, and gives the
	 * bytes back */
	for (i = 0; i < ARRAY_SIZE(hidden); i++) {
		char in[32], back[32];
		size_t n =
			(size_t)snprintf(in, sizeof(in), "\xef\xb8\x8f%s\xef\xb8\x8fx", hidden[i]);

		escape_text(buf, sizeof(buf), in, n);
		UNIT_CHECK(!escape_needed(buf, strlen(buf)));
		UNIT_CHECK(escape_unescape(back, sizeof(back), buf) == (long)n);
		UNIT_CHECK(!memcmp(back, in, n));
	}
}

static void test_escape_needed_only_when_it_must(void)
{
	UNIT_CHECK(!escape_needed("sed 's/\\t/ /g' a.tsv", 20));
	UNIT_CHECK(
		!escape_needed("echo \"q\" 'x' \\ caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 29));
	UNIT_CHECK(!escape_needed("", 0));
	/* emoji with variation selector 16 are shown as typed */
	UNIT_CHECK(!escape_needed("\xe2\x9d\xa4\xef\xb8\x8f", 6));
	UNIT_CHECK(escape_needed("a\tb", 3));
	UNIT_CHECK(escape_needed("a\x7f", 2));
	UNIT_CHECK(escape_needed("\xc2\x9b", 2));
	UNIT_CHECK(escape_needed("\xff", 1));
	UNIT_CHECK(escape_needed("\xc0\xaf", 2));
	UNIT_CHECK(escape_needed("a\0b", 3));
}

static void test_escape_utf8_prefix_never_splits_a_character(void)
{
	static const char s[] = "ab\xe2\x82\xac\xf0\x9f\x98\x80";

	UNIT_CHECK(escape_utf8_prefix(s, 9, 100) == 9);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 2) == 2);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 3) == 2);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 4) == 2);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 5) == 5);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 8) == 5);
	UNIT_CHECK(escape_utf8_prefix(s, 9, 0) == 0);
}

/* Escaped text cut anywhere: the prefix never ends inside an escape or a
 * character, so it unescapes to a prefix of the original bytes; and it
 * is cut no earlier than the sequence the limit fell in. */
static void test_escape_text_prefix_never_splits_an_escape(void)
{
	static const char raw[] = "a\\b\x1b[31m\u202e\t\xff\xe2\x80\xae"
				  "end\\";
	static const char sed[] = "sed 's/\\t/ /g'", bidi[] = "x\\u{202e}y";
	char esc[256], cut[256], back[256];
	size_t n, max, k, was = 0;
	long got;

	n = escape_text(esc, sizeof(esc), raw, sizeof(raw) - 1);
	UNIT_CHECK(n < sizeof(esc));
	UNIT_CHECK(escape_text_prefix(esc, n, n) == n);
	UNIT_CHECK(escape_text_prefix(esc, n, n + 5) == n);
	for (max = 0; max < n; max++) {
		k = escape_text_prefix(esc, n, max);
		UNIT_CHECK(k <= max);
		/* At most a sequence (10 bytes: \u{XXXXX}) short of the limit,
		 * and never shorter than a cut before. */
		UNIT_CHECK(max - k < 10);
		UNIT_CHECK(k >= was);
		was = k;
		memcpy(cut, esc, k);
		cut[k] = '\0';
		got = escape_unescape(back, sizeof(back), cut);
		UNIT_CHECK(got >= 0);
		UNIT_CHECK(got >= 0 && memcmp(back, raw, (size_t)got) == 0);
	}
	/* Text that needed no escape is cut as escaped text would be. */
	UNIT_CHECK(escape_text_prefix(sed, strlen(sed), 8) == 7);
	UNIT_CHECK(escape_text_prefix(sed, strlen(sed), 9) == 9);
	UNIT_CHECK(escape_text_prefix(bidi, strlen(bidi), 5) == 1);
	UNIT_CHECK(escape_text_prefix(bidi, strlen(bidi), 9) == 9);
}

UNIT_MAIN(UNIT_TEST(test_escape_plain_ascii_unchanged), UNIT_TEST(test_escape_backslash_doubled),
	  UNIT_TEST(test_escape_controls), UNIT_TEST(test_escape_nul_byte),
	  UNIT_TEST(test_escape_valid_utf8_kept), UNIT_TEST(test_escape_invalid_utf8_bytes),
	  UNIT_TEST(test_escape_bidi_override), UNIT_TEST(test_escape_truncation_never_splits),
	  UNIT_TEST(test_escape_zero_capacity_counts), UNIT_TEST(test_escape_roundtrip_all_bytes),
	  UNIT_TEST(test_unescape_rejects_malformed),
	  UNIT_TEST(test_escape_json_quotes_and_controls),
	  UNIT_TEST(test_escape_invisible_and_line_breaking_code_points),
	  UNIT_TEST(test_escape_variation_selectors_and_other_ignorables),
	  UNIT_TEST(test_escape_needed_only_when_it_must),
	  UNIT_TEST(test_escape_utf8_prefix_never_splits_a_character),
	  UNIT_TEST(test_escape_text_prefix_never_splits_an_escape))
