/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 certificates made in memory with libcrypto: a certificate
 * authority and the serving certificates it signs (ECDSA P-256, SHA-256),
 * and what a PEM bundle holds. The private keys never touch a disk: the
 * caller keeps the PEM text in memory. */
#ifndef SHELLAUDIT_CERTS_H
#define SHELLAUDIT_CERTS_H

#include <stddef.h>
#include <time.h>

/* A certificate and its private key, PEM; both owned (certs_pair_clear). */
struct cert_pair {
	char *cert_pem;
	char *key_pem;
};

void certs_pair_clear(struct cert_pair *p);

/* A self-signed CA named cn, valid from five minutes ago (clocks of other
 * hosts lag) for valid_s seconds. err gets why on failure. */
int certs_make_ca(const char *cn, long valid_s, struct cert_pair *out, char *err, size_t errlen);

/* A serving certificate (serverAuth) signed by ca, named cn, for the n DNS
 * names of dns (its subjectAltName), valid for valid_s seconds. */
int certs_make_server(const struct cert_pair *ca, const char *cn, const char *const *dns, size_t n,
		      long valid_s, struct cert_pair *out, char *err, size_t errlen);

/* A client certificate (clientAuth) signed by ca, named cn. */
int certs_make_client(const struct cert_pair *ca, const char *cn, long valid_s,
		      struct cert_pair *out, char *err, size_t errlen);

/* Calls fn for each certificate of a PEM bundle (len bytes, not
 * necessarily NUL-terminated), with its own PEM text (NUL-terminated, valid
 * during the call) and its notAfter. fn returns <0 to stop with that value.
 * -EINVAL when a block of the bundle is not a certificate. */
int certs_bundle_foreach(const char *pem, size_t len,
			 int (*fn)(const char *cert_pem, time_t not_after, void *arg), void *arg);

/* The notAfter of the first certificate of pem; -EINVAL if there is none. */
int certs_not_after(const char *pem, size_t len, time_t *out);

#endif
