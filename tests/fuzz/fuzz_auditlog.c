// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: a body POSTed to the audit receiver, as
 * auditlog_parse() reads it (an audit EventList, or anything at all).
 * Besides what ASan and UBSan catch: each event about a session names a
 * lower-case UUID and comes with a status.audit whose lists are bounded. */
#include <stdint.h>
#include <string.h>

#include "auditlog.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const char *session, cJSON *audit, void *arg)
{
	(void)arg;
	FUZZ_CHECK(*session && strlen(session) <= 64);
	FUZZ_CHECK(strspn(session, "0123456789abcdef-") == strlen(session));
	FUZZ_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(audit, "sourceIPs")) <= 16);
	cJSON_Delete(audit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];

	if (auditlog_parse((const char *)data, size, fuzz_one, NULL, err, sizeof(err)) < 0)
		FUZZ_CHECK(err[0] != '\0');
	return 0;
}
