// SPDX-License-Identifier: Apache-2.0
/* Certificates through libcrypto (see certs.h). */
#include "certs.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Other hosts' clocks may lag ours: a certificate is valid from a little
 * before it was made. */
#define CERTS_BACKDATE_S 300
#define CERTS_MAX_DNS 16

void certs_pair_clear(struct cert_pair *p)
{
	if (!p)
		return;
	free(p->cert_pem);
	if (p->key_pem)
		OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
	free(p->key_pem);
	p->cert_pem = p->key_pem = NULL;
}

static void certs_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s", what, *buf ? ": " : "", buf);
}

/* The PEM text of what write() puts into a memory BIO, malloc'd. */
static char *certs_bio_text(BIO *b)
{
	char *data, *out;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || !(out = malloc((size_t)n + 1)))
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return out;
}

static int certs_write(X509 *x, EVP_PKEY *key, struct cert_pair *out)
{
	BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
	int ret = -ENOMEM;

	if (bc && bk && PEM_write_bio_X509(bc, x) == 1 &&
	    PEM_write_bio_PrivateKey(bk, key, NULL, NULL, 0, NULL, NULL) == 1) {
		out->cert_pem = certs_bio_text(bc);
		out->key_pem = certs_bio_text(bk);
		ret = out->cert_pem && out->key_pem ? 0 : -ENOMEM;
		if (ret)
			certs_pair_clear(out);
	}
	BIO_free(bc);
	BIO_free_all(bk);
	return ret;
}

static int certs_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -ENOMEM;
}

/* A new certificate for key: random serial, subject cn, validity. */
static X509 *certs_new(EVP_PKEY *key, const char *cn, long valid_s)
{
	unsigned char serial[16];
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	X509_NAME *name;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    X509_set_version(x, 2) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -CERTS_BACKDATE_S) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), valid_s) || X509_set_pubkey(x, key) != 1)
		goto fail;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static EVP_PKEY *certs_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

int certs_make_ca(const char *cn, long valid_s, struct cert_pair *out, char *err, size_t errlen)
{
	EVP_PKEY *key = certs_key();
	X509 *x = NULL;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!key || !(x = certs_new(key, cn, valid_s))) {
		certs_err(err, errlen, "cannot make a key and certificate");
		goto out;
	}
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    certs_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    certs_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
	    certs_ext(x, x, NID_subject_key_identifier, "hash") ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		certs_err(err, errlen, "cannot sign the CA certificate");
		goto out;
	}
	if ((ret = certs_write(x, key, out)) < 0)
		snprintf(err, errlen, "out of memory");
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

static X509 *certs_read_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static EVP_PKEY *certs_read_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return k;
}

/* A leaf certificate signed by ca: a server's (san: its names) or, with
 * san NULL, a client's. */
static int certs_make_leaf(const struct cert_pair *ca, const char *cn, const char *san,
			   long valid_s, struct cert_pair *out, char *err, size_t errlen)
{
	X509 *cax = ca && ca->cert_pem ? certs_read_cert(ca->cert_pem) : NULL;
	EVP_PKEY *cak = ca && ca->key_pem ? certs_read_key(ca->key_pem) : NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int ret = -EINVAL;

	ERR_clear_error();
	if (!cax || !cak) {
		snprintf(err, errlen, "the CA certificate or key cannot be read");
		goto out;
	}
	if (!(key = certs_key()) || !(x = certs_new(key, cn, valid_s))) {
		certs_err(err, errlen, "cannot make a key and certificate");
		goto out;
	}
	if (X509_set_issuer_name(x, X509_get_subject_name(cax)) != 1 ||
	    certs_ext(x, cax, NID_basic_constraints, "critical,CA:FALSE") ||
	    certs_ext(x, cax, NID_key_usage,
		      san ? "critical,digitalSignature,keyEncipherment" :
			    "critical,digitalSignature") ||
	    certs_ext(x, cax, NID_ext_key_usage, san ? "serverAuth" : "clientAuth") ||
	    (san && certs_ext(x, cax, NID_subject_alt_name, san)) ||
	    certs_ext(x, cax, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(x, cak, EVP_sha256()) <= 0) {
		certs_err(err, errlen, "cannot sign the certificate");
		goto out;
	}
	if ((ret = certs_write(x, key, out)) < 0)
		snprintf(err, errlen, "out of memory");
out:
	X509_free(cax);
	EVP_PKEY_free(cak);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

int certs_make_client(const struct cert_pair *ca, const char *cn, long valid_s,
		      struct cert_pair *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	return certs_make_leaf(ca, cn, NULL, valid_s, out, err, errlen);
}

int certs_make_server(const struct cert_pair *ca, const char *cn, const char *const *dns, size_t n,
		      long valid_s, struct cert_pair *out, char *err, size_t errlen)
{
	char san[CERTS_MAX_DNS * 260];
	size_t i, used = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > CERTS_MAX_DNS) {
		snprintf(err, errlen, "want 1 to %d DNS names, not %zu", CERTS_MAX_DNS, n);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		int w;

		if (!dns[i] || !*dns[i] || strlen(dns[i]) > 253 || strpbrk(dns[i], ",:\n")) {
			snprintf(err, errlen, "invalid DNS name \"%.64s\"", dns[i] ? dns[i] : "");
			return -EINVAL;
		}
		w = snprintf(san + used, sizeof(san) - used, "%sDNS:%s", i ? "," : "", dns[i]);
		used += (size_t)w;
	}
	return certs_make_leaf(ca, cn, san, valid_s, out, err, errlen);
}

static int certs_asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static bool certs_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i]; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

int certs_bundle_foreach(const char *pem, size_t len,
			 int (*fn)(const char *cert_pem, time_t not_after, void *arg), void *arg)
{
	BIO *in, *outb = NULL;
	X509 *x;
	int ret = 0, n = 0;

	if (len > INT32_MAX || !(in = BIO_new_mem_buf(pem, (int)len)))
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
		time_t na;
		char *text;

		n++;
		if (certs_asn1_time(X509_get0_notAfter(x), &na) < 0 ||
		    !(outb = BIO_new(BIO_s_mem())) || PEM_write_bio_X509(outb, x) != 1 ||
		    !(text = certs_bio_text(outb))) {
			X509_free(x);
			BIO_free(outb);
			ret = -EINVAL;
			break;
		}
		BIO_free(outb);
		outb = NULL;
		X509_free(x);
		ret = fn(text, na, arg);
		free(text);
		if (ret < 0)
			break;
	}
	/* Text with no certificate in it is not a bundle (an empty one is). */
	if (ret == 0 && n == 0 && !certs_blank(pem, len))
		ret = -EINVAL;
	ERR_clear_error();
	BIO_free(in);
	return ret;
}

int certs_not_after(const char *pem, size_t len, time_t *out)
{
	BIO *in = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	int ret = x ? certs_asn1_time(X509_get0_notAfter(x), out) : -EINVAL;

	X509_free(x);
	BIO_free(in);
	ERR_clear_error();
	return ret;
}
