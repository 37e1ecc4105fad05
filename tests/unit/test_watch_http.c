// SPDX-License-Identifier: Apache-2.0
/* lib/watch_http: an event that comes in many small chunks costs work in
 * proportion to its size, not to its size times the number of chunks
 * (bytes looked at, counted); and so cut, it arrives whole through a
 * loopback server. */
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "kubeconfig.h"
#include "loopback.h"
#include "unit.h"
#include "watch.h"
#include "watch_internal.h"

#define BIG_EVENT (4u << 20) /* bytes of the one event */
#define BIG_CHUNK 1024u	     /* bytes of each HTTP chunk it is cut into */

/* Answers a watch with one BIG_EVENT-byte event in BIG_CHUNK-byte chunks. */
static bool answer_big_event(int fd, const char *head, int n, void *arg)
{
	static const char start[] =
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\","
		"\"resourceVersion\":\"7\"},\"data\":{\"x\":\"";
	static const char end[] = "\"}}}\n";
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	char *event = malloc(BIG_EVENT), *out = malloc(BIG_EVENT + BIG_EVENT / 8 + 64), *p;
	size_t off;

	(void)n;
	(void)arg;
	if (!event || !out || !strstr(head, "watch=1")) {
		free(event);
		free(out);
		return false;
	}
	memset(event, 'a', BIG_EVENT);
	memcpy(event, start, sizeof(start) - 1);
	memcpy(event + BIG_EVENT - (sizeof(end) - 1), end, sizeof(end) - 1);
	p = out;
	for (off = 0; off < BIG_EVENT; off += BIG_CHUNK) {
		p += snprintf(p, 16, "%x\r\n", BIG_CHUNK);
		memcpy(p, event + off, BIG_CHUNK);
		p += BIG_CHUNK;
		memcpy(p, "\r\n", 2);
		p += 2;
	}
	memcpy(p, "0\r\n\r\n", 5);
	p += 5;
	(void)(loopback_write(fd, hdr, strlen(hdr)) && loopback_write(fd, out, (size_t)(p - out)));
	free(event);
	free(out);
	return false;
}

static int count_event(const char *type, const cJSON *obj, void *arg)
{
	(void)obj;
	if (strcmp(type, "ADDED") == 0)
		(*(int *)arg)++;
	return 0;
}

/* The BIG_EVENT-byte event, then a small one, fed BIG_CHUNK bytes at a
 * time (the last chunk holds the first's end and the second whole): each
 * byte is looked at for a newline once. Scanning the unfinished event from
 * its start at each chunk would look at about BIG_EVENT * 2048 bytes. */
static void test_watch_http_event_in_many_chunks_is_scanned_once(void)
{
	static const char start[] =
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\","
		"\"resourceVersion\":\"7\"},\"data\":{\"x\":\"";
	static const char end[] = "\"}}}\n{\"type\":\"ADDED\",\"object\":{\"metadata\":{"
				  "\"name\":\"small\",\"resourceVersion\":\"8\"}}}\n";
	struct kube_response resp = { 0 };
	struct watch_lines l = { 0 };
	struct watch_state w;
	char *event = malloc(BIG_EVENT), *rv = strdup("1");
	size_t off, n;
	int seen = 0, ret = 0;

	UNIT_CHECK(event && rv);
	if (!event || !rv)
		goto out;
	memset(event, 'a', BIG_EVENT);
	memcpy(event, start, sizeof(start) - 1);
	memcpy(event + BIG_EVENT - (sizeof(end) - 1), end, sizeof(end) - 1);
	watch_state_init(&w, "/api/v1/configmaps", &rv, 60, count_event, &seen, &resp);
	for (off = 0; off < BIG_EVENT && !ret; off += n) {
		n = BIG_EVENT - off < BIG_CHUNK ? BIG_EVENT - off : BIG_CHUNK;
		ret = watch_lines_feed(&l, &w, event + off, n);
		if (off + n < BIG_EVENT - (sizeof(end) - 1))
			UNIT_CHECK(seen == 0 && l.len == off + n);
	}
	UNIT_CHECK(ret == 0);
	UNIT_CHECK(seen == 2);
	UNIT_CHECK_STR(rv, "8");
	UNIT_CHECK(l.len == 0);
	if (l.looked != BIG_EVENT) {
		fprintf(stderr, "    %llu bytes looked at for %u\n", l.looked, BIG_EVENT);
		UNIT_CHECK(0);
	}
out:
	watch_lines_clear(&l);
	free(event);
	free(rv);
}

static void test_watch_http_event_in_many_chunks_arrives_whole(void)
{
	struct loopback_server srv = { .answer = answer_big_event };
	struct kube_client_opts opts = { .timeout_ms = 10000, .max_body = 2 * BIG_EVENT };
	struct kubeconfig cfg = { .server = srv.url, .namespace = "default" };
	struct kube_client *c = NULL;
	struct kube_response resp;
	char *rv = strdup("1");
	int seen = 0;

	memset(&resp, 0, sizeof(resp));
	UNIT_CHECK(loopback_start(&srv) == 0);
	UNIT_CHECK(kube_client_new(&cfg, &opts, &c) == 0);
	UNIT_CHECK(c &&
		   watch_stream(c, "/api/v1/configmaps", &rv, 60, count_event, &seen, &resp) == 0);
	UNIT_CHECK(seen == 1);
	UNIT_CHECK_STR(rv, "7");
	kube_response_clear(&resp);
	kube_client_free(c);
	loopback_stop(&srv);
	free(rv);
}

UNIT_MAIN(UNIT_TEST(test_watch_http_event_in_many_chunks_is_scanned_once),
	  UNIT_TEST(test_watch_http_event_in_many_chunks_arrives_whole))
