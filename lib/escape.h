/* SPDX-License-Identifier: Apache-2.0 */
/* Turning untrusted bytes (typed lines, argv, file names) into text that
 * cannot break a log line, a JSON document or a terminal. */
#ifndef SHELLAUDIT_ESCAPE_H
#define SHELLAUDIT_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * C-style escape of n bytes of src into dst (capacity cap, always
 * NUL-terminated when cap > 0). Valid, printable UTF-8 is kept; backslash
 * becomes "\\"; \n \t \r \e and other C0 controls, DEL, C1 controls and
 * invalid or overlong UTF-8 bytes become \n \t \r \e or \xNN; the code
 * points escape_cp_unsafe_after() names become \u{XXXX}. The result is valid
 * UTF-8 without control characters, and unambiguous: escape_unescape
 * gives back the original bytes.
 *
 * Returns the length the full escape needs (excluding the NUL), like
 * snprintf: a result >= cap means dst holds a truncated prefix that never
 * ends inside an escape sequence or a UTF-8 character.
 */
size_t escape_text(char *dst, size_t cap, const void *src, size_t n);

/*
 * The body of a JSON string (without the quotes) for the NUL-terminated
 * UTF-8 text src: quote and backslash are escaped, and so is every byte
 * below 0x20 and DEL (\n, \t, \r or \u00XX), so that the result is one
 * line. Bytes of 0x80 and above are copied: the caller guarantees valid
 * UTF-8 (escape_text's output is). Writes into dst like escape_text
 * (always NUL-terminated when cap > 0, never cut inside an escape) and
 * returns the length the whole body needs.
 */
size_t escape_json(char *dst, size_t cap, const char *src);

/*
 * Whether n bytes of src must be escaped to be shown: true when they are
 * not valid UTF-8 or hold a character escape_cp_unsafe_after() names. Text that
 * need not be is stored and shown exactly as it came (a backslash stays one
 * backslash); text that must be is stored as escape_text() makes it, and
 * marked so (an entry's "escaped"), since both can read alike.
 */
bool escape_needed(const void *src, size_t n);

/* The longest prefix of src (n bytes) of at most max bytes that does not end
 * inside a UTF-8 character: for cutting text that escape_needed() passed. */
size_t escape_utf8_prefix(const void *src, size_t n, size_t max);

/* The same for text that may be escape_text's output (shown as it is, so
 * it may be either): nor does the prefix end inside an escape sequence
 * ("\\", "\n", "\xNN", "\u{XXXX}"), whose cut half would read as
 * another one or as none. A backslash before anything else counts as two
 * bytes that go together. Looks at no more than max + 1 bytes. */
size_t escape_text_prefix(const void *src, size_t n, size_t max);

/* The UTF-8 character at s (n > 0 bytes available): its length (1 to 4), or
 * 0 when s starts no valid character (truncated, overlong, surrogate, above
 * U+10FFFF); *cp gets the code point. */
size_t escape_utf8_decode(const void *s, size_t n, uint32_t *cp);

/*
 * True for a code point escape_text escapes: one a terminal acts on rather
 * than shows, or one that makes text read differently from what it holds:
 * C0 controls, DEL, C1 controls, bidirectional controls (U+061C, U+200E,
 * U+200F, U+202A-U+202E, U+2066-U+2069), line and paragraph separators
 * (U+2028, U+2029), and the rest of Unicode's default ignorable code
 * points, which show as nothing and can carry hidden bytes: soft hyphen
 * U+00AD, combining grapheme joiner U+034F, U+17B4, U+17B5, Mongolian
 * variation selectors and vowel separator U+180B-U+180F, zero-width
 * U+200B-U+200D, U+2060-U+2065, U+206A-U+206F, variation selectors
 * U+FE00-U+FE0D and U+E0100-U+E01EF, U+FEFF, U+FFF0-U+FFFB,
 * U+1BCA0-U+1BCA3, U+1D173-U+1D17A, tag characters and the rest of
 * U+E0000-U+E0FFF, and Hangul fillers (U+115F, U+1160, U+3164, U+FFA0).
 * U+FE0E and U+FE0F (text or emoji presentation, as in U+2764 U+FE0F, a red
 * heart) are not named here: see escape_cp_unsafe_after.
 */
bool escape_cp_unsafe(uint32_t cp);

/*
 * escape_cp_unsafe for cp after prev (0 at the start of the text or after
 * invalid UTF-8): also U+FE0E and U+FE0F unless they follow a character
 * shown as itself that is not one of them. One presentation selector after
 * a character is how emoji are typed; a run of them, or one alone, would
 * show as nothing and could spell hidden bits.
 */
bool escape_cp_unsafe_after(uint32_t prev, uint32_t cp);

/* Inverse of escape_text. Writes at most cap bytes into dst; returns the
 * number of bytes decoded, or -EINVAL on malformed input, -ENOSPC when
 * dst is too small. */
long escape_unescape(void *dst, size_t cap, const char *src);

/*
 * Showing stored text: escape_text, except that a backslash stays one
 * backslash. For text that is already in its stored form (escaped by
 * escape_text, or typed as is): it is shown as stored, never escaped twice,
 * and a control character or bidi override that reached it anyway (a forged
 * or corrupted record) still never reaches a terminal raw. Returns what
 * escape_text returns.
 */
size_t escape_terminal(char *dst, size_t cap, const void *src, size_t n);

#endif
