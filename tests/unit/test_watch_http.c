// SPDX-License-Identifier: Apache-2.0
/* lib/watch_http against a loopback server: an event that comes in many
 * small chunks costs work in proportion to its size, not to its size
 * times the number of chunks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube.h"
#include "kubeconfig.h"
#include "loopback.h"
#include "unit.h"
#include "watch.h"

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

static long cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_watch_http_event_in_many_chunks_is_scanned_once(void)
{
	struct loopback_server srv = { .answer = answer_big_event };
	struct kube_client_opts opts = { .timeout_ms = 10000, .max_body = 2 * BIG_EVENT };
	struct kubeconfig cfg = { .server = srv.url, .namespace = "default" };
	struct kube_client *c = NULL;
	struct kube_response resp;
	char *rv = strdup("1");
	long t0;
	int seen = 0;

	memset(&resp, 0, sizeof(resp));
	UNIT_CHECK(loopback_start(&srv) == 0);
	UNIT_CHECK(kube_client_new(&cfg, &opts, &c) == 0);
	t0 = cpu_ms();
	UNIT_CHECK(c &&
		   watch_stream(c, "/api/v1/configmaps", &rv, 60, count_event, &seen, &resp) == 0);
	/* 4096 chunks: scanning the event from its start at each is about
	 * 1e10 byte compares (seconds); scanning it once, milliseconds. */
	if (cpu_ms() - t0 > 2000) {
		fprintf(stderr, "    the event took %ld ms of CPU\n", cpu_ms() - t0);
		UNIT_CHECK(0);
	}
	UNIT_CHECK(seen == 1);
	UNIT_CHECK_STR(rv, "7");
	kube_response_clear(&resp);
	kube_client_free(c);
	loopback_stop(&srv);
	free(rv);
}

UNIT_MAIN(UNIT_TEST(test_watch_http_event_in_many_chunks_is_scanned_once))
