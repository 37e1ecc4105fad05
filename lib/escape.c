// SPDX-License-Identifier: Apache-2.0
/* Escaping of untrusted bytes; see escape.h for the format. */
#include "escape.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid
 * (truncated, overlong, surrogate, above U+10FFFF); *cp gets the code point. */
static size_t escape_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* See escape.h: code points a terminal or a reader would act on rather
 * than show, beyond C0 and DEL. */
static int escape_is_unsafe_cp(uint32_t c)
{
	static const struct {
		uint32_t lo, hi;
	} unsafe[] = {
		{ 0x80, 0x9f },	    /* C1 controls */
		{ 0xad, 0xad },	    /* soft hyphen */
		{ 0x34f, 0x34f },   /* combining grapheme joiner */
		{ 0x61c, 0x61c },   /* Arabic letter mark */
		{ 0x115f, 0x1160 }, /* Hangul fillers */
		{ 0x17b4, 0x17b5 }, /* Khmer inherent vowels */
		{ 0x180b, 0x180f }, /* Mongolian variation selectors, vowel separator */
		{ 0x200b, 0x200f }, /* zero-width space, (non-)joiner, LRM, RLM */
		{ 0x2028, 0x202e }, /* line and paragraph separators, embeddings, overrides */
		{ 0x2060,
		  0x206f }, /* word joiner, invisible operators, isolates, deprecated formats */
		{ 0x3164, 0x3164 },   /* Hangul filler */
		{ 0xfe00, 0xfe0d },   /* variation selectors 1-14 */
		{ 0xfeff, 0xfeff },   /* zero-width no-break space (BOM) */
		{ 0xffa0, 0xffa0 },   /* halfwidth Hangul filler */
		{ 0xfff0, 0xfffb },   /* reserved ignorable, interlinear annotation */
		{ 0x1bca0, 0x1bca3 }, /* shorthand format controls */
		{ 0x1d173, 0x1d17a }, /* musical format controls */
		{ 0xe0000, 0xe0fff }, /* tags, variation selectors 17-256, reserved */
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(unsafe); i++)
		if (c >= unsafe[i].lo && c <= unsafe[i].hi)
			return 1;
	return 0;
}

bool escape_cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || escape_is_unsafe_cp(cp);
}

/* U+FE0E, U+FE0F: text or emoji presentation of the character before. */
static bool escape_is_presentation(uint32_t cp)
{
	return cp == 0xfe0e || cp == 0xfe0f;
}

bool escape_cp_unsafe_after(uint32_t prev, uint32_t cp)
{
	if (escape_is_presentation(cp))
		return !prev || escape_is_presentation(prev) || escape_cp_unsafe(prev);
	return escape_cp_unsafe(cp);
}

size_t escape_utf8_decode(const void *s, size_t n, uint32_t *cp)
{
	return n ? escape_utf8_len(s, n, cp) : 0;
}

bool escape_needed(const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i = 0, len;
	uint32_t cp, prev = 0;

	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			prev = s[i++];
			continue;
		}
		len = escape_utf8_len(s + i, n - i, &cp);
		if (!len || escape_cp_unsafe_after(prev, cp))
			return true;
		prev = cp;
		i += len;
	}
	return false;
}

size_t escape_utf8_prefix(const void *src, size_t n, size_t max)
{
	const unsigned char *s = src;
	size_t i;

	if (n <= max)
		return n;
	/* Back off the continuation bytes of a character max cuts. */
	for (i = max; i > 0 && (s[i] & 0xc0) == 0x80 && max - i < 3; i--)
		;
	return i;
}

/* The length of the escape sequence at s (a backslash; n bytes there). */
static size_t escape_seq_len(const unsigned char *s, size_t n)
{
	size_t j;

	if (n > 1 && s[1] == 'x')
		return 4;
	if (n > 2 && s[1] == 'u' && s[2] == '{') {
		for (j = 3; j < n && j < 12 && s[j] != '}'; j++)
			;
		return j < n && s[j] == '}' ? j + 1 : 2;
	}
	return 2;
}

size_t escape_text_prefix(const void *src, size_t n, size_t max)
{
	const unsigned char *s = src;
	size_t cut = escape_utf8_prefix(src, n, max), i = 0, len;

	if (cut == n)
		return n;
	while (i < cut) {
		if (s[i] != '\\') {
			i++;
			continue;
		}
		len = escape_seq_len(s + i, n - i);
		if (i + len > cut)
			return i;
		i += len;
	}
	return cut;
}

/* Escaped form of the character at s into piece (16 bytes); returns the
 * piece's length and sets *used to the bytes of s it stands for. *prev is
 * the code point before it (0 at the start, or after invalid UTF-8), and
 * becomes this one. */
static size_t escape_piece(const unsigned char *s, size_t n, char *piece, size_t *used,
			   uint32_t *prev)
{
	uint32_t cp, before = *prev;
	size_t len = escape_utf8_len(s, n, &cp);

	*used = len ? len : 1;
	*prev = len ? cp : 0;
	if (len == 0)
		return (size_t)snprintf(piece, 16, "\\x%02x", s[0]);
	if (len == 1) {
		switch (s[0]) {
		case '\\': return (size_t)snprintf(piece, 16, "\\\\");
		case '\n': return (size_t)snprintf(piece, 16, "\\n");
		case '\t': return (size_t)snprintf(piece, 16, "\\t");
		case '\r': return (size_t)snprintf(piece, 16, "\\r");
		case 0x1b: return (size_t)snprintf(piece, 16, "\\e");
		default:
			if (s[0] < 0x20 || s[0] == 0x7f)
				return (size_t)snprintf(piece, 16, "\\x%02x", s[0]);
		}
	} else if (escape_cp_unsafe_after(before, cp)) {
		return (size_t)snprintf(piece, 16, "\\u{%04x}", (unsigned)cp);
	}
	memcpy(piece, s, len);
	return len;
}

size_t escape_text(char *dst, size_t cap, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i = 0, out = 0, end = 0, used, plen;
	uint32_t prev = 0;
	char piece[16];

	while (i < n) {
		plen = escape_piece(s + i, n - i, piece, &used, &prev);
		/* Whole pieces only, so a truncated result never ends mid-escape. */
		if (end == out && out + plen < cap) {
			memcpy(dst + out, piece, plen);
			end = out + plen;
		}
		out += plen;
		i += used;
	}
	if (cap > 0)
		dst[end] = '\0';
	return out;
}

size_t escape_json(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0, end = 0, plen;
	char piece[8];

	for (; *s; s++) {
		switch (*s) {
		case '"': plen = (size_t)snprintf(piece, sizeof(piece), "\\\""); break;
		case '\\': plen = (size_t)snprintf(piece, sizeof(piece), "\\\\"); break;
		case '\n': plen = (size_t)snprintf(piece, sizeof(piece), "\\n"); break;
		case '\t': plen = (size_t)snprintf(piece, sizeof(piece), "\\t"); break;
		case '\r': plen = (size_t)snprintf(piece, sizeof(piece), "\\r"); break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				plen = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", *s);
			} else {
				piece[0] = (char)*s;
				plen = 1;
			}
		}
		if (end == out && out + plen < cap) {
			memcpy(dst + out, piece, plen);
			end = out + plen;
		}
		out += plen;
	}
	if (cap > 0)
		dst[end] = '\0';
	return out;
}

static int escape_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long escape_unescape(void *dst, size_t cap, const char *src)
{
	unsigned char *d = dst;
	size_t out = 0;
	const char *p = src;

	while (*p) {
		unsigned char buf[4];
		size_t blen = 0;

		if (*p != '\\') {
			buf[blen++] = (unsigned char)*p++;
		} else {
			p++;
			switch (*p) {
			case '\\': buf[blen++] = '\\'; p++; break;
			case 'n': buf[blen++] = '\n'; p++; break;
			case 't': buf[blen++] = '\t'; p++; break;
			case 'r': buf[blen++] = '\r'; p++; break;
			case 'e': buf[blen++] = 0x1b; p++; break;
			case 'x': {
				int hi = p[1] ? escape_hex(p[1]) : -1;
				int lo = hi >= 0 && p[2] ? escape_hex(p[2]) : -1;

				if (lo < 0)
					return -EINVAL;
				buf[blen++] = (unsigned char)(hi << 4 | lo);
				p += 3;
				break;
			}
			case 'u': {
				uint32_t cp = 0;
				int digits = 0, h;

				if (p[1] != '{')
					return -EINVAL;
				p += 2;
				while ((h = escape_hex(*p)) >= 0 && digits < 6) {
					cp = cp << 4 | (uint32_t)h;
					p++;
					digits++;
				}
				if (*p != '}' || digits == 0 || cp > 0x10ffff)
					return -EINVAL;
				p++;
				if (cp < 0x80) {
					buf[blen++] = (unsigned char)cp;
				} else if (cp < 0x800) {
					buf[blen++] = (unsigned char)(0xc0 | cp >> 6);
					buf[blen++] = (unsigned char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					buf[blen++] = (unsigned char)(0xe0 | cp >> 12);
					buf[blen++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					buf[blen++] = (unsigned char)(0x80 | (cp & 0x3f));
				} else {
					buf[blen++] = (unsigned char)(0xf0 | cp >> 18);
					buf[blen++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
					buf[blen++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					buf[blen++] = (unsigned char)(0x80 | (cp & 0x3f));
				}
				break;
			}
			default:
				return -EINVAL;
			}
		}
		if (out + blen > cap)
			return -ENOSPC;
		memcpy(d + out, buf, blen);
		out += blen;
	}
	return (long)out;
}

size_t escape_terminal(char *dst, size_t cap, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i = 0, out = 0, end = 0, used, plen;
	uint32_t prev = 0;
	char piece[16];

	while (i < n) {
		if (s[i] == '\\') {
			piece[0] = '\\';
			plen = used = 1;
			prev = '\\';
		} else {
			plen = escape_piece(s + i, n - i, piece, &used, &prev);
		}
		if (end == out && out + plen < cap) {
			memcpy(dst + out, piece, plen);
			end = out + plen;
		}
		out += plen;
		i += used;
	}
	if (cap > 0)
		dst[end] = '\0';
	return out;
}
