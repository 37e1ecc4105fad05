// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: lib/escape on any bytes. Each run checks what the agent
 * relies on to show lines as typed and escape only what it must: escaped
 * text needs no escape any more and gives the bytes back; a cut escape is
 * a prefix that gives back a prefix; text that needs no escape is cut at a
 * character boundary into text that needs none either; escape_json of any
 * of it is a JSON string that means the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "escape.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "<escape_json(s)>" parses back to s. */
static void fuzz_json(const char *s)
{
	size_t need = escape_json(NULL, 0, s) + 3;
	char *doc = malloc(need);
	cJSON *j;

	if (!doc)
		return;
	doc[0] = '"';
	FUZZ_CHECK(escape_json(doc + 1, need - 2, s) == need - 3);
	doc[need - 2] = '"';
	doc[need - 1] = '\0';
	j = cJSON_Parse(doc);
	FUZZ_CHECK(j && cJSON_IsString(j) && !strcmp(j->valuestring, s));
	cJSON_Delete(j);
	free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t need = escape_text(NULL, 0, data, size), cut, k;
	char *out = malloc(need + 1), *small;
	unsigned char *back = malloc(size + 1);
	long n;

	if (!out || !back)
		goto done;
	FUZZ_CHECK(escape_text(out, need + 1, data, size) == need && strlen(out) == need);
	FUZZ_CHECK(!escape_needed(out, need));
	n = escape_unescape(back, size + 1, out);
	FUZZ_CHECK(n == (long)size && !memcmp(back, data, size));
	fuzz_json(out);
	/* a cut escape: whole pieces only, a prefix of the bytes */
	cut = size ? data[0] % (need + 1) : 0;
	if ((small = malloc(cut + 1))) {
		escape_text(small, cut + 1, data, size);
		FUZZ_CHECK(strlen(small) <= cut && !strncmp(small, out, strlen(small)));
		n = escape_unescape(back, size + 1, small);
		FUZZ_CHECK(n >= 0 && (size_t)n <= size && !memcmp(back, data, (size_t)n));
		free(small);
	}
	if (!escape_needed(data, size) && !memchr(data, '\0', size)) {
		char *s = malloc(size + 1);

		k = escape_utf8_prefix(data, size, cut);
		FUZZ_CHECK(k <= size && (size <= cut ? k == size : k <= cut));
		FUZZ_CHECK(!escape_needed(data, k));
		if (s) {
			memcpy(s, data, size);
			s[size] = '\0';
			fuzz_json(s);
			free(s);
		}
	}
done:
	free(out);
	free(back);
	return 0;
}
