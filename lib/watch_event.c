// SPDX-License-Identifier: Apache-2.0
/* The part of a watch that does not depend on the transport: the request,
 * what an event means, and when a quiet stream counts as dead. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "watch_internal.h"

void watch_state_init(struct watch_state *w, const char *path, char **rv, long timeout_s,
		      watch_fn fn, void *arg, struct kube_response *resp)
{
	memset(w, 0, sizeof(*w));
	w->path = path;
	w->rv = rv;
	w->fn = fn;
	w->arg = arg;
	w->resp = resp;
	w->deadline_ms = clock_now_ms() + (timeout_s + WATCH_GRACE_S) * 1000;
}

int watch_request_path(char *buf, size_t cap, const char *path, const char *rv, long timeout_s)
{
	int n = snprintf(buf, cap, "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld%s%s",
			 path, strchr(path, '?') ? '&' : '?', timeout_s,
			 rv && *rv ? "&resourceVersion=" : "", rv && *rv ? rv : "");

	return n >= 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/* An ERROR event: its Status says why the server ended the watch. */
static int watch_error_event(struct watch_state *w, const cJSON *status)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
	const char *reason =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(status, "reason"));
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(status, "message"));

	w->resp->code = cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
	snprintf(w->resp->reason, sizeof(w->resp->reason), "%s", reason ? reason : "");
	snprintf(w->resp->message, sizeof(w->resp->message),
		 "watch %.200s: error event %ld: %.250s", w->path, w->resp->code,
		 msg ? msg : "(no message)");
	return w->resp->code == 410 ? -ESTALE : -EPROTO;
}

int watch_deliver(struct watch_state *w, const char *event, size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(event, len);
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	const char *rv;
	char *copy;
	int ret;

	if (!ev || !type || !cJSON_IsObject(obj)) {
		snprintf(w->resp->message, sizeof(w->resp->message),
			 "watch %.200s: not an event (%zu bytes)", w->path, len);
		ret = -EPROTO;
		goto out;
	}
	if (!strcmp(type, "ERROR")) {
		ret = watch_error_event(w, obj);
		goto out;
	}
	rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
	/* It goes back into the next watch's URL: a plain token or nothing. */
	if (rv && *rv && !kube_resource_version_ok(rv)) {
		snprintf(w->resp->message, sizeof(w->resp->message),
			 "watch %.200s: %s event with a resourceVersion that is no plain token",
			 w->path, type);
		ret = -EPROTO;
		goto out;
	}
	ret = w->fn(type, obj, w->arg);
	/* Advance only once the event is handled, so a stop resumes at it. */
	if (ret >= 0 && rv && *rv) {
		if (!(copy = strdup(rv))) {
			ret = -ENOMEM;
		} else {
			free(*w->rv);
			*w->rv = copy;
		}
	}
out:
	cJSON_Delete(ev);
	return ret;
}

int watch_check(struct watch_state *w, long now_ms)
{
	if (now_ms >= w->deadline_ms) {
		snprintf(
		    w->resp->message, sizeof(w->resp->message),
		    "watch %.200s: the server did not end the stream %d s after timeoutSeconds",
		    w->path, WATCH_GRACE_S);
		return -ETIMEDOUT;
	}
	return 0;
}

int watch_refused(struct watch_state *w, long status, const char *body, size_t len)
{
	struct kube_response *r = w->resp;
	int ret;

	r->code = status;
	kube_response_set_status(r, body, len);
	if (!r->message[0])
		snprintf(r->message, sizeof(r->message), "watch %.200s: HTTP %ld", w->path, status);
	ret = kube_response_errno(r);
	return ret ? ret : -EIO;
}
