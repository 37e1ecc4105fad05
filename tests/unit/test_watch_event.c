// SPDX-License-Identifier: Apache-2.0
/* lib/watch_event: what a watch event means, whatever the transport: the
 * request, ERROR events (410 and others), documents that are no events,
 * the resourceVersion following only accepted events, the deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "unit.h"
#include "watch_internal.h"

struct seen {
	int n;
	char last[32];
	int refuse; /* fn returns this */
};

static int record(const char *type, const cJSON *obj, void *arg)
{
	struct seen *s = arg;

	(void)obj;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", type);
	return s->refuse;
}

static int deliver(struct watch_state *w, const char *ev)
{
	return watch_deliver(w, ev, strlen(ev));
}

static void test_watch_request_path_asks_for_bookmarks(void)
{
	char buf[256];

	UNIT_CHECK(watch_request_path(buf, sizeof(buf), "/api/v1/pods", NULL, 300) == 0);
	UNIT_CHECK_STR(buf, "/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=300");
	UNIT_CHECK(
	    watch_request_path(buf, sizeof(buf), "/api/v1/pods?labelSelector=a%3Db", "42", 7) == 0);
	UNIT_CHECK_STR(buf, "/api/v1/pods?labelSelector=a%3Db&watch=1&allowWatchBookmarks=true"
			    "&timeoutSeconds=7&resourceVersion=42");
	UNIT_CHECK(watch_request_path(buf, 20, "/api/v1/pods", "42", 7) == -ENAMETOOLONG);
}

static void test_watch_deliver_follows_accepted_events(void)
{
	struct kube_response resp;
	struct watch_state w;
	struct seen s = {0};
	char *rv = strdup("1");

	memset(&resp, 0, sizeof(resp));
	watch_state_init(&w, "/x", &rv, 10, record, &s, &resp);
	UNIT_CHECK(
	    deliver(&w,
		    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}") ==
	    0);
	UNIT_CHECK_STR(rv, "5");
	UNIT_CHECK(
	    deliver(
		&w,
		"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}") ==
	    0);
	UNIT_CHECK_STR(rv, "9");
	UNIT_CHECK_STR(s.last, "BOOKMARK");
	/* Refused by the handler: the version stays, so a resume sees it again. */
	s.refuse = -ECANCELED;
	UNIT_CHECK(
	    deliver(
		&w,
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"11\"}}}") ==
	    -ECANCELED);
	UNIT_CHECK_STR(rv, "9");
	UNIT_CHECK(s.n == 3);
	free(rv);
}

/* The resourceVersion comes from the server and goes back into a URL: one
 * that is not a plain token (a bookmark of 5000 bytes, one with '&' or a
 * space) would make every later watch fail to be built or be another query,
 * and the informer resumes from it forever. Such an event is refused as
 * not an event (-EPROTO: list again), and the version stays. */
static void test_watch_deliver_refuses_a_hostile_resource_version(void)
{
	static const char *const bad[] = {
	    "1&fieldSelector=metadata.name%3Dx",
	    "1 2",
	    "9\r\nX-Injected: 1",
	    "",
	};
	struct kube_response resp;
	struct watch_state w;
	struct seen s = {0};
	char *rv = strdup("7"), ev[6000], big[5001];
	size_t i;

	memset(&resp, 0, sizeof(resp));
	watch_state_init(&w, "/x", &rv, 10, record, &s, &resp);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(ev, sizeof(ev),
			 "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
			 "\"%s\"}}}",
			 bad[i]);
		UNIT_CHECK(deliver(&w, ev) == (bad[i][0] ? -EPROTO : 0));
		UNIT_CHECK_STR(rv, "7");
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(ev, sizeof(ev),
		 "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
		 "\"%s\"}}}",
		 big);
	UNIT_CHECK(deliver(&w, ev) == -EPROTO);
	UNIT_CHECK_STR(rv, "7");
	free(rv);
}

static void test_watch_deliver_error_events(void)
{
	struct kube_response resp;
	struct watch_state w;
	struct seen s = {0};
	char *rv = strdup("7");

	memset(&resp, 0, sizeof(resp));
	watch_state_init(&w, "/x", &rv, 10, record, &s, &resp);
	UNIT_CHECK(deliver(&w,
			   "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			   "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}") ==
		   -ESTALE);
	UNIT_CHECK(resp.code == 410);
	UNIT_CHECK_STR(resp.reason, "Expired");
	UNIT_CHECK(strstr(resp.message, "too old resource version") != NULL);
	/* After an etcd restore: the version may never come back. */
	memset(&resp, 0, sizeof(resp));
	UNIT_CHECK(deliver(&w, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":504,"
			       "\"message\":\"Too large resource version\"}}") == -EPROTO);
	UNIT_CHECK(resp.code == 504);
	UNIT_CHECK(strstr(resp.message, "Too large resource version") != NULL);
	UNIT_CHECK(s.n == 0);
	UNIT_CHECK_STR(rv, "7");
	free(rv);
}

static void test_watch_deliver_refuses_what_is_not_an_event(void)
{
	static const char *const bad[] = {
	    "not json",
	    "{}",
	    "{\"type\":\"ADDED\"}",
	    "{\"type\":7,\"object\":{}}",
	    "{\"type\":\"ADDED\",\"object\":[1]}",
	    "[]",
	    "{\"type\":\"ERROR\",\"object\":\"x\"}",
	};
	struct kube_response resp;
	struct watch_state w;
	struct seen s = {0};
	char *rv = NULL;
	size_t i;

	memset(&resp, 0, sizeof(resp));
	watch_state_init(&w, "/x", &rv, 10, record, &s, &resp);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		UNIT_CHECK(deliver(&w, bad[i]) == -EPROTO);
	UNIT_CHECK(s.n == 0 && rv == NULL);
	UNIT_CHECK(strstr(resp.message, "not an event") != NULL);
}

static void test_watch_check_deadline(void)
{
	struct kube_response resp;
	struct watch_state w;
	char *rv = NULL;
	long now = clock_now_ms();

	memset(&resp, 0, sizeof(resp));
	watch_state_init(&w, "/x", &rv, 10, record, NULL, &resp);
	UNIT_CHECK(watch_check(&w, now) == 0);
	UNIT_CHECK(watch_check(&w, now + (10 + WATCH_GRACE_S) * 1000L - 1000) == 0);
	UNIT_CHECK(watch_check(&w, now + (10 + WATCH_GRACE_S) * 1000L + 1000) == -ETIMEDOUT);
	UNIT_CHECK(strstr(resp.message, "did not end") != NULL);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    UNIT_TEST(test_watch_request_path_asks_for_bookmarks),
	    UNIT_TEST(test_watch_deliver_follows_accepted_events),
	  UNIT_TEST(test_watch_deliver_refuses_a_hostile_resource_version),
	    UNIT_TEST(test_watch_deliver_error_events),
	    UNIT_TEST(test_watch_deliver_refuses_what_is_not_an_event),
	    UNIT_TEST(test_watch_check_deadline),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
