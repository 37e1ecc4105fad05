// SPDX-License-Identifier: Apache-2.0
/* sign: Ed25519 signatures and their key file. Signing and checking round
 * trip and are deterministic; another key, another message, a signature of
 * the wrong length, bad base64 and a public key that is no key are refused
 * without a crash; the key file is made 0600 once and reused, and files
 * that are not one unencrypted Ed25519 key of ours (other key types,
 * garbage, too large, readable by others, a symlink, a directory, an
 * encrypted key) are refused with a reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base64.h"
#include "sign.h"
#include "unit.h"

static char dir[] = "/tmp/shellaudit-test-sign.XXXXXX";

static void path_of(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static void write_file(const char *name, const void *data, size_t n, mode_t mode)
{
	char p[256];
	int fd;

	path_of(p, sizeof(p), name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (write(fd, data, n) != (ssize_t)n)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

/* PEM of a freshly generated key of another type, or encrypted. */
static char *pem_of(EVP_PKEY *k, const EVP_CIPHER *cipher)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_PrivateKey(b, k, cipher, NULL, 0, NULL, cipher ? (void *)"secret" : NULL);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void test_sign_round_trip_and_determinism(void)
{
	struct sign_key *k = NULL, *other = NULL;
	char s1[SIGN_SIGNATURE_LEN], s2[SIGN_SIGNATURE_LEN], id[SIGN_KEY_ID_LEN];
	static const char msg[] = "node-1\nsha256:abc";

	UNIT_CHECK(sign_key_generate(&k) == 0 && sign_key_generate(&other) == 0);
	if (!k || !other)
		return;
	UNIT_CHECK(strlen(sign_key_public(k)) == 44 && !strncmp(sign_key_id(k), "ed25519:", 8) &&
		   strlen(sign_key_id(k)) == 24);
	UNIT_CHECK(sign_key_id_of(sign_key_public(k), id) == 0);
	UNIT_CHECK_STR(id, sign_key_id(k));
	UNIT_CHECK(sign_message(k, msg, strlen(msg), s1) == 0 && strlen(s1) == 88);
	UNIT_CHECK(sign_message(k, msg, strlen(msg), s2) == 0);
	UNIT_CHECK_STR(s2, s1); /* Ed25519 is deterministic: a replay signs alike */
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, strlen(msg), s1) == 0);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, strlen(msg) - 1, s1) == -EBADMSG);
	UNIT_CHECK(sign_verify(sign_key_public(other), msg, strlen(msg), s1) == -EBADMSG);
	s1[10] = s1[10] == 'A' ? 'B' : 'A';
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, strlen(msg), s1) == -EBADMSG);
	sign_key_free(k);
	sign_key_free(other);
}

static void test_sign_hostile_signatures_and_keys(void)
{
	struct sign_key *k = NULL;
	unsigned char raw[80];
	char sig[SIGN_SIGNATURE_LEN], *b64, *huge;
	static const char msg[] = "m";

	UNIT_CHECK(sign_key_generate(&k) == 0);
	if (!k)
		return;
	sign_message(k, msg, 1, sig);
	memset(raw, 0x41, sizeof(raw));
	/* a signature of 63 and of 65 bytes */
	b64 = base64_encode(raw, 63);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, b64) == -EINVAL);
	free(b64);
	b64 = base64_encode(raw, 65);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, b64) == -EINVAL);
	free(b64);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, "!!!not base64!!!") == -EINVAL);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, "") == -EINVAL);
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, NULL) == -EINVAL);
	huge = malloc(1 << 20);
	memset(huge, 'A', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	UNIT_CHECK(sign_verify(sign_key_public(k), msg, 1, huge) == -EINVAL);
	UNIT_CHECK(sign_verify(huge, msg, 1, sig) == -EINVAL);
	free(huge);
	/* public keys of the wrong length, not base64, or no curve point */
	b64 = base64_encode(raw, 31);
	UNIT_CHECK(sign_verify(b64, msg, 1, sig) == -EINVAL);
	free(b64);
	UNIT_CHECK(sign_verify("%%%%", msg, 1, sig) == -EINVAL);
	memset(raw, 0xff, 32);
	b64 = base64_encode(raw, 32);
	UNIT_CHECK(sign_verify(b64, msg, 1, sig) < 0);
	free(b64);
	UNIT_CHECK(sign_key_id_of("short", (char[SIGN_KEY_ID_LEN]){ 0 }) == -EINVAL);
	sign_key_free(k);
}

static void test_sign_key_file_made_once_then_reused(void)
{
	struct sign_key *a = NULL, *b = NULL;
	char p[256], err[256] = "", ida[SIGN_KEY_ID_LEN] = "";
	struct stat st;
	int created = -1;

	path_of(p, sizeof(p), "node.key");
	UNIT_CHECK(sign_key_load_or_create(p, &a, &created, err, sizeof(err)) == 0 && created == 1);
	UNIT_CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && S_ISREG(st.st_mode));
	if (a)
		snprintf(ida, sizeof(ida), "%s", sign_key_id(a));
	UNIT_CHECK(sign_key_load_or_create(p, &b, &created, err, sizeof(err)) == 0 && created == 0);
	UNIT_CHECK(b && !strcmp(sign_key_id(b), ida));
	sign_key_free(a);
	sign_key_free(b);
	/* no temporary file left behind */
	snprintf(p, sizeof(p), "%s/node.key.tmp.%d", dir, (int)getpid());
	UNIT_CHECK(access(p, F_OK) < 0);
}

/* load FILE: sign_key_load_or_create on it; err names why. */
static int load(const char *name, char *err, size_t errlen)
{
	struct sign_key *k = NULL;
	char p[256];
	int ret;

	path_of(p, sizeof(p), name);
	err[0] = '\0';
	ret = sign_key_load_or_create(p, &k, NULL, err, errlen);
	sign_key_free(k);
	return ret;
}

static void test_sign_key_file_hostile(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *ec = NULL, *ed = NULL;
	struct sign_key *k = NULL;
	char err[256], p[256], target[256], *pem, *big;

	/* an EC key in a PEM file */
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1)
		EVP_PKEY_keygen(ctx, &ec);
	EVP_PKEY_CTX_free(ctx);
	UNIT_CHECK(ec != NULL);
	pem = pem_of(ec, NULL);
	write_file("ec.key", pem, strlen(pem), 0600);
	free(pem);
	UNIT_CHECK(load("ec.key", err, sizeof(err)) == -EINVAL &&
		   strstr(err, "not an Ed25519 key"));
	EVP_PKEY_free(ec);
	/* an encrypted Ed25519 key: refused, no passphrase prompt */
	sign_key_generate(&k);
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
		EVP_PKEY_keygen(ctx, &ed);
	EVP_PKEY_CTX_free(ctx);
	pem = pem_of(ed, EVP_aes_256_cbc());
	write_file("enc.key", pem, strlen(pem), 0600);
	free(pem);
	UNIT_CHECK(load("enc.key", err, sizeof(err)) == -EINVAL && strstr(err, "unencrypted"));
	/* the same key in the clear is accepted */
	pem = pem_of(ed, NULL);
	write_file("ok.key", pem, strlen(pem), 0600);
	UNIT_CHECK(load("ok.key", err, sizeof(err)) == 0);
	/* readable by others */
	write_file("open.key", pem, strlen(pem), 0644);
	UNIT_CHECK(load("open.key", err, sizeof(err)) == -EINVAL && strstr(err, "0600"));
	free(pem);
	EVP_PKEY_free(ed);
	sign_key_free(k);
	/* garbage, empty, too large */
	write_file("junk.key", "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n", 58,
		   0600);
	UNIT_CHECK(load("junk.key", err, sizeof(err)) == -EINVAL && err[0]);
	write_file("empty.key", "", 0, 0600);
	UNIT_CHECK(load("empty.key", err, sizeof(err)) == -EINVAL);
	big = calloc(1, 20000);
	memset(big, 'A', 19999);
	write_file("big.key", big, 19999, 0600);
	free(big);
	UNIT_CHECK(load("big.key", err, sizeof(err)) == -EFBIG);
	/* a symlink to a good key, and a directory */
	path_of(target, sizeof(target), "ok.key");
	path_of(p, sizeof(p), "link.key");
	UNIT_CHECK(symlink(target, p) == 0);
	UNIT_CHECK(load("link.key", err, sizeof(err)) == -ELOOP);
	path_of(p, sizeof(p), "dir.key");
	mkdir(p, 0700);
	UNIT_CHECK(load("dir.key", err, sizeof(err)) < 0);
	UNIT_CHECK(sign_key_from_pem("x", 1, &k, err, sizeof(err)) == -EINVAL && !k);
}

static void test_cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	UNIT_CHECK(system(cmd) == 0);
}

static void test_setup(void)
{
	UNIT_CHECK(mkdtemp(dir) != NULL);
}

UNIT_MAIN(UNIT_TEST(test_setup), UNIT_TEST(test_sign_round_trip_and_determinism),
	  UNIT_TEST(test_sign_hostile_signatures_and_keys),
	  UNIT_TEST(test_sign_key_file_made_once_then_reused),
	  UNIT_TEST(test_sign_key_file_hostile), UNIT_TEST(test_cleanup))
