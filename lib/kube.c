// SPDX-License-Identifier: Apache-2.0
/* libcurl requests to the API server. A client owns one easy handle, so
 * connections are reused; it is not shared between threads. */
#include "kube.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "jsontext.h"

/* The concurrent transfers' receive and send buffers, per handle (libcurl's
 * defaults are 16 and 64 KiB; 16 KiB is the least it takes to send). */
#define KUBE_MANY_BUFFER 4096L
#define KUBE_MANY_UPLOAD_BUFFER 16384L
/* The longest wait a Retry-After header may ask for. */
#define KUBE_RETRY_AFTER_MAX_S 300

struct kube_buf {
	char *data;
	size_t len, cap, max;
	bool too_big;
};

/* One request's transfer state, between kube_call_begin and kube_call_end. */
struct kube_xfer {
	struct kube_buf buf;
	struct curl_slist *headers;
};

struct kube_client {
	const struct kubeconfig *cfg;
	struct kube_client_opts opts;
	CURL *curl;
	/* The concurrent transfers (kube_call_start): their slots' handles
	 * (made when first needed), state and calls (NULL: the slot is
	 * free), and the multi handle that runs them and keeps their
	 * connections. */
	CURLM *multi;
	CURL *many[KUBE_MANY_MAX];
	struct kube_xfer xfer[KUBE_MANY_MAX];
	struct kube_call *running[KUBE_MANY_MAX];
	/* kube_set_beside's function, and whether it runs now. */
	void (*beside)(void *);
	void *beside_arg;
	bool in_beside;
	/* With tls-server-name: requests go to https://<name>:<port>, and
	 * CURLOPT_CONNECT_TO sends them to the server's own address. */
	char base[512];
	struct curl_slist *connect_to;
};

int kube_server_parse(const char *server, struct kube_server *out)
{
	const char *p = server, *colon, *end, *close;
	size_t n;
	long port;
	char *e;

	memset(out, 0, sizeof(*out));
	out->tls = !strncmp(p, "https://", 8);
	p += out->tls ? 8 : (!strncmp(p, "http://", 7) ? 7 : 0);
	end = p + strcspn(p, "/?#");
	if (*p == '[') {
		if (!(close = memchr(p, ']', (size_t)(end - p))))
			return -EINVAL;
		n = (size_t)(close - p - 1);
		if (n == 0 || n >= sizeof(out->host))
			return -EINVAL;
		memcpy(out->host, p + 1, n);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close + 1 != end)
			return -EINVAL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
		if (n == 0 || n >= sizeof(out->host))
			return -EINVAL;
		memcpy(out->host, p, n);
	}
	out->host[n] = '\0';
	port = out->tls ? 443 : 80;
	if (colon) {
		port = strtol(colon + 1, &e, 10);
		if (e != end || colon + 1 == end)
			return -EINVAL;
	}
	if (port < 1 || port > 65535)
		return -EINVAL;
	out->port = (int)port;
	out->prefix = end;
	return 0;
}

/* The URL base every path is appended to, and the connect-to rule that
 * tls-server-name needs: the certificate is checked against that name
 * (and it is the SNI) while the connection goes to the server's address. */
static int kube_client_base(struct kube_client *c)
{
	const struct kubeconfig *cfg = c->cfg;
	struct kube_server srv;
	char rule[600];
	int n;

	if (!cfg->tls_server_name || kube_server_parse(cfg->server, &srv) < 0 || !srv.tls) {
		n = snprintf(c->base, sizeof(c->base), "%s", cfg->server);
		return n < (int)sizeof(c->base) ? 0 : -ENAMETOOLONG;
	}
	n = snprintf(c->base, sizeof(c->base), "https://%s:%d%s", cfg->tls_server_name, srv.port,
		     srv.prefix);
	if (n >= (int)sizeof(c->base))
		return -ENAMETOOLONG;
	n = snprintf(rule, sizeof(rule), strchr(srv.host, ':') ? "%s:%d:[%s]:%d" : "%s:%d:%s:%d",
		     cfg->tls_server_name, srv.port, srv.host, srv.port);
	if (n >= (int)sizeof(rule) || !(c->connect_to = curl_slist_append(NULL, rule)))
		return -ENOMEM;
	return 0;
}

int kube_client_new(const struct kubeconfig *cfg, const struct kube_client_opts *opts,
		    struct kube_client **out)
{
	static int curl_ready;
	struct kube_client *c;

	/* Called before any thread exists (clients are made at start-up). */
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curl_ready = 1;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->cfg = cfg;
	if (opts)
		c->opts = *opts;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = 30000;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = 5000;
	if (!c->opts.max_body)
		c->opts.max_body = 64u << 20;
	if (!c->opts.user_agent)
		c->opts.user_agent = "shellaudit";
	if (!c->opts.keepalive_ms)
		c->opts.keepalive_ms = 30000;
	if (!(c->curl = curl_easy_init())) {
		free(c);
		return -ENOMEM;
	}
	if (kube_client_base(c) < 0) {
		kube_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	for (size_t i = 0; i < KUBE_MANY_MAX; i++) {
		if (c->running[i])
			kube_call_cancel(c, c->running[i]);
		curl_easy_cleanup(c->many[i]);
	}
	curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->connect_to);
	free(c);
}

const struct kube_client_opts *kube_client_opts(const struct kube_client *c)
{
	return &c->opts;
}

const struct kubeconfig *kube_client_config(const struct kube_client *c)
{
	return c->cfg;
}

const char *kube_client_server(const struct kube_client *c)
{
	return c->cfg->server;
}

static size_t kube_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kube_buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > b->max) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->data, cap)))
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Retry-After: seconds or an HTTP date, bounded to [1, 300] seconds. */
static size_t kube_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kube_response *resp = arg;
	size_t n = size * nmemb;
	char value[128], *e;
	long v;

	if (n > 12 && !strncasecmp(ptr, "Retry-After:", 12)) {
		snprintf(value, sizeof(value), "%.*s", (int)(n - 12 < 127 ? n - 12 : 127),
			 ptr + 12);
		value[strcspn(value, "\r\n")] = '\0';
		v = strtol(value, &e, 10);
		if (e == value || (*e && *e != ' ')) {
			time_t when = curl_getdate(value, NULL);

			v = when > 0 ? (long)(when - time(NULL)) : 1;
		}
		resp->retry_after = v < 1			 ? 1
				    : v > KUBE_RETRY_AFTER_MAX_S ? KUBE_RETRY_AFTER_MAX_S
								 : (int)v;
	} else if (n > 5 && n < 128 && !strncasecmp(ptr, "Date:", 5)) {
		char date[128];
		time_t t;

		memcpy(date, ptr + 5, n - 5);
		date[n - 5] = '\0';
		t = curl_getdate(date, NULL);
		resp->date = t > 0 ? (long long)t : 0;
	}
	return n;
}

/* TCP keepalive gives up after three unanswered probes, and unacknowledged
 * data after as long: a dead peer is noticed within 2 * keepalive_ms. */
static int kube_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	const struct kube_client *c = arg;
	unsigned int user_timeout = (unsigned int)(2 * c->opts.keepalive_ms);
	int cnt = 3;

	if (purpose == CURLSOCKTYPE_IPCXN) {
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	}
	return CURL_SOCKOPT_OK;
}

static int kube_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			 curl_off_t ulnow)
{
	const atomic_int *stop = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(stop) ? 1 : 0;
}

/* Sets the connection options common to requests and watches on curl;
 * *headers gets a list the caller frees with curl_slist_free_all(). */
static int kube_setup(struct kube_client *c, CURL *curl, const char *path, const char *accept,
		      struct kube_response *resp, struct curl_slist **headers)
{
	const struct kubeconfig *cfg = c->cfg;
	struct curl_slist *h = NULL, *added;
	char url[4096], line[512], *tok;
	long idle_s = c->opts.keepalive_ms / 1000 > 0 ? c->opts.keepalive_ms / 1000 : 1;

	*headers = NULL;
	if (snprintf(url, sizeof(url), "%s%s", c->base, path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, c->opts.user_agent);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, idle_s);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, idle_s / 3 > 0 ? idle_s / 3 : 1L);
	curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, kube_sockopt);
	curl_easy_setopt(curl, CURLOPT_SOCKOPTDATA, c);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->connect_to)
		curl_easy_setopt(curl, CURLOPT_CONNECT_TO, c->connect_to);
	if (c->opts.stop) {
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, kube_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)c->opts.stop);
	}
	if (cfg->ca_pem) {
		struct curl_blob blob = { cfg->ca_pem, cfg->ca_len, CURL_BLOB_NOCOPY };

		/* The CA replaces the system trust: libcurl would otherwise
		 * also trust its built-in CA path (/etc/ssl/certs). */
		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	}
	if (cfg->cert_pem) {
		struct curl_blob cert = { cfg->cert_pem, cfg->cert_len, CURL_BLOB_NOCOPY };
		struct curl_blob key = { cfg->key_pem, cfg->key_len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (cfg->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (resp) {
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, kube_header);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp);
	}
	snprintf(line, sizeof(line), "Accept: %s", accept ? accept : "application/json");
	if (!(h = curl_slist_append(h, line)))
		return -ENOMEM;
	if ((tok = kubeconfig_token(cfg))) {
		size_t n = strlen(tok) + 32;
		char *auth = malloc(n);

		added = NULL;
		if (auth) {
			snprintf(auth, n, "Authorization: Bearer %s", tok);
			added = curl_slist_append(h, auth);
			/* The token is a secret: do not leave it in freed memory. */
			explicit_bzero(auth, n);
			free(auth);
		}
		explicit_bzero(tok, strlen(tok));
		free(tok);
		if (!added) {
			curl_slist_free_all(h);
			return -ENOMEM;
		}
		h = added;
	}
	*headers = h;
	return 0;
}

int kube_client_curl(struct kube_client *c, const char *path, const char *accept,
		     struct kube_response *resp, void **curl, void **headers)
{
	struct curl_slist *h = NULL;
	int ret;

	if ((ret = kube_setup(c, c->curl, path, accept ? accept : c->opts.watch_accept, resp, &h)) <
	    0)
		return ret;
	*curl = c->curl;
	*headers = h;
	return 0;
}

void kube_response_set_status(struct kube_response *resp, const char *body, size_t len)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");

	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Status")) {
		const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
		const char *m =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));

		snprintf(resp->reason, sizeof(resp->reason), "%s", r ? r : "");
		snprintf(resp->message, sizeof(resp->message), "%s", m ? m : "");
	}
	cJSON_Delete(j);
}

/* CURLOPT_PREREQFUNCTION: the connection is up, the request not yet sent. */
static int kube_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
		       int conn_local_port)
{
	const struct kube_client *c = arg;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	return c->opts.may_send(c->opts.may_send_arg) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/* Sets curl up for one request (kube_request's arguments); resp is
 * cleared. On failure resp->message says why. */
static int kube_call_begin(struct kube_client *c, CURL *curl, const char *method, const char *path,
			   const char *content_type, const char *body, struct kube_response *resp,
			   struct kube_xfer *x)
{
	char ct[128];
	int ret;

	memset(resp, 0, sizeof(*resp));
	memset(x, 0, sizeof(*x));
	x->buf.max = c->opts.max_body;
	if ((ret = kube_setup(c, curl, path, c->opts.accept, resp, &x->headers)) < 0) {
		snprintf(resp->message, sizeof(resp->message), "%s %.200s: %s", method, path,
			 strerror(-ret));
		return ret;
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms);
	if (body) {
		struct curl_slist *h;

		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		if (!(h = curl_slist_append(x->headers, ct))) {
			curl_slist_free_all(x->headers);
			x->headers = NULL;
			snprintf(resp->message, sizeof(resp->message), "%s %.200s: %s", method,
				 path, strerror(ENOMEM));
			return -ENOMEM;
		}
		x->headers = h;
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, kube_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x->buf);
	if (c->opts.may_send) {
		curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, kube_prereq);
		curl_easy_setopt(curl, CURLOPT_PREREQDATA, c);
	}
	return 0;
}

/* The outcome of curl's transfer (rc) into resp, as kube_request returns it. */
static int kube_call_end(struct kube_client *c, CURL *curl, CURLcode rc, const char *method,
			 const char *path, struct kube_response *resp, struct kube_xfer *x)
{
	int ret;

	long sent = 0;

	curl_slist_free_all(x->headers);
	x->headers = NULL;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->code);
	curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent);
	resp->sent = sent > 0;
	if (rc != CURLE_OK) {
		if (x->buf.too_big) {
			snprintf(resp->message, sizeof(resp->message),
				 "%s %s: response larger than %zu bytes", method, path,
				 c->opts.max_body);
			ret = -EFBIG;
		} else {
			long os_errno = 0;

			curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
			snprintf(resp->message, sizeof(resp->message), "%s %.200s: %s%s%s", method,
				 path, curl_easy_strerror(rc), os_errno ? ": " : "",
				 os_errno ? strerror((int)os_errno) : "");
			ret = rc == CURLE_OPERATION_TIMEDOUT || os_errno == ETIMEDOUT ? -ETIMEDOUT
			      : rc == CURLE_COULDNT_CONNECT	? -ECONNREFUSED
			      : rc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED
								: -EIO;
		}
		free(x->buf.data);
		x->buf.data = NULL;
		resp->code = 0;
		return ret;
	}
	resp->body = x->buf.data;
	resp->len = x->buf.len;
	x->buf.data = NULL;
	if (resp->code < 200 || resp->code > 299)
		kube_response_set_status(resp, resp->body, resp->len);
	return 0;
}

int kube_call_start(struct kube_client *c, struct kube_call *call)
{
	size_t i;
	CURL *h;

	for (i = 0; i < KUBE_MANY_MAX && c->running[i]; i++)
		;
	if (i == KUBE_MANY_MAX)
		return -EBUSY;
	call->done = true;
	call->ret = -ENOMEM;
	memset(&call->resp, 0, sizeof(call->resp));
	snprintf(call->resp.message, sizeof(call->resp.message), "out of memory");
	if (!c->multi) {
		if (!(c->multi = curl_multi_init()))
			return 0;
		/* Streams of one HTTP/2 connection where the server speaks it
		 * (the API server does, over TLS), else a connection each. */
		curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)KUBE_MANY_MAX);
	}
	if (!c->many[i] && !(c->many[i] = curl_easy_init()))
		return 0;
	h = c->many[i];
	if ((call->ret = kube_call_begin(c, h, call->method, call->path, call->content_type,
					 call->body, &call->resp, &c->xfer[i])) < 0)
		return 0;
	/* Over TLS the handshake says (ALPN) whether the connection
	 * multiplexes: the others wait that long for it. Plain HTTP would
	 * only say with the first answer: a connection each. */
	if (!strncmp(c->base, "https://", 8))
		curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	/* Small buffers: these are short requests (Events), and there are
	 * KUBE_MANY_MAX handles (a long answer only takes more reads). */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, KUBE_MANY_BUFFER);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, KUBE_MANY_UPLOAD_BUFFER);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)(uintptr_t)i);
	if (curl_multi_add_handle(c->multi, h) != CURLM_OK) {
		curl_slist_free_all(c->xfer[i].headers);
		c->xfer[i].headers = NULL;
		call->ret = -ENOMEM;
		return 0;
	}
	call->done = false;
	c->running[i] = call;
	return 0;
}

int kube_client_trim(struct kube_client *c)
{
	int n = 0;

	for (size_t i = 0; i < KUBE_MANY_MAX; i++) {
		if (c->running[i] || !c->many[i])
			continue;
		curl_easy_cleanup(c->many[i]);
		c->many[i] = NULL;
		n++;
	}
	return n;
}

/* Ends the call of slot i with curl's outcome rc. */
static void kube_call_finish(struct kube_client *c, size_t i, CURLcode rc)
{
	struct kube_call *call = c->running[i];

	curl_multi_remove_handle(c->multi, c->many[i]);
	call->ret = kube_call_end(c, c->many[i], rc, call->method, call->path, &call->resp,
				  &c->xfer[i]);
	call->done = true;
	c->running[i] = NULL;
}

/* The calls curl finished: ended. Returns how many, or -1 when own (a
 * handle beside them, kube_perform_beside) finished too, its outcome in
 * *own_rc. */
static int kube_calls_collect(struct kube_client *c, CURL *own, CURLcode *own_rc)
{
	bool own_done = false;
	int left, got = 0;
	CURLMsg *m;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		void *priv = NULL;
		size_t i;

		if (m->msg != CURLMSG_DONE)
			continue;
		if (own && m->easy_handle == own) {
			*own_rc = m->data.result;
			own_done = true;
			continue;
		}
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		i = (size_t)(uintptr_t)priv;
		if (i >= KUBE_MANY_MAX || !c->running[i] || c->many[i] != m->easy_handle)
			continue;
		kube_call_finish(c, i, m->data.result);
		got++;
	}
	return own_done ? -1 : got;
}

static int kube_calls_running(const struct kube_client *c)
{
	int n = 0;

	for (size_t i = 0; i < KUBE_MANY_MAX; i++)
		n += c->running[i] != NULL;
	return n;
}

void kube_set_beside(struct kube_client *c, void (*fn)(void *), void *arg)
{
	c->beside = fn;
	c->beside_arg = arg;
}

/*
 * Runs the client's own handle on the multi handle, beside the calls that
 * run there (kube_call_start), so that they go on while it waits: *rc is
 * its outcome. -EAGAIN when it cannot be added (then run it alone).
 */
static int kube_perform_beside(struct kube_client *c, CURLcode *rc)
{
	long next = clock_now_ms() + KUBE_BESIDE_MS;
	bool done = false;
	int running, ended;

	curl_easy_setopt(c->curl, CURLOPT_PRIVATE, (void *)(uintptr_t)KUBE_MANY_MAX);
	if (curl_multi_add_handle(c->multi, c->curl) != CURLM_OK)
		return -EAGAIN;
	*rc = CURLE_SEND_ERROR;
	/* Its own timeout (timeout_ms) ends it at the latest. */
	while (!done) {
		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
			break;
		ended = kube_calls_collect(c, c->curl, rc);
		done = ended < 0;
		if (!done && c->beside && (ended > 0 || clock_now_ms() >= next)) {
			if (c->opts.io_enter)
				c->opts.io_enter(c->opts.io_arg);
			c->in_beside = true;
			c->beside(c->beside_arg);
			c->in_beside = false;
			if (c->opts.io_leave)
				c->opts.io_leave(c->opts.io_arg);
			next = clock_now_ms() + KUBE_BESIDE_MS;
		}
		if (!done && curl_multi_poll(c->multi, NULL, 0, c->beside ? KUBE_BESIDE_MS : 1000,
					     NULL) != CURLM_OK)
			break;
	}
	curl_multi_remove_handle(c->multi, c->curl);
	curl_easy_setopt(c->curl, CURLOPT_PRIVATE, NULL);
	return 0;
}

int kube_request(struct kube_client *c, const char *method, const char *path,
		 const char *content_type, const char *body, struct kube_response *resp)
{
	struct kube_xfer x;
	CURLcode rc;
	int ret;

	/* Not from the function beside one (kube_set_beside): its handle is
	 * the one waiting. */
	if (c->in_beside)
		return -EDEADLK;
	if ((ret = kube_call_begin(c, c->curl, method, path, content_type, body, resp, &x)) < 0)
		return ret;
	if (c->opts.io_leave)
		c->opts.io_leave(c->opts.io_arg);
	if (!c->multi || (!kube_calls_running(c) && !c->beside) || kube_perform_beside(c, &rc) < 0)
		rc = curl_easy_perform(c->curl);
	if (c->opts.io_enter)
		c->opts.io_enter(c->opts.io_arg);
	return kube_call_end(c, c->curl, rc, method, path, resp, &x);
}

int kube_calls_run(struct kube_client *c, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, left;
	int running, got = 0;

	if (!kube_calls_running(c))
		return 0;
	/* Each transfer has its own timeout (timeout_ms) and stop check:
	 * no wait here outlasts the longest of them. */
	if (c->opts.io_leave)
		c->opts.io_leave(c->opts.io_arg);
	for (;;) {
		if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
			/* The multi handle failed: no answer for any. */
			for (size_t i = 0; i < KUBE_MANY_MAX; i++)
				if (c->running[i])
					kube_call_finish(c, i, CURLE_SEND_ERROR);
			break;
		}
		got += kube_calls_collect(c, NULL, NULL);
		left = deadline - clock_now_ms();
		if (got || !kube_calls_running(c) || left <= 0)
			break;
		if (curl_multi_poll(c->multi, NULL, 0, (int)left, NULL) != CURLM_OK)
			break;
	}
	if (c->opts.io_enter)
		c->opts.io_enter(c->opts.io_arg);
	return kube_calls_running(c);
}

void kube_call_cancel(struct kube_client *c, struct kube_call *call)
{
	for (size_t i = 0; i < KUBE_MANY_MAX; i++) {
		if (c->running[i] == call) {
			kube_call_finish(c, i, CURLE_ABORTED_BY_CALLBACK);
			return;
		}
	}
}

int kube_request_many(struct kube_client *c, struct kube_call *calls, size_t n)
{
	size_t i, done;

	if (n > KUBE_MANY_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (kube_call_start(c, &calls[i]) == -EBUSY) {
			calls[i].done = true;
			calls[i].ret = -EBUSY;
			memset(&calls[i].resp, 0, sizeof(calls[i].resp));
			snprintf(calls[i].resp.message, sizeof(calls[i].resp.message),
				 "%s %.200s: %s", calls[i].method, calls[i].path, strerror(EBUSY));
		}
	}
	for (;;) {
		for (i = done = 0; i < n; i++)
			done += calls[i].done;
		if (done == n)
			break;
		kube_calls_run(c, 1000);
	}
	return 0;
}

int kube_response_errno(const struct kube_response *resp)
{
	long code = resp->code;

	if (code >= 200 && code <= 299)
		return 0;
	if (!strcmp(resp->reason, "AlreadyExists"))
		return -EEXIST;
	switch (code) {
	case 400: return -EINVAL;
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 409: return -EBUSY;
	case 410: return -ESTALE;
	case 422: return -EINVAL;
	case 429: return -EAGAIN;
	default: return -EIO;
	}
}

void kube_response_clear(struct kube_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

/* Runs a JSON request and turns the outcome into one errno. */
static int kube_json(struct kube_client *c, const char *method, const char *path,
		     const char *content_type, const cJSON *obj, cJSON **out,
		     struct kube_response *resp)
{
	struct kube_response local;
	char *body = NULL;
	int ret;

	if (!resp)
		resp = &local;
	if (out)
		*out = NULL;
	if (obj && !(body = jsontext_print(obj, NULL)))
		return -ENOMEM;
	ret = kube_request(c, method, path, content_type, body, resp);
	free(body);
	if (ret == 0)
		ret = kube_response_errno(resp);
	if (ret == 0 && out) {
		*out = resp->body ? cJSON_ParseWithLength(resp->body, resp->len) : NULL;
		if (!*out) {
			snprintf(resp->message, sizeof(resp->message),
				 "%s %s: response is not JSON", method, path);
			ret = -EPROTO;
		}
	}
	kube_response_clear(resp);
	return ret;
}

int kube_get(struct kube_client *c, const char *path, cJSON **out, struct kube_response *resp)
{
	return kube_json(c, "GET", path, NULL, NULL, out, resp);
}

int kube_create(struct kube_client *c, const char *path, const cJSON *obj, cJSON **out,
		struct kube_response *resp)
{
	return kube_json(c, "POST", path, "application/json", obj, out, resp);
}

int kube_update(struct kube_client *c, const char *path, const cJSON *obj, cJSON **out,
		struct kube_response *resp)
{
	return kube_json(c, "PUT", path, "application/json", obj, out, resp);
}

int kube_patch(struct kube_client *c, const char *path, const cJSON *patch, cJSON **out,
	       struct kube_response *resp)
{
	return kube_json(c, "PATCH", path, "application/merge-patch+json", patch, out, resp);
}

int kube_apply(struct kube_client *c, const char *path, const char *manager, bool force,
	       const cJSON *obj, cJSON **out, struct kube_response *resp)
{
	char full[4096];

	snprintf(full, sizeof(full), "%s%cfieldManager=%s%s", path, strchr(path, '?') ? '&' : '?',
		 manager, force ? "&force=true" : "");
	return kube_json(c, "PATCH", full, "application/apply-patch+yaml", obj, out, resp);
}

int kube_delete(struct kube_client *c, const char *path, const char *uid, const char *rv,
		struct kube_response *resp)
{
	cJSON *opts = NULL, *pre;
	int ret;

	if (uid || rv) {
		if (!(opts = cJSON_CreateObject()) ||
		    !(pre = cJSON_AddObjectToObject(opts, "preconditions")) ||
		    (uid && !cJSON_AddStringToObject(pre, "uid", uid)) ||
		    (rv && !cJSON_AddStringToObject(pre, "resourceVersion", rv))) {
			cJSON_Delete(opts);
			return -ENOMEM;
		}
		cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
		cJSON_AddStringToObject(opts, "apiVersion", "v1");
	}
	ret = kube_json(c, "DELETE", path, "application/json", opts, NULL, resp);
	cJSON_Delete(opts);
	return ret;
}

bool kube_resource_version_ok(const char *rv)
{
	size_t n = rv ? strspn(rv, "0123456789abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ-._~")
		      : 0;

	return n && n <= KUBE_RV_MAX && !rv[n];
}

int kube_list(struct kube_client *c, const char *path, long limit,
	      int (*fn)(const cJSON *item, void *arg), void *arg, char **rv,
	      struct kube_response *resp)
{
	struct kube_response local = { 0 };
	char page[4096], *cont = NULL;
	const char *next;
	cJSON *list = NULL;
	const cJSON *item, *meta;
	bool restarted = false;
	long pages = 0, max_pages = KUBE_LIST_MAX_ITEMS / (limit > 0 ? limit : 1);
	int ret = 0;

	if (!resp)
		resp = &local;
	if (max_pages < 1)
		max_pages = 1;
	if (rv)
		*rv = NULL;
	for (;;) {
		char *esc = cont ? curl_easy_escape(c->curl, cont, 0) : NULL;
		char lim[32] = "";
		int n;

		if (limit > 0)
			snprintf(lim, sizeof(lim), "limit=%ld", limit);
		n = snprintf(page, sizeof(page), "%s%s%s%s%s", path,
			     lim[0] || esc ? (strchr(path, '?') ? "&" : "?") : "", lim,
			     esc ? (lim[0] ? "&continue=" : "continue=") : "", esc ? esc : "");
		curl_free(esc);
		if (n >= (int)sizeof(page)) {
			ret = -ENAMETOOLONG;
			snprintf(resp->message, sizeof(resp->message), "GET %.200s: path too long",
				 path);
			break;
		}
		ret = kube_get(c, page, &list, resp);
		if (ret == -ESTALE && cont && !restarted) {
			/* The continue token expired (etcd compacted meanwhile):
			 * client-go's pager then takes the whole list at once. */
			restarted = true;
			limit = 0;
			free(cont);
			cont = NULL;
			if ((ret = fn(NULL, arg)) < 0)
				break;
			continue;
		}
		if (ret < 0)
			break;
		cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(list, "items")) {
			if ((ret = fn(item, arg)) < 0)
				break;
		}
		if (ret < 0)
			break;
		meta = cJSON_GetObjectItemCaseSensitive(list, "metadata");
		next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
		/* A server that always says "more" would keep the list going
		 * for ever: the same token again, or more pages than any real
		 * list has, end it. */
		if (next && *next && cont && strcmp(next, cont) == 0) {
			snprintf(resp->message, sizeof(resp->message),
				 "GET %.200s: the server sent the same continue token again", path);
			ret = -EPROTO;
			break;
		}
		if (next && *next && ++pages >= max_pages) {
			snprintf(resp->message, sizeof(resp->message),
				 "GET %.200s: the list goes on past %ld pages of %ld", path,
				 max_pages, limit);
			ret = -EOVERFLOW;
			break;
		}
		free(cont);
		cont = next && *next ? strdup(next) : NULL;
		if (next && *next && !cont) {
			ret = -ENOMEM;
			break;
		}
		if (rv) {
			const char *v = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));

			free(*rv);
			*rv = NULL;
			if (v && *v && !kube_resource_version_ok(v)) {
				snprintf(resp->message, sizeof(resp->message),
					 "GET %.200s: the list's resourceVersion is no plain token",
					 path);
				ret = -EPROTO;
				break;
			}
			*rv = v && *v ? strdup(v) : NULL;
		}
		cJSON_Delete(list);
		list = NULL;
		if (!cont)
			break;
	}
	cJSON_Delete(list);
	free(cont);
	if (ret < 0 && rv) {
		free(*rv);
		*rv = NULL;
	}
	return ret;
}
