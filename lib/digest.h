/* SPDX-License-Identifier: Apache-2.0 */
/* Digests of JSON documents that a verifier can recompute from what the
 * API server returns: SHA-256 over a canonical serialization (object keys
 * sorted by byte value, no insignificant whitespace, integers as integers). */
#ifndef SHELLAUDIT_DIGEST_H
#define SHELLAUDIT_DIGEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define DIGEST_STR_LEN 72 /* "sha256:" + 64 hex + NUL, rounded */

/* The canonical serialization of j; caller frees with free(). NULL on
 * ENOMEM or for values with no canonical form (non-integral numbers). */
char *digest_canonical(const cJSON *j);

/* "sha256:<hex>" of the canonical form of j, without the top-level keys
 * listed in skip (NULL-terminated, may be NULL). -EINVAL or -ENOMEM. */
int digest_json(const cJSON *j, const char *const *skip, char out[DIGEST_STR_LEN]);

/* "sha256:<hex>" of n bytes. */
void digest_bytes(const void *data, size_t n, char out[DIGEST_STR_LEN]);

#endif
