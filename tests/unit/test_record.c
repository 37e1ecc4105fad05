// SPDX-License-Identifier: Apache-2.0
/* record: AuditRecord names (deterministic, bound to the record's digest,
 * a longer deterministic one when taken), the fields and digest of a
 * record, its finalizer, its signature by the node's key and how a
 * signature is checked (unsigned, another key, a swapped or malformed
 * signature, another node), and the earliest time a record can expire
 * (also in its annotation shellaudit.io/expires-at); the annotations a
 * storage budget reads: the record's size as sent (shellaudit.io/bytes,
 * exact whatever its digit count) and its policies. */
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "sign.h"
#include "unit.h"

static const struct record_identity id = { "team-a", "web-1", "uid-1", "main",
					   "containerd://abc123", "node-1", NULL, "720h" };

static cJSON *entries(const char *text)
{
	cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	cJSON_AddNumberToObject(e, "pid", 42);
	cJSON_AddItemToArray(arr, e);
	return arr;
}

static const char *name_of(const cJSON *r)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metadata"), "name"));
}

static void test_record_name_is_deterministic_and_bound_to_the_digest(void)
{
	static const char d1[] =
		"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	static const char d2[] =
		"sha256:0000d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	struct record_identity other = id, longpod = id;
	char a[320], b[320], pod[300];

	UNIT_CHECK(record_name(&id, 7, d1, a, sizeof(a)) == 0);
	UNIT_CHECK(record_name(&id, 7, d1, b, sizeof(b)) == 0);
	UNIT_CHECK_STR(a, b);
	UNIT_CHECK(!strncmp(a, "web-1-main-", 11) && strstr(a, "-0000000007-9f86d08188"));
	UNIT_CHECK(strlen(a) > 10 && !strcmp(a + strlen(a) - 11, "-9f86d08188"));
	/* another record of the same place in the chain has another name */
	record_name(&id, 7, d2, b, sizeof(b));
	UNIT_CHECK(strcmp(a, b) != 0);
	other.container_id = "containerd://def456";
	record_name(&other, 7, d1, b, sizeof(b));
	UNIT_CHECK(strcmp(a, b) != 0);
	UNIT_CHECK(record_name(&id, 7, "md5:abc", b, sizeof(b)) == -EINVAL);
	UNIT_CHECK(record_name(&id, 7, NULL, b, sizeof(b)) == -EINVAL);
	/* the longer name when taken: the digest's 20 hex, deterministic */
	UNIT_CHECK(record_name_taken(a, d1, b, sizeof(b)) == 0);
	UNIT_CHECK(strlen(b) == strlen(a) + 10 &&
		   !strcmp(b + strlen(b) - 21, "-9f86d081884c7d659a2f"));
	UNIT_CHECK(record_name_taken(a, d2, b, sizeof(b)) == -EINVAL);
	UNIT_CHECK(record_name_taken("x", d1, b, sizeof(b)) == -EINVAL);
	/* a long pod name is cut, never leaving '.' or '-' before the next '-' */
	memset(pod, 'p', sizeof(pod));
	pod[119] = '.';
	pod[sizeof(pod) - 1] = '\0';
	longpod.pod = pod;
	UNIT_CHECK(record_name(&longpod, 1, d1, b, sizeof(b)) == 0);
	UNIT_CHECK(strlen(b) <= 253 && !strstr(b, ".-") && !strstr(b, "--"));
	UNIT_CHECK(record_name_taken(b, d1, a, sizeof(a)) == 0 && strlen(a) <= 253);
}

static void test_record_build_fields_digest_finalizer(void)
{
	char d[DIGEST_STR_LEN], again[DIGEST_STR_LEN], name[320];
	cJSON *r = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, NULL, d), *spec, *fin;

	UNIT_CHECK(r != NULL);
	spec = cJSON_GetObjectItem(r, "spec");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "entryCount")) == 1);
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "previousDigest"));
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "previousKeptUntil"));
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "session"));
	UNIT_CHECK(!cJSON_GetObjectItem(spec, "signature"));
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "digest")), d);
	UNIT_CHECK(record_digest(spec, again) == 0);
	UNIT_CHECK_STR(again, d);
	record_name(&id, 0, d, name, sizeof(name));
	UNIT_CHECK_STR(name_of(r), name);
	fin = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metadata"), "finalizers");
	UNIT_CHECK(cJSON_GetArraySize(fin) == 1 &&
		   !strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(fin, 0)), RECORD_FINALIZER));
	cJSON_Delete(r);
	UNIT_CHECK(record_build(&id, NULL, cJSON_CreateArray(), 0, NULL, NULL, NULL, d) == NULL);
	r = record_build(&id, NULL, entries("ls"), 3, "sha256:x", "2026-12-25T00:00:00Z", NULL, d);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "spec"),
								"previousKeptUntil")),
		       "2026-12-25T00:00:00Z");
	cJSON_Delete(r);
}

/* The controller reads records as metadata only: the earliest time a
 * record can expire is there, from the record itself (a replay builds the
 * same object), never later than the truth. */
static void test_record_build_puts_the_expiry_in_an_annotation(void)
{
	char d[DIGEST_STR_LEN], t[RECORD_TIME_LEN];
	cJSON *r = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, NULL, d);
	cJSON *again = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, NULL, d);
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metadata"), "annotations"),
		RECORD_EXPIRES_ANNOTATION));

	UNIT_CHECK_STR(RECORD_EXPIRES_ANNOTATION, "shellaudit.io/expires-at");
	UNIT_CHECK(at != NULL);
	UNIT_CHECK(record_kept_until(cJSON_GetObjectItem(r, "spec"), t) == 0);
	UNIT_CHECK_STR(at, t);
	UNIT_CHECK_STR(at, "2026-12-25T00:00:00Z"); /* the last entry + 720h */
	UNIT_CHECK(cJSON_Compare(r, again, 1));
	cJSON_Delete(r);
	cJSON_Delete(again);
}

static void test_record_signature_checks(void)
{
	struct sign_key *k = NULL, *other = NULL;
	char d[DIGEST_STR_LEN], d2[DIGEST_STR_LEN];
	cJSON *r, *r2, *spec, *sig, *copy;
	const char *why = NULL;

	sign_key_generate(&k);
	sign_key_generate(&other);
	if (!k || !other)
		return;
	r = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, k, d);
	r2 = record_build(&id, NULL, entries("id"), 1, d, NULL, k, d2);
	spec = cJSON_GetObjectItem(r, "spec");
	sig = cJSON_GetObjectItem(spec, "signature");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(sig, "keyID")), sign_key_id(k));
	/* the signature is not covered by the digest: adding it changed nothing */
	UNIT_CHECK(record_digest(spec, d2) == 0 && !strcmp(d, d2));
	UNIT_CHECK(record_check_signature(spec, sign_key_id(k), sign_key_public(k), &why) == 0);
	/* the same record built again (a replay) is signed alike */
	copy = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, k, d2);
	UNIT_CHECK(cJSON_Compare(copy, r, 1));
	cJSON_Delete(copy);
	/* another node's key */
	UNIT_CHECK(record_check_signature(spec, sign_key_id(other), sign_key_public(other), &why) ==
			   -EBADMSG &&
		   strstr(why, "does not publish"));
	/* a key ID that matches but the wrong public half */
	UNIT_CHECK(record_check_signature(spec, sign_key_id(k), sign_key_public(other), &why) ==
		   -EBADMSG);
	UNIT_CHECK(record_check_signature(spec, NULL, NULL, &why) == -EBADMSG &&
		   strstr(why, "no signing key"));
	/* another record's signature swapped in */
	copy = cJSON_Duplicate(spec, 1);
	cJSON_ReplaceItemInObject(
		copy, "signature",
		cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetObjectItem(r2, "spec"), "signature"),
				1));
	UNIT_CHECK(record_check_signature(copy, sign_key_id(k), sign_key_public(k), &why) ==
			   -EBADMSG &&
		   strstr(why, "does not match"));
	/* the node changed: the signature covers it */
	cJSON_Delete(copy);
	copy = cJSON_Duplicate(spec, 1);
	cJSON_ReplaceItemInObject(copy, "node", cJSON_CreateString("node-2"));
	UNIT_CHECK(record_check_signature(copy, sign_key_id(k), sign_key_public(k), &why) ==
		   -EBADMSG);
	/* malformed and missing signatures */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(copy, "signature"), "value",
				  cJSON_CreateString("@@@"));
	UNIT_CHECK(record_check_signature(copy, sign_key_id(k), sign_key_public(k), &why) ==
			   -EBADMSG &&
		   strstr(why, "malformed"));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(copy, "signature"), "value",
				  cJSON_CreateNumber(7));
	UNIT_CHECK(record_check_signature(copy, sign_key_id(k), sign_key_public(k), &why) ==
			   -EBADMSG &&
		   !strcmp(why, "unsigned"));
	cJSON_DeleteItemFromObject(copy, "signature");
	UNIT_CHECK(record_check_signature(copy, sign_key_id(k), sign_key_public(k), &why) ==
			   -EBADMSG &&
		   !strcmp(why, "unsigned"));
	cJSON_Delete(copy);
	cJSON_Delete(r);
	cJSON_Delete(r2);
	sign_key_free(k);
	sign_key_free(other);
}

static void test_record_kept_until(void)
{
	char d[DIGEST_STR_LEN], t[RECORD_TIME_LEN];
	cJSON *r = record_build(&id, NULL, entries("ls"), 0, NULL, NULL, NULL, d), *spec;

	spec = cJSON_GetObjectItem(r, "spec");
	UNIT_CHECK(record_kept_until(spec, t) == 0);
	UNIT_CHECK_STR(t, "2026-12-25T00:00:00Z"); /* 00:00:00.000001 + 720h, down to the second */
	cJSON_ReplaceItemInObject(spec, "retention", cJSON_CreateString("forever"));
	UNIT_CHECK(record_kept_until(spec, t) == -EINVAL);
	UNIT_CHECK(record_kept_until(NULL, t) == -EINVAL);
	cJSON_Delete(r);
}

static const char *annotation(const cJSON *r, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metadata"), "annotations"), key));
}

/* The size is that of the object as sent, its own annotation included, at
 * every digit count; the digest does not move; set twice, the same. */
static void test_record_bytes_is_the_size_as_sent(void)
{
	struct record_identity pid = id;
	cJSON *pols = cJSON_CreateArray();
	char d[DIGEST_STR_LEN], d2[DIGEST_STR_LEN], text[64];
	size_t sizes[] = { 1, 500, 9000, 99000 };
	size_t i;

	cJSON_AddItemToArray(pols, cJSON_CreateString("alpha"));
	cJSON_AddItemToArray(pols, cJSON_CreateString("beta"));
	pid.policies = pols;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *big = malloc(sizes[i] + 1), *sent;
		cJSON *r;
		long n;

		memset(big, 'x', sizes[i]);
		big[sizes[i]] = '\0';
		r = record_build(&pid, NULL, entries(big), 0, NULL, NULL, NULL, d);
		UNIT_CHECK(r != NULL);
		UNIT_CHECK_STR(annotation(r, RECORD_POLICIES_ANNOTATION), "alpha,beta");
		n = record_set_bytes(r);
		sent = cJSON_PrintUnformatted(r);
		UNIT_CHECK(n > 0 && (size_t)n == strlen(sent));
		snprintf(text, sizeof(text), "%ld", n);
		UNIT_CHECK_STR(annotation(r, RECORD_BYTES_ANNOTATION), text);
		UNIT_CHECK(record_set_bytes(r) == n);
		UNIT_CHECK(record_digest(cJSON_GetObjectItem(r, "spec"), d2) == 0);
		UNIT_CHECK_STR(d2, d);
		free(sent);
		free(big);
		cJSON_Delete(r);
	}
	cJSON_Delete(pols);
	UNIT_CHECK(record_set_bytes(NULL) == -EINVAL);
}

UNIT_MAIN(UNIT_TEST(test_record_name_is_deterministic_and_bound_to_the_digest),
	  UNIT_TEST(test_record_bytes_is_the_size_as_sent),
	  UNIT_TEST(test_record_build_fields_digest_finalizer),
	  UNIT_TEST(test_record_build_puts_the_expiry_in_an_annotation),
	  UNIT_TEST(test_record_signature_checks), UNIT_TEST(test_record_kept_until))
