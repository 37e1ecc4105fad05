// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "unit.h"

static struct redact_set *compile(const char *json, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(json);
	struct redact_set *rs = NULL;

	redact_compile(j, &rs, err, errlen);
	cJSON_Delete(j);
	return rs;
}

static const char *apply(struct redact_set *rs, const char *in, unsigned *hits)
{
	static char buf[512];
	char *out;
	size_t len;

	if (redact_apply(rs, in, strlen(in), &out, &len, hits) < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", out);
	free(out);
	return buf;
}

static void test_redact_re2_syntax_and_replacement(void)
{
	char err[256];
	unsigned hits;
	struct redact_set *rs =
		compile("[{\"name\":\"aws\","
			"\"pattern\":\"(?i)aws_secret_access_key\\\\s*[=:]\\\\s*\\\\S+\","
			"\"replacement\":\"aws_secret_access_key=[REDACTED]\"},{\"name\":\"pw\","
			"\"pattern\":\"--password[= ]\\\\S+\"}]",
			err, sizeof(err));

	UNIT_CHECK(rs != NULL);
	if (!rs) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	UNIT_CHECK_STR(apply(rs, "export AWS_SECRET_ACCESS_KEY=abc123 && ls", &hits),
		       "export aws_secret_access_key=[REDACTED] && ls");
	UNIT_CHECK(hits == 1);
	UNIT_CHECK_STR(apply(rs, "mysql --password=hunter2 -u root --password x", &hits),
		       "mysql [REDACTED] -u root [REDACTED]");
	UNIT_CHECK(hits == 2);
	UNIT_CHECK_STR(apply(rs, "ls -la", &hits), "ls -la");
	UNIT_CHECK(hits == 0);
	redact_free(rs);
}

static void test_redact_binary_and_invalid_utf8_input(void)
{
	char err[256], *out;
	size_t len;
	unsigned hits;
	struct redact_set *rs =
		compile("[{\"name\":\"t\",\"pattern\":\"token=\\\\w+\",\"replacement\":\"T\"}]",
			err, sizeof(err));
	static const char in[] = "a\xff\x00token=abc\xfe";

	UNIT_CHECK(rs && redact_apply(rs, in, sizeof(in) - 1, &out, &len, &hits) == 0);
	UNIT_CHECK(len == 5 && !memcmp(out, "a\xff\x00T\xfe", 5) && hits == 1);
	free(out);
	redact_free(rs);
}

static void test_redact_empty_matches_terminate(void)
{
	char err[256];
	unsigned hits;
	struct redact_set *rs = compile(
		"[{\"name\":\"e\",\"pattern\":\"x*\",\"replacement\":\"-\"}]", err, sizeof(err));

	UNIT_CHECK_STR(apply(rs, "ab", &hits), "-a-b-");
	redact_free(rs);
}

static void test_redact_rejects_what_does_not_compile(void)
{
	char err[256] = "";
	struct redact_set *rs =
		compile("[{\"name\":\"bad\",\"pattern\":\"(unclosed\"}]", err, sizeof(err));

	UNIT_CHECK(rs == NULL);
	UNIT_CHECK(strstr(err, "bad") && strstr(err, "does not compile"));
}

static void test_redact_catastrophic_pattern_is_bounded(void)
{
	char err[256], in[64], *out;
	size_t len;
	unsigned hits;
	struct redact_set *rs =
		compile("[{\"name\":\"evil\",\"pattern\":\"(x+x+)+y\"}]", err, sizeof(err));
	int r;

	/* the required 'y' is there, so the matcher must backtrack through
	 * every way of splitting the x's */
	memset(in, 'x', 40);
	memcpy(in + 40, "zy", 3);
	r = rs ? redact_apply(rs, in, 42, &out, &len, &hits) : -1;
	UNIT_CHECK(r == -E2BIG);
	if (r == 0)
		free(out);
	redact_free(rs);
}

static void test_redact_no_rules_copies(void)
{
	char *out;
	size_t len;
	unsigned hits;

	UNIT_CHECK(redact_apply(NULL, "same", 4, &out, &len, &hits) == 0 && len == 4 &&
		   !strcmp(out, "same"));
	free(out);
}

UNIT_MAIN(UNIT_TEST(test_redact_re2_syntax_and_replacement),
	  UNIT_TEST(test_redact_binary_and_invalid_utf8_input),
	  UNIT_TEST(test_redact_empty_matches_terminate),
	  UNIT_TEST(test_redact_rejects_what_does_not_compile),
	  UNIT_TEST(test_redact_catastrophic_pattern_is_bounded),
	  UNIT_TEST(test_redact_no_rules_copies))
