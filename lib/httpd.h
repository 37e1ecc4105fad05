/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal HTTP/1.0 server for /healthz, /readyz and /metrics on its own
 * thread, so that neither a slow client nor a long turn of the daemon's
 * loop delays the other.
 *
 * Every connection gets one deadline for the whole request, read and
 * answer together (deadline_ms); sockets are non-blocking and every send
 * uses MSG_NOSIGNAL, so a client that trickles bytes, stops reading or
 * goes away costs at most that deadline and one of max_conns slots. When
 * the slots are full, the oldest connection is closed to make room, so a
 * client holding many connections open cannot lock a probe out. When
 * accept fails for want of file descriptors (EMFILE, ENFILE), the
 * listener is left alone for 100 ms rather than polled in a spin; the
 * waiting connections stay queued until then.
 *
 * The daemon's loop talks to the thread through httpd_beat() only (two
 * atomics); the metrics it serves are read with atomic loads (metrics.h). */
#ifndef SHELLAUDIT_HTTPD_H
#define SHELLAUDIT_HTTPD_H

#include <stdbool.h>

#include "metrics.h"

struct httpd;

struct httpd_opts {
	const char *addr;		/* IPv4 or IPv6 address to bind; NULL: all */
	int port;			/* 0: any free port (see httpd_port) */
	const struct metrics *metrics;	/* NULL: no /metrics; must outlive the server */
	long deadline_ms;		/* a whole request [1000] */
	int max_conns;			/* connections served at once [32] */
	/* /healthz fails when the loop has not called httpd_beat for this
	 * long (a wedged loop is restarted by the liveness probe); 0: never. */
	long stale_ms;
};

/* Binds and starts the server thread. Caller frees *out with httpd_stop(). */
int httpd_start(const struct httpd_opts *opts, struct httpd **out);
/* Stops the thread, closes every connection and frees s. NULL-safe. */
void httpd_stop(struct httpd *s);
/* The daemon's loop is alive; /readyz answers 200 while ready is true. */
void httpd_beat(struct httpd *s, bool ready);
/* The port listened on. */
int httpd_port(const struct httpd *s);
/* How many times accept failed for want of file descriptors (each is
 * followed by the listener's rest). */
unsigned long httpd_accepts_short(struct httpd *s);

#endif
