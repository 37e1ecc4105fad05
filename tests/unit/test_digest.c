// SPDX-License-Identifier: Apache-2.0
/* digest: canonical JSON (sorted keys) and its SHA-256, the AuditRecord chain's digest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "unit.h"

static void test_digest_canonical_sorts_keys_recursively(void)
{
	cJSON *j = cJSON_Parse(
		"{ \"b\": 1, \"a\": {\"z\": [3, {\"y\": true, \"x\": null}], \"c\": \"q\\\"\\n\"} "
		"}");
	char *s = digest_canonical(j);

	UNIT_CHECK_STR(
		s, "{\"a\":{\"c\":\"q\\\"\\u000a\",\"z\":[3,{\"x\":null,\"y\":true}]},\"b\":1}");
	free(s);
	cJSON_Delete(j);
}

static void test_digest_independent_of_key_order(void)
{
	cJSON *a = cJSON_Parse(
		"{\"seq\":2,\"entries\":[{\"text\":\"ls\",\"pid\":7}],\"digest\":\"x\"}");
	cJSON *b = cJSON_Parse(
		"{\"digest\":\"y\",\"entries\":[{\"pid\":7,\"text\":\"ls\"}],\"seq\":2}");
	static const char *const skip[] = { "digest", NULL };
	char da[DIGEST_STR_LEN], db[DIGEST_STR_LEN];

	UNIT_CHECK(digest_json(a, skip, da) == 0);
	UNIT_CHECK(digest_json(b, skip, db) == 0);
	UNIT_CHECK_STR(da, db);
	UNIT_CHECK(!strncmp(da, "sha256:", 7) && strlen(da) == 71);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_digest_changes_with_content(void)
{
	cJSON *a = cJSON_Parse("{\"text\":\"ls\"}"), *b = cJSON_Parse("{\"text\":\"ls \"}");
	char da[DIGEST_STR_LEN] = "", db[DIGEST_STR_LEN] = "";

	UNIT_CHECK(digest_json(a, NULL, da) == 0);
	UNIT_CHECK(digest_json(b, NULL, db) == 0);
	UNIT_CHECK(!strncmp(da, "sha256:", 7) && !strncmp(db, "sha256:", 7));
	UNIT_CHECK(strcmp(da, db) != 0);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_digest_known_vector(void)
{
	char d[DIGEST_STR_LEN];

	digest_bytes("abc", 3, d);
	UNIT_CHECK_STR(d,
		       "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_digest_rejects_fractions(void)
{
	cJSON *j = cJSON_Parse("{\"a\":1.5}");
	char d[DIGEST_STR_LEN];

	UNIT_CHECK(digest_json(j, NULL, d) == -EINVAL);
	cJSON_Delete(j);
}

UNIT_MAIN(UNIT_TEST(test_digest_canonical_sorts_keys_recursively),
	  UNIT_TEST(test_digest_independent_of_key_order),
	  UNIT_TEST(test_digest_changes_with_content), UNIT_TEST(test_digest_known_vector),
	  UNIT_TEST(test_digest_rejects_fractions))
