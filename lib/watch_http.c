// SPDX-License-Identifier: Apache-2.0
/* Watch over chunked HTTP (libcurl): curl delivers arbitrary slices of the
 * stream, which are cut into newline-terminated JSON events here. A dead
 * peer is found by TCP keepalive (kube.c); the deadline and the stop flag
 * are checked from curl's progress callback, which runs about once a
 * second even when no byte arrives. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "clock.h"
#include "watch_internal.h"

/* The part of a failed answer's body kept for its Status. */
#define WATCH_HTTP_ERROR_BODY 4096

struct watch_http {
	struct watch_state *w;
	struct watch_lines lines; /* the event in progress; a refusal's body */
	size_t max;
	int err; /* first error, stops the transfer */
	CURL *curl;
	const atomic_int *stop;
	long code; /* HTTP status once known */
};

int watch_lines_grow(struct watch_lines *l, size_t need)
{
	size_t cap = l->cap ? l->cap : 65536;
	char *p;

	if (need + 1 <= l->cap)
		return 0;
	while (cap < need + 1)
		cap *= 2;
	if (!(p = realloc(l->buf, cap)))
		return -ENOMEM;
	l->buf = p;
	l->cap = cap;
	return 0;
}

int watch_lines_feed(struct watch_lines *l, struct watch_state *w, const char *p, size_t n)
{
	size_t start = 0, i;
	const char *nl;
	int ret;

	if ((ret = watch_lines_grow(l, l->len + n)) < 0)
		return ret;
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	l->buf[l->len] = '\0';
	/* An event in many chunks is scanned once, not from its start at
	 * every chunk: only the bytes that came since the last scan. */
	for (i = l->scanned; (nl = memchr(l->buf + i, '\n', l->len - i)); i = start) {
		size_t end = (size_t)(nl - l->buf);

		l->looked += end + 1 - i;
		if (end > start && (ret = watch_deliver(w, l->buf + start, end - start)) < 0)
			return ret;
		start = end + 1;
	}
	l->looked += l->len - i;
	if (start) {
		memmove(l->buf, l->buf + start, l->len - start);
		l->len -= start;
	}
	l->scanned = l->len;
	return 0;
}

void watch_lines_clear(struct watch_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static size_t watch_http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct watch_http *h = arg;
	struct watch_lines *l = &h->lines;
	size_t n = size * nmemb, i;
	int ret;

	if (h->err)
		return 0;
	if (!h->code)
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->code);
	if (h->code < 200 || h->code > 299) {
		/* A Status, not events: keep its start. */
		n = n > WATCH_HTTP_ERROR_BODY - l->len ? WATCH_HTTP_ERROR_BODY - l->len : n;
		if (n && watch_lines_grow(l, l->len + n) == 0) {
			memcpy(l->buf + l->len, ptr, n);
			l->len += n;
			l->buf[l->len] = '\0';
		}
		return size * nmemb;
	}
	if (l->len + n > h->max + 1) {
		/* Only the unfinished event counts: cut complete ones first. */
		for (i = 0; i < n; i++)
			if (ptr[i] == '\n')
				break;
		if (i == n || l->len + i > h->max)
			goto too_big;
	}
	if ((ret = watch_lines_feed(l, h->w, ptr, n)) < 0) {
		h->err = ret;
		return 0;
	}
	if (l->len > h->max)
		goto too_big;
	return n;
too_big:
	snprintf(h->w->resp->message, sizeof(h->w->resp->message),
		 "watch %.200s: event larger than %zu bytes", h->w->path, h->max);
	h->err = -EFBIG;
	return 0;
}

/* About once a second: the owner's stop flag, and the liveness checks. */
static int watch_http_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			       curl_off_t ulnow)
{
	struct watch_http *h = arg;
	int ret;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (h->stop && atomic_load(h->stop)) {
		h->err = -ECANCELED;
		return 1;
	}
	if ((ret = watch_check(h->w, clock_now_ms())) < 0) {
		h->err = ret;
		return 1;
	}
	return 0;
}

int watch_http_stream(struct kube_client *c, struct watch_state *w, const char *request)
{
	struct watch_http h = {
	    .w = w, .max = kube_client_opts(c)->max_body, .stop = kube_client_opts(c)->stop};
	void *curl, *headers;
	CURLcode rc;
	int ret;

	if ((ret = kube_client_curl(c, request, NULL, w->resp, &curl, &headers)) < 0) {
		snprintf(w->resp->message, sizeof(w->resp->message), "watch %.200s: %s", w->path,
			 strerror(-ret));
		return ret;
	}
	h.curl = curl;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, watch_http_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &h);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, watch_http_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &h);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (!h.code)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &h.code);
	if (h.err) {
		ret = h.err;
	} else if (h.code && (h.code < 200 || h.code > 299)) {
		ret = watch_refused(w, h.code, h.lines.buf, h.lines.len);
	} else if (rc != CURLE_OK) {
		long os_errno = 0;

		/* A dead peer: TCP keepalive gave up (ETIMEDOUT on the socket). */
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		snprintf(w->resp->message, sizeof(w->resp->message), "watch %.200s: %s%s%s",
			 w->path, curl_easy_strerror(rc), os_errno ? ": " : "",
			 os_errno ? strerror((int)os_errno) : "");
		ret = rc == CURLE_OPERATION_TIMEDOUT || os_errno == ETIMEDOUT ? -ETIMEDOUT
		      : rc == CURLE_COULDNT_CONNECT			      ? -ECONNREFUSED
									      : -EIO;
	} else {
		ret = 0;
	}
	if (ret < 0 && !w->resp->code)
		w->resp->code = h.code;
	watch_lines_clear(&h.lines);
	return ret;
}
