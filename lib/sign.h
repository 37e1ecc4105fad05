/* SPDX-License-Identifier: Apache-2.0 */
/* Ed25519 signatures (OpenSSL's libcrypto) and the key file they come from.
 *
 * A key is kept in a PEM file (PKCS#8, "BEGIN PRIVATE KEY", what `openssl
 * genpkey -algorithm ed25519` writes), mode 0600, generated on first use.
 * Public keys and signatures travel as standard base64 of their raw bytes
 * (32 and 64); a key is named by its ID, "ed25519:" and the first 16 hex
 * digits of the SHA-256 of its raw public key. Ed25519 is deterministic:
 * one key signing one message always gives the same signature. */
#ifndef SHELLAUDIT_SIGN_H
#define SHELLAUDIT_SIGN_H

#include <stddef.h>

#define SIGN_KEY_ID_LEN 25	/* "ed25519:" + 16 hex + NUL */
#define SIGN_PUBLIC_LEN 45	/* base64 of 32 bytes + NUL */
#define SIGN_SIGNATURE_LEN 89	/* base64 of 64 bytes + NUL */

struct sign_key;

/*
 * Loads the private key in the file at path, or, when there is no file,
 * generates one and writes it there (0600, written whole to a temporary
 * file, synced, then linked into place: two processes starting at once
 * end up with the same key). A file that is not a regular file, that
 * others may read or write, that is larger than 16 KiB or that holds
 * anything but one Ed25519 private key is refused with the reason in err.
 * *created is set when the key was generated now (created may be NULL).
 * Caller frees *out with sign_key_free().
 */
int sign_key_load_or_create(const char *path, struct sign_key **out, int *created, char *err,
			    size_t errlen);
/* The same from PEM text in memory (tests, tools); never writes. */
int sign_key_from_pem(const char *pem, size_t len, struct sign_key **out, char *err, size_t errlen);
/* A new key in memory only (tests). */
int sign_key_generate(struct sign_key **out);
void sign_key_free(struct sign_key *k);

/* The key's ID and its public half (base64), valid while k lives. */
const char *sign_key_id(const struct sign_key *k);
const char *sign_key_public(const struct sign_key *k);

/* Signs len bytes: the signature, base64, into sig. 0 or -ENOMEM/-EIO. */
int sign_message(const struct sign_key *k, const void *msg, size_t len,
		 char sig[SIGN_SIGNATURE_LEN]);

/*
 * Checks sig (base64 of 64 bytes) over len bytes against public_key
 * (base64 of a raw 32-byte Ed25519 public key). 0 when it is valid;
 * -EBADMSG when it is well-formed but does not match; -EINVAL when the
 * key or the signature is malformed (bad base64, wrong length); -ENOMEM.
 */
int sign_verify(const char *public_key, const void *msg, size_t len, const char *sig);

/* The ID of a public key (base64 of 32 bytes): 0, or -EINVAL. */
int sign_key_id_of(const char *public_key, char id[SIGN_KEY_ID_LEN]);

#endif
