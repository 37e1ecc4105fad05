// SPDX-License-Identifier: Apache-2.0
/* tlsd: requests and answers over TLS on keep-alive connections (a
 * pipelined second request included), the client certificate the handler
 * sees (verified, CN; none; another CA's is refused at the handshake), a
 * certificate swapped for new connections, and hostile peers: a client
 * that trickles its headers or sends nothing is cut at its deadline while
 * others are served, silent connections holding every slot make room for a
 * new one, oversized, chunked, length-less and malformed requests get
 * their 4xx, peers that declare large bodies and send little hold little
 * memory and none of the server's in-flight budget, past which a body gets
 * 503 (strangers, without the client CA's certificate, half of it), and a
 * stop returns with connections open. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "clock.h"
#include "tlsd.h"
#include "unit.h"

static struct cert_pair ca, leaf, client_ca, alice, stranger_ca, stranger;

static void make_pki(void)
{
	static const char *const dns[] = { "localhost" };
	char err[256];

	if (ca.cert_pem)
		return;
	certs_make_ca("server-ca", 3600, &ca, err, sizeof(err));
	certs_make_server(&ca, "server", dns, 1, 3600, &leaf, err, sizeof(err));
	certs_make_ca("client-ca", 3600, &client_ca, err, sizeof(err));
	certs_make_client(&client_ca, "alice", 3600, &alice, err, sizeof(err));
	certs_make_ca("stranger-ca", 3600, &stranger_ca, err, sizeof(err));
	certs_make_client(&stranger_ca, "alice", 3600, &stranger, err, sizeof(err));
	/* A peer the server cut must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
}

/* The handler: echoes what it saw. */
static void echo(void *arg, const struct tlsd_request *req, struct tlsd_response *resp)
{
	char *b = malloc(req->body_len + 512);

	(void)arg;
	resp->len = (size_t)sprintf(b, "%s %s ?%s [%s] cn=%s verified=%d body=%.*s", req->method,
				    req->path, req->query, req->content_type, req->peer_cn,
				    req->peer_verified, (int)req->body_len, req->body);
	resp->body = b;
	resp->content_type = "text/plain";
	if (!strcmp(req->path, "/slow"))
		usleep(300 * 1000);
}

static struct tlsd *start(const struct tlsd_opts *extra)
{
	struct tlsd_opts o = { .addr = "127.0.0.1",
			       .handler = echo,
			       .request_ms = 1000,
			       .handshake_ms = 1000,
			       .idle_ms = 2000 };
	struct tlsd *s = NULL;
	char err[256];

	make_pki();
	if (extra) {
		o.max_conns = extra->max_conns;
		o.max_body = extra->max_body;
		o.client_ca_pem = extra->client_ca_pem;
		o.max_inflight = extra->max_inflight;
	}
	if (tlsd_start(&o, leaf.cert_pem, leaf.key_pem, &s, err, sizeof(err)) < 0)
		fprintf(stderr, "    tlsd_start: %s\n", err);
	return s;
}

static int tcp(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { 5, 0 };

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char peer_cn[128];
};

static void use_pem(SSL_CTX *ctx, const struct cert_pair *p)
{
	BIO *bc = BIO_new_mem_buf(p->cert_pem, -1), *bk = BIO_new_mem_buf(p->key_pem, -1);
	X509 *x = PEM_read_bio_X509(bc, NULL, NULL, NULL);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bk, NULL, NULL, NULL);

	SSL_CTX_use_certificate(ctx, x);
	SSL_CTX_use_PrivateKey(ctx, k);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(bc);
	BIO_free(bk);
}

/* A TLS client trusting `trust` (the server CA), with cert (or none). */
static int client_open(struct client *c, int port, const struct cert_pair *trust,
		       const struct cert_pair *cert)
{
	BIO *b = BIO_new_mem_buf(trust->cert_pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL), *peer;

	memset(c, 0, sizeof(*c));
	c->ctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), x);
	X509_free(x);
	BIO_free(b);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (cert)
		use_pem(c->ctx, cert);
	c->fd = tcp(port);
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	if (c->fd < 0 || SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		return -1;
	}
	if ((peer = SSL_get1_peer_certificate(c->ssl))) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->peer_cn,
					  sizeof(c->peer_cn));
		X509_free(peer);
	}
	return 0;
}

static void client_close(struct client *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	ERR_clear_error();
}

/* The number at p, or -1 when there is none. */
static long number_at(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	return end != p && v >= 0 ? v : -1;
}

/* Sends raw, reads one answer (headers and Content-Length body) into buf.
 * Returns the status code, or -1. */
static int client_round(struct client *c, const char *raw, char *buf, size_t cap)
{
	size_t got = 0;
	char *hend;
	int code;

	if (raw && SSL_write(c->ssl, raw, (int)strlen(raw)) <= 0)
		return -1;
	for (;;) {
		int n = SSL_read(c->ssl, buf + got, (int)(cap - 1 - got));
		long clen;

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		if (!(hend = strstr(buf, "\r\n\r\n")))
			continue;
		if (strncmp(buf, "HTTP/1.1 ", 9) != 0 || (code = (int)number_at(buf + 9)) < 0)
			return -1;
		if (code == 100) { /* an interim answer: drop it */
			memmove(buf, hend + 4, got - (size_t)(hend + 4 - buf) + 1);
			got -= (size_t)(hend + 4 - buf);
			continue;
		}
		clen = strstr(buf, "Content-Length: ") ?
			       number_at(strstr(buf, "Content-Length: ") + 16) :
			       0;
		if (clen < 0)
			return -1;
		if (got >= (size_t)(hend + 4 - buf) + (size_t)clen)
			return code;
	}
}

static void test_tlsd_answers_requests_on_a_kept_alive_connection(void)
{
	struct tlsd *s = start(NULL);
	struct client c;
	char buf[4096];

	UNIT_CHECK(s != NULL);
	if (!s)
		return;
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK_STR(c.peer_cn, "server");
	UNIT_CHECK(client_round(&c,
				"POST /admit?timeout=2s HTTP/1.1\r\nHost: x\r\nContent-Type: "
				"application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
				buf, sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "POST /admit ?timeout=2s [application/json] cn= verified=0 "
			       "body={\"a\":1}") != NULL);
	/* Two requests in one write: both answered, in order. */
	UNIT_CHECK(client_round(&c,
				"POST /one HTTP/1.1\r\nContent-Length: 1\r\n\r\n1"
				"POST /two HTTP/1.1\r\nContent-Length: 1\r\n\r\n2",
				buf, sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "POST /one") != NULL);
	UNIT_CHECK(client_round(&c, NULL, buf, sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "POST /two") != NULL);
	/* Expect: 100-continue is answered before the body. */
	UNIT_CHECK(client_round(&c,
				"POST /three HTTP/1.1\r\nExpect: 100-continue\r\n"
				"Content-Length: 1\r\n\r\n3",
				buf, sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "POST /three") != NULL);
	client_close(&c);
	tlsd_stop(s);
}

static void test_tlsd_passes_the_client_certificate_to_the_handler(void)
{
	struct tlsd_opts o = { .client_ca_pem = NULL };
	struct client c;
	struct tlsd *s;
	char buf[4096];

	make_pki();
	o.client_ca_pem = client_ca.cert_pem;
	s = start(&o);
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, &alice) == 0);
	UNIT_CHECK(client_round(&c, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
				sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "cn=alice verified=1") != NULL);
	client_close(&c);
	/* None: the handshake works, the handler knows. */
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK(client_round(&c, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
				sizeof(buf)) == 200);
	UNIT_CHECK(strstr(buf, "cn= verified=0") != NULL);
	client_close(&c);
	/* Another CA's certificate with the same name: refused at the handshake. */
	if (client_open(&c, tlsd_port(s), &ca, &stranger) == 0) {
		UNIT_CHECK(client_round(&c, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
					sizeof(buf)) < 0);
	}
	client_close(&c);
	tlsd_stop(s);
}

static void test_tlsd_new_connections_get_a_swapped_certificate(void)
{
	static const char *const dns[] = { "localhost" };
	struct tlsd *s = start(NULL);
	struct cert_pair next;
	struct client before, after;
	char err[256], buf[1024];

	UNIT_CHECK(certs_make_server(&ca, "server-2", dns, 1, 3600, &next, err, sizeof(err)) == 0);
	UNIT_CHECK(client_open(&before, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK(tlsd_set_cert(s, next.cert_pem, next.key_pem, err, sizeof(err)) == 0);
	UNIT_CHECK(tlsd_set_cert(s, next.cert_pem, leaf.key_pem, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(strstr(err, "key") != NULL);
	UNIT_CHECK(client_open(&after, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK_STR(before.peer_cn, "server");
	UNIT_CHECK_STR(after.peer_cn, "server-2");
	/* The connection open before the swap still works. */
	UNIT_CHECK(client_round(&before, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
				sizeof(buf)) == 200);
	client_close(&before);
	client_close(&after);
	certs_pair_clear(&next);
	tlsd_stop(s);
}

static void test_tlsd_refuses_malformed_and_oversized_requests(void)
{
	struct tlsd_opts o = { .max_body = 16 };
	struct tlsd *s = start(&o);
	static const struct {
		const char *raw;
		int code;
	} cases[] = {
		{ "POST /x HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413 },
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "POST /x HTTP/1.1\r\n\r\n", 411 },
		{ "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400 },
		{ "garbage\r\n\r\n", 400 },
	};
	char buf[2048], *big;
	struct client c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
		int code = client_round(&c, cases[i].raw, buf, sizeof(buf));

		if (code != cases[i].code)
			fprintf(stderr, "    case %zu: got %d: %.40s\n", i, code, buf);
		UNIT_CHECK(code == cases[i].code);
		client_close(&c);
	}
	/* Headers past 16 KiB. */
	big = malloc(20000);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	memcpy(big, "POST /x HTTP/1.1\r\nX: ", 21);
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK(client_round(&c, big, buf, sizeof(buf)) == 431);
	client_close(&c);
	free(big);
	tlsd_stop(s);
}

static void *slow_reader(void *arg)
{
	int *port = arg;
	struct client c;
	char buf[1024];
	int code = -1;

	if (client_open(&c, *port, &ca, NULL) == 0)
		code = client_round(&c, "POST /ok HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
				    sizeof(buf));
	client_close(&c);
	return (void *)(long)code;
}

static void test_tlsd_cuts_a_trickling_client_at_its_deadline(void)
{
	static const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
	struct tlsd *s = start(NULL);
	struct client c;
	long start_ms = clock_now_ms(), cut_ms = 0;
	pthread_t other;
	void *code;
	size_t i;
	int port = tlsd_port(s);

	UNIT_CHECK(client_open(&c, port, &ca, NULL) == 0);
	/* Another client is served while this one trickles. */
	pthread_create(&other, NULL, slow_reader, &port);
	for (i = 0; i < sizeof(req) - 1; i++) {
		if (SSL_write(c.ssl, req + i, 1) <= 0) {
			cut_ms = clock_now_ms();
			break;
		}
		usleep(150 * 1000);
	}
	pthread_join(other, &code);
	UNIT_CHECK((long)code == 200);
	if (!cut_ms) {
		char buf[64];

		/* All written before the cut was noticed: the read sees it. */
		UNIT_CHECK(SSL_read(c.ssl, buf, sizeof(buf)) <= 0);
		cut_ms = clock_now_ms();
	}
	/* request_ms (1 s) after the handshake, not after the last byte;
	 * generous bounds, as this measures the deadline, not the machine. */
	UNIT_CHECK(cut_ms - start_ms < 5000);
	client_close(&c);
	tlsd_stop(s);
}

static void test_tlsd_makes_room_when_silent_peers_hold_every_slot(void)
{
	struct tlsd_opts o = { .max_conns = 2 };
	struct tlsd *s = start(&o);
	struct tlsd_stats st;
	int silent[2], i;
	char buf[1024];
	struct client c;

	for (i = 0; i < 2; i++)
		silent[i] = tcp(tlsd_port(s)); /* no handshake at all */
	usleep(100 * 1000);
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK(client_round(&c, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf,
				sizeof(buf)) == 200);
	client_close(&c);
	tlsd_get_stats(s, &st);
	UNIT_CHECK(st.evicted >= 1);
	for (i = 0; i < 2; i++)
		close(silent[i]);
	tlsd_stop(s);
}

/* Opens a connection and sends the head of a POST declaring clen bytes
 * of body, and sent of them; -1 when the connection failed. */
static int declare_body(struct client *c, int port, size_t clen, size_t sent)
{
	char head[128], *body;
	int n = snprintf(head, sizeof(head), "POST /x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
			 clen);
	int ret = 0;

	if (client_open(c, port, &ca, NULL) < 0)
		return -1;
	body = calloc(1, sent + 1);
	if (!body || SSL_write(c->ssl, head, n) != n ||
	    (sent && SSL_write(c->ssl, body, (int)sent) != (int)sent))
		ret = -1;
	free(body);
	return ret;
}

static void test_tlsd_refuses_bodies_past_the_in_flight_budget_with_503(void)
{
	struct tlsd_opts o = { .max_body = 600 << 10, .max_inflight = 1 << 20 };
	struct tlsd *s = start(&o);
	struct tlsd_stats st;
	struct client a, b, c;
	char buf[1024], *rest = calloc(1, 600 << 10);

	/* a holds about half of the 1 MiB budget: 300 KiB of its body came,
	 * in a buffer of 512 KiB. */
	UNIT_CHECK(declare_body(&a, tlsd_port(s), 600 << 10, 300 << 10) == 0);
	usleep(100 * 1000);
	/* b's whole 600 KiB would pass the budget: 503 before its end. */
	UNIT_CHECK(declare_body(&b, tlsd_port(s), 600 << 10, 600 << 10) == 0);
	UNIT_CHECK(client_round(&b, NULL, buf, sizeof(buf)) == 503);
	UNIT_CHECK(strstr(buf, "\r\nRetry-After: 1\r\n") != NULL);
	UNIT_CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
	/* a's body comes: served, and its part of the budget given back. b
	 * keeps its end open, so the server still lingers on it: b's part of
	 * the budget went back with the 503. */
	UNIT_CHECK(rest && SSL_write(a.ssl, rest, 300 << 10) == 300 << 10);
	UNIT_CHECK(client_round(&a, NULL, buf, sizeof(buf)) == 200);
	client_close(&b);
	UNIT_CHECK(declare_body(&c, tlsd_port(s), 600 << 10, 600 << 10) == 0);
	UNIT_CHECK(client_round(&c, NULL, buf, sizeof(buf)) == 200);
	client_close(&a);
	client_close(&c);
	tlsd_get_stats(s, &st);
	UNIT_CHECK(st.refused_busy == 1);
	free(rest);
	tlsd_stop(s);
}

/* Peers that declare bodies and send nothing cost the server nothing (the
 * buffer grows with what comes), so they take none of the budget either:
 * declaring all of it does not refuse another peer's small request. */
static void test_tlsd_peers_that_declare_bodies_and_send_nothing_refuse_no_one(void)
{
	struct tlsd_opts o = { .max_body = 600 << 10, .max_inflight = 1 << 20 };
	struct tlsd *s = start(&o);
	struct client a, b, c;
	char buf[1024];

	UNIT_CHECK(declare_body(&a, tlsd_port(s), 600 << 10, 0) == 0);
	UNIT_CHECK(declare_body(&b, tlsd_port(s), 424 << 10, 0) == 0);
	usleep(100 * 1000);
	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	UNIT_CHECK(client_round(&c, "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nok", buf,
				sizeof(buf)) == 200);
	client_close(&a);
	client_close(&b);
	client_close(&c);
	tlsd_stop(s);
}

/* With a client CA, peers without its certificate (anyone who reaches the
 * port) fill at most half the budget, whatever they send: the API
 * server's requests still have room. */
static void test_tlsd_unverified_peers_leave_room_for_verified_ones(void)
{
	struct tlsd_opts o = { .max_body = 600 << 10, .max_inflight = 1 << 20 };
	struct tlsd *s;
	struct client u[2], v;
	char buf[64 << 10], *req = malloc((40 << 10) + 128);
	int n, i;

	make_pki();
	o.client_ca_pem = client_ca.cert_pem;
	s = start(&o);
	/* Two strangers declare the whole budget between them, send 400 KiB
	 * of it, and stall. */
	(void)declare_body(&u[0], tlsd_port(s), 600 << 10, 400 << 10);
	(void)declare_body(&u[1], tlsd_port(s), 424 << 10, 400 << 10);
	usleep(300 * 1000);
	n = sprintf(req, "POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n", 40 << 10);
	memset(req + n, 'x', 40 << 10);
	req[n + (40 << 10)] = '\0';
	UNIT_CHECK(client_open(&v, tlsd_port(s), &ca, &alice) == 0);
	n = client_round(&v, req, buf, sizeof(buf));
	if (n != 200)
		fprintf(stderr, "    the verified peer got %d: %.80s\n", n, buf);
	UNIT_CHECK(n == 200);
	for (i = 0; i < 2; i++)
		client_close(&u[i]);
	client_close(&v);
	free(req);
	tlsd_stop(s);
}

/* The bytes ASan's allocator holds (the unit tests are built with it);
 * weak, so that a build without it skips the check. */
// NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): ASan's own name
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static void test_tlsd_holds_memory_for_the_body_bytes_that_came(void)
{
	struct tlsd_opts o = { .max_body = 32 << 20, .max_inflight = 1 << 30 };
	struct tlsd *s = start(&o);
	struct client c[4];
	size_t before, after;
	int i;

	if (!__sanitizer_get_current_allocated_bytes) {
		tlsd_stop(s);
		return;
	}
	before = __sanitizer_get_current_allocated_bytes();
	/* Four peers declare 32 MiB each and send 20 KiB of it (past the
	 * buffer of the head: the body's has grown once). */
	for (i = 0; i < 4; i++)
		UNIT_CHECK(declare_body(&c[i], tlsd_port(s), 32 << 20, 20 << 10) == 0);
	usleep(300 * 1000);
	after = __sanitizer_get_current_allocated_bytes();
	if (after > before + (16 << 20)) {
		fprintf(stderr, "    %zu MiB held for 80 KiB of bodies\n", (after - before) >> 20);
		UNIT_CHECK(0);
	}
	for (i = 0; i < 4; i++)
		client_close(&c[i]);
	tlsd_stop(s);
}

static void test_tlsd_stops_with_connections_open(void)
{
	struct tlsd *s = start(NULL);
	struct client c;
	int raw = tcp(tlsd_port(s));

	UNIT_CHECK(client_open(&c, tlsd_port(s), &ca, NULL) == 0);
	tlsd_stop(s); /* returns: the checks below run at all */
	UNIT_CHECK(raw >= 0);
	close(raw);
	client_close(&c);
}

UNIT_MAIN(UNIT_TEST(test_tlsd_answers_requests_on_a_kept_alive_connection),
	  UNIT_TEST(test_tlsd_passes_the_client_certificate_to_the_handler),
	  UNIT_TEST(test_tlsd_new_connections_get_a_swapped_certificate),
	  UNIT_TEST(test_tlsd_refuses_malformed_and_oversized_requests),
	  UNIT_TEST(test_tlsd_cuts_a_trickling_client_at_its_deadline),
	  UNIT_TEST(test_tlsd_makes_room_when_silent_peers_hold_every_slot),
	  UNIT_TEST(test_tlsd_refuses_bodies_past_the_in_flight_budget_with_503),
	  UNIT_TEST(test_tlsd_peers_that_declare_bodies_and_send_nothing_refuse_no_one),
	  UNIT_TEST(test_tlsd_unverified_peers_leave_room_for_verified_ones),
	  UNIT_TEST(test_tlsd_holds_memory_for_the_body_bytes_that_came),
	  UNIT_TEST(test_tlsd_stops_with_connections_open))
