// SPDX-License-Identifier: Apache-2.0
/* lib/httpd against hostile clients: one that trickles a byte at a time,
 * one that holds 100 connections open, one that gives up before its answer
 * (with SIGPIPE left at its default, which would kill this process), a
 * process out of file descriptors, and the beat that drives /healthz and
 * /readyz. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "httpd.h"
#include "unit.h"

static int conn(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The status code of an HTTP/1.0 answer, or -1 when buf is none. */
static int status_of(const char *buf)
{
	const char *p = buf + strlen("HTTP/1.0 ");
	char *end;
	long code;

	if (strncmp(buf, "HTTP/1.0 ", strlen("HTTP/1.0 ")) != 0)
		return -1;
	code = strtol(p, &end, 10);
	return end != p && code >= 100 && code <= 999 ? (int)code : -1;
}

/* The status code of one GET, or -1 (no answer within 10 s). */
static int get(int port, const char *path, char *body, size_t cap)
{
	char req[256], buf[8192];
	size_t got = 0;
	int fd = conn(port), code = -1;
	struct pollfd p;
	ssize_t n;

	if (fd < 0)
		return -1;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, req, strlen(req)) < 0)
		goto out;
	for (;;) {
		p = (struct pollfd){ fd, POLLIN, 0 };
		if (poll(&p, 1, 10000) <= 0)
			goto out;
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	code = status_of(buf);
	if (body && strstr(buf, "\r\n\r\n"))
		snprintf(body, cap, "%s", strstr(buf, "\r\n\r\n") + 4);
out:
	close(fd);
	return code;
}

static struct httpd *start(struct metrics *m)
{
	struct httpd_opts o = { .addr = "127.0.0.1", .port = 0, .metrics = m };
	struct httpd *s = NULL;

	UNIT_CHECK(httpd_start(&o, &s) == 0);
	if (s)
		httpd_beat(s, true);
	return s;
}

/* Whether the peer closed fd within ms. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c;

	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) <= 0;
}

static void test_httpd_a_trickling_client_delays_nobody_and_is_cut(void)
{
	struct httpd *s = start(NULL);
	int fd, i;

	if (!s)
		return;
	fd = conn(httpd_port(s));
	UNIT_CHECK(fd >= 0);
	/* A byte every 300 ms, never a newline; meanwhile probes get answers. */
	for (i = 0; i < 3; i++) {
		UNIT_CHECK(write(fd, "G", 1) == 1);
		UNIT_CHECK(get(httpd_port(s), "/healthz", NULL, 0) == 200);
		usleep(300 * 1000);
	}
	/* Its one second for the whole request is over: closed. */
	UNIT_CHECK(closed_within(fd, 5000));
	close(fd);
	httpd_stop(s);
}

static void test_httpd_a_hundred_held_connections_do_not_lock_out_a_probe(void)
{
	struct httpd *s = start(NULL);
	int fds[100], i;

	if (!s)
		return;
	for (i = 0; i < 100; i++)
		fds[i] = conn(httpd_port(s));
	UNIT_CHECK(get(httpd_port(s), "/readyz", NULL, 0) == 200);
	for (i = 0; i < 100; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	httpd_stop(s);
}

static void test_httpd_a_client_that_gives_up_raises_no_sigpipe(void)
{
	static struct metrics m;
	struct linger lg = { 1, 0 };
	struct httpd *s;
	char name[64][48];
	const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
	int i, fd;

	/* The default action: a SIGPIPE would end this test program. */
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < 60; i++) {
		snprintf(name[i], sizeof(name[i]), "shellaudit_test_metric_%d_total", i);
		metrics_add(&m, name[i], "A metric whose answer takes more than one send.", 0);
	}
	s = start(&m);
	if (!s)
		return;
	for (i = 0; i < 50; i++) {
		if ((fd = conn(httpd_port(s))) < 0)
			continue;
		/* Send, then reset the connection at once (no read). */
		(void)!write(fd, req, strlen(req));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	UNIT_CHECK(get(httpd_port(s), "/healthz", NULL, 0) == 200);
	httpd_stop(s);
	signal(SIGPIPE, SIG_IGN);
}

static void test_httpd_out_of_descriptors_rests_instead_of_spinning(void)
{
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	struct httpd *s = start(NULL);
	struct rlimit saved, low;
	struct pollfd p;
	char buf[256] = "";
	unsigned long tries;
	long t0, rested;
	int fd, free_fd;

	if (!s)
		return;
	/* One descriptor left, which the client's socket takes: the server's
	 * accept finds none, from the start. */
	free_fd = dup(0);
	close(free_fd);
	UNIT_CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	low = saved;
	low.rlim_cur = (rlim_t)free_fd + 1;
	UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	t0 = clock_now_ms();
	fd = conn(httpd_port(s));
	UNIT_CHECK(fd == free_fd);
	UNIT_CHECK(fd >= 0 && write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	/* The connection waits on the listener, which accept cannot take:
	 * a thread polling it all along would try thousands of times in 600
	 * ms; resting 100 ms after each failure, one more each 100 ms of
	 * however long the wait took. */
	usleep(600 * 1000);
	tries = httpd_accepts_short(s);
	rested = clock_now_ms() - t0;
	UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	if (tries < 1 || tries > (unsigned long)(rested / 100) + 2) {
		fprintf(stderr, "    accept failed %lu times in %ld ms\n", tries, rested);
		UNIT_CHECK(0);
	}
	/* Descriptors again: the waiting connection is answered. */
	p = (struct pollfd){ fd, POLLIN, 0 };
	UNIT_CHECK(fd >= 0 && poll(&p, 1, 5000) == 1);
	UNIT_CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0);
	UNIT_CHECK(status_of(buf) == 200);
	if (fd >= 0)
		close(fd);
	httpd_stop(s);
}

static void test_httpd_beat_drives_health_and_readiness(void)
{
	struct httpd_opts o = { .addr = "127.0.0.1", .stale_ms = 300 };
	struct httpd *s = NULL;

	UNIT_CHECK(httpd_start(&o, &s) == 0);
	if (!s)
		return;
	httpd_beat(s, false);
	UNIT_CHECK(get(httpd_port(s), "/healthz", NULL, 0) == 200);
	UNIT_CHECK(get(httpd_port(s), "/readyz", NULL, 0) == 503);
	httpd_beat(s, true);
	UNIT_CHECK(get(httpd_port(s), "/readyz", NULL, 0) == 200);
	/* The loop stopped beating: a wedged loop fails its liveness probe. */
	usleep(600 * 1000);
	UNIT_CHECK(get(httpd_port(s), "/healthz", NULL, 0) == 503);
	UNIT_CHECK(get(httpd_port(s), "/readyz", NULL, 0) == 503);
	httpd_stop(s);
}

static void test_httpd_metrics_bad_requests_and_unknown_paths(void)
{
	static struct metrics m;
	struct httpd *s;
	char body[4096] = "";
	struct metric *x = metrics_add(&m, "shellaudit_x_total", "X.", 0);
	int fd;

	x->value++;
	x->value += 2;
	s = start(&m);
	if (!s)
		return;
	UNIT_CHECK(get(httpd_port(s), "/metrics", body, sizeof(body)) == 200);
	UNIT_CHECK(strstr(body, "shellaudit_x_total 3\n") != NULL);
	UNIT_CHECK(get(httpd_port(s), "/nope", NULL, 0) == 404);
	fd = conn(httpd_port(s));
	UNIT_CHECK(write(fd, "POST / HTTP/1.0\r\n\r\n", 19) == 19);
	{
		struct pollfd p = { fd, POLLIN, 0 };
		char buf[64] = "";

		UNIT_CHECK(poll(&p, 1, 5000) == 1 && read(fd, buf, sizeof(buf) - 1) > 0);
		UNIT_CHECK(!strncmp(buf, "HTTP/1.0 400", 12));
	}
	close(fd);
	httpd_stop(s);
	UNIT_CHECK(httpd_start(&(struct httpd_opts){ .addr = "not-an-address" }, &s) == -EINVAL);
	httpd_stop(NULL);
}

UNIT_MAIN(UNIT_TEST(test_httpd_a_trickling_client_delays_nobody_and_is_cut),
	  UNIT_TEST(test_httpd_a_hundred_held_connections_do_not_lock_out_a_probe),
	  UNIT_TEST(test_httpd_a_client_that_gives_up_raises_no_sigpipe),
	  UNIT_TEST(test_httpd_out_of_descriptors_rests_instead_of_spinning),
	  UNIT_TEST(test_httpd_beat_drives_health_and_readiness),
	  UNIT_TEST(test_httpd_metrics_bad_requests_and_unknown_paths))
