// SPDX-License-Identifier: Apache-2.0
/* The resolver: merged options, which containers are targets, selectors,
 * the node spec, and what is incremental about it: an event touches only
 * what it changes, and the redact-rule cap of the ShellAuditNode schema. */
#include <stdlib.h>
#include <string.h>

#include "resolve.h"
#include "unit.h"

struct touched {
	char names[64][64];
	int n;
};

static void touch(enum resolve_kind kind, const char *name, void *arg)
{
	struct touched *t = arg;

	if (t && t->n < 64)
		snprintf(t->names[t->n++], 64, "%s/%s", kind == RESOLVE_NODE ? "node" : "policy",
			 name);
}

static bool was_touched(const struct touched *t, const char *what)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->names[i], what))
			return true;
	return false;
}

static const cJSON *ns_labels(const char *ns, void *arg);

/* Every pod fed to a new resolver (pods named by their metadata). */
static int compute(struct policy *const *p, size_t n, const cJSON *const *pods, size_t npods,
		   const cJSON *nss, struct resolver *r)
{
	size_t i;
	char key[256];

	resolver_init(r, ns_labels, NULL, (void *)nss);
	if (resolver_set_policies(r, p, n) < 0)
		return -1;
	for (i = 0; i < npods; i++) {
		const cJSON *md = cJSON_GetObjectItem(pods[i], "metadata");

		snprintf(key, sizeof(key), "%s/%s",
			 cJSON_GetStringValue(cJSON_GetObjectItem(md, "namespace")),
			 cJSON_GetStringValue(cJSON_GetObjectItem(md, "name")));
		if (resolver_pod(r, key, pods[i]) < 0)
			return -1;
	}
	return 0;
}

static const cJSON *node_targets(struct resolver *r, const char *node, cJSON **keep)
{
	*keep = resolve_node_spec(r, node);
	return cJSON_GetObjectItem(*keep, "targets");
}

static const cJSON *ns_labels(const char *ns, void *arg)
{
	if (!arg)
		return NULL;
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

#define RUNNING(n, id)                                                                             \
	"{\"name\":\"" n "\",\"containerID\":\"containerd://" id "\",\"state\":{\"running\":{}}}"

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
		pol("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
		    "\"capture\":{\"exec\":false,\"terminal\":false},"
		    "\"events\":{\"ratePerMinute\":100},\"retention\":\"2h\","
		    "\"redact\":[{\"name\":\"x\",\"pattern\":\"p\"}]}}"),
		pol("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"podSelector\":{},"
		    "\"capture\":{\"readline\":false},\"events\":{\"ratePerMinute\":5,"
		    "\"execEvents\":true},\"retention\":\"1h30m\",\"redact\":[{\"name\":\"x\","
		    "\"pattern\":\"p\"},{\"name\":\"y\",\"pattern\":\"q\","
		    "\"replacement\":\"*\"}]}}"),
	};
	cJSON *nss = cJSON_Parse("{\"ns\":{}}");
	cJSON *pod = trimmed_pod(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\",\"labels\":{}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	const cJSON *pods[1] = { pod };
	struct resolver r;
	const cJSON *t, *ev;
	cJSON *spec;

	UNIT_CHECK(p[0] && p[1]);
	if (!p[0] || !p[1])
		return;
	UNIT_CHECK(compute(p, 2, pods, 1, nss, &r) == 0);
	t = cJSON_GetArrayItem(node_targets(&r, "n1", &spec), 0);
	UNIT_CHECK(t != NULL);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(t, "policies")) == 2);
	UNIT_CHECK(
		cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "readline")));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "exec")));
	/* a turns terminal capture off, b leaves it on: the union is on. */
	UNIT_CHECK(
		cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "capture"), "terminal")));
	ev = cJSON_GetObjectItem(t, "events");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "ratePerMinute")) == 5);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ev, "execEvents")));
	UNIT_CHECK_STR(field(t, "retention", NULL), "2h");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(t, "redact")) == 2);
	UNIT_CHECK_STR(
		field(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "redact"), 0), "replacement", NULL),
		"[REDACTED]");
	cJSON_Delete(spec);
	resolver_clear(&r);
	policy_free(p[0]);
	policy_free(p[1]);
	cJSON_Delete(pod);
	cJSON_Delete(nss);
}

/* execFrom: Sessions reaches the node only when every policy that records
 * execs on the container asks for it; one All (or no execFrom) is enough
 * for all of them; a policy that records no exec has no say. */
static void test_resolve_exec_from_sessions_only_when_all_agree(void)
{
	static const char *const sets[][2] = {
		{ "\"capture\":{\"execFrom\":\"Sessions\"}", "\"capture\":{\"exec\":false}" },
		{ "\"capture\":{\"execFrom\":\"Sessions\"}", "\"capture\":{}" },
		{ "\"capture\":{\"execFrom\":\"Sessions\"}", "\"capture\":{\"execFrom\":\"All\"}" },
	};
	static const char *const want[] = { "Sessions", NULL, NULL };
	cJSON *nss = cJSON_Parse("{\"ns\":{}}");
	cJSON *pod = trimmed_pod(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\",\"labels\":{}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	const cJSON *pods[1] = { pod };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sets); i++) {
		char a[256], b[256];
		struct policy *p[2];
		struct resolver r;
		cJSON *spec;
		const cJSON *t;

		snprintf(a, sizeof(a),
			 "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},%s}}",
			 sets[i][0]);
		snprintf(b, sizeof(b),
			 "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"podSelector\":{},%s}}",
			 sets[i][1]);
		p[0] = pol(a);
		p[1] = pol(b);
		UNIT_CHECK(p[0] && p[1]);
		if (!p[0] || !p[1]) {
			policy_free(p[0]);
			policy_free(p[1]);
			continue;
		}
		UNIT_CHECK(compute(p, 2, pods, 1, nss, &r) == 0);
		t = cJSON_GetArrayItem(node_targets(&r, "n1", &spec), 0);
		if (want[i])
			UNIT_CHECK_STR(field(t, "capture", "execFrom"), want[i]);
		else
			UNIT_CHECK(field(t, "capture", "execFrom") == NULL);
		cJSON_Delete(spec);
		resolver_clear(&r);
		policy_free(p[0]);
		policy_free(p[1]);
	}
	cJSON_Delete(pod);
	cJSON_Delete(nss);
}

static void test_resolve_only_running_containers_with_ids(void)
{
	struct policy *p[1] = { pol(
		"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{}}}") };
	cJSON *nss = cJSON_Parse("{\"ns\":{}}");
	cJSON *pods_json[4] = {
		trimmed_pod(
			"{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\"},"
			"\"spec\":{\"nodeName\":\"n1\"},"
			"\"status\":{\"phase\":\"Running\",\"containerStatuses\":[" RUNNING(
				"c", "b") ","
					  "{\"name\":\"w\",\"containerID\":\"\","
					  "\"state\":{\"waiting\":{}}},{\"name\":\"t\","
					  "\"containerID\":\"containerd://t\","
					  "\"state\":{\"terminated\":{}}}],"
					  "\"initContainerStatuses\":[" RUNNING(
						  "init",
						  "a") "],"
						       "\"ephemeralContainerStatuses\":[" RUNNING(
							       "debug", "c") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p2\",\"namespace\":\"ns\"},\"spec\":{},"
			    "\"status\":{\"containerStatuses\":[" RUNNING("c", "x") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p3\",\"namespace\":\"ns\"},"
			    "\"spec\":{\"nodeName\":\"n1\"},"
			    "\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[" RUNNING(
				    "c", "y") "]}}"),
		trimmed_pod("{\"metadata\":{\"name\":\"p4\",\"namespace\":\"gone\"},"
			    "\"spec\":{\"nodeName\":\"n2\"},"
			    "\"status\":{\"containerStatuses\":[" RUNNING("c", "z") "]}}"),
	};
	const cJSON *pods[4] = { pods_json[0], pods_json[1], pods_json[2], pods_json[3] };
	struct resolver r;
	const cJSON *arr;
	const struct resolve_result *pr;
	cJSON *spec, *spec2;
	int i;

	UNIT_CHECK(compute(p, 1, pods, 4, nss, &r) == 0);
	arr = node_targets(&r, "n1", &spec);
	UNIT_CHECK(cJSON_GetArraySize(arr) == 3);
	/* sorted by container ID: init (a), c (b), debug (c) */
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 0), "container", NULL), "init");
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 1), "container", NULL), "c");
	UNIT_CHECK_STR(field(cJSON_GetArrayItem(arr, 2), "container", NULL), "debug");
	/* a namespace the cache does not know has no labels: {} still selects it */
	UNIT_CHECK(cJSON_GetArraySize(node_targets(&r, "n2", &spec2)) == 1);
	pr = resolve_policy(&r, "a");
	UNIT_CHECK(pr && pr->matched_pods == 2 && pr->nodes.size == 2);
	cJSON_Delete(spec);
	cJSON_Delete(spec2);
	resolver_clear(&r);
	policy_free(p[0]);
	for (i = 0; i < 4; i++)
		cJSON_Delete(pods_json[i]);
	cJSON_Delete(nss);
}

static void test_resolve_namespace_selector_and_node_spec(void)
{
	struct policy *p[1] = { pol(
		"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"namespaceSelector\":"
		"{\"matchLabels\":{\"env\":\"prod\"}},"
		"\"podSelector\":{\"matchLabels\":{\"app\":\"x\"}}}}") };
	cJSON *nss = cJSON_Parse("{\"prod\":{\"env\":\"prod\"},\"dev\":{\"env\":\"dev\"}}");
	cJSON *a = trimmed_pod(
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"prod\",\"labels\":{\"app\":\"x\"}},"
		"\"spec\":{\"nodeName\":\"n\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	cJSON *b = trimmed_pod(
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"dev\",\"labels\":{\"app\":\"x\"}},"
		"\"spec\":{\"nodeName\":\"n\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "2") "]}}");
	const cJSON *pods[2] = { a, b };
	struct resolver r;
	cJSON *spec;

	UNIT_CHECK(compute(p, 1, pods, 2, nss, &r) == 0);
	spec = resolve_node_spec(&r, "n");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "targetCount")) == 1);
	UNIT_CHECK_STR(
		field(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "targets"), 0), "pod", NULL),
		"a");
	cJSON_Delete(spec);
	spec = resolve_node_spec(&r, "elsewhere");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "targetCount")) == 0);
	cJSON_Delete(spec);
	resolver_clear(&r);
	policy_free(p[0]);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(nss);
}

static void test_resolve_trim_pod_keeps_only_what_matters(void)
{
	cJSON *t = trimmed_pod(
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"annotations\":{\"big\":\"x\"},"
		"\"managedFields\":[{}],\"labels\":{\"app\":\"x\"}},\"spec\":{\"nodeName\":\"n1\","
		"\"volumes\":[{}]},"
		"\"status\":{\"conditions\":[{}],\"containerStatuses\":[" RUNNING(
			"c", "1") ","
				  "{\"name\":\"w\",\"containerID\":\"containerd://w\","
				  "\"state\":{\"waiting\":{}}}]}}");
	char *s = cJSON_PrintUnformatted(t);

	UNIT_CHECK(s && !strstr(s, "annotations") && !strstr(s, "managedFields") &&
		   !strstr(s, "volumes") && !strstr(s, "conditions"));
	/* node, not finished, the running container: packed as <length>:<bytes> */
	UNIT_CHECK_STR(field(t, "x", NULL), "2:n11:01:c14:containerd://1");
	UNIT_CHECK_STR(field(t, "metadata", "name"), "a");
	UNIT_CHECK(s && strstr(s, "\"labels\":{\"app\":\"x\"}"));
	cJSON_free(s);
	cJSON_Delete(t);
}

static void test_resolve_a_pod_event_touches_only_what_it_changes(void)
{
	struct policy *p[2] = {
		pol("{\"metadata\":{\"name\":\"a\"},"
		    "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"x\"}}}}"),
		pol("{\"metadata\":{\"name\":\"b\"},"
		    "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"y\"}}}}"),
	};
	cJSON *x1 = trimmed_pod(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"labels\":{\"app\":\"x\"}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	cJSON *y1 = trimmed_pod(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"labels\":{\"app\":\"y\"}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	cJSON *q = trimmed_pod(
		"{\"metadata\":{\"name\":\"q\",\"namespace\":\"ns\",\"labels\":{\"app\":\"x\"}},"
		"\"spec\":{\"nodeName\":\"n2\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "2") "]}}");
	struct touched t = { .n = 0 };
	struct resolver r;
	char h1[DIGEST_STR_LEN];

	resolver_init(&r, ns_labels, touch, NULL);
	resolver_set_policies(&r, p, 2);
	resolver_pod(&r, "ns/p", x1);
	resolver_pod(&r, "ns/q", q);
	snprintf(h1, sizeof(h1), "%s", resolve_node_hash(&r, "n1"));
	/* The same pod again (a resync, a status-only change): nothing. */
	r.arg = &t;
	t.n = 0;
	resolver_pod(&r, "ns/p", x1);
	UNIT_CHECK(t.n == 0);
	/* Relabelled from a to b: its node and both policies, not n2. */
	resolver_pod(&r, "ns/p", y1);
	UNIT_CHECK(was_touched(&t, "node/n1") && was_touched(&t, "policy/a") &&
		   was_touched(&t, "policy/b"));
	UNIT_CHECK(!was_touched(&t, "node/n2"));
	UNIT_CHECK(resolve_policy(&r, "a")->matched_pods == 1 &&
		   resolve_policy(&r, "b")->matched_pods == 1);
	UNIT_CHECK(strcmp(h1, resolve_node_hash(&r, "n1")) != 0);
	/* Gone: n1 has no targets left. */
	t.n = 0;
	resolver_pod(&r, "ns/p", NULL);
	UNIT_CHECK(was_touched(&t, "node/n1") && !resolve_node_has_targets(&r, "n1"));
	UNIT_CHECK(resolve_policy(&r, "b")->matched_pods == 0 &&
		   resolve_policy(&r, "b")->nodes.size == 0);
	/* Back as it was: the same spec, the same digest. */
	resolver_pod(&r, "ns/p", x1);
	UNIT_CHECK_STR(resolve_node_hash(&r, "n1"), h1);
	resolver_clear(&r);
	policy_free(p[0]);
	policy_free(p[1]);
	cJSON_Delete(x1);
	cJSON_Delete(y1);
	cJSON_Delete(q);
}

/* 3 policies of 30 distinct rules each on one container: the schema takes
 * 64, the first by policy name, and the third policy is told. */
static void test_resolve_caps_merged_redact_rules_at_the_schema_limit(void)
{
	struct policy *p[3];
	cJSON *pod = trimmed_pod(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"containerStatuses\":[" RUNNING(
			"c", "1") "]}}");
	const cJSON *pods[1] = { pod };
	struct resolver r;
	cJSON *spec;
	char json[8192];
	int i, k, len;

	for (i = 0; i < 3; i++) {
		len = snprintf(json, sizeof(json),
			       "{\"metadata\":{\"name\":\"p%d\"},\"spec\":{\"podSelector\":{},"
			       "\"redact\":[",
			       i);
		for (k = 0; k < 30; k++)
			len += snprintf(json + len, sizeof(json) - (size_t)len,
					"%s{\"name\":\"r%d-%d\",\"pattern\":\"x%d\"}", k ? "," : "",
					i, k, k);
		snprintf(json + len, sizeof(json) - (size_t)len, "]}}");
		p[i] = pol(json);
		UNIT_CHECK(p[i] != NULL);
		if (!p[i])
			return;
	}
	UNIT_CHECK(compute(p, 3, pods, 1, NULL, &r) == 0);
	spec = resolve_node_spec(&r, "n1");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(
			   cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "targets"), 0),
			   "redact")) == RESOLVE_MAX_REDACT);
	UNIT_CHECK(resolve_policy(&r, "p0")->redact_dropped == 0 &&
		   resolve_policy(&r, "p1")->redact_dropped == 0);
	UNIT_CHECK(resolve_policy(&r, "p2")->redact_dropped == 1);
	cJSON_Delete(spec);
	resolver_clear(&r);
	for (i = 0; i < 3; i++)
		policy_free(p[i]);
	cJSON_Delete(pod);
}

UNIT_MAIN(UNIT_TEST(test_resolve_merges_policies_on_one_container),
	  UNIT_TEST(test_resolve_exec_from_sessions_only_when_all_agree),
	  UNIT_TEST(test_resolve_a_pod_event_touches_only_what_it_changes),
	  UNIT_TEST(test_resolve_caps_merged_redact_rules_at_the_schema_limit),
	  UNIT_TEST(test_resolve_only_running_containers_with_ids),
	  UNIT_TEST(test_resolve_namespace_selector_and_node_spec),
	  UNIT_TEST(test_resolve_trim_pod_keeps_only_what_matters))
