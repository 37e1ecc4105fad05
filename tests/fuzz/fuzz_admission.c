// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: a body POSTed to the session webhook, as
 * admission_parse() reads it (an AdmissionReview, or anything at all),
 * and, when it is one, the answer and the ShellAuditSession objects made
 * of it. Besides what ASan and UBSan catch: a review is refused with a
 * reason or parsed within every bound (uid a lower-case UUID, at most
 * ADMISSION_MAX_SESSIONS sessions, strings cut to their fields), and the
 * answer always allows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admission.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec now = { 1764600000, 0 };
	struct admission_review r;
	char err[128], *resp;
	cJSON *doc;
	size_t i;

	if (admission_parse((const char *)data, size, &r, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(strlen(r.uid) > 0 && strlen(r.uid) <= ADMISSION_UID_MAX);
	FUZZ_CHECK(strspn(r.uid, "0123456789abcdef-") == strlen(r.uid));
	FUZZ_CHECK(r.n <= ADMISSION_MAX_SESSIONS);
	FUZZ_CHECK(r.n > 0 || r.skipped);
	for (i = 0; i < r.n; i++) {
		cJSON *o;

		FUZZ_CHECK(strlen(r.s[i].container) < sizeof(r.s[i].container));
		FUZZ_CHECK(cJSON_GetArraySize(r.s[i].command) <= 64);
		if (!r.s[i].node[0])
			strcpy(r.s[i].node, "n");
		o = admission_session_object(&r, i, &now, 60, i % 2);
		FUZZ_CHECK(o != NULL);
		cJSON_Delete(o);
	}
	resp = admission_response(r.uid, r.n ? r.uid : NULL);
	doc = cJSON_Parse(resp);
	FUZZ_CHECK(
		cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "allowed")));
	cJSON_Delete(doc);
	free(resp);
	admission_review_clear(&r);
	return 0;
}
