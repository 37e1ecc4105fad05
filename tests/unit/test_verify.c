// SPDX-License-Identifier: Apache-2.0
/* verify: a container's chain of records against its node's key and
 * published head. An intact chain passes in any order, and so does one
 * whose oldest or newest records expired; what a cluster admin can do
 * without the node's key fails: a record deleted first, in the middle or
 * last (through the head), an edited record re-created with a recomputed
 * digest and link, a signature swapped in from another record, an
 * unsigned record, a record replaced at the head, a chain with no head,
 * every record gone, and two genuine chains spliced. Hostile fields (a sequence that is a string, a
 * huge number) are findings, not crashes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "sign.h"
#include "timefmt.h"
#include "unit.h"
#include "verify.h"

static const struct record_identity id = { "team-a", "web-1", "uid-1", "main",
					   "containerd://abc123", "node-1", NULL, "720h" };
static struct sign_key *key, *other_key;
/* The entries' day, and the verifier's clocks: within the retention
 * (720h) of every record, and after it. */
static const time_t day0 = 1795564800;	/* 2026-11-25T00:00:00Z */
#define WITHIN (day0 + 3600)
#define AFTER (day0 + 40 * 86400)

static cJSON *entries(int i)
{
	cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();
	char t[40], text[16];

	timefmt_rfc3339(&(struct timespec){ day0 + i * 60, 0 }, t, sizeof(t));
	snprintf(text, sizeof(text), "cmd %d", i);
	cJSON_AddStringToObject(e, "time", t);
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	cJSON_AddItemToArray(arr, e);
	return arr;
}

/* A chain of n records signed by k, formed as the spool forms them. */
static void chain(cJSON **recs, int n, const struct sign_key *k)
{
	char prev[DIGEST_STR_LEN] = "", until[RECORD_TIME_LEN] = "", d[DIGEST_STR_LEN];
	int i;

	for (i = 0; i < n; i++) {
		recs[i] = record_build(&id, NULL, entries(i), (uint64_t)i, prev, until, k, d);
		memcpy(prev, d, sizeof(d));
		record_kept_until(cJSON_GetObjectItem(recs[i], "spec"), until);
	}
}

static void free_chain(cJSON **recs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
}

static cJSON *spec_of(cJSON *r)
{
	return cJSON_GetObjectItem(r, "spec");
}

/* The head the node publishes after record r, which expires at expires. */
static cJSON *head_of(cJSON *r, time_t expires)
{
	cJSON *h = cJSON_CreateObject();
	char t[40];

	timefmt_rfc3339(&(struct timespec){ expires, 0 }, t, sizeof(t));
	cJSON_AddStringToObject(h, "containerID", id.container_id);
	cJSON_AddNumberToObject(h, "sequence",
				cJSON_GetNumberValue(cJSON_GetObjectItem(spec_of(r), "sequence")));
	cJSON_AddStringToObject(h, "digest",
				cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(r), "digest")));
	cJSON_AddStringToObject(h, "expires", t);
	return h;
}

static struct verify_anchor anchor(const cJSON *head)
{
	return (struct verify_anchor){ "node-1", sign_key_id(key), sign_key_public(key), head };
}

static void test_setup(void)
{
	UNIT_CHECK(sign_key_generate(&key) == 0 && sign_key_generate(&other_key) == 0);
}

static void test_verify_intact_chain(void)
{
	cJSON *recs[5], *shuffled[5], *head;
	struct verify_result res;
	struct verify_anchor a;

	chain(recs, 5, key);
	head = head_of(recs[4], day0 + 30 * 86400);
	a = anchor(head);
	shuffled[0] = recs[3];
	shuffled[1] = recs[0];
	shuffled[2] = recs[4];
	shuffled[3] = recs[1];
	shuffled[4] = recs[2];
	UNIT_CHECK(verify_records(shuffled, 5, &a, WITHIN, NULL, &res) == 0);
	UNIT_CHECK(res.records == 5 && res.first_sequence == 0 && res.last_sequence == 4);
	UNIT_CHECK(verify_chain(shuffled, 5, NULL, &res) == 0);
	/* the oldest expired (verified after their retention): still intact */
	UNIT_CHECK(verify_records(recs + 2, 3, &a, AFTER, NULL, &res) == 0 &&
		   res.first_sequence == 2);
	/* the newest expired too */
	UNIT_CHECK(verify_records(recs + 1, 2, &a, AFTER, NULL, &res) == 0);
	/* records published after the head was (it is reported each second) */
	cJSON_Delete(head);
	head = head_of(recs[2], day0 + 30 * 86400);
	a = anchor(head);
	UNIT_CHECK(verify_records(recs, 5, &a, WITHIN, NULL, &res) == 0);
	cJSON_Delete(head);
	free_chain(recs, 5);
}

static void test_verify_detects_deleted_first_middle_last(void)
{
	cJSON *recs[5], *some[4], *head;
	struct verify_result res;
	struct verify_anchor a;

	chain(recs, 5, key);
	head = head_of(recs[4], day0 + 30 * 86400);
	a = anchor(head);
	/* middle */
	some[0] = recs[0];
	some[1] = recs[1];
	some[2] = recs[3];
	some[3] = recs[4];
	UNIT_CHECK(verify_records(some, 4, &a, WITHIN, NULL, &res) == -EBADMSG && res.missing == 1);
	/* first, within its retention */
	UNIT_CHECK(verify_records(recs + 1, 4, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.deleted_first == 1 && res.missing == 0);
	/* last: only the head tells */
	UNIT_CHECK(verify_chain(recs, 4, NULL, &res) == 0);
	UNIT_CHECK(verify_records(recs, 4, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.deleted_last == 1);
	UNIT_CHECK(verify_records(recs, 2, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.deleted_last == 3);
	/* all of them */
	UNIT_CHECK(verify_records(NULL, 0, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.deleted_last == 5);
	UNIT_CHECK(verify_records(NULL, 0, &a, AFTER, NULL, &res) == 0);
	cJSON_Delete(head);
	free_chain(recs, 5);
}

static void test_verify_detects_recomputed_and_swapped(void)
{
	cJSON *recs[3], *spec, *e, *head, *sig;
	char d[DIGEST_STR_LEN];
	struct verify_result res;
	struct verify_anchor a;

	chain(recs, 3, key);
	head = head_of(recs[2], day0 + 30 * 86400);
	a = anchor(head);
	/* an edited record re-created with its digest recomputed, and the
	 * next record's link too: the chain holds, the signatures do not */
	spec = spec_of(recs[1]);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "entries"), 0);
	cJSON_ReplaceItemInObject(e, "text", cJSON_CreateString("innocent"));
	record_digest(spec, d);
	cJSON_ReplaceItemInObject(spec, "digest", cJSON_CreateString(d));
	cJSON_ReplaceItemInObject(spec_of(recs[2]), "previousDigest", cJSON_CreateString(d));
	record_digest(spec_of(recs[2]), d);
	cJSON_ReplaceItemInObject(spec_of(recs[2]), "digest", cJSON_CreateString(d));
	UNIT_CHECK(verify_chain(recs, 3, NULL, &res) == 0);
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.bad_signatures == 2 && res.altered == 0 && res.broken_links == 0);
	free_chain(recs, 3);
	cJSON_Delete(head);

	/* a signature swapped in from another record of the same key */
	chain(recs, 3, key);
	head = head_of(recs[2], day0 + 30 * 86400);
	a = anchor(head);
	sig = cJSON_Duplicate(cJSON_GetObjectItem(spec_of(recs[0]), "signature"), 1);
	cJSON_ReplaceItemInObject(spec_of(recs[1]), "signature", sig);
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.bad_signatures == 1);
	/* unsigned */
	cJSON_DeleteItemFromObject(spec_of(recs[1]), "signature");
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.bad_signatures == 1);
	free_chain(recs, 3);
	/* a whole chain signed by another key */
	chain(recs, 3, other_key);
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.bad_signatures == 3);
	/* the node publishes no key (its ShellAuditNode is gone) */
	a.key_id = a.public_key = NULL;
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.bad_signatures == 3);
	free_chain(recs, 3);
	cJSON_Delete(head);
}

static void test_verify_detects_a_replaced_head_and_no_head(void)
{
	cJSON *recs[3], *forged[3], *head;
	struct verify_result res;
	struct verify_anchor a;

	chain(recs, 3, key);
	/* the head names the record the node published, not this one */
	chain(forged, 3, key);
	cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(spec_of(forged[2]),
									   "entries"),
						     0),
				  "text", cJSON_CreateString("x"));
	head = head_of(forged[2], day0 + 30 * 86400);
	cJSON_ReplaceItemInObject(
		head, "digest",
		cJSON_CreateString(
			"sha256:0000000000000000000000000000000000000000000000000000000000000000"));
	a = anchor(head);
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG &&
		   res.deleted_last == 1);
	a.head = NULL;
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG && res.no_head == 1);
	/* a malformed head */
	cJSON_ReplaceItemInObject(head, "sequence", cJSON_CreateString("2"));
	a.head = head;
	UNIT_CHECK(verify_records(recs, 3, &a, WITHIN, NULL, &res) == -EBADMSG && res.no_head == 1);
	cJSON_Delete(head);
	free_chain(recs, 3);
	free_chain(forged, 3);
}

static void test_verify_hostile_fields(void)
{
	cJSON *recs[3];
	struct verify_result res;
	FILE *devnull = fopen("/dev/null", "w");

	chain(recs, 3, key);
	cJSON_ReplaceItemInObject(spec_of(recs[1]), "sequence", cJSON_CreateString("1"));
	UNIT_CHECK(verify_chain(recs, 3, devnull, &res) == -EBADMSG);
	cJSON_ReplaceItemInObject(spec_of(recs[1]), "sequence", cJSON_CreateNumber(1e300));
	UNIT_CHECK(verify_chain(recs, 3, devnull, &res) == -EBADMSG);
	cJSON_ReplaceItemInObject(spec_of(recs[1]), "sequence", cJSON_CreateNumber(-5));
	UNIT_CHECK(verify_chain(recs, 3, devnull, &res) == -EBADMSG);
	cJSON_DeleteItemFromObject(recs[2], "spec");
	UNIT_CHECK(verify_chain(recs, 3, devnull, &res) == -EBADMSG);
	UNIT_CHECK(verify_chain(NULL, 0, devnull, &res) == 0 && res.records == 0);
	free_chain(recs, 3);
	if (devnull)
		fclose(devnull);
}

static void test_verify_reordered(void)
{
	cJSON *recs[3], *s1, *s2;
	struct verify_result res;

	chain(recs, 3, key);
	s1 = spec_of(recs[1]);
	s2 = spec_of(recs[2]);
	cJSON_ReplaceItemInObject(s1, "sequence", cJSON_CreateNumber(2));
	cJSON_ReplaceItemInObject(s2, "sequence", cJSON_CreateNumber(1));
	UNIT_CHECK(verify_chain(recs, 3, NULL, &res) == -EBADMSG && res.altered == 2);
	free_chain(recs, 3);
}

/* Two genuine chains of one container (the node lost its spool and began
 * again at 0, same key): each record keeps its digest and signature, the
 * sequence runs on, and only the link between the two halves can tell a
 * splice of them, which a cluster admin can make by deleting records. */
static void test_verify_spliced_chains(void)
{
	char prev[DIGEST_STR_LEN] = "", until[RECORD_TIME_LEN] = "", d[DIGEST_STR_LEN];
	cJSON *a[4], *b[4], *spliced[4], *head;
	struct verify_result res;
	struct verify_anchor an;
	int i;

	chain(a, 4, key);
	for (i = 0; i < 4; i++) {
		b[i] = record_build(&id, NULL, entries(i + 100), (uint64_t)i, prev, until, key, d);
		memcpy(prev, d, sizeof(d));
		record_kept_until(cJSON_GetObjectItem(b[i], "spec"), until);
	}
	spliced[0] = a[0];
	spliced[1] = a[1];
	spliced[2] = b[2];
	spliced[3] = b[3];
	UNIT_CHECK(verify_chain(spliced, 4, NULL, &res) == -EBADMSG && res.broken_links == 1 &&
		   res.altered == 0 && res.missing == 0);
	head = head_of(b[3], day0 + 30 * 86400);
	an = anchor(head);
	UNIT_CHECK(verify_records(spliced, 4, &an, WITHIN, NULL, &res) == -EBADMSG &&
		   res.broken_links == 1 && res.bad_signatures == 0);
	cJSON_Delete(head);
	free_chain(a, 4);
	free_chain(b, 4);
}

/* A node's root signs, for its own node and with its own key, a whole
 * chain about a pod that runs on another node, under a container ID of its
 * choosing, and publishes a head for it: the chain alone verifies. The pod
 * binds it: one pod UID on two nodes, or on another node than the pod's,
 * is a finding. */
static void test_verify_pod_on_another_node_is_a_finding(void)
{
	static const struct record_identity forged_id = { "team-a", "web-1", "uid-1", "main",
							  "containerd://f00d", "node-2", NULL,
							  "720h" };
	char prev[DIGEST_STR_LEN] = "", until[RECORD_TIME_LEN] = "", d[DIGEST_STR_LEN];
	cJSON *a[3], *f[2], *all[5], *head;
	struct verify_result res;
	struct verify_anchor an;
	FILE *out = tmpfile();
	int i;

	chain(a, 3, key);
	for (i = 0; i < 2; i++) {
		f[i] = record_build(&forged_id, NULL, entries(i + 50), (uint64_t)i, prev, until,
				    other_key, d);
		memcpy(prev, d, sizeof(d));
		record_kept_until(cJSON_GetObjectItem(f[i], "spec"), until);
	}
	/* The forged chain against its node's own key and head: intact. */
	head = head_of(f[1], day0 + 30 * 86400);
	cJSON_ReplaceItemInObject(head, "containerID", cJSON_CreateString("containerd://f00d"));
	an = (struct verify_anchor){ "node-2", sign_key_id(other_key), sign_key_public(other_key),
				     head };
	UNIT_CHECK(verify_records(f, 2, &an, WITHIN, NULL, &res) == 0);
	for (i = 0; i < 3; i++)
		all[i] = a[i];
	all[3] = f[0];
	all[4] = f[1];
	/* The pod's records on one node only: nothing. */
	UNIT_CHECK(verify_pod_nodes(a, 3, "uid-1", "node-1", NULL) == 0);
	UNIT_CHECK(verify_pod_nodes(a, 3, NULL, NULL, NULL) == 0);
	/* The pod runs on node-1: node-2's two records are wrong. */
	UNIT_CHECK(verify_pod_nodes(all, 5, "uid-1", "node-1", out) == 2);
	/* The pod is gone: one UID on two nodes, one of them lies. */
	UNIT_CHECK(verify_pod_nodes(all, 5, NULL, NULL, NULL) > 0);
	/* Another pod of the same name (a new UID): the old records are its
	 * predecessor's, not wrong for that alone. */
	UNIT_CHECK(verify_pod_nodes(a, 3, "uid-2", "node-9", NULL) == 0);
	if (out)
		fclose(out);
	cJSON_Delete(head);
	free_chain(a, 3);
	free_chain(f, 2);
}

static void test_cleanup(void)
{
	sign_key_free(key);
	sign_key_free(other_key);
}

UNIT_MAIN(UNIT_TEST(test_setup), UNIT_TEST(test_verify_intact_chain),
	  UNIT_TEST(test_verify_detects_deleted_first_middle_last),
	  UNIT_TEST(test_verify_detects_recomputed_and_swapped),
	  UNIT_TEST(test_verify_detects_a_replaced_head_and_no_head),
	  UNIT_TEST(test_verify_hostile_fields), UNIT_TEST(test_verify_reordered),
	  UNIT_TEST(test_verify_spliced_chains),
	  UNIT_TEST(test_verify_pod_on_another_node_is_a_finding), UNIT_TEST(test_cleanup))
