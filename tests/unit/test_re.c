// SPDX-License-Identifier: Apache-2.0
/* lib/re: RE2-syntax matching as Go's regexp matches (the vectors of
 * test_re_go.inc), refusals with a reason, and time linear in the text:
 * patterns that make a backtracking engine take exponential time finish in
 * a bounded number of steps, and a budget stops a big program on a long
 * text instead of letting it run. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "re.h"
#include "unit.h"

struct re_vector {
	const char *pattern, *text;
	size_t len;
	long start, end;
};

static const struct re_vector vectors[] = {
#include "test_re_go.inc"
};

static void test_re_matches_as_go_does(void)
{
	size_t i, bad = 0;

	for (i = 0; i < ARRAY_SIZE(vectors); i++) {
		const struct re_vector *v = &vectors[i];
		uint64_t budget = UINT64_MAX;
		struct re *re = NULL;
		size_t ms = 0, me = 0;
		char err[200];
		int rc = re_compile(v->pattern, &re, err, sizeof(err));
		long s = -2, e = -2;

		if (rc == 0) {
			rc = re_search(re, v->text, v->len, 0, &ms, &me, &budget);
			s = rc == 1 ? (long)ms : -1;
			e = rc == 1 ? (long)me : -1;
		}
		if (s != v->start || e != v->end) {
			if (bad++ < 10)
				fprintf(stderr,
					"    /%s/ on \"%.*s\": "
					"expected %ld..%ld, got %ld..%ld (%s)\n",
					v->pattern, (int)v->len, v->text, v->start, v->end, s, e,
					rc < 0 ? err : "");
		}
		re_free(re);
	}
	UNIT_CHECK(bad == 0);
	UNIT_CHECK(ARRAY_SIZE(vectors) > 400);
}

static void test_re_search_from_an_offset_sees_what_precedes(void)
{
	uint64_t budget = UINT64_MAX;
	struct re *re = NULL;
	size_t ms, me;
	char err[200];

	UNIT_CHECK(re_compile("\\bcat", &re, err, sizeof(err)) == 0);
	/* "concat": the "cat" at 3 is inside a word */
	UNIT_CHECK(re_search(re, "concat cat", 10, 1, &ms, &me, &budget) == 1 && ms == 7 &&
		   me == 10);
	re_free(re);
	UNIT_CHECK(re_compile("^a", &re, err, sizeof(err)) == 0);
	UNIT_CHECK(re_search(re, "aa", 2, 1, &ms, &me, &budget) == 0);
	re_free(re);
}

static void test_re_refuses_with_a_reason(void)
{
	static const struct {
		const char *pattern, *why;
	} bad[] = {
		{ "(unclosed", "missing closing )" },
		{ "a)", "unexpected )" },
		{ "[a", "missing closing ]" },
		{ "*a", "missing argument" },
		{ "a**", "nested repetition" },
		{ "a{1001}", "invalid repeat count" },
		{ "a{3,2}", "invalid repeat count" },
		{ "\\pL", "Unicode classes" },
		{ "\\p{Greek}", "Unicode classes" },
		{ "\\1", "backreferences" },
		{ "\\q", "invalid escape" },
		{ "[z-a]", "invalid class range" },
		{ "[[:nope:]]", "unknown class" },
		{ "(?<>x)", "invalid named capture" },
		{ "(?i-)", "invalid group flags" },
		{ "(?x)", "unsupported group" },
		{ "x{1000}{1000}", "nested repetition" },
		{ "(?:x{1000}){1000}", "pattern too large" },
		{ "\xff", "invalid UTF-8" },
		{ "\\x{110000}", "beyond U+10FFFF" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct re *re = NULL;
		char err[200] = "";

		UNIT_CHECK(re_compile(bad[i].pattern, &re, err, sizeof(err)) == -EINVAL);
		UNIT_CHECK(re == NULL);
		if (!strstr(err, bad[i].why))
			fprintf(stderr, "    /%s/: \"%s\" does not say \"%s\"\n", bad[i].pattern,
				err, bad[i].why);
		UNIT_CHECK(strstr(err, bad[i].why) != NULL);
	}
}

/* Steps a search takes, from its budget. */
static uint64_t steps(const char *pattern, const char *text, size_t n, int *rc)
{
	uint64_t budget = UINT64_MAX;
	struct re *re = NULL;
	size_t ms, me;
	char err[200];

	if ((*rc = re_compile(pattern, &re, err, sizeof(err))) < 0)
		return 0;
	*rc = re_search(re, text, n, 0, &ms, &me, &budget);
	re_free(re);
	return UINT64_MAX - budget;
}

static void test_re_takes_time_linear_in_the_text(void)
{
	static const char *const evil[] = {
		"(x+x+)+y", "(a|aa)*b",	 "(?i)(\\w+_)*(TOKEN|SECRET|PASSWORD)=\\S+",
		"(a*)*b",   "(.*a){12}",
	};
	char *text = malloc(65536);
	size_t i;
	int rc;

	if (!text)
		return;
	for (i = 0; i < ARRAY_SIZE(evil); i++) {
		uint64_t s1, s2;

		memset(text, i == 2 ? '_' : i == 0 ? 'x' : 'a', 65536);
		if (i == 2)
			for (size_t k = 0; k < 65536; k += 2)
				text[k] = 'a';
		s1 = steps(evil[i], text, 4096, &rc);
		UNIT_CHECK(rc == 0 || rc == 1);
		s2 = steps(evil[i], text, 65536, &rc);
		UNIT_CHECK(rc == 0 || rc == 1);
		/* 16 times the text, at most about 16 times the work */
		if (!(s1 > 0 && s2 <= 20 * s1))
			fprintf(stderr, "    /%s/: %llu steps on 4 KiB, %llu on 64 KiB\n", evil[i],
				(unsigned long long)s1, (unsigned long long)s2);
		UNIT_CHECK(s1 > 0 && s2 <= 20 * s1);
	}
	free(text);
}

static void test_re_budget_stops_a_search(void)
{
	uint64_t budget = 1000;
	struct re *re = NULL;
	size_t ms, me;
	char err[200], text[4096];

	memset(text, 'a', sizeof(text));
	UNIT_CHECK(re_compile("\\w{1000}z", &re, err, sizeof(err)) == 0);
	UNIT_CHECK(re && re_program_size(re) > 1000 && re_program_size(re) <= RE_MAX_PROGRAM);
	if (!re)
		return;
	UNIT_CHECK(re_search(re, text, sizeof(text), 0, &ms, &me, &budget) == -E2BIG);
	UNIT_CHECK(budget == 0);
	re_free(re);
}

UNIT_MAIN(UNIT_TEST(test_re_matches_as_go_does),
	  UNIT_TEST(test_re_search_from_an_offset_sees_what_precedes),
	  UNIT_TEST(test_re_refuses_with_a_reason),
	  UNIT_TEST(test_re_takes_time_linear_in_the_text),
	  UNIT_TEST(test_re_budget_stops_a_search))
