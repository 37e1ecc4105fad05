// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: lib/re and redact on any pattern and any text. The
 * input's first byte says where the pattern ends (its value, modulo what is
 * left); the rest is the text. Besides what ASan and UBSan catch, each run
 * checks: a match lies inside the text and starts at or after where the
 * search began; a search is deterministic; its work stays within the bound
 * re.h states; redaction of the text, and of it split into arguments at
 * its NUL bytes, returns a result or says which rule could not finish. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "re.h"
#include "redact.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_redact(const char *pattern, const char *text, size_t n)
{
	cJSON *rules = cJSON_CreateArray(), *r = cJSON_CreateObject();
	struct redact_result res;
	struct redact_set *rs = NULL;
	const char *av[64];
	size_t len[64], argc = 0, i = 0, *olen, llen, outlen;
	char **oav, *line, *out, err[256];

	cJSON_AddStringToObject(r, "name", "fuzz");
	cJSON_AddStringToObject(r, "pattern", pattern);
	cJSON_AddStringToObject(r, "replacement", "<R>");
	cJSON_AddItemToArray(rules, r);
	if (redact_compile(rules, &rs, err, sizeof(err)) < 0) {
		cJSON_Delete(rules);
		return;
	}
	if (redact_apply(rs, text, n, &out, &outlen, &res) == 0) {
		FUZZ_CHECK(out && strlen(out) <= outlen && res.unfinished == -1);
		free(out);
	} else {
		FUZZ_CHECK(res.unfinished == 0 || res.unfinished == -1);
	}
	while (i < n && argc < 64) {
		av[argc] = text + i;
		len[argc] = strnlen(text + i, n - i);
		i += len[argc++] + 1;
	}
	if (redact_argv(rs, av, len, argc, &oav, &olen, &line, &llen, &res) == 0) {
		for (i = 0; i < argc; i++) {
			FUZZ_CHECK(oav[i] && olen[i] <= REDACT_MAX_OUT);
			free(oav[i]);
		}
		free(oav);
		free(olen);
		free(line);
	}
	redact_free(rs);
	cJSON_Delete(rules);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pattern, err[256];
	const char *text;
	size_t plen, n, ms = 0, me = 0, ms2 = 0, me2 = 0, from;
	uint64_t budget = 1u << 22, budget2 = 1u << 22;
	struct re *re = NULL;
	int rc, rc2;

	if (size < 1)
		return 0;
	plen = size > 1 ? data[0] % size : 0;
	if (plen > size - 1)
		plen = size - 1;
	if (!(pattern = malloc(plen + 1)))
		return 0;
	memcpy(pattern, data + 1, plen);
	pattern[plen] = '\0';
	text = (const char *)data + 1 + plen;
	n = size - 1 - plen;
	if (re_compile(pattern, &re, err, sizeof(err)) == 0) {
		FUZZ_CHECK(re_program_size(re) <= RE_MAX_PROGRAM);
		from = n ? data[size - 1] % (n + 1) : 0;
		rc = re_search(re, text, n, from, &ms, &me, &budget);
		rc2 = re_search(re, text, n, from, &ms2, &me2, &budget2);
		FUZZ_CHECK(rc == rc2 && budget == budget2);
		FUZZ_CHECK(rc != 1 ||
			   (from <= ms && ms <= me && me <= n && ms == ms2 && me == me2));
		if (rc != -E2BIG)
			FUZZ_CHECK((1u << 22) - budget <=
				   (uint64_t)(n + 1) * 2 * (re_program_size(re) + 1));
		re_free(re);
		fuzz_redact(pattern, text, n);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(pattern);
	return 0;
}
