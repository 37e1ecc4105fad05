// SPDX-License-Identifier: Apache-2.0
/* Chunked HTTP watch: curl delivers arbitrary slices of the stream, which
 * are cut into newline-terminated JSON events here. The websocket transport
 * (watch_ws.c) is chosen by the client's options. */
#include "watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "watch_internal.h"

struct watch_ctx {
	char *buf;
	size_t len, cap, max;
	char **rv;
	watch_fn fn;
	void *arg;
	int err;		/* first error, stops the transfer */
	const char *path;
	CURL *curl;
	bool failed;		/* non-2xx: the body is a Status, not events */
};

int watch_deliver(const char *path, char **rv_out, watch_fn fn, void *arg, const char *line,
		  size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(line, len);
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	const char *rv;
	int ret = 0;

	if (!ev || !type || !cJSON_IsObject(obj)) {
		log_with(LOG_WARN, LOG_KV("path", path), "watch: malformed event of %zu bytes", len);
		ret = -EPROTO;
		goto out;
	}
	if (!strcmp(type, "ERROR")) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "message"));

		ret = cJSON_IsNumber(code) && code->valueint == 410 ? -ESTALE : -EPROTO;
		log_with(ret == -ESTALE ? LOG_INFO : LOG_WARN, LOG_KV("path", path),
			 "watch: error event: %s", msg ? msg : "(no message)");
		goto out;
	}
	rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
	ret = fn(type, obj, arg);
	/* Advance only once the event is handled, so a stop resumes at it. */
	if (ret >= 0 && rv && *rv) {
		char *copy = strdup(rv);

		if (!copy) {
			ret = -ENOMEM;
		} else {
			free(*rv_out);
			*rv_out = copy;
		}
	}
out:
	cJSON_Delete(ev);
	return ret;
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct watch_ctx *w = arg;
	size_t n = size * nmemb, start = 0, i;

	long code = 0;

	if (w->err)
		return 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		w->failed = true;
		n = n > 4096 - w->len ? 4096 - w->len : n;
	}
	if (w->len + n > w->max + 1) {
		/* Only the unfinished event counts: cut complete ones first. */
		for (i = 0; i < n; i++)
			if (ptr[i] == '\n')
				break;
		if (i == n || w->len + i > w->max) {
			log_with(LOG_ERROR, LOG_KV("path", w->path),
				 "watch: event larger than %zu bytes", w->max);
			w->err = -EFBIG;
			return 0;
		}
	}
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		char *p;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (!(p = realloc(w->buf, cap))) {
			w->err = -ENOMEM;
			return 0;
		}
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, ptr, n);
	w->len += n;
	w->buf[w->len] = '\0';
	if (w->failed)
		return size * nmemb;
	for (i = 0; i < w->len; i++) {
		if (w->buf[i] != '\n')
			continue;
		if (i > start) {
			int ret = watch_deliver(w->path, w->rv, w->fn, w->arg, w->buf + start,
							i - start);

			if (ret < 0) {
				w->err = ret;
				return 0;
			}
		}
		start = i + 1;
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	if (w->len > w->max) {
		log_with(LOG_ERROR, LOG_KV("path", w->path), "watch: event larger than %zu bytes",
			 w->max);
		w->err = -EFBIG;
		return 0;
	}
	return n;
}

int watch_stream(struct kube_client *c, const char *path, char **rv, long timeout_s, watch_fn fn,
		 void *arg)
{
	struct watch_ctx w = { .max = kube_client_opts(c)->max_body, .rv = rv, .fn = fn,
			       .arg = arg, .path = path };
	char full[4096];
	struct curl_slist *headers = NULL;
	long code = 0;
	CURL *curl;
	CURLcode rc;
	int ret = 0;

	if (kube_client_opts(c)->websocket)
		return watch_ws_stream(c, path, rv, timeout_s, fn, arg);
	if (snprintf(full, sizeof(full),
		     "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld%s%s", path,
		     strchr(path, '?') ? '&' : '?', timeout_s, *rv ? "&resourceVersion=" : "",
		     *rv ? *rv : "") >= (int)sizeof(full))
		return -ENAMETOOLONG;
	if (!(curl = kube_client_curl(c, full, (void **)&headers)))
		return -ENOMEM;
	w.curl = curl;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
	/* The server ends the stream at timeoutSeconds; the client-side limit
	 * only catches a server that went silent. */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (timeout_s + 30) * 1000L);
	/* Silence is no sign of a dead peer: the API server sends bookmarks
	 * (every minute) only once the collection changed after the watch's
	 * resourceVersion, so an idle collection's watch stays silent until
	 * timeoutSeconds. A dead peer is found by TCP keepalive (30 s idle,
	 * then probes 15 s apart); the low-speed limit only ends a stream
	 * silent past the server's own timeout. */
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 15L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, timeout_s + 30);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (w.err) {
		ret = w.err;
	} else if (code == 410) {
		ret = -ESTALE;
	} else if (rc != CURLE_OK) {
		if (rc != CURLE_ABORTED_BY_CALLBACK)
			log_with(LOG_WARN, LOG_KV("path", path), "watch: %s", curl_easy_strerror(rc));
		ret = rc == CURLE_OPERATION_TIMEDOUT	  ? -ETIMEDOUT :
		      rc == CURLE_COULDNT_CONNECT	  ? -ECONNREFUSED :
		      rc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED :
							    -EIO;
	} else if (code < 200 || code > 299) {
		log_with(LOG_WARN, LOG_KV("path", path), "watch: HTTP %ld: %.200s", code,
			 w.buf && w.len ? w.buf : "");
		ret = code == 403 || code == 401 ? -EACCES : code == 404 ? -ENOENT : -EIO;
	}
	free(w.buf);
	return ret;
}
