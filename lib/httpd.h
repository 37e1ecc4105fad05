/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal HTTP/1.0 server for /healthz, /readyz and /metrics, driven by
 * the daemon's poll loop: no thread, one short request per connection. */
#ifndef SHELLAUDIT_HTTPD_H
#define SHELLAUDIT_HTTPD_H

#include <stdbool.h>

#include "metrics.h"

struct httpd;

struct httpd_handlers {
	bool (*healthy)(void *arg);
	bool (*ready)(void *arg);
	const struct metrics *metrics;
	void *arg;
};

/* Listens on addr:port (addr NULL: all addresses). Caller frees *out with
 * httpd_free(). */
int httpd_new(const char *addr, int port, const struct httpd_handlers *h, struct httpd **out);
void httpd_free(struct httpd *s);
/* The listening socket, to poll for POLLIN. */
int httpd_fd(const struct httpd *s);
/* Accepts and answers what is waiting. Slow or hostile clients get at most
 * one second and 4 kB of request before they are dropped. */
void httpd_process(struct httpd *s);

#endif
