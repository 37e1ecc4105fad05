// SPDX-License-Identifier: Apache-2.0
/* watch_stream: the request, then the transport the client asked for
 * (watch_http.c: chunked HTTP, the default; watch_ws.c: a websocket). */
#include "watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "watch_internal.h"

int watch_stream(struct kube_client *c, const char *path, char **rv, long timeout_s, watch_fn fn,
		 void *arg, struct kube_response *resp)
{
	struct kube_response local;
	struct watch_state w;
	char request[4096];
	int ret;

	if (!resp)
		resp = &local;
	memset(resp, 0, sizeof(*resp));
	watch_state_init(&w, path, rv, timeout_s, fn, arg, resp);
	if ((ret = watch_request_path(request, sizeof(request), path, *rv, timeout_s)) < 0) {
		snprintf(resp->message, sizeof(resp->message), "watch %.200s: path too long", path);
		return ret;
	}
	return kube_client_opts(c)->websocket ? watch_ws_stream(c, &w, request)
					      : watch_http_stream(c, &w, request);
}
