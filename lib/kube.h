/* SPDX-License-Identifier: Apache-2.0 */
/* Requests to the Kubernetes API server over libcurl: one client per
 * thread, keep-alive connection reuse, TLS from a kubeconfig. */
#ifndef SHELLAUDIT_KUBE_H
#define SHELLAUDIT_KUBE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kubeconfig.h"

struct kube_client;

struct kube_client_opts {
	long timeout_ms;	/* whole-request timeout of non-watch requests [30000] */
	long connect_timeout_ms; /* [5000] */
	size_t max_body;	/* largest response body accepted [64 MiB] */
	const char *user_agent;	/* [shellaudit] */
	/* When non-NULL and set non-zero (by another thread), transfers in
	 * progress stop within about a second with -ECANCELED. */
	const atomic_int *stop;
	/* Watches over a websocket (libwebsockets) instead of chunked HTTP. */
	bool websocket;
};

struct kube_response {
	long code;		/* HTTP status; 0 when no response arrived */
	char *body;		/* NUL-terminated; owned, freed by kube_response_clear() */
	size_t len;
	char reason[64];	/* metav1.Status reason on failure, e.g. "AlreadyExists" */
	char message[512];	/* metav1.Status message, or the transport error */
	int retry_after;	/* seconds from Retry-After, 0 when absent */
	long long date;		/* the server's clock (Date, seconds since the epoch),
				 * 0 when absent */
};

/* Creates a client for cfg (which must outlive it). opts may be NULL.
 * Caller frees *out with kube_client_free(). */
int kube_client_new(const struct kubeconfig *cfg, const struct kube_client_opts *opts,
		    struct kube_client **out);
void kube_client_free(struct kube_client *c);

/*
 * One request: method, path (with query, e.g. "/api/v1/namespaces/x/pods"),
 * optional body with its content type. Returns 0 when a response arrived
 * (whatever its status; see kube_response_errno), or a negative errno for
 * transport failures (-ETIMEDOUT, -ECONNREFUSED, -EFBIG past max_body,
 * -EIO otherwise) with the reason in resp->message.
 */
int kube_request(struct kube_client *c, const char *method, const char *path,
		 const char *content_type, const char *body, struct kube_response *resp);

/* The response as an errno: 0 for 2xx, -EEXIST AlreadyExists, -EBUSY
 * Conflict, -ENOENT NotFound, -EACCES Forbidden/Unauthorized, -EINVAL
 * Invalid/BadRequest, -EAGAIN TooManyRequests, -ESTALE 410 Gone/Expired,
 * -EIO anything else. */
int kube_response_errno(const struct kube_response *resp);

void kube_response_clear(struct kube_response *resp);

/* JSON-bodied conveniences: on 2xx, *out (if out) gets the parsed body,
 * which the caller frees with cJSON_Delete(). Return kube_response_errno()
 * or a transport error; resp (optional) keeps the details. */
int kube_get(struct kube_client *c, const char *path, cJSON **out, struct kube_response *resp);
int kube_create(struct kube_client *c, const char *path, const cJSON *obj, cJSON **out,
		struct kube_response *resp);
/* Merge patch (RFC 7386) of obj onto path. */
int kube_patch(struct kube_client *c, const char *path, const cJSON *patch, cJSON **out,
	       struct kube_response *resp);
/* Server-side apply of obj with the given field manager. */
int kube_apply(struct kube_client *c, const char *path, const char *manager, bool force,
	       const cJSON *obj, cJSON **out, struct kube_response *resp);
int kube_update(struct kube_client *c, const char *path, const cJSON *obj, cJSON **out,
		struct kube_response *resp);
/* Delete; uid and rv (either may be NULL) become preconditions. */
int kube_delete(struct kube_client *c, const char *path, const char *uid, const char *rv,
		struct kube_response *resp);

/* Calls fn for every item of the list at path (labelSelector etc. in the
 * query), page by page with limit/continue. *rv gets the list's
 * resourceVersion (caller frees). fn returns 0 to go on, <0 to stop (that
 * value is returned). The item belongs to the list: fn must copy what it keeps. */
int kube_list(struct kube_client *c, const char *path, long limit,
	      int (*fn)(const cJSON *item, void *arg), void *arg, char **rv,
	      struct kube_response *resp);

/* The curl handle prepared for this client (TLS, auth header) for the
 * watch module, which drives its own transfer. */
void *kube_client_curl(struct kube_client *c, const char *path, void **headers_out);
const struct kube_client_opts *kube_client_opts(const struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);
const struct kubeconfig *kube_client_config(const struct kube_client *c);

#endif
