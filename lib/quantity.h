/* SPDX-License-Identifier: Apache-2.0 */
/* Sizes as Kubernetes writes them: a whole number of bytes, or one with a
 * binary (Ki, Mi, Gi, Ti) or decimal (k, M, G, T) suffix. */
#ifndef SHELLAUDIT_QUANTITY_H
#define SHELLAUDIT_QUANTITY_H

/* Parses s into *out bytes: 0, or -EINVAL for anything else (a sign, a
 * fraction, an exponent, another suffix) and -ERANGE past 2^62. *out is
 * set only on success. */
int quantity_bytes(const char *s, long long *out);

/* Writes bytes the short way a person reads it ("512Mi", "1.5Gi",
 * "37000") into buf; returns buf. */
const char *quantity_format(long long bytes, char *buf, unsigned long cap);

#endif
