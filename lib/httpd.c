// SPDX-License-Identifier: Apache-2.0
/* Health and metrics endpoint. Requests are tiny and answered inline. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"

#define HTTPD_REQ_MAX 4096
#define HTTPD_BODY_MAX (256 << 10)

struct httpd {
	int fd;
	struct httpd_handlers h;
};

int httpd_new(const char *addr, int port, const struct httpd_handlers *h, struct httpd **out)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct httpd *s;
	int one = 1, ret;

	if (addr && inet_pton(AF_INET6, addr, &sa.sin6_addr) != 1) {
		char mapped[64];

		snprintf(mapped, sizeof(mapped), "::ffff:%s", addr);
		if (inet_pton(AF_INET6, mapped, &sa.sin6_addr) != 1) {
			log_error("httpd: invalid address %s", addr);
			return -EINVAL;
		}
	} else if (!addr) {
		sa.sin6_addr = in6addr_any;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->h = *h;
	s->fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		ret = -errno;
		goto fail;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->fd, 16) < 0) {
		ret = -errno;
		log_error("httpd: cannot listen on port %d: %s", port, strerror(errno));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return ret;
}

void httpd_free(struct httpd *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

int httpd_fd(const struct httpd *s)
{
	return s->fd;
}

static void httpd_reply(int fd, int code, const char *type, const char *body, size_t len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		     code, code == 200 ? "OK" : code == 404 ? "Not Found" :
			   code == 503 ? "Service Unavailable" : "Bad Request",
		     type, len);
	/* Best effort: a client that does not read its answer loses it. */
	if (write(fd, head, (size_t)n) == n && len)
		(void)!write(fd, body, len);
}

static void httpd_serve(struct httpd *s, int fd)
{
	char req[HTTPD_REQ_MAX + 1], path[256];
	struct pollfd p = { fd, POLLIN, 0 };
	size_t got = 0;
	ssize_t n;

	/* Enough to read the request line; the client has one second. */
	while (got < HTTPD_REQ_MAX && !memchr(req, '\n', got)) {
		if (poll(&p, 1, 1000) <= 0)
			return;
		n = read(fd, req + got, HTTPD_REQ_MAX - got);
		if (n <= 0)
			return;
		got += (size_t)n;
	}
	req[got] = '\0';
	if (sscanf(req, "GET %255s HTTP/", path) != 1) {
		httpd_reply(fd, 400, "text/plain", "bad request\n", 12);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (!strcmp(path, "/healthz")) {
		bool ok = !s->h.healthy || s->h.healthy(s->h.arg);

		httpd_reply(fd, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "unhealthy\n", ok ? 3 : 10);
	} else if (!strcmp(path, "/readyz")) {
		bool ok = !s->h.ready || s->h.ready(s->h.arg);

		httpd_reply(fd, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "not ready\n", ok ? 3 : 10);
	} else if (!strcmp(path, "/metrics") && s->h.metrics) {
		char *body = malloc(HTTPD_BODY_MAX);
		size_t len;

		if (!body)
			return;
		len = metrics_render(s->h.metrics, body, HTTPD_BODY_MAX);
		if (len >= HTTPD_BODY_MAX)
			len = HTTPD_BODY_MAX - 1;
		httpd_reply(fd, 200, "text/plain; version=0.0.4", body, len);
		free(body);
	} else {
		httpd_reply(fd, 404, "text/plain", "not found\n", 10);
	}
}

void httpd_process(struct httpd *s)
{
	int fd, i;

	/* A bounded number per call, so a flood cannot starve the loop. */
	for (i = 0; i < 16; i++) {
		struct timeval tv = { 1, 0 };

		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* A client that does not read its answer cannot block the loop. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		httpd_serve(s, fd);
		close(fd);
	}
}
