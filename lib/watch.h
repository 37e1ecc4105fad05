/* SPDX-License-Identifier: Apache-2.0 */
/* Watch streams (chunked HTTP) of the API server, event by event. */
#ifndef SHELLAUDIT_WATCH_H
#define SHELLAUDIT_WATCH_H

#include <cjson/cJSON.h>

#include "kube.h"

/* Called for each event: type is ADDED, MODIFIED, DELETED or BOOKMARK.
 * obj belongs to the stream: copy what you keep. Return <0 to stop. */
typedef int (*watch_fn)(const char *type, const cJSON *obj, void *arg);

/*
 * Watches path (a collection, with any labelSelector/fieldSelector query)
 * from resourceVersion *rv with bookmarks, for at most timeout_s seconds
 * (server side; the stream then ends normally and 0 is returned). Events
 * split across reads and several events in one read are both handled; an
 * event larger than the client's max_body ends the watch with -EFBIG.
 * *rv (owned by the caller, replaced here) follows every event, so that the
 * caller resumes from it after any return. -ESTALE means the version is too
 * old (410 Gone or an ERROR event with code 410): list again.
 */
int watch_stream(struct kube_client *c, const char *path, char **rv, long timeout_s, watch_fn fn,
		 void *arg);

#endif
