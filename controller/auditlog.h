/* SPDX-License-Identifier: Apache-2.0 */
/* What the API server's audit log (an audit.k8s.io/v1 EventList, as its
 * audit webhook backend POSTs it) says of the sessions the webhook
 * admitted: the events that carry the webhook's audit annotation
 * (<webhook>.shellaudit.io/session-id), at stage ResponseStarted, turned
 * into the status.audit of their ShellAuditSession. No I/O, no state;
 * every field is bounded. */
#ifndef SHELLAUDIT_AUDITLOG_H
#define SHELLAUDIT_AUDITLOG_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Called for each event about a session: its session ID (the annotation's
 * value, checked to be a lower-case UUID) and the status.audit object,
 * which fn takes. */
typedef void (*auditlog_fn)(const char *session, cJSON *audit, void *arg);

/* Walks an EventList; returns how many events were about sessions, or
 * -EINVAL (err says why) when the body is no EventList. */
int auditlog_parse(const char *body, size_t len, auditlog_fn fn, void *arg, char *err,
		   size_t errlen);

#endif
