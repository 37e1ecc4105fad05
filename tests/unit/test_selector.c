// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"
#include "unit.h"
#include "util.h"

static cJSON *labels(const char *json)
{
	return cJSON_Parse(json);
}

static bool json_matches(const char *sel_json, const char *labels_json)
{
	cJSON *sj = sel_json ? cJSON_Parse(sel_json) : NULL, *l = labels(labels_json);
	struct selector *sel = NULL;
	char err[128];
	bool m = false;

	if (selector_from_json(sj, &sel, err, sizeof(err)) == 0)
		m = selector_matches(sel, l);
	selector_free(sel);
	cJSON_Delete(sj);
	cJSON_Delete(l);
	return m;
}

static bool str_matches(const char *s, const char *labels_json)
{
	cJSON *l = labels(labels_json);
	struct selector *sel = NULL;
	char err[128];
	bool m = false;

	if (selector_parse(s, &sel, err, sizeof(err)) == 0)
		m = selector_matches(sel, l);
	selector_free(sel);
	cJSON_Delete(l);
	return m;
}

static void test_selector_null_selects_nothing_empty_everything(void)
{
	UNIT_CHECK(!json_matches(NULL, "{\"app\":\"demo\"}"));
	UNIT_CHECK(!json_matches("null", "{\"app\":\"demo\"}"));
	UNIT_CHECK(json_matches("{}", "{\"app\":\"demo\"}"));
	UNIT_CHECK(json_matches("{}", "{}"));
}

static void test_selector_match_labels(void)
{
	UNIT_CHECK(json_matches("{\"matchLabels\":{\"app\":\"demo\"}}",
				"{\"app\":\"demo\",\"x\":\"y\"}"));
	UNIT_CHECK(!json_matches("{\"matchLabels\":{\"app\":\"demo\"}}", "{\"app\":\"prod\"}"));
	UNIT_CHECK(!json_matches("{\"matchLabels\":{\"app\":\"demo\"}}", "{}"));
	UNIT_CHECK(!json_matches("{\"matchLabels\":{\"app\":\"demo\",\"tier\":\"web\"}}",
				 "{\"app\":\"demo\"}"));
}

static void test_selector_notin_missing_key(void)
{
	UNIT_CHECK(json_matches("{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\","
				"\"values\":[\"prod\"]}]}",
				"{}"));
	UNIT_CHECK(!json_matches("{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\","
				 "\"values\":[\"prod\"]}]}",
				 "{\"env\":\"prod\"}"));
}

static void test_selector_in_exists_doesnotexist(void)
{
	const char *in =
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\","
		"\"b\"]}]}";
	const char *ex = "{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Exists\"}]}";
	const char *dne =
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"DoesNotExist\"}]}";

	UNIT_CHECK(json_matches(in, "{\"env\":\"b\"}"));
	UNIT_CHECK(!json_matches(in, "{\"env\":\"c\"}"));
	UNIT_CHECK(!json_matches(in, "{}"));
	UNIT_CHECK(json_matches(ex, "{\"env\":\"\"}"));
	UNIT_CHECK(!json_matches(ex, "{}"));
	UNIT_CHECK(json_matches(dne, "{}"));
	UNIT_CHECK(!json_matches(dne, "{\"env\":\"x\"}"));
}

static void test_selector_rejects_bad_expressions(void)
{
	static const char *bad[] = {
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\"}]}",
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[]}]}",
		// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): long ones are wrapped
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Exists\","
		"\"values\":[\"a\"]}]}",
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"\"}]}",
		"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Like\","
		"\"values\":[\"a\"]}]}",
		"{\"matchExpressions\":[{\"key\":\"\",\"operator\":\"Exists\"}]}",
		"{\"matchExpressions\":[{\"key\":\"a b\",\"operator\":\"Exists\"}]}",
		"{\"matchExpressions\":{}}",
		"{\"matchLabels\":{\"app\":\"bad value!\"}}",
		"{\"matchLabels\":{\"app\":3}}",
		"{\"matchLabels\":[]}",
		"[]",
	};
	struct selector *sel;
	char err[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cJSON *j = cJSON_Parse(bad[i]);

		err[0] = '\0';
		UNIT_CHECK(selector_from_json(j, &sel, err, sizeof(err)) == -EINVAL);
		UNIT_CHECK(sel == NULL);
		UNIT_CHECK(err[0] != '\0');
		cJSON_Delete(j);
	}
}

static void test_selector_string_form(void)
{
	UNIT_CHECK(str_matches("app=demo", "{\"app\":\"demo\"}"));
	UNIT_CHECK(str_matches("app==demo", "{\"app\":\"demo\"}"));
	UNIT_CHECK(str_matches("app!=demo", "{}"));
	UNIT_CHECK(!str_matches("app!=demo", "{\"app\":\"demo\"}"));
	UNIT_CHECK(str_matches("app in (a, demo),tier", "{\"app\":\"demo\",\"tier\":\"x\"}"));
	UNIT_CHECK(!str_matches("app in (a, demo),tier", "{\"app\":\"demo\"}"));
	UNIT_CHECK(str_matches("env notin (prod),!legacy", "{\"env\":\"dev\"}"));
	UNIT_CHECK(!str_matches("env notin (prod),!legacy", "{\"env\":\"dev\",\"legacy\":\"1\"}"));
	UNIT_CHECK(str_matches("example.com/team=a", "{\"example.com/team\":\"a\"}"));
	UNIT_CHECK(str_matches("", "{\"x\":\"y\"}"));
	UNIT_CHECK(str_matches("app=", "{\"app\":\"\"}"));
	UNIT_CHECK(!str_matches("app=", "{\"app\":\"x\"}"));
}

static void test_selector_string_form_rejects(void)
{
	static const char *bad[] = { "=x",	"app in ()", "app in (a", "app=a,",
				     "app=a b", "app in a",  "a/b/c=d",	  "app=(x)",
				     "app>3",	"!",	     ",",	  "app=a,,b=c" };
	struct selector *sel;
	char err[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = selector_parse(bad[i], &sel, err, sizeof(err));

		if (r != -EINVAL)
			fprintf(stderr, "    accepted: \"%s\"\n", bad[i]);
		UNIT_CHECK(r == -EINVAL);
		UNIT_CHECK(sel == NULL);
	}
}

static void test_selector_format_roundtrip(void)
{
	cJSON *j = cJSON_Parse("{\"matchLabels\":{\"app\":\"demo\"},\"matchExpressions\":["
			       "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"a\",\"b\"]},"
			       "{\"key\":\"x\",\"operator\":\"Exists\"},"
			       "{\"key\":\"y\",\"operator\":\"DoesNotExist\"}]}");
	struct selector *sel = NULL, *back = NULL;
	char buf[256], small[8], err[128];

	UNIT_CHECK(selector_from_json(j, &sel, err, sizeof(err)) == 0);
	UNIT_CHECK(sel && selector_format(sel, buf, sizeof(buf)) == 0);
	UNIT_CHECK_STR(buf, "app in (demo),env notin (a,b),x,!y");
	UNIT_CHECK(sel && selector_format(sel, small, sizeof(small)) == -ENOSPC);
	UNIT_CHECK(selector_parse(buf, &back, err, sizeof(err)) == 0);
	UNIT_CHECK(back && back->nreqs == 4);
	selector_free(sel);
	selector_free(back);
	cJSON_Delete(j);
}

static void test_selector_valid_key_and_value(void)
{
	char long_name[80];

	UNIT_CHECK(selector_valid_key("app"));
	UNIT_CHECK(selector_valid_key("app.kubernetes.io/name"));
	UNIT_CHECK(!selector_valid_key("App.Example.com/name"));
	UNIT_CHECK(!selector_valid_key("/name"));
	UNIT_CHECK(!selector_valid_key("-app"));
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	UNIT_CHECK(!selector_valid_key(long_name));
	UNIT_CHECK(!selector_valid_value(long_name));
	long_name[63] = '\0';
	UNIT_CHECK(selector_valid_value(long_name));
	UNIT_CHECK(selector_valid_value(""));
	UNIT_CHECK(!selector_valid_value("a b"));
}

UNIT_MAIN(UNIT_TEST(test_selector_null_selects_nothing_empty_everything),
	  UNIT_TEST(test_selector_match_labels), UNIT_TEST(test_selector_notin_missing_key),
	  UNIT_TEST(test_selector_in_exists_doesnotexist),
	  UNIT_TEST(test_selector_rejects_bad_expressions), UNIT_TEST(test_selector_string_form),
	  UNIT_TEST(test_selector_string_form_rejects), UNIT_TEST(test_selector_format_roundtrip),
	  UNIT_TEST(test_selector_valid_key_and_value))
