// SPDX-License-Identifier: Apache-2.0
/* certs: a CA and the serving certificate it signs verify as a chain for
 * their DNS names and not for others, with the validity asked for; a
 * certificate of another CA does not verify; bundles are walked
 * certificate by certificate (their notAfter too) and garbage is refused;
 * DNS names that could smuggle another subjectAltName entry are refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "unit.h"

static X509 *read_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

/* 1 when leaf verifies against ca for host, 0 otherwise. */
static int verifies(const char *ca_pem, const char *leaf_pem, const char *host)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *ca = read_cert(ca_pem), *leaf = read_cert(leaf_pem);
	int ok;

	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(ca);
	X509_free(leaf);
	return ok;
}

static void test_certs_ca_signs_a_server_certificate_for_its_names(void)
{
	static const char *const dns[] = {
		"shellaudit-controller.shellaudit-system.svc",
		"shellaudit-controller.shellaudit-system.svc.cluster.local"
	};
	struct cert_pair ca, leaf, other, stranger;
	char err[256];
	time_t na, now = time(NULL);

	UNIT_CHECK(certs_make_ca("test-ca", 3600, &ca, err, sizeof(err)) == 0);
	UNIT_CHECK(certs_make_server(&ca, "shellaudit-controller", dns, 2, 600, &leaf, err,
				     sizeof(err)) == 0);
	UNIT_CHECK(strstr(leaf.cert_pem, "BEGIN CERTIFICATE") != NULL);
	UNIT_CHECK(strstr(leaf.key_pem, "PRIVATE KEY") != NULL);
	UNIT_CHECK(verifies(ca.cert_pem, leaf.cert_pem, dns[0]));
	UNIT_CHECK(verifies(ca.cert_pem, leaf.cert_pem, dns[1]));
	UNIT_CHECK(!verifies(ca.cert_pem, leaf.cert_pem, "evil.example.com"));
	UNIT_CHECK(certs_not_after(leaf.cert_pem, strlen(leaf.cert_pem), &na) == 0);
	UNIT_CHECK(na >= now + 590 && na <= now + 610);
	UNIT_CHECK(certs_not_after(ca.cert_pem, strlen(ca.cert_pem), &na) == 0);
	UNIT_CHECK(na >= now + 3590 && na <= now + 3610);
	/* A certificate another CA signed does not verify against this one. */
	UNIT_CHECK(certs_make_ca("other-ca", 3600, &other, err, sizeof(err)) == 0);
	UNIT_CHECK(certs_make_server(&other, "x", dns, 1, 600, &stranger, err, sizeof(err)) == 0);
	UNIT_CHECK(!verifies(ca.cert_pem, stranger.cert_pem, dns[0]));
	/* Every run makes new keys. */
	UNIT_CHECK(strcmp(ca.key_pem, other.key_pem) != 0);
	certs_pair_clear(&ca);
	certs_pair_clear(&leaf);
	certs_pair_clear(&other);
	certs_pair_clear(&stranger);
	UNIT_CHECK(ca.cert_pem == NULL && ca.key_pem == NULL);
}

static void test_certs_refuses_names_that_would_add_entries(void)
{
	static const char *const comma[] = { "a.svc,DNS:evil.example.com" };
	static const char *const colon[] = { "IP:10.0.0.1" };
	static const char *const empty[] = { "" };
	struct cert_pair ca, leaf;
	char err[256];

	UNIT_CHECK(certs_make_ca("test-ca", 3600, &ca, err, sizeof(err)) == 0);
	UNIT_CHECK(certs_make_server(&ca, "x", comma, 1, 600, &leaf, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(strstr(err, "invalid DNS name") != NULL);
	UNIT_CHECK(certs_make_server(&ca, "x", colon, 1, 600, &leaf, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(certs_make_server(&ca, "x", empty, 1, 600, &leaf, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(certs_make_server(&ca, "x", comma, 0, 600, &leaf, err, sizeof(err)) == -EINVAL);
	UNIT_CHECK(certs_make_server(NULL, "x", comma, 1, 600, &leaf, err, sizeof(err)) == -EINVAL);
	certs_pair_clear(&ca);
}

struct seen {
	int n;
	time_t after[4];
};

static int count_cert(const char *pem, time_t not_after, void *arg)
{
	struct seen *s = arg;

	if (!strstr(pem, "BEGIN CERTIFICATE") || s->n >= 4)
		return -EINVAL;
	s->after[s->n++] = not_after;
	return 0;
}

static void test_certs_bundle_is_walked_certificate_by_certificate(void)
{
	struct cert_pair a, b;
	struct seen s = { 0 };
	char err[256], *bundle;
	size_t la, lb;
	time_t t0, t1;

	/* Each expiry is counted from when its certificate was made: on a
	 * busy machine the two may be made in different seconds. */
	t0 = time(NULL);
	UNIT_CHECK(certs_make_ca("a", 100, &a, err, sizeof(err)) == 0);
	UNIT_CHECK(certs_make_ca("b", 200000, &b, err, sizeof(err)) == 0);
	t1 = time(NULL);
	la = strlen(a.cert_pem);
	lb = strlen(b.cert_pem);
	bundle = malloc(la + lb + 1);
	memcpy(bundle, a.cert_pem, la);
	memcpy(bundle + la, b.cert_pem, lb + 1);
	/* Not NUL-terminated within len: the length is what counts. */
	UNIT_CHECK(certs_bundle_foreach(bundle, la + lb, count_cert, &s) == 0);
	UNIT_CHECK(s.n == 2);
	UNIT_CHECK(s.after[1] - s.after[0] >= 200000 - 100 &&
		   s.after[1] - s.after[0] <= 200000 - 100 + (t1 - t0));
	s.n = 0;
	UNIT_CHECK(certs_bundle_foreach("", 0, count_cert, &s) == 0 && s.n == 0);
	UNIT_CHECK(certs_bundle_foreach(" \n", 2, count_cert, &s) == 0 && s.n == 0);
	UNIT_CHECK(certs_bundle_foreach("not a certificate", 17, count_cert, &s) == -EINVAL);
	UNIT_CHECK(certs_not_after("garbage", 7, &s.after[0]) == -EINVAL);
	free(bundle);
	certs_pair_clear(&a);
	certs_pair_clear(&b);
}

UNIT_MAIN(UNIT_TEST(test_certs_ca_signs_a_server_certificate_for_its_names),
	  UNIT_TEST(test_certs_refuses_names_that_would_add_entries),
	  UNIT_TEST(test_certs_bundle_is_walked_certificate_by_certificate))
