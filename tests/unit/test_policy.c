// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "policy.h"
#include "unit.h"
#include "util.h"

static struct policy *parse(const char *json, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(json);
	struct policy *p = NULL;

	policy_parse(j, &p, err, errlen);
	cJSON_Delete(j);
	return p;
}

static void test_policy_defaults_follow_the_crd(void)
{
	char err[256];
	struct policy *p = parse("{\"metadata\":{\"name\":\"a\",\"generation\":3},"
				 "\"spec\":{\"podSelector\":{}}}", err, sizeof(err));
	cJSON *labels = cJSON_Parse("{\"x\":\"y\"}");

	UNIT_CHECK(p != NULL);
	if (!p)
		return;
	UNIT_CHECK_STR(p->name, "a");
	UNIT_CHECK(p->generation == 3);
	UNIT_CHECK(p->capture_readline && p->capture_exec && p->capture_terminal);
	UNIT_CHECK(p->events_enabled && !p->events_exec && p->rate_per_minute == 60);
	UNIT_CHECK_STR(p->retention, "720h");
	UNIT_CHECK(p->retention_s == 720 * 3600);
	UNIT_CHECK(selector_matches(p->ns_sel, labels) && selector_matches(p->ns_sel, NULL));
	UNIT_CHECK(selector_matches(p->pod_sel, labels));
	UNIT_CHECK(policy_wants_container(p, "anything"));
	policy_free(p);
	cJSON_Delete(labels);
}

static void test_policy_terminal_alone_is_enough(void)
{
	char err[256];
	struct policy *p = parse("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
				 "\"capture\":{\"readline\":false,\"exec\":false}}}",
				 err, sizeof(err));

	UNIT_CHECK(p && !p->capture_readline && !p->capture_exec && p->capture_terminal);
	policy_free(p);
}

static void test_policy_containers_filter(void)
{
	char err[256];
	struct policy *p = parse("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
				 "\"containers\":[\"web\",\"debugger\"]}}", err, sizeof(err));

	UNIT_CHECK(p && policy_wants_container(p, "web") && policy_wants_container(p, "debugger"));
	UNIT_CHECK(p && !policy_wants_container(p, "db"));
	policy_free(p);
}

static void test_policy_invalid_specs_say_why(void)
{
	static const struct {
		const char *json, *expect;
	} bad[] = {
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{}}", "podSelector is required" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{\"matchExpressions\":"
		  "[{\"key\":\"k\",\"operator\":\"In\"}]}}}",
		  "spec.podSelector: matchExpressions[0].values" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
		  "\"retention\":\"30s\"}}",
		  "spec.retention" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
		  "\"retention\":\"7d\"}}",
		  "spec.retention" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},\"capture\":"
		  "{\"readline\":false,\"exec\":false,\"terminal\":false}}}",
		  "capture enables nothing" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},\"events\":"
		  "{\"ratePerMinute\":0}}}",
		  "ratePerMinute" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},"
		  "\"namespaceSelector\":{\"matchLabels\":{\"a\":\"b c\"}}}}",
		  "spec.namespaceSelector" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},\"capture\":"
		  "{\"execFrom\":\"Interactive\"}}}",
		  "execFrom must be All or Sessions" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"podSelector\":{},\"capture\":"
		  "{\"execFrom\":7}}}",
		  "execFrom must be All or Sessions" },
		{ "{\"spec\":{}}", "without a name" },
	};
	char err[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct policy *p;

		/* A parse that fails without saying why must not pass on the
		 * previous case's message. */
		err[0] = '\0';
		p = parse(bad[i].json, err, sizeof(err));

		UNIT_CHECK(p == NULL);
		if (!strstr(err, bad[i].expect)) {
			fprintf(stderr, "    case %zu: \"%s\" lacks \"%s\"\n", i, err,
				bad[i].expect);
			UNIT_CHECK(0);
		}
		policy_free(p);
	}
}

UNIT_MAIN(UNIT_TEST(test_policy_defaults_follow_the_crd),
	  UNIT_TEST(test_policy_terminal_alone_is_enough), UNIT_TEST(test_policy_containers_filter),
	  UNIT_TEST(test_policy_invalid_specs_say_why))
