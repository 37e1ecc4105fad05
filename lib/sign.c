// SPDX-License-Identifier: Apache-2.0
/* Ed25519 through libcrypto's EVP interface (see sign.h). */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base64.h"
#include "digest.h"

#define SIGN_RAW_PUBLIC 32
#define SIGN_RAW_SIGNATURE 64
#define SIGN_FILE_MAX 16384

struct sign_key {
	EVP_PKEY *pkey;
	char id[SIGN_KEY_ID_LEN];
	char pub[SIGN_PUBLIC_LEN];
};

void sign_key_free(struct sign_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

const char *sign_key_id(const struct sign_key *k)
{
	return k->id;
}

const char *sign_key_public(const struct sign_key *k)
{
	return k->pub;
}

static void sign_id_of_raw(const unsigned char *raw, char id[SIGN_KEY_ID_LEN])
{
	char d[DIGEST_STR_LEN];

	digest_bytes(raw, SIGN_RAW_PUBLIC, d);
	snprintf(id, SIGN_KEY_ID_LEN, "ed25519:%.16s", d + 7);
}

/* Wraps pkey (taken) into *out, with its ID and public half. */
static int sign_key_wrap(EVP_PKEY *pkey, struct sign_key **out)
{
	unsigned char raw[SIGN_RAW_PUBLIC];
	size_t len = sizeof(raw);
	struct sign_key *k;
	char *b64;

	if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != SIGN_RAW_PUBLIC) {
		EVP_PKEY_free(pkey);
		return -EINVAL;
	}
	if (!(k = calloc(1, sizeof(*k))) || !(b64 = base64_encode(raw, len))) {
		free(k);
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->pkey = pkey;
	snprintf(k->pub, sizeof(k->pub), "%s", b64);
	free(b64);
	sign_id_of_raw(raw, k->id);
	*out = k;
	return 0;
}

int sign_key_generate(struct sign_key **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pkey = NULL;
	int ok;

	*out = NULL;
	if (!ctx)
		return -ENOMEM;
	ok = EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		EVP_PKEY_free(pkey);
		return -EIO;
	}
	return sign_key_wrap(pkey, out);
}

/* An encrypted key would make OpenSSL ask a terminal for its passphrase. */
static int sign_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int sign_key_from_pem(const char *pem, size_t len, struct sign_key **out, char *err, size_t errlen)
{
	BIO *bio;
	EVP_PKEY *pkey;
	int ret;

	*out = NULL;
	if (len > SIGN_FILE_MAX || len > INT_MAX) {
		snprintf(err, errlen, "larger than %d bytes", SIGN_FILE_MAX);
		return -EFBIG;
	}
	if (!(bio = BIO_new_mem_buf(pem, (int)len)))
		return -ENOMEM;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, sign_no_passphrase, NULL);
	BIO_free(bio);
	/* Whatever failed must not linger for the next TLS handshake to read. */
	ERR_clear_error();
	if (!pkey) {
		snprintf(err, errlen, "no unencrypted PEM private key in it");
		return -EINVAL;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "the key is not an Ed25519 key");
		EVP_PKEY_free(pkey);
		return -EINVAL;
	}
	if ((ret = sign_key_wrap(pkey, out)) < 0)
		snprintf(err, errlen, "cannot read the key's public half");
	return ret;
}

/* Reads the key file at path; -ENOENT when there is none. */
static int sign_key_read(const char *path, struct sign_key **out, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		goto out;
	}
	ret = -EINVAL;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, errlen,
			 "owned by uid %u with mode %04o: it must be ours and 0600 (a key others "
			 "could read or replace signs for anyone)",
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > SIGN_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", SIGN_FILE_MAX);
		ret = -EFBIG;
		goto out;
	}
	if (!(buf = malloc(SIGN_FILE_MAX + 1))) {
		ret = -ENOMEM;
		goto out;
	}
	while (len <= SIGN_FILE_MAX && (r = read(fd, buf + len, SIGN_FILE_MAX + 1 - len)) > 0)
		len += (size_t)r;
	if (len > SIGN_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", SIGN_FILE_MAX);
		ret = -EFBIG;
		goto out;
	}
	ret = sign_key_from_pem(buf, len, out, err, errlen);
out:
	if (buf) {
		OPENSSL_cleanse(buf, SIGN_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

/* Writes a new key to path (which must not exist). 0, -EEXIST when another
 * process made it first, another negative errno with err set. */
static int sign_key_write(const char *path, const struct sign_key *k, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *data = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	long len;
	int fd = -1, dfd, ret;

	if (!bio)
		return -ENOMEM;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		BIO_free(bio);
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		BIO_free(bio);
		snprintf(err, errlen, "cannot encode the new key");
		return -EIO;
	}
	unlink(tmp); /* a leftover of a crash of this very pid */
	errno = 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, (size_t)len) != len || fsync(fd) < 0) {
		ret = errno ? -errno : -EIO;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
		goto out;
	}
	/* link() never replaces: a key another process wrote first wins. */
	if (link(tmp, path) < 0) {
		ret = -errno;
		if (ret != -EEXIST)
			snprintf(err, errlen, "cannot create: %s", strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	BIO_free(bio); /* data belongs to it */
	return ret;
}

int sign_key_load_or_create(const char *path, struct sign_key **out, int *created, char *err,
			    size_t errlen)
{
	struct sign_key *k;
	int ret;

	*out = NULL;
	if (created)
		*created = 0;
	if ((ret = sign_key_read(path, out, err, errlen)) != -ENOENT)
		return ret;
	if ((ret = sign_key_generate(&k)) < 0) {
		snprintf(err, errlen, "cannot generate a key: %s", strerror(-ret));
		return ret;
	}
	ret = sign_key_write(path, k, err, errlen);
	if (ret == -EEXIST) {
		sign_key_free(k);
		return sign_key_read(path, out, err, errlen);
	}
	if (ret < 0) {
		sign_key_free(k);
		return ret;
	}
	if (created)
		*created = 1;
	*out = k;
	return 0;
}

int sign_message(const struct sign_key *k, const void *msg, size_t len,
		 char sig[SIGN_SIGNATURE_LEN])
{
	unsigned char raw[SIGN_RAW_SIGNATURE];
	size_t rlen = sizeof(raw);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	char *b64;
	int ok;

	if (!m)
		return -ENOMEM;
	ok = EVP_DigestSignInit(m, NULL, NULL, NULL, k->pkey) == 1 &&
	     EVP_DigestSign(m, raw, &rlen, msg, len) == 1 && rlen == SIGN_RAW_SIGNATURE;
	EVP_MD_CTX_free(m);
	if (!ok)
		return -EIO;
	if (!(b64 = base64_encode(raw, rlen)))
		return -ENOMEM;
	snprintf(sig, SIGN_SIGNATURE_LEN, "%s", b64);
	free(b64);
	return 0;
}

/* Decodes base64 that must be exactly want bytes. */
static int sign_decode(const char *b64, size_t want, unsigned char **out)
{
	size_t n;
	int ret;

	*out = NULL;
	if (!b64 || strlen(b64) > 4 * want)
		return -EINVAL;
	if ((ret = base64_decode(b64, strlen(b64), out, &n)) < 0)
		return ret;
	if (n != want) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

int sign_key_id_of(const char *public_key, char id[SIGN_KEY_ID_LEN])
{
	unsigned char *raw;
	int ret;

	if ((ret = sign_decode(public_key, SIGN_RAW_PUBLIC, &raw)) < 0)
		return ret;
	sign_id_of_raw(raw, id);
	free(raw);
	return 0;
}

int sign_verify(const char *public_key, const void *msg, size_t len, const char *sig)
{
	unsigned char *raw_key = NULL, *raw_sig = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *m = NULL;
	int ret, r;

	if ((ret = sign_decode(public_key, SIGN_RAW_PUBLIC, &raw_key)) < 0 ||
	    (ret = sign_decode(sig, SIGN_RAW_SIGNATURE, &raw_sig)) < 0)
		goto out;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw_key, SIGN_RAW_PUBLIC);
	if (!pkey) {
		ret = -EINVAL; /* not a point on the curve */
		goto out;
	}
	if (!(m = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(m, NULL, NULL, NULL, pkey) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	r = EVP_DigestVerify(m, raw_sig, SIGN_RAW_SIGNATURE, msg, len);
	ret = r == 1 ? 0 : -EBADMSG;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pkey);
	free(raw_key);
	free(raw_sig);
	return ret;
}
