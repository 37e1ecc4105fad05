// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "unit.h"
#include "yamljson.h"

static void test_yamljson_types(void)
{
	cJSON *j;
	char err[128];
	const char *y = "a: true\nb: 'true'\nc: ~\nd: [1, x]\ne: {f: g}\n";

	UNIT_CHECK(yamljson_parse(y, strlen(y), &j, err, sizeof(err)) == 0);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "a")));
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "b")), "true");
	UNIT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "c")));
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "d"), 0)),
		       "1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "e"), "f")),
		       "g");
	cJSON_Delete(j);
}

static void test_yamljson_deep_nesting_rejected(void)
{
	char y[1000];
	cJSON *j;
	char err[128];
	int i;

	for (i = 0; i < 300; i++)
		y[i] = '[';
	y[i] = '\0';
	UNIT_CHECK(yamljson_parse(y, strlen(y), &j, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(j == NULL);
}

UNIT_MAIN(UNIT_TEST(test_yamljson_types), UNIT_TEST(test_yamljson_deep_nesting_rejected))
