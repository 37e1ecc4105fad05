// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "unit.h"

/* Runs fn with stderr redirected to a temporary file; returns what it wrote. */
static void capture(void (*fn)(void), char *out, size_t cap)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, cap - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void emit_hostile(void)
{
	log_with(LOG_WARN, LOG_KV("pod", "we\"ird\npod", "ns", NULL), "attach %s: %d",
		 "fail\x1b[2J", -EPERM);
}

static void test_log_line_is_valid_json_with_fields(void)
{
	char out[4096];
	cJSON *j;

	log_set_level(LOG_INFO);
	capture(emit_hostile, out, sizeof(out));
	UNIT_CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	j = cJSON_Parse(out);
	UNIT_CHECK(j != NULL);
	if (!j)
		return;
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "level")), "warn");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "msg")),
		       "attach fail\\e[2J: -1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "pod")), "we\"ird\\npod");
	UNIT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "ns")));
	UNIT_CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(j, "time")) != NULL);
	cJSON_Delete(j);
}

static void emit_debug(void)
{
	log_debug("hidden");
}

static void test_log_level_filters(void)
{
	char out[256];

	log_set_level(LOG_INFO);
	capture(emit_debug, out, sizeof(out));
	UNIT_CHECK_STR(out, "");
	log_set_level(LOG_DEBUG);
	capture(emit_debug, out, sizeof(out));
	UNIT_CHECK(strstr(out, "\"hidden\"") != NULL);
}

static void test_log_parse_level(void)
{
	enum log_level l;

	UNIT_CHECK(log_parse_level("debug", &l) == 0 && l == LOG_DEBUG);
	UNIT_CHECK(log_parse_level("error", &l) == 0 && l == LOG_ERROR);
	UNIT_CHECK(log_parse_level("verbose", &l) == -EINVAL);
	UNIT_CHECK(log_parse_level(NULL, &l) == -EINVAL);
}

static void emit_long(void)
{
	static char big[100000];

	memset(big, 'x', sizeof(big) - 1);
	log_with(LOG_ERROR, LOG_KV("a", big, "b", big, "c", big, "d", big, "e", big), "%s", big);
}

static void test_log_long_values_bounded_and_valid(void)
{
	static char out[20000];
	cJSON *j;

	log_set_level(LOG_INFO);
	capture(emit_long, out, sizeof(out));
	UNIT_CHECK(strlen(out) < 16384);
	j = cJSON_Parse(out);
	UNIT_CHECK(j != NULL);
	cJSON_Delete(j);
}

UNIT_MAIN(UNIT_TEST(test_log_line_is_valid_json_with_fields), UNIT_TEST(test_log_level_filters),
	  UNIT_TEST(test_log_parse_level), UNIT_TEST(test_log_long_values_bounded_and_valid))
