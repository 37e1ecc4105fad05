/* SPDX-License-Identifier: Apache-2.0 */
/* Standard base64 (RFC 4648, padding required, whitespace ignored). */
#ifndef SHELLAUDIT_BASE64_H
#define SHELLAUDIT_BASE64_H

#include <stddef.h>

/* Decodes src into a new buffer; *out is NUL-terminated for convenience and
 * *outlen excludes the NUL. -EINVAL on malformed input. Caller frees *out. */
int base64_decode(const char *src, size_t len, unsigned char **out, size_t *outlen);

/* Encodes n bytes into a new NUL-terminated string; NULL on ENOMEM.
 * Caller frees the result. */
char *base64_encode(const void *src, size_t n);

#endif
