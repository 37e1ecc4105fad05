/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTPS/1.1 server on OpenSSL, for the API server's calls to us
 * (admission webhooks, audit webhooks): POSTed JSON bodies answered with
 * JSON, on keep-alive connections.
 *
 * One acceptor thread and one thread per connection, at most max_conns at
 * once. Every step has a deadline from the connection's point of view (the
 * TLS handshake and the first request: handshake_ms; a request once its
 * first byte came: request_ms; an answer: write_ms; waiting for the next
 * request: idle_ms), on non-blocking sockets with poll(), so a peer that
 * trickles, stops reading or goes away costs at most that and one slot.
 * When every slot is taken the oldest idle connection (else the oldest) is
 * closed to make room. Headers are bounded (16 KiB), bodies by max_body
 * (413), chunked bodies refused (411); sends use MSG_NOSIGNAL.
 *
 * Memory: a body's buffer grows as its bytes arrive (doubling, up to its
 * Content-Length), so a peer that declares a large body and sends little
 * costs little. Besides, the body buffers of the requests being read at
 * once stay within max_inflight: a request whose buffer would take them
 * past it is answered 503 with Retry-After and its connection closed. A
 * declared length takes nothing (a peer that sends nothing refuses no
 * one), and with a client CA the peers without its certificate (anyone
 * who reaches the port) hold half of the budget at most, so that they
 * cannot refuse the API server's requests. The server holds at most about
 * max_inflight + max_conns * 16 KiB of requests, however many peers send.
 *
 * With a client CA the server asks for a client certificate and checks it
 * against that CA; a peer may still come without one, and the handler
 * decides (tlsd_request.peer_verified, peer_cn).
 *
 * The handler runs on the connection's thread: it may block, bounded by
 * its own timeouts, and must be thread-safe.
 */
#ifndef SHELLAUDIT_TLSD_H
#define SHELLAUDIT_TLSD_H

#include <stdbool.h>
#include <stddef.h>

struct tlsd;

struct tlsd_request {
	const char *method;	  /* "POST" */
	const char *path;	  /* without the query */
	const char *query;	  /* after '?', "" when none */
	const char *content_type; /* "" when absent */
	const char *body;	  /* NUL-terminated; body_len bytes */
	size_t body_len;
	bool peer_verified;    /* a client certificate the client CA signed */
	const char *peer_cn;   /* its subject's CN, "" when none */
	const char *peer_addr; /* the peer's IP address */
};

struct tlsd_response {
	int code;		  /* 200 when left 0 */
	const char *content_type; /* "application/json" when NULL */
	char *body;		  /* malloc'd by the handler; the server frees it */
	size_t len;
};

typedef void (*tlsd_handler_fn)(void *arg, const struct tlsd_request *req,
				struct tlsd_response *resp);

struct tlsd_opts {
	const char *addr;	   /* IPv4 or IPv6 address to bind; NULL: all */
	int port;		   /* 0: any free port (tlsd_port) */
	int max_conns;		   /* [64] */
	long handshake_ms;	   /* [5000] */
	long request_ms;	   /* [10000] */
	long write_ms;		   /* [10000] */
	long idle_ms;		   /* [90000] */
	size_t max_body;	   /* [1 MiB] */
	/* Body buffer bytes of all the requests being read at once [64 MiB,
	 * at least max_body]; peers without a client certificate, when a
	 * client CA is set, half of it. */
	size_t max_inflight;
	const char *client_ca_pem; /* NULL: no client certificate asked for */
	tlsd_handler_fn handler;
	void *arg;
};

struct tlsd_stats {
	unsigned long accepted, evicted, handshake_failures, timeouts, requests, refused_full;
	unsigned long refused_busy; /* 503: past max_inflight */
};

/* Binds, loads the certificate (PEM, with the key) and starts the
 * acceptor. err says what is wrong with a certificate or key. Caller frees
 * *out with tlsd_stop(). */
int tlsd_start(const struct tlsd_opts *opts, const char *cert_pem, const char *key_pem,
	       struct tlsd **out, char *err, size_t errlen);
/* Closes every connection, joins every thread, frees s. NULL-safe. */
void tlsd_stop(struct tlsd *s);
/* A new certificate and key for the connections accepted from now on
 * (those open keep theirs). Thread-safe. */
int tlsd_set_cert(struct tlsd *s, const char *cert_pem, const char *key_pem, char *err,
		  size_t errlen);
int tlsd_port(const struct tlsd *s);
void tlsd_get_stats(struct tlsd *s, struct tlsd_stats *out);

#endif
