// SPDX-License-Identifier: Apache-2.0
/* publish against a small in-process API server: a record refused for
 * itself (403) that parked cannot take never holds the spool, whose
 * window and space every chain shares; it is a counted loss instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "kube.h"
#include "parked.h"
#include "publish.h"
#include "spool.h"
#include "unit.h"
#include "util.h"

static char base[64];

/* Answers every request, on any number of keep-alive connections, with a
 * 403 Status as a namespace being deleted gives. */
struct fake {
	int lfd;
	atomic_int stop;
	atomic_long posts;
};

static void *fake_conn(void *arg)
{
	static const char body[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		"\"auditrecords is forbidden: unable to create new content in namespace n "
		"because it is being terminated\",\"reason\":\"Forbidden\",\"details\":{\"causes\":"
		"[{\"reason\":\"NamespaceTerminating\",\"message\":\"namespace n is being "
		"terminated\",\"field\":\"metadata.namespace\"}]},\"code\":403}";
	struct fake *f = ((void **)arg)[0];
	int fd = (int)(long)((void **)arg)[1];
	char buf[1 << 16], head[1024];
	size_t got = 0;
	ssize_t n;

	free(arg);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *end, *cl;
		size_t hlen, blen;

		end = got ? memmem(buf, got, "\r\n\r\n", 4) : NULL;
		if (end) {
			hlen = (size_t)(end - buf) + 4;
			cl = memmem(buf, hlen, "Content-Length:", 15);
			if (!cl)
				cl = memmem(buf, hlen, "content-length:", 15);
			blen = cl ? strtoul(cl + 15, NULL, 10) : 0;
			if (got >= hlen + blen) {
				int k = snprintf(head, sizeof(head),
						 "HTTP/1.1 403 Forbidden\r\nContent-Type: "
						 "application/json\r\nContent-Length: %zu\r\n\r\n%s",
						 sizeof(body) - 1, body);

				if (!strncmp(buf, "POST", 4))
					f->posts++;
				/* One write: no wait for a delayed ACK. */
				if (write(fd, head, (size_t)k) < 0)
					break;
				memmove(buf, buf + hlen + blen, got - hlen - blen);
				got -= hlen + blen;
				continue;
			}
		}
		if (f->stop || got == sizeof(buf) || poll(&p, 1, 200) < 0)
			break;
		if (!(p.revents & POLLIN))
			continue;
		if ((n = read(fd, buf + got, sizeof(buf) - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return NULL;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		void **a;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 100) != 1 || (fd = accept(f->lfd, NULL, NULL)) < 0)
			continue;
		if (!(a = malloc(2 * sizeof(*a)))) {
			close(fd);
			continue;
		}
		a[0] = f;
		a[1] = (void *)(long)fd;
		if (pthread_create(&t, NULL, fake_conn, a)) {
			free(a);
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static cJSON *line_entry(int i)
{
	cJSON *e = cJSON_CreateObject();
	char text[32];

	snprintf(text, sizeof(text), "cmd-%d", i);
	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	return e;
}

/* A namespace stuck Terminating refuses every record of a flood: parked
 * takes its share, and the records past it do not stay at the head of the
 * spool, where they would hold every other chain (past SPOOL_AHEAD_MAX
 * records) and then the spool's space; each is counted lost. */
static void test_publish_a_refused_flood_past_parked_never_holds_the_spool(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct fake f = { .lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
	struct kube_client_opts ko = { .timeout_ms = 5000 };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .instance = "t", .qps = 1000,
				  .burst = 1000 };
	char server[64], sdir[128], pdir[160];
	struct kubeconfig cfg = { .server = server, .namespace = "default" };
	struct spool_opts so = { .batch_entries = 1, .batch_age_ms = 3600000 };
	const int total = PARKED_MAX_FILES + 10;
	struct kube_client *c = NULL;
	struct events *ev = NULL;
	struct spool *s = NULL;
	struct publisher *p = NULL;
	struct parked *pk = NULL;
	struct publish_stats ps;
	struct spool_stats ss;
	cJSON *id = cJSON_Parse("{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
				"\"containerID\":\"containerd://c1\",\"node\":\"x\","
				"\"retention\":\"1h\"}");
	pthread_t t;
	long deadline;
	int i;

	UNIT_CHECK(f.lfd >= 0 && bind(f.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		   listen(f.lfd, 16) == 0 &&
		   getsockname(f.lfd, (struct sockaddr *)&a, &alen) == 0);
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", ntohs(a.sin_port));
	UNIT_CHECK(pthread_create(&t, NULL, fake_run, &f) == 0);
	snprintf(sdir, sizeof(sdir), "%s/spool", base);
	snprintf(pdir, sizeof(pdir), "%s/parked", sdir);
	so.dir = sdir;
	UNIT_CHECK(kube_client_new(&cfg, &ko, &c) == 0);
	UNIT_CHECK(events_new(c, &eo, &ev) == 0);
	UNIT_CHECK(spool_open(&so, &s) == 0);
	UNIT_CHECK(publish_new(c, ev, s, &p) == 0);
	UNIT_CHECK(parked_open(pdir, &pk) == 0);
	publish_set_parked(p, pk);
	for (i = 0; i < total; i++) {
		cJSON *e = line_entry(i);

		UNIT_CHECK(spool_add(s, "containerd://c1", "", id, NULL, e) == 0);
		cJSON_Delete(e);
	}
	deadline = clock_now_ms() + 20000;
	do {
		spool_tick(s);
		publish_step(p, 256);
		spool_get_stats(s, &ss);
	} while ((ss.records < (uint64_t)total || ss.records_waiting) &&
		 clock_now_ms() < deadline);
	publish_get_stats(p, &ps);
	fprintf(stderr, "    records %llu waiting %llu parked %zu lost %llu posts %ld\n",
		(unsigned long long)ss.records, (unsigned long long)ss.records_waiting,
		parked_count(pk), (unsigned long long)ps.parked_lost, (long)f.posts);
	UNIT_CHECK(ss.records == (uint64_t)total);
	UNIT_CHECK(ss.records_waiting == 0);
	UNIT_CHECK(parked_count(pk) > 0);
	UNIT_CHECK(ps.parked_lost > 0);
	/* Parked records past their retention (1h after 2026-11-25) go. */
	UNIT_CHECK(parked_count(pk) + ps.parked_lost + ps.parked_expired == (uint64_t)total);
	f.stop = 1;
	pthread_join(t, NULL);
	publish_free(p);
	parked_free(pk);
	spool_close(s);
	events_free(ev);
	kube_client_free(c);
	close(f.lfd);
	cJSON_Delete(id);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_publish_a_refused_flood_past_parked_never_holds_the_spool),
	};
	char cmd[160];
	int ret;

	snprintf(base, sizeof(base), "/tmp/test_publish.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", base, base);
	if (system(cmd) != 0)
		return 1;
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return ret;
}
