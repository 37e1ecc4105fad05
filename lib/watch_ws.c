// SPDX-License-Identifier: Apache-2.0
/*
 * Watch over a websocket (libwebsockets): the API server sends each watch
 * event as one message, possibly in several fragments. One lws context per
 * watch keeps the transport self-contained: it lives on the caller's thread
 * for the duration of watch_ws_stream and is gone when it returns.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "kubeconfig.h"
#include "log.h"
#include "watch_internal.h"

struct watch_ws {
	const char *path;
	char **rv;
	watch_fn fn;
	void *arg;
	char *token;
	char *msg;		/* the message being reassembled */
	size_t len, cap, max;
	int err;
	int http_status;	/* non-101 answer to the upgrade */
	bool established, done;
	const atomic_int *stop;
};

static int watch_ws_append(struct watch_ws *w, const void *in, size_t n)
{
	if (w->len + n > w->max) {
		log_with(LOG_ERROR, LOG_KV("path", w->path), "watch: event larger than %zu bytes",
			 w->max);
		return -EFBIG;
	}
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		char *p;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (!(p = realloc(w->msg, cap)))
			return -ENOMEM;
		w->msg = p;
		w->cap = cap;
	}
	memcpy(w->msg + w->len, in, n);
	w->len += n;
	return 0;
}

static int watch_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			     void *in, size_t len)
{
	struct watch_ws *w = lws_get_opaque_user_data(wsi);
	int ret;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		char auth[8192];

		if (w && w->token) {
			snprintf(auth, sizeof(auth), "Bearer %s", w->token);
			if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
							 (unsigned char *)auth, (int)strlen(auth), p,
							 end))
				return -1;
			explicit_bzero(auth, sizeof(auth));
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->established = true;
		lws_set_timer_usecs(wsi, 200 * 1000);
		break;
	case LWS_CALLBACK_TIMER:
		if (w->stop && atomic_load(w->stop)) {
			w->err = -ECANCELED;
			return -1;
		}
		lws_set_timer_usecs(wsi, 200 * 1000);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if ((ret = watch_ws_append(w, in, len)) < 0) {
			w->err = ret;
			return -1;
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			size_t n = w->len;

			while (n && (w->msg[n - 1] == '\n' || w->msg[n - 1] == '\r'))
				n--;
			ret = n ? watch_deliver(w->path, w->rv, w->fn, w->arg, w->msg, n) : 0;
			w->len = 0;
			if (ret < 0) {
				w->err = ret;
				return -1;
			}
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		w->http_status = (int)lws_http_client_http_response(wsi);
		if (!w->err)
			w->err = w->http_status == 410 ? -ESTALE :
				 w->http_status == 401 || w->http_status == 403 ? -EACCES :
				 w->http_status == 404 ? -ENOENT : -EIO;
		if (w->err != -ESTALE)
			log_with(LOG_WARN, LOG_KV("path", w->path), "watch (websocket): %s (HTTP %d)",
				 in ? (const char *)in : "connection error", w->http_status);
		w->done = true;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (w)
			w->done = true;
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

/* Splits "https://host:port" into host and port. */
static int watch_ws_parse_server(const char *server, char *host, size_t cap, int *port, bool *tls)
{
	const char *p = server, *colon, *end;
	size_t n;

	*tls = !strncmp(p, "https://", 8);
	p += *tls ? 8 : (!strncmp(p, "http://", 7) ? 7 : 0);
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		n = (size_t)(close - p - 1);
		if (n >= cap)
			return -EINVAL;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
		if (n >= cap)
			return -EINVAL;
		memcpy(host, p, n);
		host[n] = '\0';
	}
	*port = colon ? atoi(colon + 1) : (*tls ? 443 : 80);
	return *port > 0 && *port < 65536 ? 0 : -EINVAL;
}

static void watch_ws_log(int level, const char *line)
{
	(void)level;
	log_with(LOG_DEBUG, NULL, "libwebsockets: %.*s", (int)strcspn(line, "\n"), line);
}

int watch_ws_stream(struct kube_client *c, const char *path, char **rv, long timeout_s,
		    watch_fn fn, void *arg)
{
	const struct kubeconfig *cfg = kube_client_config(c);
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct lws_context *ctx = NULL;
	struct watch_ws w = { .path = path, .rv = rv, .fn = fn, .arg = arg,
			      .max = kube_client_opts(c)->max_body, .stop = kube_client_opts(c)->stop };
	char full[4096], host[256];
	time_t deadline = time(NULL) + timeout_s + 30;
	bool tls;
	int port, ret = 0;

	lws_set_log_level(LLL_ERR | LLL_WARN, watch_ws_log);
	if (watch_ws_parse_server(cfg->server, host, sizeof(host), &port, &tls) < 0) {
		log_with(LOG_ERROR, LOG_KV("server", cfg->server), "watch: cannot parse server URL");
		return -EINVAL;
	}
	if (snprintf(full, sizeof(full), "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld%s%s",
		     path, strchr(path, '?') ? '&' : '?', timeout_s, *rv ? "&resourceVersion=" : "",
		     *rv ? *rv : "") >= (int)sizeof(full))
		return -ENAMETOOLONG;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = watch_ws_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_mem = cfg->ca_pem;
	info.client_ssl_ca_mem_len = (unsigned int)cfg->ca_len;
	info.client_ssl_cert_mem = cfg->cert_pem;
	info.client_ssl_cert_mem_len = (unsigned int)cfg->cert_len;
	info.client_ssl_key_mem = cfg->key_pem;
	info.client_ssl_key_mem_len = (unsigned int)cfg->key_len;
	info.timeout_secs = (unsigned int)kube_client_opts(c)->connect_timeout_ms / 1000 + 1;
	if (!(ctx = lws_create_context(&info))) {
		log_with(LOG_ERROR, LOG_KV("path", path), "watch: cannot create websocket context");
		return -ENOMEM;
	}
	w.token = kubeconfig_token(cfg);
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = host;
	ci.port = port;
	ci.path = full;
	ci.host = host;
	ci.origin = host;
	ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	if (tls && cfg->insecure)
		ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				     LCCSCF_ALLOW_INSECURE;
	if (tls && cfg->tls_server_name)
		ci.host = cfg->tls_server_name;
	ci.protocol = NULL; /* the API server offers no subprotocol for watches */
	ci.local_protocol_name = watch_ws_protocols[0].name;
	ci.opaque_user_data = &w;
	if (!lws_client_connect_via_info(&ci)) {
		ret = -ECONNREFUSED;
		goto out;
	}
	while (!w.done && !w.err) {
		if (lws_service(ctx, 250) < 0)
			break;
		if (time(NULL) > deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		if (w.stop && atomic_load(w.stop) && !w.established) {
			ret = -ECANCELED;
			break;
		}
	}
	if (!ret)
		ret = w.err;
out:
	lws_context_destroy(ctx);
	if (w.token) {
		explicit_bzero(w.token, strlen(w.token));
		free(w.token);
	}
	free(w.msg);
	return ret;
}
