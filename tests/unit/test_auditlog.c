// SPDX-License-Identifier: Apache-2.0
/* auditlog: of an audit EventList only the ResponseStarted events that
 * carry the session webhook's annotation become status.audit (audit ID,
 * source IPs, user agent, the authenticated and the impersonated user, the
 * response code and time); other stages, other annotations and session IDs
 * that are no UUID are left out; what is no EventList is refused; fields
 * past their bounds are cut. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "unit.h"

#define SID "5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d"

struct got {
	int n;
	char session[4][80];
	cJSON *audit[4];
};

static void collect(const char *session, cJSON *audit, void *arg)
{
	struct got *g = arg;

	if (g->n < 4) {
		snprintf(g->session[g->n], sizeof(g->session[0]), "%s", session);
		g->audit[g->n++] = audit;
	} else {
		cJSON_Delete(audit);
	}
}

static void got_clear(struct got *g)
{
	int i;

	for (i = 0; i < g->n; i++)
		cJSON_Delete(g->audit[i]);
	memset(g, 0, sizeof(*g));
}

static const char list[] =
	"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":["
	/* RequestReceived: before admission, no annotation anyway */
	"{\"stage\":\"RequestReceived\",\"auditID\":\"a-0\"},"
	/* the exec, through an impersonating proxy */
	"{\"stage\":\"ResponseStarted\",\"auditID\":\"a-1\",\"verb\":\"get\","
	"\"user\":{\"username\":\"proxy\",\"groups\":[\"system:authenticated\"]},"
	"\"impersonatedUser\":{\"username\":\"alice\",\"groups\":[\"devs\"]},"
	"\"sourceIPs\":[\"203.0.113.7\",\"10.0.0.1\"],\"userAgent\":\"kubectl/v1.32.13\","
	"\"objectRef\":{\"resource\":\"pods\",\"subresource\":\"exec\"},"
	"\"responseStatus\":{\"code\":101},\"stageTimestamp\":\"2026-12-01T20:00:00.123456Z\","
	"\"annotations\":{\"authorization.k8s.io/decision\":\"allow\","
	"\"sessions.shellaudit.io/session-id\":\"" SID "\"}},"
	/* the same session's end: nothing new */
	"{\"stage\":\"ResponseComplete\",\"auditID\":\"a-1\",\"annotations\":"
	"{\"sessions.shellaudit.io/session-id\":\"" SID "\"}},"
	/* another webhook's annotation, and a session ID that is no UUID */
	"{\"stage\":\"ResponseStarted\",\"annotations\":{\"other.example.com/session-id\":\"" SID
	"\"}},"
	"{\"stage\":\"ResponseStarted\",\"annotations\":{\"sessions.shellaudit.io/session-id\":"
	"\"../../x\"}},"
	"7,null]}";

static void test_auditlog_keeps_the_started_events_of_sessions(void)
{
	struct got g = { 0 };
	char err[128];
	const cJSON *a;

	UNIT_CHECK(auditlog_parse(list, strlen(list), collect, &g, err, sizeof(err)) == 1);
	UNIT_CHECK(g.n == 1);
	UNIT_CHECK_STR(g.session[0], SID);
	a = g.audit[0];
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "auditID")), "a-1");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(a, "sourceIPs")) == 2);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "userAgent")),
		       "kubectl/v1.32.13");
	UNIT_CHECK_STR(cJSON_GetStringValue(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(a, "user"), "username")),
		       "proxy");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(a, "impersonatedUser"), "username")),
		       "alice");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(a, "responseCode")) == 101);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "startedAt")),
		       "2026-12-01T20:00:00.123456Z");
	got_clear(&g);
}

static void test_auditlog_refuses_what_is_no_event_list(void)
{
	static const char *const bad[] = { "", "{}", "[]", "{\"kind\":\"Event\",\"items\":[]}",
					   "{\"kind\":\"EventList\",\"items\":{}}" };
	struct got g = { 0 };
	char err[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		UNIT_CHECK(auditlog_parse(bad[i], strlen(bad[i]), collect, &g, err, sizeof(err)) ==
			   -EINVAL);
	UNIT_CHECK(g.n == 0);
}

static void test_auditlog_bounds_every_field(void)
{
	size_t cap = 1 << 20, used = 0, i;
	char *b = malloc(cap), err[128];
	struct got g = { 0 };

	used += (size_t)sprintf(
		b, "{\"kind\":\"EventList\",\"items\":[{\"stage\":\"ResponseStarted\","
		   "\"annotations\":{\"sessions.shellaudit.io/session-id\":\"" SID "\"},"
		   "\"sourceIPs\":[");
	for (i = 0; i < 100; i++)
		used += (size_t)sprintf(b + used, "%s\"10.0.0.%zu\"", i ? "," : "", i);
	used += (size_t)sprintf(b + used, "],\"userAgent\":\"");
	for (i = 0; i < 5000; i++)
		b[used++] = 'k';
	used += (size_t)sprintf(b + used, "\",\"user\":{\"username\":\"u\",\"groups\":[");
	for (i = 0; i < 1000; i++)
		used += (size_t)sprintf(b + used, "%s\"g\"", i ? "," : "");
	used += (size_t)sprintf(b + used, "]},\"responseStatus\":{\"code\":1e300}}]}");
	UNIT_CHECK(auditlog_parse(b, used, collect, &g, err, sizeof(err)) == 1);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(g.audit[0], "sourceIPs")) == 16);
	UNIT_CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(g.audit[0], "userAgent"))) ==
		   1024);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(g.audit[0], "user"),
							  "groups")) == 256);
	UNIT_CHECK(cJSON_GetObjectItem(g.audit[0], "responseCode") == NULL);
	got_clear(&g);
	free(b);
}

UNIT_MAIN(UNIT_TEST(test_auditlog_keeps_the_started_events_of_sessions),
	  UNIT_TEST(test_auditlog_refuses_what_is_no_event_list),
	  UNIT_TEST(test_auditlog_bounds_every_field))
