/* SPDX-License-Identifier: Apache-2.0 */
/* Requests to the Kubernetes API server over libcurl: one client per
 * thread, keep-alive connection reuse, TLS from a kubeconfig.
 *
 * TLS as client-go does it: a configured CA is the only trust (the system
 * store is not consulted then; without a CA it is), tls-server-name is the
 * name the certificate must carry while the connection goes to the
 * server's address, insecure-skip-tls-verify skips every check. The
 * library never logs: errors come back as -errno with a message in the
 * kube_response. */
#ifndef SHELLAUDIT_KUBE_H
#define SHELLAUDIT_KUBE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kubeconfig.h"

struct kube_client;

/* The parts of a server URL ("https://host:port/prefix"). */
struct kube_server {
	bool tls;
	char host[256];	    /* without the brackets of an IPv6 address */
	int port;	    /* 443 or 80 when not given */
	const char *prefix; /* the path after the authority ("" or "/..."),
			     * pointing into the URL that was parsed */
};

/* Splits server (http or https, as kubeconfig_load checks); -EINVAL when
 * the host is empty or too long or the port is not 1..65535. */
int kube_server_parse(const char *server, struct kube_server *out);

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
	/* The Accept header of requests and of watches (both transports)
	 * [application/json], e.g. the metadata-only forms
	 * (as=PartialObjectMetadataList... for lists, as=PartialObjectMetadata...
	 * for watches). */
	const char *accept;
	const char *watch_accept;
	/* A peer that answers nothing for twice this long is dead: TCP
	 * keepalive probes (requests, chunked watches) and websocket pings
	 * start after this much silence [30000]. A watch is not otherwise cut
	 * for being quiet: the API server sends bookmarks only once its cache
	 * moved past the watch's version, so an idle collection's watch is
	 * silent until its timeoutSeconds. */
	long keepalive_ms;
	/* Called by the requesting thread just before and just after each
	 * request's transfer (the part that waits on the peer; not a watch's):
	 * e.g. to let other threads take a lock the caller holds while it
	 * waits (turnlock.h). Both set or neither. */
	void (*io_leave)(void *arg);
	void (*io_enter)(void *arg);
	void *io_arg;
	/* When set, asked once the connection is up, right before a request
	 * (not a watch) goes out: false aborts it unsent with -ECANCELED.
	 * E.g. a leader's writes, so that no time passes between its last
	 * check and the request but the send itself. */
	bool (*may_send)(void *arg);
	void *may_send_arg;
};

struct kube_response {
	long code;		/* HTTP status; 0 when no response arrived */
	char *body;		/* NUL-terminated; owned, freed by kube_response_clear() */
	size_t len;
	char reason[64];	/* metav1.Status reason on failure, e.g. "AlreadyExists" */
	char message[512];	/* metav1.Status message, or the transport error */
	int retry_after;	/* seconds the server asks to wait (Retry-After, with
				 * 429 and 503), 0 when absent */
	long long date;		/* the server's clock (Date, seconds since the epoch),
				 * 0 when absent */
	bool sent;		/* the request reached the server (connected, and its
				 * headers sent), answered or not */
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

/* A request that runs beside others (kube_call_start, kube_request_many):
 * kube_request's arguments in; done, its return value (ret) and response
 * out. */
struct kube_call {
	const char *method, *path, *content_type, *body;
	bool done;
	int ret;
	struct kube_response resp; /* caller clears with kube_response_clear() */
};

/* At most this many requests at once. The agent's Events come in groups
 * (those of one spool sync, 50 ms apart): at 1,000 lines a second a group
 * is about 50, which a window of 16 sent in three or four turns of an API
 * server's answer each, falling behind (the Events' p99 0.4 to 0.6 s);
 * 64 send a group at once (0.12 s). Streams of one connection where the
 * server speaks HTTP/2 (the API server does); each idle handle is freed
 * by kube_client_trim. */
#define KUBE_MANY_MAX 64

/*
 * Concurrent requests: streams of one HTTP/2 connection where the server
 * speaks it, else a connection each, kept for the next ones.
 * kube_call_start starts call (0), or ends it at once (0, call->done with
 * ret and resp.message saying why), or returns -EBUSY when KUBE_MANY_MAX
 * are running (call untouched). The call stays where it is, owned by the
 * client, until done or kube_call_cancel. kube_calls_run runs them until
 * at least one ends or timeout_ms pass (0: only what is ready), and returns
 * how many still run; each that ended has done, ret and resp as
 * kube_request would have given (timeout_ms and stop of the client's
 * options apply to each, so one without an answer holds up none of the
 * others beyond its own timeout). io_leave/io_enter around the wait.
 * kube_call_cancel ends a running call (ret -ECANCELED; the server may
 * still have done it). kube_client_free cancels what still runs.
 */
int kube_call_start(struct kube_client *c, struct kube_call *call);
/*
 * While kube_request waits for its answer, fn(arg) runs each time calls
 * beside it (kube_call_start) ended, and every KUBE_BESIDE_MS, between
 * io_enter and io_leave (the caller's state as around any request), so
 * that one request does not hold up the calls that would follow those:
 * fn may take their answers and start others, never wait for one
 * (kube_calls_run) nor make a request (kube_request: -EDEADLK). NULL fn:
 * none; kube_request then runs alone when no call runs.
 */
#define KUBE_BESIDE_MS 20
void kube_set_beside(struct kube_client *c, void (*fn)(void *), void *arg);
int kube_calls_run(struct kube_client *c, int timeout_ms);
void kube_call_cancel(struct kube_client *c, struct kube_call *call);

/* Frees the handles of kube_call_start's window that run no call: each
 * keeps buffers of tens of kB after a burst (an upload buffer of 16 kB
 * among them); the next calls make them again. The connections stay open.
 * For a caller's idle time. Returns how many it freed. */
int kube_client_trim(struct kube_client *c);

/* The n calls (at most KUBE_MANY_MAX, else -E2BIG) started together, run
 * until all ended (one that found no free slot: ret -EBUSY). */
int kube_request_many(struct kube_client *c, struct kube_call *calls, size_t n);

/* The response as an errno: 0 for 2xx, -EEXIST AlreadyExists, -EBUSY
 * Conflict, -ENOENT NotFound, -EACCES Forbidden/Unauthorized, -EINVAL
 * Invalid/BadRequest, -EAGAIN TooManyRequests (the API server's own
 * throttling: wait resp->retry_after seconds at least), -ESTALE 410
 * Gone/Expired, -EIO anything else. */
int kube_response_errno(const struct kube_response *resp);

/* Fills resp->reason and resp->message from body (len bytes) when it is a
 * metav1.Status; for transports that read a failed response themselves. */
void kube_response_set_status(struct kube_response *resp, const char *body, size_t len);

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

/* Whether rv, a resourceVersion the server sent, may go back into a query
 * as it is: 1 to KUBE_RV_MAX bytes of letters, digits, '-', '.', '_' or
 * '~' (what a URL carries unescaped). The API server's are decimal. */
#define KUBE_RV_MAX 128
bool kube_resource_version_ok(const char *rv);

/*
 * Calls fn for every item of the list at path (labelSelector etc. in the
 * query), page by page with limit/continue (limit 0: one unpaged request).
 * *rv gets the list's resourceVersion (caller frees); a list whose version
 * is not kube_resource_version_ok fails with -EPROTO. fn returns 0 to go on,
 * <0 to stop (that value is returned). The item belongs to the list: fn
 * must copy what it keeps.
 *
 * When a continue token has expired (410: etcd compacted while the pages
 * were read), the list is taken again in one unpaged request, as
 * client-go's pager does: fn is then called once with item NULL, meaning
 * "forget the items of this list so far", and then for every item again.
 *
 * A server that never ends the list cannot keep it going: a continue token
 * equal to the one just sent fails with -EPROTO, and a list takes at most
 * KUBE_LIST_MAX_ITEMS / limit pages (limit 0 counting as 1; at least one
 * page), past which it fails with -EOVERFLOW; resp->message says which.
 */
#define KUBE_LIST_MAX_ITEMS 10000000L
int kube_list(struct kube_client *c, const char *path, long limit,
	      int (*fn)(const cJSON *item, void *arg), void *arg, char **rv,
	      struct kube_response *resp);

/* For the watch transports (lib/watch_*.c), which drive their own transfer:
 * the client's curl handle set up for path (URL, TLS, Accept: accept,
 * Authorization, Retry-After into resp). *headers is the caller's to pass
 * to CURLOPT_HTTPHEADER and free with curl_slist_free_all() after the
 * transfer. -ENAMETOOLONG or -ENOMEM. */
int kube_client_curl(struct kube_client *c, const char *path, const char *accept,
		     struct kube_response *resp, void **curl, void **headers);
const struct kube_client_opts *kube_client_opts(const struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);
const struct kubeconfig *kube_client_config(const struct kube_client *c);

#endif
