// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "resolve.h"
#include "unit.h"

static const cJSON *ns_labels(const char *ns, void *arg)
{
	return cJSON_GetObjectItem((const cJSON *)arg, ns);
}

static struct policy *pol(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	struct policy *p = NULL;
	char err[256];

	policy_parse(j, &p, err, sizeof(err));
	cJSON_Delete(j);
	return p;
}

#define RUNNING(n, id) "{\"name\":\"" n "\",\"containerID\":\"containerd://" id "\",\"state\":{\"running\":{}}}"

static cJSON *trimmed_pod(const char *json)
{
	cJSON *raw = cJSON_Parse(json), *t = resolve_trim_pod(raw);

	cJSON_Delete(raw);
	return t;
}

static const char *field(const cJSON *t, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(t, a);

	return cJSON_GetStringValue(b ? cJSON_GetObjectItem(v, b) : v);
}

static void test_resolve_merges_policies_on_one_container(void)
{
	struct policy *p[2] = {
		pol("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},\"capture\":{\"exec\":false,\"terminal\":false},"
		    "\"events\":{\"ratePerMinute\":100},\"retention\":\"2h\",\"redact\":[{\"name\":\"x\",\"pattern\":\"p\"}]}}"),
		pol("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"podSelector\":{},\"capture\":{\"readline\":false},"
		    "\"events\":{\"ratePerMinute\":5,\"execEvents\":true},\"retention\":\"1h30m\","
		    "\"redact\":[{\"name\":\"x\",\"pattern\":\"p\"},{\"name\":\"y\",\"pattern\":\"q\",\"replacement\":\"*\"}]}}"),
	};
	cJSON *nss = cJSON_Parse("{\"ns\":{}}");
	cJSON *pod = trimmed_pod("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\",\"labels\":{}},"
				 "\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING("c", "1") "]}}");
	const cJSON *pods[1] = { pod };
	struct resolution r;
	const cJSON *t, *ev;

	UNIT_CHECK(p[0] && p[1]);
	if (!p[0] || !p[1])
		return;
	UNIT_CHECK(resolve_compute(p, 2, pods, 1, ns_labels, nss, &r) == 0);
	t = cJSON_GetArrayItem(hmap_get(&r.nodes, "n1"), 0);
	UNIT_CHECK(t != NULL);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(t, "policies")) == 2);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "readline")));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "exec")));
	/* a turns terminal capture off, b leaves it on: the union is on. */
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "terminal")));
	ev = cJSON_GetObjectItem(t, "events");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "ratePerMinute")) == 5);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ev, "execEvents")));
	UNIT_CHECK_STR(field(t, "retention", NULL), "2h");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(t, "redact")) == 2);
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "redact"), 0), "replacement", NULL),
		       "[REDACTED]");
	resolve_clear(&r);
	policy_free(p[0]);
	policy_free(p[1]);
	cJSON_Delete(pod);
	cJSON_Delete(nss);
}

static void test_resolve_only_running_containers_with_ids(void)
{
	struct policy *p[1] = { pol("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{}}}") };
	cJSON *nss = cJSON_Parse("{\"ns\":{}}");
	cJSON *pods_json[4] = {
		trimmed_pod("{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\"},\"spec\":{\"nodeName\":\"n1\"},"
			    "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[" RUNNING("c", "b") ","
			    "{\"name\":\"w\",\"containerID\":\"\",\"state\":{\"waiting\":{}}},"
			    "{\"name\":\"t\",\"containerID\":\"containerd://t\",\"state\":{\"terminated\":{}}}],"
			    "\"initContainerStatuses\":[" RUNNING("init", "a") "],"
			    "\"ephemeralContainerStatuses\":[" RUNNING("debug", "c") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p2\",\"namespace\":\"ns\"},\"spec\":{},"
			    "\"status\":{\"containerStatuses\":[" RUNNING("c", "x") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p3\",\"namespace\":\"ns\"},\"spec\":{\"nodeName\":\"n1\"},"
			    "\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[" RUNNING("c", "y") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p4\",\"namespace\":\"gone\"},\"spec\":{\"nodeName\":\"n2\"},"
			    "\"status\":{\"containerStatuses\":[" RUNNING("c", "z") "]}}"),
	};
	const cJSON *pods[4] = { pods_json[0], pods_json[1], pods_json[2], pods_json[3] };
	struct resolution r;
	const cJSON *arr;
	struct resolve_policy_result *pr;
	int i;

	UNIT_CHECK(resolve_compute(p, 1, pods, 4, ns_labels, nss, &r) == 0);
	arr = hmap_get(&r.nodes, "n1");
	UNIT_CHECK(cJSON_GetArraySize(arr) == 3);
	/* sorted by container ID: init (a), c (b), debug (c) */
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 0), "container", NULL), "init");
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 1), "container", NULL), "c");
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 2), "container", NULL), "debug");
	/* a namespace the cache does not know has no labels: {} still selects it */
	UNIT_CHECK(cJSON_GetArraySize(hmap_get(&r.nodes, "n2")) == 1);
	pr = hmap_get(&r.policies, "a");
	UNIT_CHECK(pr && pr->matched_pods == 2 && pr->nodes.size == 2);
	resolve_clear(&r);
	policy_free(p[0]);
	for (i = 0; i < 4; i++)
		cJSON_Delete(pods_json[i]);
	cJSON_Delete(nss);
}

static void test_resolve_namespace_selector_and_node_spec(void)
{
	struct policy *p[1] = { pol("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"namespaceSelector\":"
				    "{\"matchLabels\":{\"env\":\"prod\"}},\"podSelector\":{\"matchLabels\":{\"app\":\"x\"}}}}") };
	cJSON *nss = cJSON_Parse("{\"prod\":{\"env\":\"prod\"},\"dev\":{\"env\":\"dev\"}}");
	cJSON *a = trimmed_pod("{\"metadata\":{\"name\":\"a\",\"namespace\":\"prod\",\"labels\":{\"app\":\"x\"}},"
			       "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"containerStatuses\":[" RUNNING("c", "1") "]}}");
	cJSON *b = trimmed_pod("{\"metadata\":{\"name\":\"b\",\"namespace\":\"dev\",\"labels\":{\"app\":\"x\"}},"
			       "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"containerStatuses\":[" RUNNING("c", "2") "]}}");
	const cJSON *pods[2] = { a, b };
	struct resolution r;
	cJSON *spec;

	UNIT_CHECK(resolve_compute(p, 1, pods, 2, ns_labels, nss, &r) == 0);
	spec = resolve_node_spec(&r, "n");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "targetCount")) == 1);
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "targets"), 0), "pod", NULL), "a");
	cJSON_Delete(spec);
	spec = resolve_node_spec(&r, "elsewhere");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "targetCount")) == 0);
	cJSON_Delete(spec);
	resolve_clear(&r);
	policy_free(p[0]);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(nss);
}

static void test_resolve_trim_pod_keeps_only_what_matters(void)
{
	cJSON *t = trimmed_pod("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"annotations\":{\"big\":\"x\"},"
			       "\"managedFields\":[{}]},\"spec\":{\"nodeName\":\"n1\",\"volumes\":[{}]},"
			       "\"status\":{\"conditions\":[{}],\"containerStatuses\":[" RUNNING("c", "1") "]}}");
	char *s = cJSON_PrintUnformatted(t);

	UNIT_CHECK(s && !strstr(s, "annotations") && !strstr(s, "managedFields") && !strstr(s, "volumes") &&
		   !strstr(s, "conditions"));
	UNIT_CHECK(s && strstr(s, "\"running\":true"));
	cJSON_free(s);
	cJSON_Delete(t);
}

UNIT_MAIN(UNIT_TEST(test_resolve_merges_policies_on_one_container),
	  UNIT_TEST(test_resolve_only_running_containers_with_ids),
	  UNIT_TEST(test_resolve_namespace_selector_and_node_spec),
	  UNIT_TEST(test_resolve_trim_pod_keeps_only_what_matters))
