/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the two watch transports (watch.c, watch_ws.c). */
#ifndef SHELLAUDIT_WATCH_INTERNAL_H
#define SHELLAUDIT_WATCH_INTERNAL_H

#include <stddef.h>

#include "watch.h"

/* Handles one complete event (a JSON document of len bytes): ERROR events
 * become -ESTALE (410) or -EPROTO, others go to fn; *rv follows the event
 * once fn accepted it (*rv_out is replaced). */
int watch_deliver(const char *path, char **rv_out, watch_fn fn, void *arg, const char *line,
		  size_t len);

/* watch_stream over a websocket (libwebsockets). */
int watch_ws_stream(struct kube_client *c, const char *path, char **rv, long timeout_s,
		    watch_fn fn, void *arg);

#endif
