// SPDX-License-Identifier: Apache-2.0
/* podindex: the audited pods as the ShellAuditNodes say, per node: a pod
 * and its containers are found, a container that is not a target is said
 * so, a node's new spec replaces what it said before, a node gone takes
 * its pods along, a pod that moved to another node stays that node's, and
 * the informer's transform keeps only what the index needs. */
#include <string.h>

#include "podindex.h"
#include "unit.h"

static cJSON *san(const char *name, const char *targets)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"7\"},"
		 "\"spec\":{\"targetCount\":0,"
		 "\"targets\":[%s]}}",
		 name, targets);
	return cJSON_Parse(buf);
}

#define T(ns, pod, uid, c)                                                                         \
	"{\"namespace\":\"" ns "\",\"pod\":\"" pod "\",\"podUID\":\"" uid "\",\"container\":\"" c  \
	"\",\"containerID\":\"containerd://x\",\"policies\":[\"p\"],\"retention\":\"1h\"}"

static void test_podindex_finds_audited_pods_and_containers(void)
{
	cJSON *a = san("node-a", T("ns", "web", "u1", "main") "," T(
					 "ns", "web", "u1", "side") "," T("ns", "db", "u2", "pg"));
	cJSON *trimmed = podindex_trim(a), *a2, *b;
	struct podindex *x;
	struct podindex_pod p;

	UNIT_CHECK(podindex_new(&x) == 0);
	/* The transform keeps what the index reads, not the rest. */
	UNIT_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(trimmed, "metadata"),
				       "resourceVersion") == NULL);
	UNIT_CHECK(
		cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(trimmed, "spec"),
							       "targets"),
					   0),
			"policies") == NULL);
	podindex_set_node(x, "node-a", trimmed);
	UNIT_CHECK(podindex_count(x) == 2);
	UNIT_CHECK(podindex_lookup(x, "ns", "web", "side", &p) == 1);
	UNIT_CHECK_STR(p.node, "node-a");
	UNIT_CHECK_STR(p.uid, "u1");
	UNIT_CHECK(p.container_audited);
	UNIT_CHECK(podindex_lookup(x, "ns", "web", "other", &p) == 1 && !p.container_audited);
	UNIT_CHECK(podindex_lookup(x, "ns", "web", NULL, &p) == 1 && p.container_audited);
	UNIT_CHECK(podindex_lookup(x, "ns", "nope", NULL, &p) == 0);
	UNIT_CHECK(podindex_lookup(x, "other", "web", NULL, &p) == 0);
	/* A new spec replaces the old one: db is no longer audited. */
	a2 = san("node-a", T("ns", "web", "u1", "main"));
	podindex_set_node(x, "node-a", a2);
	UNIT_CHECK(podindex_lookup(x, "ns", "db", NULL, &p) == 0);
	UNIT_CHECK(podindex_lookup(x, "ns", "web", "side", &p) == 1 && !p.container_audited);
	/* web moved to node-b (a new pod of that name); node-a's late
	 * removal does not take it from node-b. */
	b = san("node-b", T("ns", "web", "u3", "main"));
	podindex_set_node(x, "node-b", b);
	podindex_set_node(x, "node-a", NULL);
	UNIT_CHECK(podindex_lookup(x, "ns", "web", "main", &p) == 1);
	UNIT_CHECK_STR(p.node, "node-b");
	UNIT_CHECK_STR(p.uid, "u3");
	podindex_set_node(x, "node-b", NULL);
	UNIT_CHECK(podindex_count(x) == 0);
	cJSON_Delete(a);
	cJSON_Delete(a2);
	cJSON_Delete(b);
	cJSON_Delete(trimmed);
	podindex_free(x);
}

UNIT_MAIN(UNIT_TEST(test_podindex_finds_audited_pods_and_containers))
