// SPDX-License-Identifier: Apache-2.0
/*
 * Watch over a websocket (libwebsockets 4.1): the API server sends each
 * watch event as one message, possibly in several fragments, and ends the
 * watch with a close frame. One lws context per watch, on the caller's
 * thread for the duration of watch_ws_stream: nothing outlives it.
 *
 * TLS is set up here, on an SSL_CTX handed to lws, as kube.c sets up curl:
 * the kubeconfig's CA bundle as the only trust (every certificate of it;
 * lws's own loader takes the first one only), the system store without
 * one, the client certificate with its chain and a key of any type.
 * lws checks the server's name (tls-server-name, else the server's host)
 * and sends it as SNI.
 *
 * Threads: lws 4.1 takes a new process-wide SSL ex-data index each time a
 * context is created with LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT, and its
 * certificate verify callback looks its connection up under the index of
 * the moment. A context created by another thread during a handshake made
 * that handshake fail ("connect SSL err 1", with "can't get wsi from ssl
 * privdata" in lws's log): every watch of the controller, whose informers
 * watch from five threads, could fail that way (issue 16). Contexts are
 * created under watch_ws_lock held for writing, handshakes run under it
 * held for reading; waits on it are bounded by the connect timeout of the
 * handshakes in progress, and end early when the client is stopped.
 *
 * Liveness: a ping after keepalive_ms, and the connection is closed when no
 * pong came by twice that (a dead or hung peer); watch_check for the
 * deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"
#include "kubeconfig.h"
#include "log.h"
#include "watch_internal.h"

/* How often a wait on watch_ws_lock looks at the client's stop flag. */
#define WATCH_WS_LOCK_STEP_MS 200
/* lws_service() waits for lws's own next timer, not for the timeout it is
 * given: a connection timer this often makes it return, so that the stop
 * flag and the deadline are looked at. */
#define WATCH_WS_TICK_US (200 * 1000)

struct watch_ws {
	struct watch_state *w;
	const struct kube_client_opts *opts;
	char *token;
	char *msg;		/* the message being reassembled */
	size_t len, cap, max;
	int err;
	bool established, done, peer_closed;
	int close_status; /* of the server's close frame */
	long established_ms, pong_ms;
	long hangup_ms; /* no pong this long after a ping: dead */
};

static pthread_rwlock_t watch_ws_lock;
static pthread_once_t watch_ws_once = PTHREAD_ONCE_INIT;

static void watch_ws_log(int level, const char *line)
{
	(void)level;
	log_with(LOG_DEBUG, NULL, "libwebsockets: %.*s", (int)strcspn(line, "\n"), line);
}

static void watch_ws_init(void)
{
	pthread_rwlockattr_t attr;

	/* A context to create must not wait behind a stream of handshakes. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&watch_ws_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	lws_set_log_level(LLL_ERR | LLL_WARN, watch_ws_log);
}

/* Takes watch_ws_lock (for writing or reading), giving up with -ECANCELED
 * when stop is set meanwhile. */
static int watch_ws_lock_take(bool write, const atomic_int *stop)
{
	struct timespec until;
	int ret;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_WS_LOCK_STEP_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		ret = write ? pthread_rwlock_clockwrlock(&watch_ws_lock, CLOCK_MONOTONIC, &until)
			    : pthread_rwlock_clockrdlock(&watch_ws_lock, CLOCK_MONOTONIC, &until);
		if (ret == 0)
			return 0;
		if (ret != ETIMEDOUT)
			return -ret;
		if (stop && atomic_load(stop))
			return -ECANCELED;
	}
}

static int watch_ws_verify_none(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}

/* Every certificate of a PEM bundle; -EINVAL when it holds none. */
static int watch_ws_ca_store(const char *pem, size_t len, X509_STORE **out)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_STORE *store = X509_STORE_new();
	X509 *x;
	int n = 0, ret = 0;

	if (!bio || !store) {
		ret = -ENOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	if (!n) {
		ret = -EINVAL;
		goto out;
	}
	*out = store;
	store = NULL;
out:
	X509_STORE_free(store);
	BIO_free(bio);
	return ret;
}

/* The client certificate (its chain after it) and key. */
static int watch_ws_client_cert(SSL_CTX *ctx, const struct kubeconfig *cfg, char *err,
				size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(cfg->cert_pem, (int)cfg->cert_len);
	BIO *kbio = BIO_new_mem_buf(cfg->key_pem, (int)cfg->key_len);
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int ret = -EINVAL;

	if (!bio || !kbio) {
		ret = -ENOMEM;
		goto out;
	}
	if (!(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		snprintf(err, errlen, "client-certificate: no usable PEM certificate");
		goto out;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			snprintf(err, errlen, "client-certificate: cannot use its chain");
			goto out;
		}
	}
	if (!(key = PEM_read_bio_PrivateKey(kbio, NULL, NULL, NULL)) ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "client-key: not a PEM key of the client certificate");
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(bio);
	BIO_free(kbio);
	return ret;
}

static int watch_ws_ssl_ctx(const struct kubeconfig *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_STORE *store;
	int ret;

	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (cfg->insecure) {
		/* insecure-skip-tls-verify: no check of the chain at all. */
		SSL_CTX_set_cert_verify_callback(ctx, watch_ws_verify_none, NULL);
	} else if (cfg->ca_pem) {
		if ((ret = watch_ws_ca_store(cfg->ca_pem, cfg->ca_len, &store)) < 0) {
			snprintf(err, errlen, "certificate-authority: no PEM certificate in it");
			goto fail;
		}
		SSL_CTX_set_cert_store(ctx, store);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "cannot load the system's trusted certificates");
		ret = -EIO;
		goto fail;
	}
	if (cfg->cert_pem && (ret = watch_ws_client_cert(ctx, cfg, err, errlen)) < 0)
		goto fail;
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return ret;
}

static int watch_ws_append(struct watch_ws *ws, const void *in, size_t n)
{
	size_t cap = ws->cap ? ws->cap : 65536;
	char *p;

	if (ws->len + n > ws->max) {
		snprintf(ws->w->resp->message, sizeof(ws->w->resp->message),
			 "watch %.200s: event larger than %zu bytes", ws->w->path, ws->max);
		return -EFBIG;
	}
	if (ws->len + n + 1 > ws->cap) {
		while (cap < ws->len + n + 1)
			cap *= 2;
		if (!(p = realloc(ws->msg, cap)))
			return -ENOMEM;
		ws->msg = p;
		ws->cap = cap;
	}
	memcpy(ws->msg + ws->len, in, n);
	ws->len += n;
	return 0;
}

static int watch_ws_header(struct lws *wsi, enum lws_token_indexes token, const char *value,
			   unsigned char **p, unsigned char *end)
{
	if (lws_add_http_header_by_token(wsi, token, (const unsigned char *)value,
					 (int)strlen(value), p, end))
		return -1;
	return 0;
}

static int watch_ws_handshake_headers(struct lws *wsi, struct watch_ws *ws, unsigned char **p,
				      unsigned char *end)
{
	const char *accept = ws->opts->watch_accept ? ws->opts->watch_accept : "application/json";
	char *auth;
	size_t n;
	int ret = 0;

	if (watch_ws_header(wsi, WSI_TOKEN_HTTP_ACCEPT, accept, p, end) < 0 ||
	    watch_ws_header(wsi, WSI_TOKEN_HTTP_USER_AGENT, ws->opts->user_agent, p, end) < 0)
		return -1;
	if (!ws->token)
		return 0;
	n = strlen(ws->token) + 8;
	if (!(auth = malloc(n)))
		return -1;
	snprintf(auth, n, "Bearer %s", ws->token);
	ret = watch_ws_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, p, end);
	explicit_bzero(auth, n);
	free(auth);
	return ret;
}

/* The upgrade failed: a refusal (an HTTP status) or no connection at all. */
static void watch_ws_connection_error(struct lws *wsi, struct watch_ws *ws, const char *why)
{
	struct kube_response *r = ws->w->resp;
	int status = (int)lws_http_client_http_response(wsi);
	SSL *ssl = lws_get_ssl(wsi);
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char after[32];

	if (ws->err)
		return;
	if (status && status != 101) {
		if (lws_hdr_copy(wsi, after, sizeof(after), WSI_TOKEN_HTTP_RETRY_AFTER) > 0) {
			long v = strtol(after, NULL, 10);

			r->retry_after = v < 1 ? 1 : v > 300 ? 300 : (int)v;
		}
		ws->err = watch_refused(ws->w, status, NULL, 0);
		return;
	}
	if (verify != X509_V_OK) {
		snprintf(r->message, sizeof(r->message), "watch %.200s: TLS: %s", ws->w->path,
			 X509_verify_cert_error_string(verify));
		ws->err = -EIO;
		return;
	}
	snprintf(r->message, sizeof(r->message), "watch %.200s: websocket: %.200s", ws->w->path,
		 why ? why : "connection error");
	ws->err = why && strstr(why, "connect") && !strstr(why, "SSL") ? -ECONNREFUSED : -EIO;
}

/* The connection is gone: a close frame with 1000 (normal) is the server
 * ending the watch at timeoutSeconds; anything else is a failure. */
static void watch_ws_closed(struct watch_ws *ws)
{
	struct kube_response *r = ws->w->resp;
	long now = clock_now_ms(),
	     valid = ws->pong_ms > ws->established_ms ? ws->pong_ms : ws->established_ms;

	ws->done = true;
	if (ws->err || !ws->established)
		return;
	if (ws->peer_closed && (ws->close_status == 1000 || ws->close_status == 0))
		return;
	if (ws->peer_closed) {
		snprintf(r->message, sizeof(r->message),
			 "watch %.200s: closed by the server (status %d)", ws->w->path,
			 ws->close_status);
		ws->err = -EIO;
	} else if (now - valid >= ws->hangup_ms * 3 / 4) {
		/* libwebsockets hung up (no pong): its clock of the last
		 * valid moment counts in whole seconds and from the
		 * connection, before the upgrade's answer that starts ours,
		 * so it may end a few ms short of hangup_ms by ours. A peer
		 * that closes a live connection does so within a keepalive of
		 * its last pong, well short of three quarters of hangup_ms
		 * (twice the keepalive). */
		snprintf(r->message, sizeof(r->message),
			 "watch %.200s: no answer to a ping for %ld s", ws->w->path,
			 (now - valid) / 1000);
		ws->err = -ETIMEDOUT;
	} else {
		snprintf(r->message, sizeof(r->message),
			 "watch %.200s: connection closed without a close frame", ws->w->path);
		ws->err = -EIO;
	}
}

static int watch_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			     void *in, size_t len)
{
	struct watch_ws *ws = lws_get_opaque_user_data(wsi);
	const unsigned char *b = in;
	size_t n;
	int ret;

	(void)user;
	if (!ws)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_TIMER: lws_set_timer_usecs(wsi, WATCH_WS_TICK_US); break;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return watch_ws_handshake_headers(wsi, ws, in, *(unsigned char **)in + len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ws->established = true;
		ws->established_ms = clock_now_ms();
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG: ws->pong_ms = clock_now_ms(); break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if ((ret = watch_ws_append(ws, in, len)) < 0) {
			ws->err = ret;
			return -1;
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			n = ws->len;
			while (n && (ws->msg[n - 1] == '\n' || ws->msg[n - 1] == '\r'))
				n--;
			ret = n ? watch_deliver(ws->w, ws->msg, n) : 0;
			ws->len = 0;
			if (ret < 0) {
				ws->err = ret;
				return -1;
			}
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		ws->peer_closed = true;
		ws->close_status = len >= 2 ? (b[0] << 8) | b[1] : 0;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		watch_ws_connection_error(wsi, ws, in);
		ws->done = true;
		/* lws_service() would go on waiting for its next timer. */
		lws_cancel_service(lws_get_context(wsi));
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		watch_ws_closed(ws);
		lws_cancel_service(lws_get_context(wsi));
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		ws->done = true;
		lws_cancel_service(lws_get_context(wsi));
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols watch_ws_protocols[] = {
	{ "shellaudit-watch", watch_ws_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int watch_ws_stream(struct kube_client *c, struct watch_state *w, const char *request)
{
	const struct kubeconfig *cfg = kube_client_config(c);
	const struct kube_client_opts *opts = kube_client_opts(c);
	/* lws counts in seconds, in 16 bits. */
	long keepalive_s = opts->keepalive_ms / 1000 < 1      ? 1
			   : opts->keepalive_ms / 1000 > 3600 ? 3600
							      : opts->keepalive_ms / 1000;
	lws_retry_bo_t liveness = {.secs_since_valid_ping = (uint16_t)keepalive_s,
				   .secs_since_valid_hangup = (uint16_t)(2 * keepalive_s)};
	struct watch_ws ws = {
	    .w = w, .opts = opts, .max = opts->max_body, .hangup_ms = 2 * keepalive_s * 1000};
	struct kube_response *r = w->resp;
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct lws_context *ctx = NULL;
	struct lws *wsi;
	struct kube_server srv;
	SSL_CTX *ssl = NULL;
	bool handshake = false;
	long connect_deadline;
	char full[4096], err[200] = "";
	int ret;

	pthread_once(&watch_ws_once, watch_ws_init);
	if (kube_server_parse(cfg->server, &srv) < 0) {
		snprintf(r->message, sizeof(r->message),
			 "watch: cannot parse the server URL %.200s", cfg->server);
		return -EINVAL;
	}
	if (snprintf(full, sizeof(full), "%s%s", srv.prefix, request) >= (int)sizeof(full)) {
		snprintf(r->message, sizeof(r->message), "watch %.200s: path too long", w->path);
		return -ENAMETOOLONG;
	}
	if (srv.tls && (ret = watch_ws_ssl_ctx(cfg, &ssl, err, sizeof(err))) < 0) {
		snprintf(r->message, sizeof(r->message), "watch %.200s: TLS: %s", w->path,
			 err[0] ? err : strerror(-ret));
		return ret;
	}
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = watch_ws_protocols;
	info.options = srv.tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.provided_client_ssl_ctx = ssl;
	info.timeout_secs = (unsigned int)(opts->connect_timeout_ms / 1000 + 1);
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	if ((ret = watch_ws_lock_take(true, opts->stop)) < 0)
		goto out;
	ctx = lws_create_context(&info);
	pthread_rwlock_unlock(&watch_ws_lock);
	if (!ctx) {
		snprintf(r->message, sizeof(r->message),
			 "watch %.200s: cannot create a websocket context", w->path);
		ret = -ENOMEM;
		goto out;
	}
	ws.token = kubeconfig_token(cfg);
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = srv.host;
	ci.port = srv.port;
	ci.path = full;
	/* The name the certificate must carry, and the SNI and Host. */
	ci.host = srv.tls && cfg->tls_server_name ? cfg->tls_server_name : srv.host;
	ci.origin = ci.host;
	ci.alpn = "http/1.1";
	ci.ssl_connection = srv.tls ? LCCSCF_USE_SSL : 0;
	if (srv.tls && cfg->insecure)
		ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
				     LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				     LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
	ci.protocol = NULL; /* the API server offers no subprotocol for watches */
	ci.local_protocol_name = watch_ws_protocols[0].name;
	ci.retry_and_idle_policy = &liveness;
	ci.opaque_user_data = &ws;
	if (srv.tls) {
		if ((ret = watch_ws_lock_take(false, opts->stop)) < 0)
			goto out;
		handshake = true;
	}
	connect_deadline = clock_now_ms() + opts->connect_timeout_ms + 2000;
	if ((wsi = lws_client_connect_via_info(&ci))) {
		lws_set_timer_usecs(wsi, WATCH_WS_TICK_US);
	} else {
		if (!ws.err) {
			snprintf(r->message, sizeof(r->message),
				 "watch %.200s: cannot connect to %.200s", w->path, cfg->server);
			ws.err = -ECONNREFUSED;
		}
		ws.done = true;
	}
	while (!ws.done && !ws.err) {
		long now;

		if (lws_service(ctx, 250) < 0) {
			snprintf(r->message, sizeof(r->message),
				 "watch %.200s: websocket service failed", w->path);
			ws.err = -EIO;
			break;
		}
		now = clock_now_ms();
		if (handshake && (ws.established || ws.done || ws.err)) {
			pthread_rwlock_unlock(&watch_ws_lock);
			handshake = false;
		}
		if (ws.done || ws.err)
			break;
		if (opts->stop && atomic_load(opts->stop)) {
			ws.err = -ECANCELED;
		} else if (!ws.established && now >= connect_deadline) {
			snprintf(r->message, sizeof(r->message),
				 "watch %.200s: no websocket after %ld ms", w->path,
				 opts->connect_timeout_ms);
			ws.err = -ETIMEDOUT;
		} else if (ws.established) {
			ws.err = watch_check(w, now);
		}
	}
	ret = ws.err;
	if (!ret && !ws.established) {
		/* Gone before the upgrade, without an error callback. */
		snprintf(r->message, sizeof(r->message),
			 "watch %.200s: closed before the websocket was established", w->path);
		ret = -EIO;
	}
out:
	if (handshake)
		pthread_rwlock_unlock(&watch_ws_lock);
	lws_context_destroy(ctx);
	SSL_CTX_free(ssl);
	if (ws.token) {
		explicit_bzero(ws.token, strlen(ws.token));
		free(ws.token);
	}
	free(ws.msg);
	if (ret == -ECANCELED && !r->message[0])
		snprintf(r->message, sizeof(r->message), "watch %.200s: stopped", w->path);
	return ret;
}
