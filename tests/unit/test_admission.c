// SPDX-License-Identifier: Apache-2.0
/* admission: AdmissionReviews of exec (as kubectl 1.30+ sends it, a
 * CONNECT from a websocket GET), attach, port-forward, an ephemeral
 * container added by kubectl debug and a node-debug pod become the pending
 * sessions they describe; dry runs and other requests become none; the
 * answer always allows and names the session in an audit annotation; the
 * ShellAuditSession object carries it all; kubectl's default container;
 * and hostile reviews: not a review, a uid that is no UUID, and fields past
 * every bound (cut, flagged, never crashing). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "unit.h"

#define UID "5b1a7e1c-93f4-4c3e-9d8a-0c6a2b3f4e5d"

static const char exec_review[] =
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	"\"uid\":\"" UID
	"\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"PodExecOptions\"},"
	"\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	"\"subResource\":\"exec\",\"name\":\"demo-1\",\"namespace\":\"default\","
	"\"operation\":\"CONNECT\",\"userInfo\":{\"username\":\"alice\",\"uid\":\"u-1\","
	"\"groups\":[\"devs\",\"system:authenticated\"],\"extra\":{\"authentication.kubernetes.io/"
	"credential-id\":[\"X509SHA256=ab\"]}},"
	"\"object\":{\"kind\":\"PodExecOptions\",\"apiVersion\":"
	"\"v1\",\"stdin\":true,\"stdout\":true,\"tty\":true,\"container\":\"shell\",\"command\":"
	"[\"bash\",\"-l\"]},\"oldObject\":null,\"dryRun\":false,\"options\":null}}";

static const char *field(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItem(o, a);

	return cJSON_GetStringValue(b ? cJSON_GetObjectItem(x, b) : x);
}

static void test_admission_exec_becomes_a_pending_session(void)
{
	struct admission_review r;
	struct timespec now = { 1764600000, 123456000 };
	char err[128], *resp;
	cJSON *o, *spec, *doc;

	UNIT_CHECK(admission_parse(exec_review, strlen(exec_review), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1);
	UNIT_CHECK_STR(r.uid, UID);
	UNIT_CHECK_STR(r.s[0].name, UID);
	UNIT_CHECK(r.s[0].kind == ADMISSION_EXEC);
	UNIT_CHECK_STR(r.s[0].ns, "default");
	UNIT_CHECK_STR(r.s[0].pod, "demo-1");
	UNIT_CHECK_STR(r.s[0].container, "shell");
	UNIT_CHECK(r.s[0].container_named && r.s[0].tty && r.s[0].stdin);
	UNIT_CHECK(cJSON_GetArraySize(r.s[0].command) == 2);
	UNIT_CHECK_STR(field(r.user, "username", NULL), "alice");
	/* The caller adds what the pod index knows. */
	snprintf(r.s[0].node, sizeof(r.s[0].node), "node-a");
	snprintf(r.s[0].pod_uid, sizeof(r.s[0].pod_uid), "pod-uid-1");
	o = admission_session_object(&r, 0, &now, 60, true);
	spec = cJSON_GetObjectItem(o, "spec");
	UNIT_CHECK_STR(field(o, "metadata", "name"), UID);
	UNIT_CHECK_STR(field(o, "kind", NULL), "ShellAuditSession");
	UNIT_CHECK_STR(field(spec, "kind", NULL), "Exec");
	UNIT_CHECK_STR(field(spec, "node", NULL), "node-a");
	UNIT_CHECK_STR(field(spec, "podUID", NULL), "pod-uid-1");
	UNIT_CHECK_STR(field(spec, "container", NULL), "shell");
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "command"), 1)),
		"-l");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(spec, "tty")));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(spec, "auditExpected")));
	UNIT_CHECK_STR(field(spec, "user", "username"), "alice");
	UNIT_CHECK_STR(field(spec, "user", "uid"), "u-1");
	UNIT_CHECK(cJSON_GetArraySize(
			   cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "user"), "groups")) == 2);
	UNIT_CHECK(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "user"), "extra"),
				    "authentication.kubernetes.io/credential-id") != NULL);
	UNIT_CHECK_STR(field(spec, "admittedAt", NULL), "2025-12-01T14:40:00.123456Z");
	UNIT_CHECK_STR(field(spec, "expiresAt", NULL), "2025-12-01T14:41:00Z");
	cJSON_Delete(o);
	/* The answer allows and names the session. */
	resp = admission_response(r.uid, r.s[0].name);
	doc = cJSON_Parse(resp);
	UNIT_CHECK_STR(field(doc, "kind", NULL), "AdmissionReview");
	UNIT_CHECK_STR(field(cJSON_GetObjectItem(doc, "response"), "uid", NULL), UID);
	UNIT_CHECK(
		cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "response"), "allowed")));
	UNIT_CHECK_STR(
		field(cJSON_GetObjectItem(doc, "response"), "auditAnnotations", "session-id"), UID);
	cJSON_Delete(doc);
	free(resp);
	admission_review_clear(&r);
}

static char *review(const char *op, const char *sub, const char *object, const char *old, bool dry)
{
	char *b = malloc(strlen(object) + (old ? strlen(old) : 4) + 1024);

	sprintf(b,
		"{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"" UID "\","
		"\"resource\":{\"version\":\"v1\",\"resource\":\"pods\"},%s%s%s\"name\":\"demo-1\","
		"\"namespace\":\"ns\",\"operation\":\"%s\",\"userInfo\":{\"username\":\"bob\"},"
		"\"object\":%s,\"oldObject\":%s,\"dryRun\":%s}}",
		sub ? "\"subResource\":\"" : "", sub ? sub : "", sub ? "\"," : "", op, object,
		old ? old : "null", dry ? "true" : "false");
	return b;
}

static void test_admission_attach_portforward_and_debug_become_sessions(void)
{
	struct admission_review r;
	char err[128], *b;

	b = review("CONNECT", "attach",
		   "{\"kind\":\"PodAttachOptions\",\"stdin\":true,\"tty\":true}", NULL, false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1 && r.s[0].kind == ADMISSION_ATTACH && !r.s[0].container_named);
	UNIT_CHECK(r.s[0].container[0] == '\0' && r.s[0].command == NULL);
	admission_review_clear(&r);
	free(b);

	b = review("CONNECT", "portforward",
		   "{\"kind\":\"PodPortForwardOptions\",\"ports\":[8080,-1,99999]}", NULL, false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1 && r.s[0].kind == ADMISSION_PORTFORWARD);
	UNIT_CHECK(cJSON_GetArraySize(r.s[0].ports) == 1);
	admission_review_clear(&r);
	free(b);

	/* kubectl debug: the container the update adds, not the one there. */
	b = review(
		"UPDATE", "ephemeralcontainers",
		"{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"p-1\"},"
		"\"spec\":{\"ephemeralContainers\":["
		"{\"name\":\"old\",\"image\":\"x\"},{\"name\":\"debugger\",\"image\":\"busybox\","
		"\"command\":[\"sh\"],\"args\":[\"-c\",\"id\"],\"stdin\":true,\"tty\":true,"
		"\"targetContainerName\":\"shell\"}]}}",
		"{\"kind\":\"Pod\",\"spec\":{\"ephemeralContainers\":[{\"name\":\"old\"}]}}",
		false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1 && r.s[0].kind == ADMISSION_EPHEMERAL);
	UNIT_CHECK_STR(r.s[0].container, "debugger");
	UNIT_CHECK_STR(r.s[0].target, "shell");
	UNIT_CHECK_STR(r.s[0].image, "busybox");
	UNIT_CHECK_STR(r.s[0].pod_uid, "p-1");
	UNIT_CHECK(cJSON_GetArraySize(r.s[0].command) == 3 && r.s[0].tty && r.s[0].stdin);
	admission_review_clear(&r);
	free(b);

	/* An update that adds none: nothing. */
	b = review("UPDATE", "ephemeralcontainers",
		   "{\"spec\":{\"ephemeralContainers\":[{\"name\":\"old\"}]}}",
		   "{\"spec\":{\"ephemeralContainers\":[{\"name\":\"old\"}]}}", false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 0 && r.skipped != NULL);
	admission_review_clear(&r);
	free(b);

	/* kubectl debug node/NODE: the pod it creates, on that node. */
	b = review("CREATE", NULL,
		   "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"node-debugger-n1-abcde\","
		   "\"uid\":\"p-2\"},"
		   "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"debugger\",\"image\":"
		   "\"busybox\",\"stdin\":true,\"tty\":true}]}}",
		   NULL, false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1 && r.s[0].kind == ADMISSION_DEBUGPOD);
	UNIT_CHECK_STR(r.s[0].pod, "node-debugger-n1-abcde");
	UNIT_CHECK_STR(r.s[0].node, "n1");
	UNIT_CHECK_STR(r.s[0].container, "debugger");
	admission_review_clear(&r);
	free(b);

	/* Another pod's creation: nothing. */
	b = review("CREATE", NULL,
		   "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
		   NULL, false);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0 && r.n == 0);
	admission_review_clear(&r);
	free(b);

	/* A dry run records nothing (sideEffects: NoneOnDryRun). */
	b = review("UPDATE", "ephemeralcontainers",
		   "{\"spec\":{\"ephemeralContainers\":[{\"name\":\"d\"}]}}", "{}", true);
	UNIT_CHECK(admission_parse(b, strlen(b), &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 0 && r.dry_run);
	UNIT_CHECK_STR(r.skipped, "dry run");
	admission_review_clear(&r);
	free(b);
}

static void test_admission_refuses_what_is_no_review(void)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"{\"kind\":\"AdmissionReview\"}",
		// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): UID is pasted in
		"{\"kind\":\"Other\",\"request\":{\"uid\":\"" UID "\"}}",
		"{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"../../etc\"}}",
		"{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"ABCDEF\"}}",
		"{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}",
	};
	struct admission_review r;
	char err[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		UNIT_CHECK(admission_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)) ==
			   -EINVAL);
		UNIT_CHECK(err[0] != '\0');
	}
}

static void test_admission_bounds_every_field(void)
{
	struct admission_review r;
	size_t cap = 4 << 20, used = 0, i;
	char *b = malloc(cap), err[128];
	struct timespec now = { 1, 0 };
	cJSON *o;

	used += (size_t)sprintf(b + used,
				"{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"" UID "\","
				"\"resource\":{\"resource\":\"pods\"},\"subResource\":\"exec\","
				"\"name\":\"p\",\"namespace\":\"n\",\"operation\":\"CONNECT\","
				"\"userInfo\":{\"username\":\"");
	for (i = 0; i < 5000; i++)
		b[used++] = 'u';
	used += (size_t)sprintf(b + used, "\",\"groups\":[");
	for (i = 0; i < 1000; i++)
		used += (size_t)sprintf(b + used, "%s\"g%zu\"", i ? "," : "", i);
	used += (size_t)sprintf(b + used, "],\"extra\":{");
	for (i = 0; i < 200; i++)
		used += (size_t)sprintf(b + used, "%s\"k%zu\":[\"v\",7]", i ? "," : "", i);
	used += (size_t)sprintf(b + used, "}},\"object\":{\"container\":\"");
	for (i = 0; i < 300; i++)
		b[used++] = 'c';
	used += (size_t)sprintf(b + used, "\",\"command\":[");
	for (i = 0; i < 100; i++)
		used += (size_t)sprintf(b + used, "%s\"%s\"", i ? "," : "",
					i == 3 ? "\\u00e9\\u00e9\\u00e9" : "arg");
	used += (size_t)sprintf(b + used, ",\"");
	for (i = 0; i < 9000; i++)
		b[used++] = 'x';
	used += (size_t)sprintf(b + used, "\",42]}}}");
	UNIT_CHECK(admission_parse(b, used, &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1);
	UNIT_CHECK(strlen(r.s[0].container) == 63);
	UNIT_CHECK(cJSON_GetArraySize(r.s[0].command) == 64 && r.s[0].command_truncated);
	UNIT_CHECK(strlen(field(r.user, "username", NULL)) == 1024);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r.user, "groups")) == 256);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r.user, "extra")) == 64);
	/* Only the strings of an extra value are kept. */
	UNIT_CHECK(cJSON_GetArraySize(
			   cJSON_GetObjectItem(cJSON_GetObjectItem(r.user, "extra"), "k0")) == 1);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.user, "truncated")));
	snprintf(r.s[0].node, sizeof(r.s[0].node), "n");
	o = admission_session_object(&r, 0, &now, 60, false);
	UNIT_CHECK(cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "commandTruncated")));
	UNIT_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "auditExpected") == NULL);
	cJSON_Delete(o);
	admission_review_clear(&r);
	free(b);
}

/* cJSON allocations, counted through its hooks: what parsing a review costs. */
static size_t adm_live, adm_peak;

static void *adm_count_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t));

	if (!p)
		return NULL;
	*p = n;
	adm_live += n;
	if (adm_live > adm_peak)
		adm_peak = adm_live;
	return p + 1;
}

static void adm_count_free(void *v)
{
	size_t *p = v;

	if (!p)
		return;
	adm_live -= p[-1];
	free(p - 1);
}

/* The webhook takes 8 MiB bodies from whoever reaches its port: 4 MiB of
 * "0," would be 2 million cJSON items, about 160 MiB, from one request (the
 * controller's limit is 384 Mi). Such a review is refused before it is
 * built, and what is parsed stays within a few times the body's size. */
static void test_admission_refuses_a_review_that_would_blow_up_in_memory(void)
{
	cJSON_Hooks hooks = { adm_count_malloc, adm_count_free };
	cJSON_Hooks plain = { malloc, free };
	struct admission_review r;
	size_t cap = 4 << 20, used = 0;
	char *b = malloc(cap + 256), err[128] = "";

	used += (size_t)sprintf(b, "%.*s,\"pad\":[0", (int)strlen(exec_review) - 2, exec_review);
	while (used < cap)
		used += (size_t)sprintf(b + used, ",0");
	used += (size_t)sprintf(b + used, "]}}");
	cJSON_InitHooks(&hooks);
	adm_live = adm_peak = 0;
	UNIT_CHECK(admission_parse(b, used, &r, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(err[0] != '\0');
	UNIT_CHECK(adm_peak < 4 * cap);
	admission_review_clear(&r);
	cJSON_InitHooks(&plain);
	/* A review of ordinary size with many small values still parses. */
	used = (size_t)sprintf(b, "%.*s,\"pad\":[0", (int)strlen(exec_review) - 2, exec_review);
	while (used < 40000)
		used += (size_t)sprintf(b + used, ",0");
	used += (size_t)sprintf(b + used, "]}}");
	UNIT_CHECK(admission_parse(b, used, &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1);
	admission_review_clear(&r);
	/* Nor is a large, legal one refused: a pod of 27,000 environment
	 * variables (760 KB, under the API server's 1.5 MiB), twice (object
	 * and oldObject, as a review of ephemeralcontainers carries it). */
	used = (size_t)sprintf(b, "%.*s,\"pad\":[", (int)strlen(exec_review) - 2, exec_review);
	for (int copy = 0; copy < 2; copy++) {
		used += (size_t)sprintf(b + used, "%s{\"env\":[{\"name\":\"V\",\"value\":\"x\"}",
					copy ? "," : "");
		for (int i = 1; i < 27000; i++)
			used += (size_t)sprintf(b + used, ",{\"name\":\"V%d\",\"value\":\"x\"}", i);
		used += (size_t)sprintf(b + used, "]}");
	}
	used += (size_t)sprintf(b + used, "]}}");
	UNIT_CHECK(admission_parse(b, used, &r, err, sizeof(err)) == 0);
	UNIT_CHECK(r.n == 1);
	admission_review_clear(&r);
	free(b);
}

static void test_admission_default_container_is_kubectls(void)
{
	cJSON *annotated = cJSON_Parse(
		"{\"metadata\":{\"annotations\":"
		"{\"kubectl.kubernetes.io/default-container\":\"app\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"sidecar\"},{\"name\":\"app\"}]}}");
	cJSON *stale = cJSON_Parse(
		"{\"metadata\":{\"annotations\":"
		"{\"kubectl.kubernetes.io/default-container\":\"gone\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"sidecar\"},{\"name\":\"app\"}]}}");
	cJSON *empty = cJSON_Parse("{\"spec\":{\"containers\":[]}}");
	char c[64];

	UNIT_CHECK(admission_default_container(annotated, c, sizeof(c)) == 0);
	UNIT_CHECK_STR(c, "app");
	UNIT_CHECK(admission_default_container(stale, c, sizeof(c)) == 0);
	UNIT_CHECK_STR(c, "sidecar");
	UNIT_CHECK(admission_default_container(empty, c, sizeof(c)) == -ENOENT);
	UNIT_CHECK(admission_default_container(NULL, c, sizeof(c)) == -ENOENT);
	cJSON_Delete(annotated);
	cJSON_Delete(stale);
	cJSON_Delete(empty);
}

UNIT_MAIN(UNIT_TEST(test_admission_exec_becomes_a_pending_session),
	  UNIT_TEST(test_admission_attach_portforward_and_debug_become_sessions),
	  UNIT_TEST(test_admission_refuses_what_is_no_review),
	  UNIT_TEST(test_admission_bounds_every_field),
	  UNIT_TEST(test_admission_refuses_a_review_that_would_blow_up_in_memory),
	  UNIT_TEST(test_admission_default_container_is_kubectls))
