// SPDX-License-Identifier: Apache-2.0
/* Health and metrics endpoint. The server thread owns the listener, the
 * connections and their buffers; it shares with the daemon only the two
 * beat atomics and the metrics (read with atomic loads). Nothing in it
 * blocks: poll() with the nearest connection deadline as its timeout. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

#define HTTPD_REQ_MAX 4096
#define HTTPD_BODY_MAX (256 << 10)
#define HTTPD_IDLE_POLL_MS 1000
/* How long the listener is left alone after accept failed for want of a
 * file descriptor (it stays readable, so polling it would spin). */
#define HTTPD_ACCEPT_PAUSE_MS 100

struct httpd_conn {
	int fd;			/* -1: free slot */
	long deadline;		/* clock_now_ms() */
	char req[HTTPD_REQ_MAX + 1];
	size_t got;
	char *resp;		/* the whole answer once the request is read */
	size_t len, sent;
};

struct httpd {
	struct httpd_opts o;
	int fd, stopfd, port;
	pthread_t thread;
	bool started;
	struct httpd_conn *conns;
	long accept_after; /* clock_now_ms(): the listener is polled again from then */
	atomic_ulong accept_short; /* accepts that failed for want of descriptors */
	atomic_long beat_ms;
	atomic_bool ready;
};

static int httpd_bind(struct httpd *s)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t)s->o.port) };
	socklen_t len = sizeof(sa);
	int one = 1;

	if (s->o.addr && !*s->o.addr)
		s->o.addr = NULL;
	if (s->o.addr && inet_pton(AF_INET6, s->o.addr, &sa.sin6_addr) != 1) {
		char mapped[64];

		snprintf(mapped, sizeof(mapped), "::ffff:%s", s->o.addr);
		if (inet_pton(AF_INET6, mapped, &sa.sin6_addr) != 1)
			return -EINVAL;
	} else if (!s->o.addr) {
		sa.sin6_addr = in6addr_any;
	}
	s->fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->fd, 128) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	s->port = ntohs(sa.sin6_port);
	return 0;
}

static void httpd_close(struct httpd_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->resp);
	c->fd = -1;
	c->resp = NULL;
	c->got = c->len = c->sent = 0;
}

/* Sets c->resp to a whole answer; no memory: the connection is closed. */
static void httpd_answer(struct httpd_conn *c, int code, const char *type, const char *body,
			 size_t len)
{
	const char *text = code == 200 ? "OK" : code == 404 ? "Not Found" :
			   code == 503 ? "Service Unavailable" : "Bad Request";
	size_t cap = len + 256;
	int n;

	if (!(c->resp = malloc(cap)))
		return;
	n = snprintf(c->resp, cap,
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		     code, text, type, len);
	memcpy(c->resp + n, body, len);
	c->len = (size_t)n + len;
}

static void httpd_route(struct httpd *s, struct httpd_conn *c)
{
	char path[256];
	long beat = atomic_load(&s->beat_ms);
	bool alive = !s->o.stale_ms || clock_now_ms() - beat <= s->o.stale_ms;

	if (sscanf(c->req, "GET %255s HTTP/", path) != 1) {
		httpd_answer(c, 400, "text/plain", "bad request\n", 12);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (!strcmp(path, "/healthz")) {
		httpd_answer(c, alive ? 200 : 503, "text/plain", alive ? "ok\n" : "unhealthy\n",
			     alive ? 3 : 10);
	} else if (!strcmp(path, "/readyz")) {
		bool ok = alive && atomic_load(&s->ready);

		httpd_answer(c, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "not ready\n",
			     ok ? 3 : 10);
	} else if (!strcmp(path, "/metrics") && s->o.metrics) {
		char *body = malloc(HTTPD_BODY_MAX);
		size_t len;

		if (!body)
			return;
		len = metrics_render(s->o.metrics, body, HTTPD_BODY_MAX);
		if (len >= HTTPD_BODY_MAX)
			len = HTTPD_BODY_MAX - 1;
		httpd_answer(c, 200, "text/plain; version=0.0.4", body, len);
		free(body);
	} else {
		httpd_answer(c, 404, "text/plain", "not found\n", 10);
	}
}

/* Reads what is there; answers once the request line is complete. */
static void httpd_read(struct httpd *s, struct httpd_conn *c)
{
	ssize_t n = recv(c->fd, c->req + c->got, HTTPD_REQ_MAX - c->got, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		httpd_close(c);
		return;
	}
	if (n < 0)
		return;
	c->got += (size_t)n;
	c->req[c->got] = '\0';
	if (!memchr(c->req, '\n', c->got)) {
		if (c->got == HTTPD_REQ_MAX)
			httpd_close(c);
		return;
	}
	httpd_route(s, c);
	if (!c->resp)
		httpd_close(c);
}

static void httpd_write(struct httpd_conn *c)
{
	ssize_t n = send(c->fd, c->resp + c->sent, c->len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		httpd_close(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == c->len)
		httpd_close(c);
}

/* Takes the waiting connections; when every slot is busy, the oldest one
 * makes room (it has had the longest part of its deadline already). */
static void httpd_accept(struct httpd *s)
{
	int fd, i, slot;

	while ((fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		slot = -1;
		for (i = 0; i < s->o.max_conns && slot < 0; i++)
			if (s->conns[i].fd < 0)
				slot = i;
		if (slot < 0) {
			slot = 0;
			for (i = 1; i < s->o.max_conns; i++)
				if (s->conns[i].deadline < s->conns[slot].deadline)
					slot = i;
			httpd_close(&s->conns[slot]);
		}
		s->conns[slot].fd = fd;
		s->conns[slot].deadline = clock_now_ms() + s->o.deadline_ms;
	}
	/* Out of descriptors: the waiting connection stays queued and the
	 * listener readable; try again once some may have been closed. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		s->accept_after = clock_now_ms() + HTTPD_ACCEPT_PAUSE_MS;
		atomic_fetch_add(&s->accept_short, 1);
	}
}

static void *httpd_thread(void *arg)
{
	struct httpd *s = arg;
	int n = s->o.max_conns, i, k, timeout;
	struct pollfd *p = calloc((size_t)n + 2, sizeof(*p));
	int *which = calloc((size_t)n + 2, sizeof(*which));
	long now;

	pthread_setname_np(pthread_self(), "sa-httpd");

	if (!p || !which)
		goto out;
	for (;;) {
		now = clock_now_ms();
		timeout = HTTPD_IDLE_POLL_MS;
		p[0] = (struct pollfd){ s->stopfd, POLLIN, 0 };
		/* A negative fd is skipped by poll: the listener rests. */
		p[1] = (struct pollfd){ now < s->accept_after ? -1 : s->fd, POLLIN, 0 };
		if (now < s->accept_after && s->accept_after - now < timeout)
			timeout = (int)(s->accept_after - now);
		for (i = 0, k = 2; i < n; i++) {
			struct httpd_conn *c = &s->conns[i];

			if (c->fd < 0)
				continue;
			if (now >= c->deadline) {
				httpd_close(c);
				continue;
			}
			if (c->deadline - now < timeout)
				timeout = (int)(c->deadline - now);
			which[k] = i;
			p[k++] = (struct pollfd){ c->fd, c->resp ? POLLOUT : POLLIN, 0 };
		}
		if (poll(p, (nfds_t)k, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (i = 2; i < k; i++) {
			struct httpd_conn *c = &s->conns[which[i]];

			if (!p[i].revents || c->fd != p[i].fd)
				continue;
			if (c->resp)
				httpd_write(c);
			else
				httpd_read(s, c);
			/* An answer ready now is usually sent at once. */
			if (c->fd >= 0 && c->resp && !c->sent)
				httpd_write(c);
		}
		if (p[1].revents)
			httpd_accept(s);
	}
out:
	free(p);
	free(which);
	return NULL;
}

int httpd_start(const struct httpd_opts *opts, struct httpd **out)
{
	struct httpd *s = calloc(1, sizeof(*s));
	int ret, i;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	s->fd = s->stopfd = -1;
	if (s->o.deadline_ms <= 0)
		s->o.deadline_ms = 1000;
	if (s->o.max_conns <= 0)
		s->o.max_conns = 32;
	atomic_init(&s->beat_ms, clock_now_ms());
	atomic_init(&s->ready, false);
	atomic_init(&s->accept_short, 0);
	if (!(s->conns = calloc((size_t)s->o.max_conns, sizeof(*s->conns)))) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->o.max_conns; i++)
		s->conns[i].fd = -1;
	if ((ret = httpd_bind(s)) < 0)
		goto fail;
	if ((s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = -pthread_create(&s->thread, NULL, httpd_thread, s)) < 0)
		goto fail;
	s->started = true;
	*out = s;
	return 0;
fail:
	httpd_stop(s);
	return ret;
}

void httpd_stop(struct httpd *s)
{
	uint64_t one = 1;
	int i;

	if (!s)
		return;
	if (s->started) {
		(void)!write(s->stopfd, &one, sizeof(one));
		pthread_join(s->thread, NULL);
	}
	for (i = 0; s->conns && i < s->o.max_conns; i++)
		httpd_close(&s->conns[i]);
	free(s->conns);
	if (s->fd >= 0)
		close(s->fd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	free(s);
}

void httpd_beat(struct httpd *s, bool ready)
{
	if (!s)
		return;
	atomic_store(&s->beat_ms, clock_now_ms());
	atomic_store(&s->ready, ready);
}

int httpd_port(const struct httpd *s)
{
	return s->port;
}

unsigned long httpd_accepts_short(struct httpd *s)
{
	return atomic_load(&s->accept_short);
}
