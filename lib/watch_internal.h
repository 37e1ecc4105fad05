/* SPDX-License-Identifier: Apache-2.0 */
/* What the two watch transports (watch_http.c, watch_ws.c) share, from
 * watch_event.c: the request path, event delivery and the liveness checks;
 * and watch_http.c's cutting of a stream into events (watch_lines), for
 * its test. Neither transport calls the other, nor watch.c. */
#ifndef SHELLAUDIT_WATCH_INTERNAL_H
#define SHELLAUDIT_WATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "watch.h"

/* Extra seconds past timeoutSeconds before a stream that did not end is
 * given up. */
#define WATCH_GRACE_S 30

/* One watch in progress, owned by the transport's stack frame. */
struct watch_state {
	const char *path;
	char **rv;
	watch_fn fn;
	void *arg;
	struct kube_response *resp; /* never NULL here */
	long deadline_ms;	    /* clock_now_ms(): timeout_s + WATCH_GRACE_S */
};

void watch_state_init(struct watch_state *w, const char *path, char **rv, long timeout_s,
		      watch_fn fn, void *arg, struct kube_response *resp);

/* The request of a watch of path from rv (NULL or ""): path, query,
 * watch=1, allowWatchBookmarks=true and timeoutSeconds. -ENAMETOOLONG. */
int watch_request_path(char *buf, size_t cap, const char *path, const char *rv, long timeout_s);

/* Handles one complete event (a JSON document of len bytes): ERROR events
 * become -ESTALE (410) or -EPROTO with w->resp filled, a document that is
 * not an event -EPROTO, others go to fn; *w->rv follows the event once fn
 * accepted it. Returns 0 or a negative errno (fn's included). */
int watch_deliver(struct watch_state *w, const char *event, size_t len);

/* The events of an HTTP watch stream as its chunks come (watch_http.c):
 * the unfinished event's bytes, of which each is looked at for a newline
 * once however the stream is sliced. Zeroed to start. */
struct watch_lines {
	char *buf; /* NUL-terminated */
	size_t len, cap;
	size_t scanned;		   /* buf[0, scanned) holds no newline */
	unsigned long long looked; /* bytes looked at for a newline, in all */
};

/* Appends n bytes of the stream and delivers each event they complete to
 * w (watch_deliver), in order. 0, -ENOMEM or watch_deliver's error. */
int watch_lines_feed(struct watch_lines *l, struct watch_state *w, const char *p, size_t n);
/* Makes room for need bytes (and the NUL). 0 or -ENOMEM. */
int watch_lines_grow(struct watch_lines *l, size_t need);
void watch_lines_clear(struct watch_lines *l);

/* 0 while the watch may go on; -ETIMEDOUT past its deadline, with
 * w->resp->message saying so. */
int watch_check(struct watch_state *w, long now_ms);

/* The failed answer to the watch request: w->resp gets status, the Status
 * of body (may be NULL) and says so; returns the matching errno. */
int watch_refused(struct watch_state *w, long status, const char *body, size_t len);

/* watch_stream over each transport. */
int watch_http_stream(struct kube_client *c, struct watch_state *w, const char *request);
int watch_ws_stream(struct kube_client *c, struct watch_state *w, const char *request);

#endif
