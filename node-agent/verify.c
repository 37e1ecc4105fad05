// SPDX-License-Identifier: Apache-2.0
/* Chain verification, shared by `shellaudit-agent verify` and the tests. */
#include "verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
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

struct verify_list {
	cJSON **items;
	size_t n, cap;
};

static int verify_collect(const cJSON *item, void *arg)
{
	struct verify_list *l = arg;
	cJSON **p;

	if (!item) { /* the list starts over (an expired continue token) */
		while (l->n)
			cJSON_Delete(l->items[--l->n]);
		return 0;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		if (!(p = realloc(l->items, l->cap * sizeof(*p))))
			return -ENOMEM;
		l->items = p;
	}
	if (!(l->items[l->n] = cJSON_Duplicate(item, 1)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static const char *verify_cid(const cJSON *rec)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "containerID")) ?: "";
}

static int verify_cmp_cid(const void *a, const void *b)
{
	return strcmp(verify_cid(*(cJSON *const *)a), verify_cid(*(cJSON *const *)b));
}

int verify_container(struct kube_client *c, const char *ns, const char *pod, const char *container,
		     FILE *out)
{
	struct verify_list l = { 0 };
	struct kube_response resp;
	struct verify_result res;
	char path[1024];
	size_t i, start;
	int ret, bad = 0;

	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords?labelSelector="
		 "shellaudit.io%%2Fpod%%3D%s%%2Cshellaudit.io%%2Fcontainer%%3D%s",
		 ns, pod, container);
	ret = kube_list(c, path, 500, verify_collect, &l, NULL, &resp);
	if (ret < 0) {
		fprintf(out, "cannot list AuditRecords: %s\n", resp.message[0] ? resp.message : strerror(-ret));
		goto out;
	}
	if (l.n == 0) {
		fprintf(out, "no AuditRecords for %s/%s container %s\n", ns, pod, container);
		goto out;
	}
	/* One chain per container ID (a restarted container starts anew). */
	qsort(l.items, l.n, sizeof(*l.items), verify_cmp_cid);
	for (start = 0, i = 1; i <= l.n; i++) {
		if (i < l.n && !strcmp(verify_cid(l.items[i]), verify_cid(l.items[start])))
			continue;
		fprintf(out, "%s:\n", verify_cid(l.items[start]));
		if (verify_chain(l.items + start, i - start, out, &res) < 0)
			bad = 1;
		start = i;
	}
	ret = bad ? -EBADMSG : 0;
out:
	for (i = 0; i < l.n; i++)
		cJSON_Delete(l.items[i]);
	free(l.items);
	return ret;
}
