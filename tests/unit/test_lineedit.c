// SPDX-License-Identifier: Apache-2.0
/* lineedit: the keys of a shell's line editor replayed on raw terminal
 * input give the line the shell saw, marked inexact where they cannot,
 * bounded, whatever bytes come. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../node-agent/lineedit.h"

/* Feeds keys (n bytes) and returns the first complete line as a string
 * ("<eof>", "<cancel>" or "<none>" otherwise); *flags gets its flags. */
static char *edit(const char *keys, size_t n, size_t max, unsigned *flags)
{
	struct lineedit le;
	char *out = NULL;
	size_t i;

	lineedit_init(&le, max);
	for (i = 0; i < n && !out; i++) {
		switch (lineedit_key(&le, (unsigned char)keys[i])) {
		case LINEEDIT_LINE:
			out = strndup(le.buf ? le.buf : "", le.len);
			break;
		case LINEEDIT_EOF:
			out = strdup("<eof>");
			break;
		case LINEEDIT_CANCEL:
			out = strdup("<cancel>");
			break;
		case LINEEDIT_MORE:
			break;
		}
	}
	if (flags)
		*flags = le.flags;
	lineedit_free(&le);
	return out ? out : strdup("<none>");
}

#define CHECK_EDIT(keys, want, want_flags)                                                 \
	do {                                                                               \
		unsigned f_;                                                               \
		char *got_ = edit(keys, sizeof(keys) - 1, 4096, &f_);                      \
		UNIT_CHECK_STR(got_, want);                                                \
		UNIT_CHECK(f_ == (want_flags));                                            \
		free(got_);                                                                \
	} while (0)

static void test_lineedit_typing_and_deleting(void)
{
	CHECK_EDIT("echo hi\r", "echo hi", 0);
	CHECK_EDIT("echo hi\n", "echo hi", 0);
	CHECK_EDIT("echo abcx\x7f" "d\r", "echo abcd", 0);
	CHECK_EDIT("echo abcx\b" "d\r", "echo abcd", 0);
	CHECK_EDIT("\x7f\x7f" "ok\r", "ok", 0);
	/* A multi-byte character goes with one Backspace. */
	CHECK_EDIT("caf\xc3\xa9\x7f" "e\r", "cafe", 0);
	CHECK_EDIT("garbage\x15" "echo clean\r", "echo clean", 0);
	CHECK_EDIT("echo one two \x17" "three\r", "echo one three", 0);
	CHECK_EDIT("echo keep\x01\x06\x06\x06\x06\x0b\r", "echo", 0);
	CHECK_EDIT("ab\x02\x04\r", "a", 0);
}

static void test_lineedit_cursor_moves_and_inserts(void)
{
	CHECK_EDIT("echo helo\x1b[Dl\r", "echo hello", 0);
	CHECK_EDIT("echo helo\x1bODl\r", "echo hello", 0);
	CHECK_EDIT("cho X\x01" "e\r", "echo X", 0);
	CHECK_EDIT("cho X\x1b[H" "e\r", "echo X", 0);
	CHECK_EDIT("cho X\x1b[1~" "e\r", "echo X", 0);
	CHECK_EDIT("echo \x01\x1b[F" "end\r", "echo end", 0);
	CHECK_EDIT("echo \x01\x1b[4~" "end\r", "echo end", 0);
	CHECK_EDIT("echo X\x1b[D\x1b[D\x1b[C\x1b[3~Y\r", "echo Y", 0);
	/* Ctrl-Left and Alt-b: a word at a time. */
	CHECK_EDIT("echo two\x1b[1;5D" "one \r", "echo one two", 0);
	CHECK_EDIT("echo two\x1b" "bone \r", "echo one two", 0);
	CHECK_EDIT("x two\x01\x1b" "f\x1b" "d\r", "x", 0);
	/* Moving past either end stays at the end. */
	CHECK_EDIT("ab\x1b[C\x1b[C\x1b[Dc\r", "acb", 0);
	CHECK_EDIT("\x1b[D\x1b[Dab\r", "ab", 0);
	/* Moves step over a whole UTF-8 character. */
	CHECK_EDIT("\xe2\x82\xac\x1b[Dx\r", "x\xe2\x82\xac", 0);
}

static void test_lineedit_unknowable_keys_make_it_inexact(void)
{
	CHECK_EDIT("\x1b[A\r", "", LINEEDIT_INEXACT);
	CHECK_EDIT("echo \x1b[B" "x\r", "echo x", LINEEDIT_INEXACT);
	CHECK_EDIT("cat /et\tpass\t\r", "cat /et\tpass\t", LINEEDIT_INEXACT);
	CHECK_EDIT("ls\x12" "x\r", "lsx", LINEEDIT_INEXACT);
	CHECK_EDIT("ls\x19\r", "ls", LINEEDIT_INEXACT);
	CHECK_EDIT("ls\x1b[15~\r", "ls", LINEEDIT_INEXACT);
	CHECK_EDIT("ls\x1bx\r", "ls", LINEEDIT_INEXACT);
}

static void test_lineedit_ends_cancels_and_literals(void)
{
	CHECK_EDIT("\x04", "<eof>", 0);
	CHECK_EDIT("rm -rf /\x03", "<cancel>", 0);
	/* CR LF is one Enter. */
	{
		struct lineedit le;
		const char keys[] = "a\r\nb\r\n";
		int lines = 0;
		size_t i;

		lineedit_init(&le, 64);
		for (i = 0; i < sizeof(keys) - 1; i++)
			if (lineedit_key(&le, (unsigned char)keys[i]) == LINEEDIT_LINE) {
				lines++;
				lineedit_clear(&le);
			}
		UNIT_CHECK(lines == 2);
		lineedit_free(&le);
	}
	/* ^V inserts the next byte as it is; bracketed paste markers vanish. */
	CHECK_EDIT("a\x16\x01" "b\r", "a\x01" "b", 0);
	CHECK_EDIT("\x1b[200~echo pasted\x1b[201~\r", "echo pasted", 0);
	CHECK_EDIT("\x07\x0c" "ok\r", "ok", 0);
}

static void test_lineedit_bounded_and_hostile(void)
{
	static char keys[100000];
	static const char csi_end[] = { 'D', 'z', '\r' }; /* CSI's end, a key, Enter */
	unsigned flags;
	char *got;
	size_t i;

	memset(keys, 'x', sizeof(keys) - 1);
	keys[sizeof(keys) - 1] = '\r';
	got = edit(keys, sizeof(keys), 4096, &flags);
	UNIT_CHECK(strlen(got) == 4096);
	UNIT_CHECK(flags == LINEEDIT_TRUNCATED);
	free(got);
	/* A CSI that never ends: bounded, inexact, and the line goes on. */
	memset(keys, '1', sizeof(keys));
	keys[0] = 0x1b;
	keys[1] = '[';
	memcpy(keys + sizeof(keys) - 4, csi_end, sizeof(csi_end));
	got = edit(keys, sizeof(keys) - 1, 4096, &flags);
	UNIT_CHECK_STR(got, "z");
	UNIT_CHECK(flags & LINEEDIT_INEXACT);
	free(got);
	/* Every byte value, in every order we try: never beyond the bound. */
	srand(7);
	for (i = 0; i < sizeof(keys); i++)
		keys[i] = (char)(rand() & 0xff);
	got = edit(keys, sizeof(keys), 64, &flags);
	UNIT_CHECK(strlen(got) <= 64 || !strcmp(got, "<eof>") || !strcmp(got, "<cancel>"));
	free(got);
}

UNIT_MAIN(UNIT_TEST(test_lineedit_typing_and_deleting),
	  UNIT_TEST(test_lineedit_cursor_moves_and_inserts),
	  UNIT_TEST(test_lineedit_unknowable_keys_make_it_inexact),
	  UNIT_TEST(test_lineedit_ends_cancels_and_literals),
	  UNIT_TEST(test_lineedit_bounded_and_hostile))
