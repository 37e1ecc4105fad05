/* SPDX-License-Identifier: Apache-2.0 */
/* Watch streams of the API server, event by event, over chunked HTTP or a
 * websocket (the client's option). Layering: watch.c picks the transport
 * (watch_http.c, watch_ws.c); both use watch_event.c for the URL, the
 * events and the liveness checks, and kube.c for the connection. */
#ifndef SHELLAUDIT_WATCH_H
#define SHELLAUDIT_WATCH_H

#include <cjson/cJSON.h>

#include "kube.h"

/* Called for each event: type is ADDED, MODIFIED, DELETED or BOOKMARK.
 * obj belongs to the stream: copy what you keep. Return <0 to stop. */
typedef int (*watch_fn)(const char *type, const cJSON *obj, void *arg);

/*
 * Watches path (a collection, with any labelSelector/fieldSelector query)
 * from resourceVersion *rv, asking for bookmarks, for at most timeout_s
 * seconds (the server's timeoutSeconds: the stream then ends normally).
 * Events split across reads and several events in one read are both
 * handled. *rv (owned by the caller, replaced here) follows every event
 * once fn accepted it, so that the caller resumes from it after any return.
 *
 * Returns 0 when the server ended the stream, or:
 *   -ESTALE   the version is too old (410 Gone, or an ERROR event with code
 *             410): list again;
 *   -EPROTO   the server sent an ERROR event with another code (an etcd
 *             restored to an older revision: "Too large resource version")
 *             or something that is not an event: list again, as client-go;
 *   -EAGAIN   429: wait at least resp->retry_after seconds;
 *   -EACCES, -ENOENT, -EINVAL, -EIO: the request was refused (HTTP status);
 *   -ETIMEDOUT a dead peer (no TCP keepalive answer, or no websocket pong,
 *             for 2 * the client's keepalive_ms), or a stream the server
 *             did not end by timeout_s + 30 s;
 *   -EFBIG    an event larger than the client's max_body;
 *   -ECONNREFUSED, -ECANCELED (the client's stop flag), -ENOMEM, -EIO;
 *   or the negative value fn returned.
 * resp (may be NULL) says why, on failure: code (the HTTP status, or the
 * code of the ERROR event), reason, message (the server's or the
 * transport's), retry_after. Nothing is logged here.
 */
int watch_stream(struct kube_client *c, const char *path, char **rv, long timeout_s, watch_fn fn,
		 void *arg, struct kube_response *resp);

#endif
