/* SPDX-License-Identifier: Apache-2.0 */
/* A scripted HTTP/1.1 server on loopback for the tests of lib/kube and
 * the watch transports: a thread that answers each request head (GETs:
 * no body is read) through a callback, keeping connections alive. Every
 * wait is bounded, so a client that never comes cannot hang a test. */
#ifndef SHELLAUDIT_LOOPBACK_H
#define SHELLAUDIT_LOOPBACK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct loopback_server {
	/* Writes the answer to the request whose head is head (NUL-
	 * terminated; n counts requests from 1) on fd; false closes the
	 * connection. */
	bool (*answer)(int fd, const char *head, int n, void *arg);
	void *arg;
	char url[64]; /* http://127.0.0.1:port */
	int lfd;
	atomic_int requests;
	atomic_int stop;
	pthread_t thread;
};

/* Writes all of buf; false when the peer went away. */
static inline bool loopback_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Waits up to 5 s (in steps, for the stop flag) for fd to be readable. */
static inline bool loopback_wait(struct loopback_server *s, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < 50 && !atomic_load(&s->stop); i++)
		if (poll(&p, 1, 100) == 1)
			return true;
	return false;
}

static inline void loopback_serve(struct loopback_server *s, int fd)
{
	char head[8192];
	size_t got = 0;
	char *end;
	ssize_t n;

	while (loopback_wait(s, fd) && (n = read(fd, head + got, sizeof(head) - 1 - got)) > 0) {
		got += (size_t)n;
		head[got] = '\0';
		while ((end = strstr(head, "\r\n\r\n"))) {
			size_t used = (size_t)(end + 4 - head);

			*end = '\0';
			if (!s->answer(fd, head, atomic_fetch_add(&s->requests, 1) + 1, s->arg))
				return;
			memmove(head, head + used, got - used + 1);
			got -= used;
		}
		if (got == sizeof(head) - 1)
			return;
	}
}

static inline void *loopback_run(void *arg)
{
	struct loopback_server *s = arg;
	int fd;

	while (loopback_wait(s, s->lfd)) {
		if ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		loopback_serve(s, fd);
		close(fd);
	}
	return NULL;
}

/* 0, or a negative errno; s->answer and s->arg set by the caller. */
static inline int loopback_start(struct loopback_server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int ret;

	atomic_store(&s->requests, 0);
	atomic_store(&s->stop, 0);
	if ((s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->lfd, 8) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) < 0) {
		ret = -errno;
		close(s->lfd);
		return ret;
	}
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	if ((ret = pthread_create(&s->thread, NULL, loopback_run, s))) {
		close(s->lfd);
		return -ret;
	}
	return 0;
}

static inline void loopback_stop(struct loopback_server *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

#endif
