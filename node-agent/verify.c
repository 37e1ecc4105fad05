/* Chain verification, shared by `shellaudit-agent verify` and the tests. */
#include "verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static long verify_seq(const cJSON *rec)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "sequence");

	return cJSON_IsNumber(s) ? (long)s->valuedouble : -1;
}

static int verify_cmp(const void *a, const void *b)
{
	long x = verify_seq(*(cJSON *const *)a), y = verify_seq(*(cJSON *const *)b);

	return x < y ? -1 : x > y;
}

static const char *verify_name(const cJSON *rec)
{
	const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "metadata"), "name"));

	return n ? n : "?";
}

int verify_chain(cJSON *const *records, size_t n, FILE *out, struct verify_result *res)
{
	cJSON **sorted = calloc(n ? n : 1, sizeof(*sorted));
	char digest[DIGEST_STR_LEN], prev[DIGEST_STR_LEN] = "";
	long expect = -1;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, records, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), verify_cmp);
	res->records = (long)n;
	res->first_sequence = n ? verify_seq(sorted[0]) : -1;
	res->last_sequence = n ? verify_seq(sorted[n - 1]) : -1;
	if (n && res->first_sequence > 0 && out)
		fprintf(out, "chain starts at sequence %ld: earlier records expired or were deleted\n",
			res->first_sequence);
	for (i = 0; i < n; i++) {
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(sorted[i], "spec");
		const char *stored = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "digest"));
		const char *link = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(spec, "previousDigest"));
		long seq = verify_seq(sorted[i]);

		if (expect >= 0 && seq == expect - 1) {
			res->duplicates++;
			if (out)
				fprintf(out, "%s: a second record with sequence %ld\n", verify_name(sorted[i]), seq);
		} else if (expect >= 0 && seq != expect) {
			res->missing += seq - expect;
			if (out)
				fprintf(out, "missing: sequence %ld..%ld (before %s)\n", expect, seq - 1,
					verify_name(sorted[i]));
			prev[0] = '\0'; /* the link across a gap cannot be checked */
		}
		if (record_digest(spec, digest) < 0 || !stored || strcmp(digest, stored)) {
			res->altered++;
			if (out)
				fprintf(out, "%s (sequence %ld): content does not match its digest\n",
					verify_name(sorted[i]), seq);
		}
		if (prev[0] && (!link || strcmp(link, prev))) {
			res->broken_links++;
			if (out)
				fprintf(out, "%s (sequence %ld): previousDigest does not match sequence %ld\n",
					verify_name(sorted[i]), seq, seq - 1);
		}
		snprintf(prev, sizeof(prev), "%s", stored ? stored : "");
		expect = seq + 1;
	}
	free(sorted);
	if (out)
		fprintf(out, "%ld records, sequence %ld..%ld: %s\n", res->records, res->first_sequence,
			res->last_sequence,
			res->missing || res->altered || res->broken_links || res->duplicates ? "BROKEN" :
											 "intact");
	return res->missing || res->altered || res->broken_links || res->duplicates ? -EBADMSG : 0;
}
