// SPDX-License-Identifier: Apache-2.0
/* The HTTPS server (see tlsd.h). The acceptor thread owns the listener and
 * the slots' lifecycle; each connection thread owns its socket, its SSL
 * and its buffers. They share the slots (mutex mu) and the current
 * SSL_CTX (mutex mu; an SSL keeps a reference to the context it was made
 * from, so a swap never pulls it from under a connection). */
#include "tlsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"

#define TLSD_HEAD_MAX (16 << 10)
#define TLSD_SLOT_WAIT_MS 500
#define TLSD_LINGER_MS 500
#define TLSD_LINGER_BYTES (256 << 10)
#define TLSD_INFLIGHT_DEFAULT ((size_t)64 << 20)

enum tlsd_slot_state { TLSD_FREE, TLSD_BUSY, TLSD_DONE };

struct tlsd_slot {
	enum tlsd_slot_state state;
	int fd;
	atomic_bool idle; /* between requests (written by its thread) */
	long since_ms;
	pthread_t thread;
	struct tlsd *s;
	char addr[64];
};

struct tlsd {
	struct tlsd_opts o;
	int fd, stopfd, port;
	pthread_t acceptor;
	bool started;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t freed;
	SSL_CTX *ctx;
	struct tlsd_slot *slots;
	struct tlsd_stats stats;
	size_t inflight;	    /* body buffer bytes the requests being read hold (mu) */
	size_t inflight_unverified; /* of which peers without the client CA's certificate */
};

/* --- TLS context ------------------------------------------------------------- */

static void tlsd_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s", what, *buf ? ": " : "", buf);
}

/* Adds every certificate of a PEM bundle to the verify store and to the
 * names sent in the CertificateRequest (so that a client picks the right
 * certificate). */
static int tlsd_client_ca(SSL_CTX *ctx, const char *pem, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	X509 *x;
	int n = 0;

	if (!b || !names) {
		BIO_free(b);
		sk_X509_NAME_free(names);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));

		if (X509_STORE_add_cert(store, x) == 1 && nm && sk_X509_NAME_push(names, nm) > 0)
			n++;
		else
			X509_NAME_free(nm);
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	if (n == 0) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		snprintf(err, errlen, "the client CA holds no certificate");
		return -EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	/* Asked for, checked when sent, not required: the handler says
	 * no to a peer without one. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

static SSL_CTX *tlsd_ctx_new(const struct tlsd_opts *o, const char *cert_pem, const char *key_pem,
			     char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *bc = NULL, *bk = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;

	ERR_clear_error();
	if (!ctx) {
		tlsd_err(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	bc = BIO_new_mem_buf(cert_pem ? cert_pem : "", -1);
	bk = BIO_new_mem_buf(key_pem ? key_pem : "", -1);
	if (!bc || !bk || !(x = PEM_read_bio_X509(bc, NULL, NULL, NULL)) ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		tlsd_err(err, errlen, "the serving certificate cannot be used");
		goto fail;
	}
	/* The rest of the PEM: the chain to the CA. */
	for (;;) {
		X509 *more = PEM_read_bio_X509(bc, NULL, NULL, NULL);

		if (!more)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, more) != 1) {
			X509_free(more);
			break;
		}
	}
	ERR_clear_error();
	if (!(key = PEM_read_bio_PrivateKey(bk, NULL, NULL, NULL)) ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		tlsd_err(err, errlen, "the serving key cannot be used with its certificate");
		goto fail;
	}
	if (o->client_ca_pem && tlsd_client_ca(ctx, o->client_ca_pem, err, errlen) < 0)
		goto fail;
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(bc);
	BIO_free(bk);
	return ctx;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(bc);
	BIO_free(bk);
	SSL_CTX_free(ctx);
	return NULL;
}

int tlsd_set_cert(struct tlsd *s, const char *cert_pem, const char *key_pem, char *err,
		  size_t errlen)
{
	SSL_CTX *ctx = tlsd_ctx_new(&s->o, cert_pem, key_pem, err, errlen), *old;

	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	old = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->mu);
	SSL_CTX_free(old);
	return 0;
}

/* --- one connection -------------------------------------------------------- */

struct tlsd_conn {
	struct tlsd *s;
	struct tlsd_slot *slot;
	SSL *ssl;
	int fd;
	char *buf;    /* headers and body of the request being read */
	size_t alloc; /* bytes allocated at buf */
	size_t cap;   /* bytes of the request read at most (cap < alloc) */
	size_t got;
	size_t reserved; /* of the server's inflight: what buf holds past the head's */
	bool verified;
	char cn[256];
};

/* Waits for fd to be ready for ev until deadline (clock_now_ms). */
static int tlsd_wait(struct tlsd_conn *c, short ev, long deadline)
{
	struct pollfd p = { c->fd, ev, 0 };
	long left;
	int n;

	for (;;) {
		if (atomic_load(&c->s->stop))
			return -ECANCELED;
		left = deadline - clock_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		/* At most a second at a time: a stop is seen soon. */
		n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue; /* the deadline, or EINTR */
		/* An error without data to read or room to write. */
		if ((p.revents & (POLLERR | POLLNVAL)) && !(p.revents & (POLLIN | POLLOUT)))
			return -EPIPE;
		return 0;
	}
}

/* After an SSL call returned ret: waits for what it wants, or fails. */
static int tlsd_ssl_wait(struct tlsd_conn *c, int ret, long deadline)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ: return tlsd_wait(c, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE: return tlsd_wait(c, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN: return -ECONNRESET;
	default: break;
	}
	ERR_clear_error();
	return -EPIPE;
}

static int tlsd_handshake(struct tlsd_conn *c, long deadline)
{
	X509 *peer;
	int ret;

	while ((ret = SSL_accept(c->ssl)) != 1)
		if ((ret = tlsd_ssl_wait(c, ret, deadline)) < 0)
			return ret;
	peer = SSL_get1_peer_certificate(c->ssl);
	if (peer) {
		c->verified = SSL_get_verify_result(c->ssl) == X509_V_OK;
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->cn,
					      sizeof(c->cn)) < 0)
			c->cn[0] = '\0';
		X509_free(peer);
	}
	return 0;
}

/* Reads more into c->buf (at most up to cap); 0, or -ECONNRESET at EOF. */
static int tlsd_read_more(struct tlsd_conn *c, long deadline)
{
	size_t n;
	int ret;

	for (;;) {
		ret = SSL_read_ex(c->ssl, c->buf + c->got, c->cap - c->got, &n);
		if (ret == 1) {
			c->got += n;
			c->buf[c->got] = '\0';
			return 0;
		}
		if ((ret = tlsd_ssl_wait(c, ret, deadline)) < 0)
			return ret;
	}
}

static int tlsd_write_all(struct tlsd_conn *c, const char *p, size_t len, long deadline)
{
	size_t n;
	int ret;

	while (len) {
		ret = SSL_write_ex(c->ssl, p, len, &n);
		if (ret == 1) {
			p += n;
			len -= n;
			continue;
		}
		if ((ret = tlsd_ssl_wait(c, ret, deadline)) < 0)
			return ret;
	}
	return 0;
}

static const char *tlsd_reason(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* extra: more header lines ("Name: value\r\n"), or "". */
static int tlsd_answer(struct tlsd_conn *c, int code, const char *type, const char *body,
		       size_t len, bool close_after, const char *extra)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
			 code, tlsd_reason(code), type ? type : "application/json", len,
			 close_after ? "Connection: close\r\n" : "", extra);
	long deadline = clock_now_ms() + c->s->o.write_ms;
	int ret = tlsd_write_all(c, head, (size_t)n, deadline);

	if (ret == 0 && len)
		ret = tlsd_write_all(c, body, len, deadline);
	return ret;
}

/* Whether c's peer is a stranger: the server asks for a client
 * certificate and the peer has none of the CA's. */
static bool tlsd_stranger(const struct tlsd_conn *c)
{
	return c->s->o.client_ca_pem && !c->verified;
}

/* Takes len more bytes of the server's in-flight budget for c's body
 * buffer; false (counted) when they would take it past max_inflight, or
 * the strangers' bytes past half of it. */
static bool tlsd_reserve(struct tlsd_conn *c, size_t len)
{
	struct tlsd *s = c->s;
	bool stranger = tlsd_stranger(c), ok;

	pthread_mutex_lock(&s->mu);
	ok = len <= s->o.max_inflight - s->inflight &&
	     (!stranger || len <= s->o.max_inflight / 2 - s->inflight_unverified);
	if (ok) {
		s->inflight += len;
		if (stranger)
			s->inflight_unverified += len;
	} else {
		s->stats.refused_busy++;
	}
	pthread_mutex_unlock(&s->mu);
	if (ok)
		c->reserved += len;
	return ok;
}

/* Gives c's reservation back. */
static void tlsd_unreserve(struct tlsd_conn *c)
{
	if (!c->reserved)
		return;
	pthread_mutex_lock(&c->s->mu);
	c->s->inflight -= c->reserved;
	if (tlsd_stranger(c))
		c->s->inflight_unverified -= c->reserved;
	pthread_mutex_unlock(&c->s->mu);
	c->reserved = 0;
}

/* After a request: its body buffer goes back to the head's size, and its
 * reservation with it (kept while the memory is, when it cannot shrink). */
static void tlsd_release(struct tlsd_conn *c)
{
	char *nb;

	if (c->alloc > TLSD_HEAD_MAX + 1 && c->got <= TLSD_HEAD_MAX &&
	    (nb = realloc(c->buf, TLSD_HEAD_MAX + 1))) {
		c->buf = nb;
		c->alloc = TLSD_HEAD_MAX + 1;
	}
	if (c->alloc <= TLSD_HEAD_MAX + 1)
		tlsd_unreserve(c);
}

/* Answers code and closes our side, then reads what the peer still sends
 * for a little while (bounded): closing with unread data would reset the
 * connection and lose the answer. What the request's body holds of the
 * in-flight budget goes back first: a refused peer that keeps its end open
 * must not refuse the others for as long as the server lingers. */
static int tlsd_error_with(struct tlsd_conn *c, int code, const char *msg, const char *extra)
{
	long until = clock_now_ms() + TLSD_LINGER_MS;
	size_t drained = 0;
	char sink[4096];

	c->got = 0;
	c->buf[0] = '\0';
	tlsd_release(c);
	if (tlsd_answer(c, code, "text/plain", msg, strlen(msg), true, extra) == 0) {
		SSL_shutdown(c->ssl);
		shutdown(c->fd, SHUT_WR);
		while (drained < TLSD_LINGER_BYTES && tlsd_wait(c, POLLIN, until) == 0) {
			ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

			if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
				break;
			drained += n > 0 ? (size_t)n : 0;
		}
	}
	return -EPIPE;
}

static int tlsd_error(struct tlsd_conn *c, int code, const char *msg)
{
	return tlsd_error_with(c, code, msg, "");
}

/* Reads the rest of a request of need bytes, the buffer growing as they
 * come (doubling, up to need): a peer that declares a large body and sends
 * little of it makes the server hold little, and takes as little of the
 * in-flight budget. A growth past the budget is answered 503. */
static int tlsd_read_body(struct tlsd_conn *c, size_t need, long deadline)
{
	size_t want;
	char *nb;
	int ret;

	while (c->got < need) {
		if (c->got + 1 >= c->alloc) {
			want = 2 * (c->alloc - 1) < need ? 2 * (c->alloc - 1) : need;
			/* The bodies being read together stay within the budget,
			 * however many peers declare large ones at once. */
			if (!tlsd_reserve(c, want + 1 - c->alloc))
				return tlsd_error_with(c, 503, "too many request bodies at once\n",
						       "Retry-After: 1\r\n");
			if (!(nb = realloc(c->buf, want + 1)))
				return tlsd_error(c, 500, "out of memory\n");
			c->buf = nb;
			c->alloc = want + 1;
		}
		c->cap = need < c->alloc - 1 ? need : c->alloc - 1;
		if ((ret = tlsd_read_more(c, deadline)) < 0)
			return ret;
	}
	return 0;
}

/* The value of header `name` in the header block head (lines after the
 * request line), copied into out; false when absent. */
static bool tlsd_header(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			break;
		if ((size_t)(end - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;

			while (*v == ' ' || *v == '\t')
				v++;
			len = (size_t)(end - v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* One request and its answer: 0 to go on with the connection, <0 to
 * close it. first: the connection's first request (the handshake deadline
 * still runs). */
static int tlsd_serve_one(struct tlsd_conn *c, long first_deadline)
{
	struct tlsd *s = c->s;
	long deadline = first_deadline;
	char method[16], target[2048], val[256], ctype[128] = "", *hend, *q;
	struct tlsd_request req = { 0 };
	struct tlsd_response resp = { 0 };
	size_t head_len, clen = 0, need;
	bool close_after = false;
	int ret;

	/* Until the first byte: idle (or the handshake's deadline). */
	if (!deadline) {
		atomic_store(&c->slot->idle, true);
		deadline = clock_now_ms() + s->o.idle_ms;
	}
	c->cap = TLSD_HEAD_MAX;
	while (!(hend = strstr(c->buf, "\r\n\r\n"))) {
		if (c->got >= TLSD_HEAD_MAX)
			return tlsd_error(c, 431, "request headers too large\n");
		if ((ret = tlsd_read_more(c, deadline)) < 0)
			return ret;
		if (atomic_load(&c->slot->idle) && c->got) {
			atomic_store(&c->slot->idle, false);
			deadline = clock_now_ms() + s->o.request_ms;
		}
		if (memchr(c->buf, '\0', c->got))
			return tlsd_error(c, 400, "NUL in the request\n");
	}
	atomic_store(&c->slot->idle, false);
	pthread_mutex_lock(&s->mu);
	s->stats.requests++;
	pthread_mutex_unlock(&s->mu);
	head_len = (size_t)(hend - c->buf) + 4;
	if (sscanf(c->buf, "%15s %2047s HTTP/1.%*c", method, target) != 2)
		return tlsd_error(c, 400, "bad request line\n");
	if (tlsd_header(c->buf, "Transfer-Encoding", val, sizeof(val)))
		return tlsd_error(c, 411, "chunked bodies are not accepted: send Content-Length\n");
	if (tlsd_header(c->buf, "Content-Length", val, sizeof(val))) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(val, &end, 10);
		if (errno || *end || end == val || val[0] == '-')
			return tlsd_error(c, 400, "bad Content-Length\n");
		if (v > s->o.max_body)
			return tlsd_error(c, 413, "body too large\n");
		clen = (size_t)v;
	} else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		return tlsd_error(c, 411, "Content-Length required\n");
	}
	tlsd_header(c->buf, "Content-Type", ctype, sizeof(ctype));
	if (tlsd_header(c->buf, "Connection", val, sizeof(val)) && !strcasecmp(val, "close"))
		close_after = true;
	if (strstr(c->buf, "HTTP/1.0\r\n") && strstr(c->buf, "HTTP/1.0\r\n") < hend)
		close_after = true;
	need = head_len + clen;
	if (c->got < need && tlsd_header(c->buf, "Expect", val, sizeof(val)) &&
	    !strcasecmp(val, "100-continue")) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if ((ret = tlsd_write_all(c, cont, sizeof(cont) - 1, deadline)) < 0)
			return ret;
	}
	if ((ret = tlsd_read_body(c, need, deadline)) < 0)
		return ret;
	/* Terminate the pieces in place: the request line's target, the body. */
	hend = c->buf + head_len - 4;
	*hend = '\0';
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';
	{
		char saved = c->buf[need];

		c->buf[need] = '\0';
		req.method = method;
		req.path = target;
		req.query = q ? q : "";
		req.content_type = ctype;
		req.body = c->buf + head_len;
		req.body_len = clen;
		req.peer_verified = c->verified;
		req.peer_cn = c->cn;
		req.peer_addr = c->slot->addr;
		s->o.handler(s->o.arg, &req, &resp);
		c->buf[need] = saved;
	}
	ret = tlsd_answer(c, resp.code ? resp.code : 200, resp.content_type,
			  resp.body ? resp.body : "", resp.body ? resp.len : 0, close_after, "");
	free(resp.body);
	if (ret < 0)
		return ret;
	/* Whatever followed this request (a pipelined one) stays. */
	memmove(c->buf, c->buf + need, c->got - need);
	c->got -= need;
	c->buf[c->got] = '\0';
	tlsd_release(c);
	return close_after ? -ECONNRESET : 0;
}

static void tlsd_slot_done(struct tlsd_slot *slot)
{
	struct tlsd *s = slot->s;

	pthread_mutex_lock(&s->mu);
	close(slot->fd);
	slot->fd = -1;
	slot->state = TLSD_DONE;
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->mu);
}

static void *tlsd_conn_thread(void *arg)
{
	struct tlsd_slot *slot = arg;
	struct tlsd *s = slot->s;
	struct tlsd_conn c = { .s = s, .slot = slot, .fd = slot->fd };
	long deadline = clock_now_ms() + s->o.handshake_ms;
	int ret;

	pthread_setname_np(pthread_self(), "sa-tls-conn");

	pthread_mutex_lock(&s->mu);
	c.ssl = s->ctx ? SSL_new(s->ctx) : NULL;
	pthread_mutex_unlock(&s->mu);
	c.buf = malloc(TLSD_HEAD_MAX + 1);
	c.alloc = TLSD_HEAD_MAX + 1;
	if (!c.ssl || !c.buf || SSL_set_fd(c.ssl, c.fd) != 1)
		goto out;
	c.buf[0] = '\0';
	if ((ret = tlsd_handshake(&c, deadline)) < 0) {
		pthread_mutex_lock(&s->mu);
		s->stats.handshake_failures++;
		s->stats.timeouts += ret == -ETIMEDOUT;
		pthread_mutex_unlock(&s->mu);
		goto out;
	}
	/* The first request is due within the handshake's deadline. */
	for (ret = tlsd_serve_one(&c, deadline); ret == 0 && !atomic_load(&s->stop);
	     ret = tlsd_serve_one(&c, 0))
		;
	if (ret == -ETIMEDOUT) {
		pthread_mutex_lock(&s->mu);
		s->stats.timeouts++;
		pthread_mutex_unlock(&s->mu);
	}
	if (ret != -EPIPE && ret != -ECONNRESET)
		SSL_shutdown(c.ssl); /* one try, no wait: the socket is non-blocking */
out:
	ERR_clear_error();
	SSL_free(c.ssl);
	tlsd_unreserve(&c); /* a request cut short */
	free(c.buf);
	tlsd_slot_done(slot);
	return NULL;
}

/* --- acceptor ---------------------------------------------------------------- */

static int tlsd_bind(struct tlsd *s)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t)s->o.port) };
	socklen_t len = sizeof(sa);
	int one = 1;

	if (s->o.addr && !*s->o.addr)
		s->o.addr = NULL;
	if (s->o.addr && inet_pton(AF_INET6, s->o.addr, &sa.sin6_addr) != 1) {
		char mapped[64];

		snprintf(mapped, sizeof(mapped), "::ffff:%s", s->o.addr);
		if (inet_pton(AF_INET6, mapped, &sa.sin6_addr) != 1)
			return -EINVAL;
	} else if (!s->o.addr) {
		sa.sin6_addr = in6addr_any;
	}
	s->fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->fd, 128) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	s->port = ntohs(sa.sin6_port);
	return 0;
}

/* Joins the threads that ended. Called with mu held. */
static void tlsd_reap(struct tlsd *s)
{
	int i;

	for (i = 0; i < s->o.max_conns; i++) {
		if (s->slots[i].state != TLSD_DONE)
			continue;
		pthread_join(s->slots[i].thread, NULL);
		s->slots[i].state = TLSD_FREE;
	}
}

/* A free slot, making room when there is none (mu held): the oldest idle
 * connection goes first, else the oldest. -1 when none freed in time. */
static int tlsd_slot(struct tlsd *s)
{
	long until = clock_now_ms() + TLSD_SLOT_WAIT_MS;
	int i, victim = -1;

	for (;;) {
		tlsd_reap(s);
		for (i = 0; i < s->o.max_conns; i++)
			if (s->slots[i].state == TLSD_FREE)
				return i;
		if (victim < 0) {
			for (i = 0; i < s->o.max_conns; i++) {
				struct tlsd_slot *v = &s->slots[i];

				if (v->state != TLSD_BUSY)
					continue;
				bool vi = atomic_load(&v->idle);
				bool wi = victim >= 0 && atomic_load(&s->slots[victim].idle);

				if (victim < 0 || (vi && !wi) ||
				    (vi == wi && v->since_ms < s->slots[victim].since_ms))
					victim = i;
			}
			if (victim >= 0) {
				shutdown(s->slots[victim].fd, SHUT_RDWR);
				s->stats.evicted++;
			}
		}
		if (clock_now_ms() >= until || atomic_load(&s->stop))
			return -1;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->freed, &s->mu, &ts);
		}
	}
}

static void tlsd_accept(struct tlsd *s)
{
	struct sockaddr_storage sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd, i;

	while ((fd = accept4(s->fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	       0) {
		struct tlsd_slot *slot;

		pthread_mutex_lock(&s->mu);
		s->stats.accepted++;
		i = tlsd_slot(s);
		if (i < 0) {
			s->stats.refused_full++;
			pthread_mutex_unlock(&s->mu);
			close(fd);
			len = sizeof(sa);
			continue;
		}
		slot = &s->slots[i];
		slot->fd = fd;
		atomic_store(&slot->idle, false);
		slot->since_ms = clock_now_ms();
		slot->s = s;
		slot->addr[0] = '\0';
		if (sa.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;

			if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
				inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], slot->addr,
					  sizeof(slot->addr));
			else
				inet_ntop(AF_INET6, &a6->sin6_addr, slot->addr, sizeof(slot->addr));
		}
		slot->state = TLSD_BUSY;
		if (pthread_create(&slot->thread, NULL, tlsd_conn_thread, slot) != 0) {
			slot->state = TLSD_FREE;
			slot->fd = -1;
			close(fd);
		}
		pthread_mutex_unlock(&s->mu);
		len = sizeof(sa);
	}
}

static void *tlsd_acceptor(void *arg)
{
	struct tlsd *s = arg;
	struct pollfd p[2];

	pthread_setname_np(pthread_self(), "sa-tls-accept");

	while (!atomic_load(&s->stop)) {
		p[0] = (struct pollfd){ s->stopfd, POLLIN, 0 };
		p[1] = (struct pollfd){ s->fd, POLLIN, 0 };
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents)
			tlsd_accept(s);
		pthread_mutex_lock(&s->mu);
		tlsd_reap(s);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

int tlsd_start(const struct tlsd_opts *opts, const char *cert_pem, const char *key_pem,
	       struct tlsd **out, char *err, size_t errlen)
{
	struct tlsd *s = calloc(1, sizeof(*s));
	int ret, i;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	s->fd = s->stopfd = -1;
	if (s->o.max_conns <= 0)
		s->o.max_conns = 64;
	if (s->o.handshake_ms <= 0)
		s->o.handshake_ms = 5000;
	if (s->o.request_ms <= 0)
		s->o.request_ms = 10000;
	if (s->o.write_ms <= 0)
		s->o.write_ms = 10000;
	if (s->o.idle_ms <= 0)
		s->o.idle_ms = 90000;
	if (!s->o.max_body)
		s->o.max_body = 1 << 20;
	if (!s->o.max_inflight)
		s->o.max_inflight = TLSD_INFLIGHT_DEFAULT;
	if (s->o.max_inflight < s->o.max_body)
		s->o.max_inflight = s->o.max_body;
	atomic_init(&s->stop, false);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->freed, NULL);
	if (!(s->slots = calloc((size_t)s->o.max_conns, sizeof(*s->slots)))) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->o.max_conns; i++)
		s->slots[i].fd = -1;
	if (!(s->ctx = tlsd_ctx_new(&s->o, cert_pem, key_pem, err, errlen))) {
		ret = -EINVAL;
		goto fail;
	}
	if ((ret = tlsd_bind(s)) < 0) {
		snprintf(err, errlen, "cannot listen on port %d: %s", s->o.port, strerror(-ret));
		goto fail;
	}
	if ((s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((ret = -pthread_create(&s->acceptor, NULL, tlsd_acceptor, s)) < 0) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(-ret));
		goto fail;
	}
	s->started = true;
	*out = s;
	return 0;
fail:
	tlsd_stop(s);
	return ret;
}

void tlsd_stop(struct tlsd *s)
{
	uint64_t one = 1;
	int i;

	if (!s)
		return;
	atomic_store(&s->stop, true);
	if (s->started) {
		(void)!write(s->stopfd, &one, sizeof(one));
		pthread_join(s->acceptor, NULL);
	}
	pthread_mutex_lock(&s->mu);
	for (i = 0; s->slots && i < s->o.max_conns; i++)
		if (s->slots[i].state == TLSD_BUSY)
			shutdown(s->slots[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; s->slots && i < s->o.max_conns; i++)
		if (s->slots[i].state != TLSD_FREE)
			pthread_join(s->slots[i].thread, NULL);
	free(s->slots);
	SSL_CTX_free(s->ctx);
	if (s->fd >= 0)
		close(s->fd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int tlsd_port(const struct tlsd *s)
{
	return s->port;
}

void tlsd_get_stats(struct tlsd *s, struct tlsd_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}
