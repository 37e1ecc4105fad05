// SPDX-License-Identifier: Apache-2.0
/* yamljson: YAML scalars, sequences and maps as JSON; hostile nesting refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* n nested flow sequences, closed: valid YAML whatever n is. */
static const char *nested(int n)
{
	static char y[1000];
	int i;

	for (i = 0; i < n; i++) {
		y[i] = '[';
		y[2 * n - 1 - i] = ']';
	}
	y[2 * n] = '\0';
	return y;
}

static void test_yamljson_deep_nesting_rejected(void)
{
	cJSON *j = (void *)1;
	char err[128] = "";

	/* Well within the bound: parsed. */
	UNIT_CHECK(yamljson_parse(nested(32), strlen(nested(32)), &j, err, sizeof(err)) == 0);
	UNIT_CHECK(j && cJSON_IsArray(j));
	cJSON_Delete(j);
	/* Past it: valid YAML, refused for its depth. */
	j = (void *)1;
	UNIT_CHECK(yamljson_parse(nested(300), strlen(nested(300)), &j, err, sizeof(err)) ==
		   -EINVAL);
	UNIT_CHECK(j == NULL);
	UNIT_CHECK(strstr(err, "too deep") != NULL);
}

/* An alias bomb made of bytes, not nodes: one 1 MiB scalar named 20,000
 * times is 20 GiB once expanded, in a kubeconfig of 1.1 MiB and 20,001
 * nodes (under YAMLJSON_MAX_NODES). Refused, as the header promises. */
static void test_yamljson_alias_bomb_of_bytes_rejected(void)
{
	size_t big = 1 << 20, aliases = 20000, cap = big + 12 * aliases + 64, n = 0, i;
	char *y = malloc(cap), err[128] = "";
	cJSON *j = (void *)1;

	n += (size_t)snprintf(y + n, cap - n, "a: &x ");
	memset(y + n, 'A', big);
	n += big;
	n += (size_t)snprintf(y + n, cap - n, "\nb: [");
	for (i = 0; i < aliases; i++)
		n += (size_t)snprintf(y + n, cap - n, "%s*x", i ? ", " : "");
	n += (size_t)snprintf(y + n, cap - n, "]\n");
	UNIT_CHECK(yamljson_parse(y, n, &j, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(j == NULL);
	UNIT_CHECK(strstr(err, "too large") != NULL);
	/* The same bytes named as keys, one per map. */
	n = (size_t)snprintf(y, cap, "a: &x ");
	memset(y + n, 'A', big);
	n += big;
	n += (size_t)snprintf(y + n, cap - n, "\nb: [");
	for (i = 0; i < aliases / 4; i++)
		n += (size_t)snprintf(y + n, cap - n, "%s{*x : 1}", i ? ", " : "");
	n += (size_t)snprintf(y + n, cap - n, "]\n");
	j = (void *)1;
	UNIT_CHECK(yamljson_parse(y, n, &j, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(j == NULL);
	free(y);
}

UNIT_MAIN(UNIT_TEST(test_yamljson_types), UNIT_TEST(test_yamljson_deep_nesting_rejected),
	  UNIT_TEST(test_yamljson_alias_bomb_of_bytes_rejected))
